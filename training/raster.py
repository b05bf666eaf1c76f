"""A vectorised numpy z-buffer rasteriser for triangle meshes (the face models: 3,448 to 27,000 vertices).

Screen coordinates: x to the right, y down, pixel (col, row) has its centre at (col + 0.5, row + 0.5).
Depth: larger = farther; the nearest fragment wins (ties: the lowest triangle id). With
``perspective=True`` attributes are interpolated perspective-correctly (linear in screen space after
division by depth).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Raster:
    """Per-pixel result: depth (inf where empty), triangle id (-1 where empty), interpolated attributes."""

    depth: np.ndarray
    triangle: np.ndarray
    attributes: np.ndarray

    @property
    def mask(self) -> np.ndarray:
        return self.triangle >= 0


def rasterize(screen: np.ndarray, triangles: np.ndarray, width: int, height: int,
              attributes: np.ndarray | None = None, perspective: bool = False, cull_back: bool = False) -> Raster:
    """Rasterises triangles with vertices ``screen`` (N, 3) = (x, y, depth) into a width x height buffer.

    ``cull_back`` drops triangles whose corners run clockwise as seen by the camera (positive signed area in
    these y-down coordinates): the back faces of a mesh wound counter-clockwise, as OBJ files are."""
    attributes = np.zeros((len(screen), 0)) if attributes is None else attributes
    tri = screen[triangles]  # (M, 3, 3)
    x, y = tri[..., 0], tri[..., 1]
    x0 = np.clip(np.floor(x.min(1) - 0.5).astype(np.int64) + 1, 0, width)
    x1 = np.clip(np.floor(x.max(1) - 0.5).astype(np.int64) + 1, 0, width)
    y0 = np.clip(np.floor(y.min(1) - 0.5).astype(np.int64) + 1, 0, height)
    y1 = np.clip(np.floor(y.max(1) - 0.5).astype(np.int64) + 1, 0, height)
    w, h = x1 - x0, y1 - y0
    area = (x[:, 1] - x[:, 0]) * (y[:, 2] - y[:, 0]) - (x[:, 2] - x[:, 0]) * (y[:, 1] - y[:, 0])
    facing = area < -1e-12 if cull_back else np.abs(area) > 1e-12
    keep = np.flatnonzero((w > 0) & (h > 0) & facing)
    counts = w[keep] * h[keep]
    total = int(counts.sum())
    depth = np.full((height, width), np.inf)
    tri_img = np.full((height, width), -1, np.int64)
    out_attr = np.zeros((height, width, attributes.shape[1]))
    if total == 0:
        return Raster(depth, tri_img, out_attr)
    t = np.repeat(keep, counts)
    local = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
    px = x0[t] + local % w[t]
    py = y0[t] + local // w[t]
    cx, cy = px + 0.5, py + 0.5
    xt, yt = x[t], y[t]
    # Barycentric coordinates from edge functions.
    inv_area = 1.0 / area[t]
    b0 = ((xt[:, 1] - cx) * (yt[:, 2] - cy) - (xt[:, 2] - cx) * (yt[:, 1] - cy)) * inv_area
    b1 = ((xt[:, 2] - cx) * (yt[:, 0] - cy) - (xt[:, 0] - cx) * (yt[:, 2] - cy)) * inv_area
    b2 = 1.0 - b0 - b1
    inside = (b0 >= -1e-9) & (b1 >= -1e-9) & (b2 >= -1e-9)
    t, px, py = t[inside], px[inside], py[inside]
    bary = np.stack([b0[inside], b1[inside], b2[inside]], axis=1)
    zt = tri[t, :, 2]
    if perspective:
        wgt = bary / zt
        z = 1.0 / wgt.sum(1)
        bary = wgt * z[:, None]
    else:
        z = (bary * zt).sum(1)
    pix = py * width + px
    # z-buffer: the nearest fragment per pixel, ties to the lowest triangle id (ufunc.at, no sorting).
    flat_depth = depth.ravel()
    np.minimum.at(flat_depth, pix, z)
    win = np.flatnonzero(z <= flat_depth[pix])
    flat_tri = np.full(width * height, np.iinfo(np.int64).max)
    np.minimum.at(flat_tri, pix[win], t[win])
    first = win[t[win] == flat_tri[pix[win]]]
    sel_pix = pix[first]
    tri_img.ravel()[sel_pix] = t[first]
    if attributes.shape[1]:
        corner = attributes[triangles[t[first]]]  # (K, 3, A)
        out_attr.reshape(-1, attributes.shape[1])[sel_pix] = np.einsum("kc,kca->ka", bary[first], corner)
    return Raster(depth, tri_img, out_attr)


def vertex_normals(vertices: np.ndarray, triangles: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (N, 3)."""
    v = vertices[triangles]
    face_n = np.cross(v[:, 1] - v[:, 0], v[:, 2] - v[:, 0])
    corner_n = np.repeat(face_n, 3, axis=0)
    n = np.stack([np.bincount(triangles.ravel(), corner_n[:, k], len(vertices)) for k in range(3)], axis=1)
    return n / np.maximum(np.linalg.norm(n, axis=1, keepdims=True), 1e-12)
