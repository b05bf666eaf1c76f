"""Synthetic training pairs: a face model with random identity, expression, pose, perspective camera
and lighting, wearing skin textures extracted from real photos, over real-photo backgrounds.

The face model is anything that implements :class:`facedepth.training.headmesh.SyntheticFaceModel`: the
Surrey Face Model (:mod:`facedepth.training.facemodel`, face only) or the ICT Face Model
(:mod:`facedepth.training.ictface`, whole head with eyes, teeth and a hair shell). Depth is exact (the
rendered distance along the optical axis) on the model's *scored* triangles only, encoded with the same
convention and crop rule as inference; the rest of the head renders into the photo and is background in
the depth code. Everything is drawn from a seeded generator, so a sample is a pure function of (seed,
texture pool, background pool).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from facedepth.model import spec
from facedepth.model.crop import CropBox, box_from_landmarks
from facedepth.training.facemodel import PIVOT_MM
from facedepth.training.headmesh import IRIS_DEG, PUPIL_DEG, HeadMesh, Look, Material, SyntheticFaceModel, rotation
from facedepth.training.raster import Raster
from facedepth.training.render import depth_code_from_raster, raster_in_crop, to_crop_screen

__all__ = ["PIVOT_MM", "VIRTUAL_FOCAL_PX", "Scene", "SyntheticConfig", "project", "render_scene", "rotation",
           "sample_scene"]

VIRTUAL_FOCAL_PX = 1000.0


@dataclass(frozen=True)
class SyntheticConfig:
    yaw_deg: float = 65.0
    pitch_deg: float = 25.0
    roll_deg: float = 15.0
    frontal_fraction: float = 0.4
    """Share of samples with yaw drawn near frontal (N(0, 15 deg)), as most real photos are."""
    distance_mm: tuple[float, float] = (350.0, 1500.0)
    shape_sigma: float = 1.0
    neutral_fraction: float = 0.3
    box_jitter: float = 0.04
    """Relative noise on the crop box (centre and size), as detected landmarks are noisy."""


@dataclass
class Scene:
    shape: np.ndarray
    expression: np.ndarray
    yaw: float
    pitch: float
    roll: float
    distance: float
    ambient: np.ndarray
    light_dir: np.ndarray
    light_colour: np.ndarray
    specular: float
    shininess: float
    look: Look = field(default_factory=Look)


def sample_scene(rng: np.random.Generator, model: SyntheticFaceModel, cfg: SyntheticConfig) -> Scene:
    shape = np.clip(rng.normal(0, cfg.shape_sigma, model.num_shape), -3, 3)
    expression = model.sample_expression(rng, cfg.neutral_fraction)
    if rng.random() < cfg.frontal_fraction:
        yaw = float(np.clip(rng.normal(0, 15), -cfg.yaw_deg, cfg.yaw_deg))
    else:
        yaw = float(rng.uniform(-cfg.yaw_deg, cfg.yaw_deg))
    elev = rng.uniform(-0.3, 0.9)
    azim = rng.uniform(-1.2, 1.2)
    light = np.array([np.sin(azim) * np.cos(elev), np.sin(elev), np.cos(azim) * np.cos(elev)])
    warm = rng.uniform(-0.15, 0.15)
    return Scene(
        shape=shape, expression=expression, yaw=yaw,
        pitch=float(rng.uniform(-cfg.pitch_deg, cfg.pitch_deg)), roll=float(rng.uniform(-cfg.roll_deg, cfg.roll_deg)),
        distance=float(np.exp(rng.uniform(*np.log(cfg.distance_mm)))),
        ambient=rng.uniform(0.35, 0.8) * (1 + rng.uniform(-0.08, 0.08, 3)),
        light_dir=light / np.linalg.norm(light), light_colour=rng.uniform(0.3, 0.9) * np.array([1 + warm, 1, 1 - warm]),
        specular=float(rng.uniform(0.0, 0.35)), shininess=float(rng.uniform(8, 40)),
        look=model.sample_look(rng),
    )


def project(points: np.ndarray, scene: Scene, pivot_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Model-space points (N, 3) -> (camera-space points, distance along the optical axis, image pixels).

    The head turns about ``pivot_mm``; the camera looks down -z from ``scene.distance`` in front of the model
    origin, image y down, principal point at pixel (0, 0)."""
    cam = (points - pivot_mm) @ rotation(scene.yaw, scene.pitch, scene.roll).T + pivot_mm
    distance = scene.distance - cam[:, 2]
    pixels = VIRTUAL_FOCAL_PX * np.c_[cam[:, 0], -cam[:, 1]] / distance[:, None]
    return cam, distance, pixels


def crop_box(model: SyntheticFaceModel, vertices: np.ndarray, scene: Scene, rng: np.random.Generator,
             cfg: SyntheticConfig) -> CropBox:
    """The inference crop rule on the projected landmark vertices, with detector-like noise."""
    _, lm_ids = model.inner_landmark_ids()
    box = box_from_landmarks(project(vertices[lm_ids], scene, model.pivot_mm)[2])
    jitter = cfg.box_jitter * box.side
    return CropBox(box.cx + rng.normal(0, jitter), box.cy + rng.normal(0, jitter),
                   box.side * float(np.exp(rng.normal(0, cfg.box_jitter))))


def random_background(rng: np.random.Generator, pool: list[Path], n: int) -> np.ndarray:
    """An n x n RGB float background: a zoomed, blurred real photo, or a smooth colour field."""
    if pool and rng.random() < 0.75:
        img = cv2.imread(str(pool[rng.integers(len(pool))]))[..., ::-1]
        h, w = img.shape[:2]
        side = int(rng.uniform(0.25, 1.0) * min(h, w))
        x, y = rng.integers(0, w - side + 1), rng.integers(0, h - side + 1)
        patch = cv2.resize(img[y: y + side, x: x + side], (n, n), interpolation=cv2.INTER_LINEAR)
        if rng.random() < 0.5:
            patch = patch[:, ::-1]
        patch = cv2.GaussianBlur(patch, (0, 0), rng.uniform(0.5, 6.0) * n / 256)
        return patch.astype(np.float64) / 255.0
    corners = rng.uniform(0, 1, (2, 2, 3))
    field = cv2.resize(corners, (n, n), interpolation=cv2.INTER_LINEAR)
    noise = cv2.GaussianBlur(rng.normal(0, 0.08, (n, n, 3)), (0, 0), n / 32)
    return np.clip(field + noise, 0, 1)


def render_scene(model: SyntheticFaceModel, scene: Scene, texture: np.ndarray, background: np.ndarray,
                 rng: np.random.Generator, cfg: SyntheticConfig,
                 size: int = spec.IMAGE_SIZE) -> tuple[np.ndarray, np.ndarray, dict]:
    """Renders one sample: (photo uint8 (size, size, 3), depth code (size, size), metadata).

    ``texture`` is a skin texture in the model's own UV layout (RGB uint8)."""
    base = model.vertices(scene.shape, scene.expression)
    mesh = model.head_mesh(base, scene.expression, scene.look)
    box = crop_box(model, base, scene, rng, cfg)
    rot = rotation(scene.yaw, scene.pitch, scene.roll)
    _, distance, pixels = project(mesh.vertices, scene, model.pivot_mm)
    normals = mesh.normals @ rot.T
    attrs = np.c_[mesh.uv, normals, mesh.detail]
    raster = raster_in_crop(to_crop_screen(pixels, box, size), distance, mesh.triangles, size, attrs,
                            perspective=True, cull_back=mesh.cull_back)
    face = raster.mask & mesh.scored[np.maximum(raster.triangle, 0)]
    if not face.any():
        raise ValueError("the scored face is not in the crop")
    nearest = raster.depth[face].min()
    crop_side_mm = box.side * nearest / VIRTUAL_FOCAL_PX
    code = depth_code_from_raster(raster, size, crop_side_mm, face)
    shaded = shade(raster, mesh, scene, texture, box.side)
    image = np.where(raster.mask[..., None], shaded, background)
    photo = cv2.resize(np.clip(image, 0, 1).astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    meta = {"face_model": model.name, "yaw": scene.yaw, "pitch": scene.pitch, "roll": scene.roll,
            "distance_mm": scene.distance, "crop_side_mm": float(crop_side_mm), "nearest_mm": float(nearest),
            "shape": scene.shape.tolist(), "expression": scene.expression.tolist()}
    return (photo * 255 + 0.5).astype(np.uint8), code, meta


def shade(raster: Raster, mesh: HeadMesh, scene: Scene, texture: np.ndarray, box_side_px: float) -> np.ndarray:
    """Blinn-Phong colour of every rasterised pixel (supersampled, float RGB in [0, 1])."""
    n = raster.depth.shape[0]
    a = raster.attributes
    material = np.where(raster.mask, mesh.material[np.maximum(raster.triangle, 0)], -1)
    th, tw = texture.shape[:2]
    albedo = cv2.remap(texture.astype(np.float32) / 255.0, (a[..., 0] * (tw - 1)).astype(np.float32),
                       (a[..., 1] * (th - 1)).astype(np.float32), cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REFLECT).astype(np.float64)
    specular = np.full((n, n), scene.specular)
    shininess = np.full((n, n), scene.shininess)
    look = scene.look
    albedo[(material == Material.MOUTH_CAP) & (a[..., 5] > 0.5)] *= 0.35  # the capped mouth: a dark opening
    for mat, colour, spec_k, shine in MATERIALS:
        sel = material == mat
        if sel.any():
            albedo[sel] = colour if mat != Material.TEETH else look.teeth
            specular[sel], shininess[sel] = spec_k, shine
    eye = material == Material.EYE
    if eye.any():
        albedo[eye] = eye_colour(a[..., 5][eye], look)
        specular[eye], shininess[eye] = 0.6, 80.0
    hair = material == Material.HAIR
    if hair.any() and look.hair is not None:
        strands = hair_strands(look.hair_seed)
        sh, sw = strands.shape
        at = (a[..., :2] * [sw - 1, sh - 1]).astype(np.float32)
        streak = cv2.remap(strands, at[..., 0], at[..., 1], cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        albedo[hair] = np.asarray(look.hair) * streak[hair][:, None]
        specular[hair], shininess[hair] = 0.12, 12.0
    nrm = a[..., 2:5]
    nrm = nrm / np.maximum(np.linalg.norm(nrm, axis=-1, keepdims=True), 1e-9)
    ys, xs = np.mgrid[0:n, 0:n]
    view = np.dstack([-(xs - n / 2), (ys - n / 2), np.full((n, n), VIRTUAL_FOCAL_PX * n / box_side_px)])
    view /= np.linalg.norm(view, axis=-1, keepdims=True)
    ndl = np.clip((nrm * scene.light_dir).sum(-1), 0, 1)[..., None]
    half = scene.light_dir + view
    half /= np.linalg.norm(half, axis=-1, keepdims=True)
    spec_term = specular[..., None] * np.clip((nrm * half).sum(-1), 0, 1)[..., None] ** shininess[..., None]
    return albedo * (scene.ambient + scene.light_colour * ndl) + spec_term * scene.light_colour


HAIR_PATTERNS = 16


@lru_cache(maxsize=HAIR_PATTERNS)
def _strands(variant: int, size: int) -> np.ndarray:
    noise = np.random.default_rng(variant).normal(0, 1, (size, 2 * size)).astype(np.float32)
    fine = cv2.GaussianBlur(noise, (1, 0), sigmaX=0.6, sigmaY=12.0)
    coarse = cv2.GaussianBlur(noise, (0, 0), 6.0)
    pattern = 1.0 + 0.27 * fine / max(float(fine.std()), 1e-6) + 0.12 * coarse / max(float(coarse.std()), 1e-6)
    return np.clip(pattern, 0.3, 1.8)


def hair_strands(seed: int, size: int = 256) -> np.ndarray:
    """A brightness pattern of hair strands over the UV square (noise smeared along v, around 1): one of
    :data:`HAIR_PATTERNS` variants, made once per process."""
    return _strands(seed % HAIR_PATTERNS, size)


MATERIALS = (
    (Material.TEETH, None, 0.3, 40.0),
    (Material.GUMS, (0.45, 0.14, 0.14), 0.3, 30.0),
    (Material.MOUTH_SOCKET, (0.10, 0.03, 0.03), 0.05, 10.0),
    (Material.EYE_SOCKET, (0.55, 0.30, 0.28), 0.4, 40.0),
)
"""Flat-coloured materials: (material, albedo (None: from the look), specular, shininess)."""


def eye_colour(angle_deg: np.ndarray, look: Look) -> np.ndarray:
    """Sclera, a dark limbal ring, a radially streaked iris and the pupil, by angle from the gaze axis."""
    t = np.clip((angle_deg - PUPIL_DEG) / (IRIS_DEG - PUPIL_DEG), 0, 1)[:, None]
    iris = np.asarray(look.iris) * (0.6 + 0.7 * t) * (1 - 0.5 * np.clip((t - 0.8) / 0.2, 0, 1))
    out = np.where((angle_deg < IRIS_DEG)[:, None], iris, np.asarray(look.sclera))
    return np.where((angle_deg < PUPIL_DEG)[:, None], 0.02, out)
