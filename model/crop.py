"""The face crop rule, used identically at inference and when training data is made.

A crop is a square in image coordinates (centre and side in pixels). It is derived from iBUG 68-point
landmarks 18-68 (1-based: eyebrows, nose, eyes, mouth), which stay inside the face at every pose,
unlike the jaw contour. Crops that run off the image are filled by reflection and then blurred, so the
filled part looks like out-of-focus surroundings rather than a hard border the network could learn.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from model import spec

INNER_LANDMARKS = slice(17, 68)
"""0-based indices of iBUG landmarks 18-68."""


@dataclass(frozen=True)
class CropBox:
    """A square region of an image: centre (cx, cy) and side length, all in pixels."""

    cx: float
    cy: float
    side: float

    def to_crop_matrix(self, size: int) -> np.ndarray:
        """2x3 affine matrix mapping image pixel coordinates to crop pixel coordinates."""
        s = size / self.side
        return np.array(
            [[s, 0.0, size / 2 - s * self.cx], [0.0, s, size / 2 - s * self.cy]], dtype=np.float64
        )

    def corners(self) -> tuple[float, float, float, float]:
        """(left, top, right, bottom) in image pixels."""
        h = self.side / 2
        return self.cx - h, self.cy - h, self.cx + h, self.cy + h


def box_from_landmarks(points: np.ndarray, scale: float = spec.CROP_SCALE) -> CropBox:
    """Crop box from landmark points (N, 2): either all 68 iBUG points or just points 18-68."""
    pts = np.asarray(points, dtype=np.float64)
    if len(pts) == 68:
        pts = pts[INNER_LANDMARKS]
    lo, hi = pts.min(axis=0), pts.max(axis=0)
    centre = (lo + hi) / 2
    return CropBox(float(centre[0]), float(centre[1]), float(scale * max(hi - lo)))


def whole_image_box(width: int, height: int) -> CropBox:
    """The square that holds the whole image, centred (used with face detection turned off)."""
    return CropBox(width / 2, height / 2, float(max(width, height)))


def crop_image(image: np.ndarray, box: CropBox, size: int = spec.IMAGE_SIZE) -> np.ndarray:
    """Resample the box of an RGB uint8 image to size x size; off-image parts are reflected and blurred."""
    shrink = int(box.side // (2 * size))
    if shrink >= 2:  # warpAffine has no area filter: pre-shrink large images so the crop is not aliased
        image = cv2.resize(image, (image.shape[1] // shrink, image.shape[0] // shrink),
                           interpolation=cv2.INTER_AREA)
        box = CropBox(box.cx / shrink, box.cy / shrink, box.side / shrink)
    m = box.to_crop_matrix(size)
    out = cv2.warpAffine(image, m, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    h, w = image.shape[:2]
    valid = cv2.warpAffine(np.ones((h, w), np.uint8), m, (size, size), flags=cv2.INTER_NEAREST,
                           borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    if valid.all():
        return out
    blurred = cv2.GaussianBlur(out, (0, 0), sigmaX=size / 40)
    return np.where(valid[..., None] > 0, out, blurred)


def uncrop(values: np.ndarray, box: CropBox, width: int, height: int, fill: float = np.nan) -> np.ndarray:
    """Map a size x size array on the crop back onto the image's pixel grid (bilinear); outside = fill."""
    size = values.shape[0]
    inv = cv2.invertAffineTransform(box.to_crop_matrix(size))
    return cv2.warpAffine(values.astype(np.float32), inv, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=float(fill))
