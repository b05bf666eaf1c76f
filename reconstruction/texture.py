"""The mesh's texture: the face's region of the full-resolution photo, and texture coordinates into it.

Every mesh comes from a depth map on the photo's pixel grid (or on the generator's crop grid, which maps onto
the photo by an affine), so a vertex's texture coordinate is simply where the photo's camera projects it.
The texture is the photo cut to the bounding box of the projected mesh (a small margin added), shrunk to at
most ``TEXTURE_MAX_SIDE`` pixels on its long side and never enlarged.

Coordinates: pixel centres sit on integers (pixel (0, 0) covers [-0.5, 0.5]^2), so photo point (u, v) lies at
``(u + 0.5 - x0) / (x1 - x0)`` across a region [x0, x1) of whole pixels; a resize that maps pixel areas onto
pixel areas (Pillow's) keeps that. UVs use the OBJ / trimesh convention: origin at the image's bottom-left,
v up (glTF's top-left origin is applied by the GLB writer).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from facedepth.reconstruction.camera import PinholeCamera

TEXTURE_MAX_SIDE = 2048
"""Longest side of a texture in pixels (viewers and GPUs handle 2048 everywhere)."""
TEXTURE_MARGIN_PX = 2
"""Photo pixels kept around the projected mesh, so bilinear filtering at the outline reads face colours."""


@dataclass(frozen=True)
class PhotoTexture:
    """A texture image cut from a photo, and the camera that maps mesh vertices onto that photo."""

    image: np.ndarray
    """(h, w, 3) uint8 RGB, top row first."""
    region: tuple[int, int, int, int]
    """(x0, y0, x1, y1): the photo pixels the image covers, x1 and y1 exclusive."""
    camera: PinholeCamera
    """The photo's camera (internal frame: x right, y down, z forward)."""

    def uv(self, points: np.ndarray) -> np.ndarray:
        """(N, 3) points in the camera's internal frame -> (N, 2) float64 texture coordinates (origin bottom-left)."""
        u, v = self.camera.project(points)
        x0, y0, x1, y1 = self.region
        return np.stack([(u + 0.5 - x0) / (x1 - x0), 1.0 - (v + 0.5 - y0) / (y1 - y0)], axis=1)

    def pil_image(self) -> Image.Image:
        return Image.fromarray(self.image)


def photo_texture(rgb: np.ndarray, camera: PinholeCamera, points: np.ndarray,
                  max_side: int = TEXTURE_MAX_SIDE, margin: int = TEXTURE_MARGIN_PX) -> PhotoTexture:
    """The texture for a mesh with vertices ``points`` (internal frame) seen in photo ``rgb`` by ``camera``."""
    camera.check_image(rgb.shape)
    if len(points) == 0:
        raise ValueError("cannot texture an empty mesh")
    u, v = camera.project(points)
    x0 = max(0, math.floor(float(u.min()) + 0.5) - margin)
    y0 = max(0, math.floor(float(v.min()) + 0.5) - margin)
    x1 = min(camera.width, math.floor(float(u.max()) + 0.5) + 1 + margin)
    y1 = min(camera.height, math.floor(float(v.max()) + 0.5) + 1 + margin)
    if x1 <= x0 or y1 <= y0:
        raise ValueError("the mesh does not project into the photo")
    part = np.ascontiguousarray(rgb[y0:y1, x0:x1])
    width, height = x1 - x0, y1 - y0
    scale = min(1.0, max_side / max(width, height))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        part = np.asarray(Image.fromarray(part).resize(size, Image.Resampling.LANCZOS))
    return PhotoTexture(image=part, region=(x0, y0, x1, y1), camera=camera)

