"""Teachers for real photos: which depth the pseudo ground truth of a photo is.

* ``eos`` (the base configuration): the dlib-68 + eos landmark fit (shape, expression, scaled-orthographic
  pose), rendered in the crop;
* ``mediapipe``: MediaPipe's 468-vertex face mesh, z-buffered over the photo by the data-making step
  :mod:`facedepth.training.mediapipe_teacher` (an environment of its own) and read back from its folder;
  the mesh has holes at the eyes and mouth, which the aligned eos fit fills (as it does beyond the mesh);
* ``fused``: the two averaged, the eos fit aligned to the mesh (least-squares scale, shift and tilt on the
  pixels both cover): the mesh gives the head pose, both give the shape; where one covers alone, that one.
* ``posed``: the eos fit alone, tilted to the mesh's head pose by that same alignment: the fit's shape (which
  scores better on real depth once a tilt is forgiven) in the mesh's pose (which scores better as it is).

MediaPipe's depth unit is the photo's pixel with an unknown relief scale, so the mesh-based teachers are
rescaled to the eos fit's relief (the fitted scale of the alignment): every target then shares the renders'
millimetre relief. Compare teachers with ``facedepth-train evaluate --real-depth --teacher ...`` before
training on one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.ndimage import distance_transform_edt

from facedepth.model import depthcode, imageops, spec
from facedepth.model.crop import CropBox

TEACHERS = ("eos", "mediapipe", "fused", "posed")
FALLS_BACK_TO_FIT = ("fused", "posed")
"""Teachers that give the eos fit itself where the mesh is missing or cannot be aligned."""
MIN_SHARED_PIXELS = 500
"""Fewer crop pixels covered by both the mesh and the fit than this: the mesh's scale cannot be trusted."""


class NoTeacherDepth(Exception):
    """The teacher gives no depth for this photo (e.g. MediaPipe found no face)."""


def teacher_map_path(maps_dir: Path, photo: Path) -> Path:
    """Where the data-making step saved a photo's map: ``<maps_dir>/<photo stem>.npy``."""
    return Path(maps_dir) / f"{Path(photo).stem}.npy"


def map_in_crop(depth_map: np.ndarray, box: CropBox, size: int = spec.IMAGE_SIZE) -> np.ndarray:
    """A depth map on the photo's grid, resampled onto the crop (bilinear); NaN off the map."""
    return imageops.warp_affine(depth_map.astype(np.float32), box.to_crop_matrix(size), size, size,
                                border="constant", fill=np.nan)


def _relative(code: np.ndarray, crop_side: float) -> np.ndarray:
    """Depth code -> depth relative to the nearest point in the unit of ``crop_side``; NaN off the face."""
    return np.where(depthcode.face_mask(code), (code - spec.NEAR_CODE) * crop_side / spec.GAIN, np.nan)


def align_to(reference: np.ndarray, other: np.ndarray, min_pixels: int) -> tuple[np.ndarray, float] | None:
    """``other`` mapped onto ``reference`` by the least-squares scale, shift and tilt (a plane in the image's
    rows and columns) fitted on the pixels both cover, NaN where ``other`` is; and the fitted scale. None
    when they share fewer than ``min_pixels`` pixels."""
    both = np.isfinite(reference) & np.isfinite(other)
    if both.sum() < min_pixels:
        return None
    rows, cols = np.mgrid[: other.shape[0], : other.shape[1]] / max(other.shape)
    design = np.stack([other, np.ones_like(other), cols, rows], axis=-1).astype(np.float64)
    coef, *_ = np.linalg.lstsq(design[both], reference[both].astype(np.float64), rcond=None)
    return design @ coef, float(coef[0])


FEATHER = 0.1
"""Width of the blend's transitions, as a share of the side of a square as large as the pixels both teachers
cover (about 16 px on a face 160 px wide)."""


def blend(reference: np.ndarray, aligned: np.ndarray, average: bool = True, feather: float = FEATHER) -> np.ndarray:
    """Where both cover: their mean (or ``reference`` alone when not ``average``); elsewhere whichever covers.

    With ``average``, each teacher's weight rises from 0 at the edge of its own coverage (the mesh's outline
    and its holes at the eyes and mouth, the fit's outline) to 1 at ``feather`` inside it, so the mean passes
    smoothly into the teacher that covers alone: a plain switch left a step of half their difference along
    every edge, seams that a student learns as relief. ``feather`` 0 is the plain switch."""
    ref_ok, al_ok = np.isfinite(reference), np.isfinite(aligned)
    both = ref_ok & al_ok
    alone = np.where(ref_ok, reference, aligned)
    if not average:
        return alone
    width = feather * np.sqrt(both.sum())
    if width < 1:
        return np.where(both, (reference + aligned) / 2, alone)
    w_ref = np.minimum(distance_transform_edt(ref_ok) / width, 1.0)
    w_al = np.minimum(distance_transform_edt(al_ok) / width, 1.0)
    mixed = (w_ref * np.where(ref_ok, reference, 0) + w_al * np.where(al_ok, aligned, 0)) / np.maximum(w_ref + w_al,
                                                                                                        1e-9)
    return np.where(both, mixed, alone)


def teacher_code(teacher: str, eos_code: np.ndarray, crop_side_mm: float, mesh_map: np.ndarray | None,
                 box: CropBox) -> np.ndarray:
    """The pseudo ground truth code on the crop for ``teacher`` (see the module docstring)."""
    if teacher == "eos":
        return eos_code
    if teacher not in TEACHERS:
        raise ValueError(f"unknown teacher {teacher!r} (choose from {', '.join(TEACHERS)})")
    if mesh_map is None:
        if teacher in FALLS_BACK_TO_FIT:
            return eos_code
        raise NoTeacherDepth("no mesh depth")
    size = eos_code.shape[0]
    mesh = map_in_crop(mesh_map, box, size)  # photo pixels
    fit = _relative(eos_code, crop_side_mm) * (box.side / crop_side_mm)  # photo pixels
    alignment = align_to(mesh, fit, MIN_SHARED_PIXELS)
    if alignment is None:
        if teacher in FALLS_BACK_TO_FIT:
            return eos_code
        raise NoTeacherDepth("mesh and fit barely overlap")
    aligned, scale = alignment
    if scale <= 0:
        raise NoTeacherDepth("mesh and fit disagree on the depth's direction")
    # posed: the aligned fit alone; both are brought back to the fit's relief scale
    depth = (aligned if teacher == "posed" else blend(mesh, aligned, average=teacher == "fused")) / scale
    mask = np.isfinite(depth)
    return depthcode.encode(np.where(mask, depth, 0.0), mask, box.side)
