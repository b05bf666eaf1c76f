"""The face crop rule, used identically at inference and when training data is made.

A crop is a square in image coordinates (centre and side in pixels). It is derived from iBUG 68-point
landmarks 18-68 (1-based: eyebrows, nose, eyes, mouth), which stay inside the face at every pose,
unlike the jaw contour. Crops that run off the image are filled by reflection and then blurred, so the
filled part looks like out-of-focus surroundings rather than a hard border the network could learn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from facedepth.model import imageops, spec

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


def zoomed(box: CropBox, zoom: float, size: int = spec.IMAGE_SIZE) -> CropBox:
    """The square whose size x size crop is ``box``'s crop magnified ``zoom`` times about its centre pixel
    ((size - 1) / 2, the centre :class:`facedepth.model.inference.AtTrainingScale` zooms about): one warp of
    the photo instead of a crop and then a zoom."""
    m = box.to_crop_matrix(size)
    centre = (size - 1) / 2
    scale = zoom * m[0, 0]
    cx, cy = ((size / 2 - (zoom * m[i, 2] + centre * (1 - zoom))) / scale for i in (0, 1))
    return CropBox(float(cx), float(cy), float(size / scale))


def _shrunk(image: np.ndarray, box: CropBox, shrink: int) -> tuple[np.ndarray, CropBox]:
    """The image averaged over shrink x shrink blocks, and the box on it. When the box lies inside the
    image only the blocks around it are computed (the same values, as the block grid is kept)."""
    h, w = image.shape[:2]
    left, top, right, bottom = box.corners()
    x0, y0 = (max(0, int(v) // shrink - 2) * shrink for v in (left, top))
    x1, y1 = min(w // shrink, int(right) // shrink + 3) * shrink, min(h // shrink, int(bottom) // shrink + 3) * shrink
    if left < 0 or top < 0 or right > w - 1 or bottom > h - 1 or x1 <= x0 or y1 <= y0:
        x0, y0, x1, y1 = 0, 0, w // shrink * shrink, h // shrink * shrink  # reflection reads the whole image
    part = np.asarray(Image.fromarray(np.ascontiguousarray(image[y0:y1, x0:x1])).reduce(shrink))
    return part, CropBox((box.cx - x0) / shrink, (box.cy - y0) / shrink, box.side / shrink)


def crop_image(image: np.ndarray, box: CropBox, size: int = spec.IMAGE_SIZE) -> np.ndarray:
    """Resample the box of an RGB uint8 image to size x size; off-image parts are reflected and blurred."""
    shrink = int(box.side // (2 * size))
    if shrink >= 2:  # bilinear sampling has no area filter: pre-shrink large images so the crop is not aliased
        image, box = _shrunk(image, box, shrink)
    m = box.to_crop_matrix(size)
    out = imageops.warp_affine(image, m, size, size, border="reflect")
    h, w = image.shape[:2]
    inside = imageops.inside_mask(m, w, h, size, size)
    if inside.all():
        return out
    blurred = imageops.gaussian_blur(out, sigma=size / 40)
    return np.where(inside[..., None], out, blurred)


def uncrop(values: np.ndarray, box: CropBox, width: int, height: int, fill: float = np.nan) -> np.ndarray:
    """Map a size x size array on the crop back onto the image's pixel grid (bilinear); outside = fill."""
    size = values.shape[0]
    inverse = imageops.invert_affine(box.to_crop_matrix(size))
    return imageops.warp_affine(values.astype(np.float32), inverse, width, height, border="constant", fill=fill)
