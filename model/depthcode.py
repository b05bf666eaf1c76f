"""Conversion between metric depth and the generator's depth code (see :mod:`facedepth.model.spec`)."""

from __future__ import annotations

import numpy as np

from facedepth.model import crop, spec
from facedepth.model.imageops import erode, warp_affine


def encode(distance_mm: np.ndarray, mask: np.ndarray, crop_side_mm: float) -> np.ndarray:
    """Distances from the camera (mm) inside ``mask`` -> codes in [-1, 1]; background = BACKGROUND_CODE."""
    code = np.full(distance_mm.shape, spec.BACKGROUND_CODE, np.float32)
    if mask.any():
        nearest = distance_mm[mask].min()
        face = spec.NEAR_CODE + spec.GAIN * (distance_mm[mask] - nearest) / crop_side_mm
        code[mask] = np.clip(face, -1.0, spec.FACE_MAX_CODE)
    return code


def face_mask(code: np.ndarray) -> np.ndarray:
    return code < spec.MASK_THRESHOLD


def warped(code: np.ndarray, matrix: np.ndarray, width: int, height: int) -> np.ndarray:
    """``code`` resampled onto a width x height grid by the affine ``matrix`` (source -> destination): face
    values are interpolated among face pixels only, never with the background code (which would invent a
    surface between the two along the outline), and a pixel is face where most of its bilinear neighbourhood
    is. Off the source is background."""
    return _from_face_weighted(warp_affine(_face_weighted(code), matrix, width, height, border="constant"))


def uncropped(code: np.ndarray, box: crop.CropBox, width: int, height: int) -> np.ndarray:
    """A code on ``box``'s crop grid mapped back onto the width x height photo, as :func:`warped` does."""
    return _from_face_weighted(crop.uncrop(_face_weighted(code), box, width, height, fill=0.0))


def _face_weighted(code: np.ndarray) -> np.ndarray:
    """(H, W, 2): the face mask as a weight, and the code times that weight; resampled, their ratio is the
    face's code interpolated among face pixels only."""
    face = face_mask(code).astype(np.float32)
    return np.dstack([face, code * face])


def _from_face_weighted(resampled: np.ndarray) -> np.ndarray:
    weight, values = np.moveaxis(resampled, -1, 0)
    face_values = values / np.maximum(weight, 1e-6)
    return np.where(weight > 0.5, face_values, np.float32(spec.BACKGROUND_CODE)).astype(np.float32)


def trim_prediction(code: np.ndarray, edge_px: int = spec.PREDICTION_EDGE_PX) -> np.ndarray:
    """A predicted code with its face outline eroded by ``edge_px`` pixels (set to background there)."""
    if edge_px <= 0:
        return code
    kept = erode(face_mask(code), edge_px)
    return np.where(kept, code, np.float32(spec.BACKGROUND_CODE)).astype(np.float32)


def valid_depth(depth_mm: np.ndarray) -> np.ndarray:
    """Boolean mask of usable depth pixels (mm): finite and in front of the camera."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(depth_mm) & (depth_mm > 0)


def decode(code: np.ndarray, crop_side_mm: float = spec.NOMINAL_CROP_SIDE_MM,
           nearest_mm: float = spec.NOMINAL_NEAR_MM) -> np.ndarray:
    """Codes -> distance from the camera in mm; NaN where the code says background."""
    dist = nearest_mm + (code.astype(np.float32) - spec.NEAR_CODE) * (crop_side_mm / spec.GAIN)
    return np.where(face_mask(code), dist, np.nan).astype(np.float32)


def to_uint16(code: np.ndarray) -> np.ndarray:
    """Codes in [-1, 1] -> uint16 for lossless-enough PNG storage (step 3e-5)."""
    return np.round((np.clip(code, -1, 1) + 1) * 32767.5).astype(np.uint16)


def from_uint16(stored: np.ndarray) -> np.ndarray:
    return stored.astype(np.float32) / 32767.5 - 1.0


def region_at(mask: np.ndarray, row: int, col: int) -> np.ndarray:
    """The part of ``mask`` 4-connected to pixel (row, col), or to the mask pixel nearest it when that pixel
    is off the mask (all False for an empty mask). A flood fill by repeated one-pixel growth."""
    if not mask.any():
        return np.zeros_like(mask)
    if not mask[row, col]:
        rows, cols = np.nonzero(mask)
        nearest = np.argmin((rows - row) ** 2 + (cols - col) ** 2)
        row, col = int(rows[nearest]), int(cols[nearest])
    region = np.zeros_like(mask)
    region[row, col] = True
    while True:
        grown = region.copy()
        grown[1:] |= region[:-1]
        grown[:-1] |= region[1:]
        grown[:, 1:] |= region[:, :-1]
        grown[:, :-1] |= region[:, 1:]
        grown &= mask
        if np.array_equal(grown, region):
            return region
        region = grown
