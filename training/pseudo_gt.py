"""Pseudo ground truth for real photos: detect, fit the face model to 68 landmarks, render its depth.

The depth is the fitted model seen through the fit's scaled-orthographic camera, cropped with the same
rule as inference (:mod:`facedepth.model.crop`). A fit is rejected when no face is found, the detection scores low,
the face is too small, or the fitted landmarks land far from the detected ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from facedepth.model import spec
from facedepth.model.crop import CropBox, box_from_landmarks, crop_image
from facedepth.model.face import Face, FaceDetector
from facedepth.training.facemodel import FaceModel, Fit
from facedepth.training.render import depth_code_from_raster, raster_in_crop, to_crop_screen
from facedepth.training.teachers import NoTeacherDepth, teacher_code

MIN_SCORE = -0.5
"""The photos are known to hold one face: only the landmark fit check filters them."""
MIN_INTEROCULAR_PX = 20.0
MAX_LANDMARK_ERROR = 0.12
TEXTURE_SIZE = 256


class Rejected(Exception):
    """The photo gives no usable pseudo ground truth; the message says why (one short reason)."""


@dataclass
class PseudoSample:
    photo: np.ndarray
    code: np.ndarray
    face: Face
    fit: Fit
    box: CropBox
    crop_side_mm: float
    texture: np.ndarray | None


def detect_and_fit(model: FaceModel, detector: FaceDetector, rgb: np.ndarray) -> tuple[Face, Fit]:
    face = detector.largest(rgb)
    if face is None:
        raise Rejected("no face")
    if face.score < MIN_SCORE:
        raise Rejected("low score")
    lm = face.landmarks
    if np.linalg.norm(lm[36:42].mean(0) - lm[42:48].mean(0)) < MIN_INTEROCULAR_PX:
        raise Rejected("too small")
    h, w = rgb.shape[:2]
    fit = model.fit(lm, w, h)
    if fit.landmark_error > MAX_LANDMARK_ERROR:
        raise Rejected("bad fit")
    return face, fit


def render_fit_code(model: FaceModel, vertices: np.ndarray, fit: Fit, box: CropBox,
                    size: int = spec.IMAGE_SIZE) -> tuple[np.ndarray, float]:
    """Depth code of ``vertices`` (model space, e.g. the fit's or the mean face) seen by the fit's camera."""
    verts = model.with_caps(vertices)
    hom = np.c_[verts, np.ones(len(verts))]
    pixels = hom @ fit.affine[:2].T
    distance = -(hom @ fit.modelview.T)[:, 2]
    px_per_mm = float(np.linalg.norm(fit.affine[0, :3]))
    crop_side_mm = box.side / px_per_mm
    raster = raster_in_crop(to_crop_screen(pixels, box, size), distance, model.capped_triangles, size)
    return depth_code_from_raster(raster, size, crop_side_mm), crop_side_mm


def extract_texture(model: FaceModel, fit: Fit, rgb: np.ndarray) -> np.ndarray:
    """The photo's skin in the model's UV space (RGB uint8), unseen parts filled by inpainting."""
    import eos

    rgba = np.ascontiguousarray(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)]))
    tex = np.asarray(eos.render.extract_texture(fit.mesh, fit.rendering_params, rgba,
                                                texturemap_resolution=TEXTURE_SIZE))
    colour, alpha = np.ascontiguousarray(tex[..., :3]), tex[..., 3]
    seen = (alpha >= 128).astype(np.float32)
    if seen.all():
        return colour
    # Fill unseen texels with a normalised blur of the seen ones (inpainting is 10x slower).
    num = cv2.GaussianBlur(colour.astype(np.float32) * seen[..., None], (0, 0), TEXTURE_SIZE / 16)
    den = cv2.GaussianBlur(seen, (0, 0), TEXTURE_SIZE / 16)[..., None]
    fill = num / np.maximum(den, 1e-3)
    fallback = colour[seen > 0].mean(axis=0) if seen.any() else np.full(3, 128.0)
    fill = np.where(den > 1e-3, fill, fallback)
    return np.where(seen[..., None] > 0, colour, fill).clip(0, 255).astype(np.uint8)


def make_pseudo_sample(model: FaceModel, detector: FaceDetector, rgb: np.ndarray, with_texture: bool = False,
                       teacher: str = "eos", mesh_map: np.ndarray | None = None) -> PseudoSample:
    """The crop and its pseudo ground truth by ``teacher`` (see :mod:`facedepth.training.teachers`);
    ``mesh_map`` is the photo's MediaPipe mesh depth for the mesh-based teachers."""
    face, fit = detect_and_fit(model, detector, rgb)
    box = box_from_landmarks(face.landmarks)
    code, crop_side_mm = render_fit_code(model, fit.vertices, fit, box)
    try:
        code = teacher_code(teacher, code, crop_side_mm, mesh_map, box)
    except NoTeacherDepth as exc:
        raise Rejected(str(exc)) from None
    if depthcode_fraction(code) < 0.05:
        raise Rejected("empty depth")
    texture = extract_texture(model, fit, rgb) if with_texture else None
    return PseudoSample(crop_image(rgb, box), code, face, fit, box, crop_side_mm, texture)


def depthcode_fraction(code: np.ndarray) -> float:
    return float((code < spec.MASK_THRESHOLD).mean())
