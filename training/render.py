"""Rendering the face model into a crop: the depth code target, and shaded textured photos."""

from __future__ import annotations

import cv2
import numpy as np

from facedepth.model import depthcode
from facedepth.model.crop import CropBox
from facedepth.training.raster import Raster, rasterize

SUPERSAMPLE = 2
SMOOTH_SIGMA = 1.0
"""Gaussian smoothing (pixels at the output size) of depth inside the mask: hides the mesh's facets."""


def to_crop_screen(pixels: np.ndarray, box: CropBox, size: int) -> np.ndarray:
    """Image pixel coordinates (N, 2) -> supersampled crop coordinates (N, 2)."""
    m = box.to_crop_matrix(size * SUPERSAMPLE)
    return pixels @ m[:, :2].T + m[:, 2]


def raster_in_crop(screen_xy: np.ndarray, distance: np.ndarray, triangles: np.ndarray, size: int,
                   attributes: np.ndarray | None = None, perspective: bool = False, cull_back: bool = False) -> Raster:
    screen = np.c_[screen_xy, distance]
    n = size * SUPERSAMPLE
    return rasterize(screen, triangles, n, n, attributes, perspective=perspective, cull_back=cull_back)


def depth_code_from_raster(raster: Raster, size: int, crop_side_mm: float,
                           face: np.ndarray | None = None) -> np.ndarray:
    """Supersampled raster -> (size, size) float32 depth code, smoothed inside the face mask.

    ``face`` (supersampled bool) picks the pixels whose depth is the target; default: all rasterised."""
    face = raster.mask if face is None else face
    mask_hi = face.astype(np.float64)
    dist_hi = np.where(face, raster.depth, 0.0)
    cover = cv2.resize(mask_hi, (size, size), interpolation=cv2.INTER_AREA)
    dist_sum = cv2.resize(dist_hi, (size, size), interpolation=cv2.INTER_AREA)
    mask = cover > 0.5
    dist = np.where(mask, dist_sum / np.maximum(cover, 1e-9), 0.0)
    if SMOOTH_SIGMA > 0 and mask.any():
        m = mask.astype(np.float64)
        num = cv2.GaussianBlur(dist * m, (0, 0), SMOOTH_SIGMA)
        den = cv2.GaussianBlur(m, (0, 0), SMOOTH_SIGMA)
        dist = np.where(mask, num / np.maximum(den, 1e-9), 0.0)
    return depthcode.encode(dist, mask, crop_side_mm)
