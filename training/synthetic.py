"""Synthetic training pairs: the face model with random identity, expression, pose, perspective camera
and lighting, wearing skin textures extracted from real photos, over real-photo backgrounds.

Depth is exact (the rendered distance along the optical axis), encoded with the same convention and
crop rule as inference. Everything is drawn from a seeded generator, so a sample is a pure function of
(seed, texture pool, background pool).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from facedepth.model import spec
from facedepth.model.crop import box_from_landmarks
from facedepth.training.facemodel import FaceModel
from facedepth.training.raster import vertex_normals
from facedepth.training.render import SUPERSAMPLE, depth_code_from_raster, raster_in_crop, to_crop_screen

VIRTUAL_FOCAL_PX = 1000.0
PIVOT_MM = np.array([0.0, -10.0, -90.0])
"""Head rotation centre in model space (roughly the neck pivot behind the nose)."""


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


def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rotation matrix (degrees): yaw about y, pitch about x, roll about z, applied in that order."""
    y, p, r = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ rx @ ry


def sample_scene(rng: np.random.Generator, model: FaceModel, cfg: SyntheticConfig) -> Scene:
    shape = np.clip(rng.normal(0, cfg.shape_sigma, model.num_shape), -3, 3)
    expression = np.zeros(model.num_expressions)
    if rng.random() > cfg.neutral_fraction:
        k = rng.integers(1, 3)
        idx = rng.choice(model.num_expressions, size=k, replace=False)
        expression[idx] = rng.dirichlet(np.ones(k)) * rng.uniform(0.3, 1.2)
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
    )


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


def render_scene(model: FaceModel, scene: Scene, texture: np.ndarray, background: np.ndarray,
                 rng: np.random.Generator, cfg: SyntheticConfig,
                 size: int = spec.IMAGE_SIZE) -> tuple[np.ndarray, np.ndarray, dict]:
    """Renders one sample: (photo uint8 (size, size, 3), depth code (size, size), metadata)."""
    base = model.vertices(scene.shape, scene.expression)
    verts = model.with_caps(base)
    tris = model.capped_triangles
    rot = rotation(scene.yaw, scene.pitch, scene.roll)
    cam = (verts - PIVOT_MM) @ rot.T + PIVOT_MM
    distance = scene.distance - cam[:, 2]
    pixels = VIRTUAL_FOCAL_PX * np.c_[cam[:, 0], -cam[:, 1]] / distance[:, None]
    _, lm_ids = model.inner_landmark_ids()
    box = box_from_landmarks(pixels[lm_ids])
    jitter = cfg.box_jitter * box.side
    box = type(box)(box.cx + rng.normal(0, jitter), box.cy + rng.normal(0, jitter),
                    box.side * float(np.exp(rng.normal(0, cfg.box_jitter))))
    n_base = len(base)
    uv = model.with_caps(model.uv)
    cap = np.r_[np.zeros(n_base), np.ones(len(verts) - n_base)]
    normals = vertex_normals(cam, tris)
    attrs = np.c_[uv, normals, cap]
    raster = raster_in_crop(to_crop_screen(pixels, box, size), distance, tris, size, attrs, perspective=True)
    nearest = raster.depth[raster.mask].min()
    crop_side_mm = box.side * nearest / VIRTUAL_FOCAL_PX
    code = depth_code_from_raster(raster, size, crop_side_mm)

    n = size * SUPERSAMPLE
    a = raster.attributes
    th, tw = texture.shape[:2]
    albedo = cv2.remap(texture.astype(np.float32) / 255.0, (a[..., 0] * (tw - 1)).astype(np.float32),
                       (a[..., 1] * (th - 1)).astype(np.float32), cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REFLECT)
    albedo = np.where(a[..., 5:6] > 0.5, albedo * 0.35, albedo)  # the capped mouth reads as a dark opening
    nrm = a[..., 2:5]
    nrm /= np.maximum(np.linalg.norm(nrm, axis=-1, keepdims=True), 1e-9)
    ys, xs = np.mgrid[0:n, 0:n]
    view = np.dstack([-(xs - n / 2), (ys - n / 2), np.full((n, n), VIRTUAL_FOCAL_PX * n / box.side)])
    view /= np.linalg.norm(view, axis=-1, keepdims=True)
    ndl = np.clip((nrm * scene.light_dir).sum(-1), 0, 1)[..., None]
    half = scene.light_dir + view
    half /= np.linalg.norm(half, axis=-1, keepdims=True)
    spec_term = scene.specular * np.clip((nrm * half).sum(-1), 0, 1)[..., None] ** scene.shininess
    shaded = albedo * (scene.ambient + scene.light_colour * ndl) + spec_term * scene.light_colour
    mask = raster.mask[..., None]
    image = np.where(mask, shaded, background)
    photo = cv2.resize(np.clip(image, 0, 1).astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    meta = {"yaw": scene.yaw, "pitch": scene.pitch, "roll": scene.roll, "distance_mm": scene.distance,
            "crop_side_mm": float(crop_side_mm), "shape": scene.shape.tolist(),
            "expression": scene.expression.tolist()}
    return (photo * 255 + 0.5).astype(np.uint8), code, meta
