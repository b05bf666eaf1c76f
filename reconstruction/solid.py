"""A printable solid from a depth map: the face as a relief on a flat back, closed by a side wall.

The depth map is read as a heightfield on its pixel grid: x and y are the pixels' positions at the face's
median distance (a weak-perspective view, so the wall is vertical and the back flat), the height is how far
a pixel lies in front of the face's deepest point. The face is scaled to ``width_mm`` across and stands on
``base_mm`` of material behind its deepest point. Every grid cell whose four corners have depth becomes two
triangles on top and two on the back; each outline edge of the top gets a wall quad down to the back.

That closes the surface (every edge in exactly two triangles, consistently wound) provided no grid vertex
is shared by two cells that touch only at that corner: such cells are removed first (a pinch would put four
wall triangles on one edge), and only the largest connected piece is kept, so the result is one watertight
2-manifold with positive volume, which slicers print as it is.
"""

from __future__ import annotations

import numpy as np
import trimesh

from facedepth.reconstruction.camera import PinholeCamera
from facedepth.reconstruction.pointcloud import valid_depth
from facedepth.reconstruction.settings import SolidSettings
from facedepth.reconstruction.surface import MIN_FACE_POINTS, vertex_components


def manifold_cells(cells: np.ndarray) -> np.ndarray:
    """A copy of the (rows, cols) cell mask without cells that touch another only at a corner, reduced to
    its largest edge-connected piece."""
    cells = cells.copy()
    while True:
        a, b, c, d = cells[:-1, :-1], cells[:-1, 1:], cells[1:, :-1], cells[1:, 1:]
        falling = a & d & ~b & ~c  # top-left and bottom-right touch at one corner
        rising = b & c & ~a & ~d
        if not (falling.any() or rising.any()):
            break
        d[falling] = False  # views into ``cells``
        c[rising] = False
    rows, cols = np.nonzero(cells)
    if len(rows) == 0:
        return cells
    # cells joined by a shared edge: union-find over the cells' corner vertices (no pinches are left, so
    # sharing a corner vertex now implies sharing an edge)
    width = cells.shape[1] + 1
    corners = np.stack([rows * width + cols, rows * width + cols + 1, (rows + 1) * width + cols], axis=1)
    labels = vertex_components(corners, (cells.shape[0] + 1) * width)[corners[:, 0]]
    values, counts = np.unique(labels, return_counts=True)
    keep = labels == values[np.argmax(counts)]
    out = np.zeros_like(cells)
    out[rows[keep], cols[keep]] = True
    return out


def relief_solid(depth_mm: np.ndarray, camera: PinholeCamera, settings: SolidSettings | None = None,
                 stride: int = 1) -> trimesh.Trimesh:
    """The watertight relief of a depth map (``camera``'s grid, every ``stride``-th pixel), in millimetres:
    x right, y up, z out of the back plane (z = 0) towards the viewer. Raises ValueError when too little of
    the depth map is usable."""
    settings = settings or SolidSettings()
    camera.check_image(depth_mm.shape)
    depth = np.asarray(depth_mm, dtype=np.float64)[::stride, ::stride]
    valid = valid_depth(depth)
    cells = manifold_cells(valid[:-1, :-1] & valid[:-1, 1:] & valid[1:, :-1] & valid[1:, 1:])
    if cells.sum() < MIN_FACE_POINTS:
        raise ValueError(f"too few face points for a solid: {int(cells.sum())} grid cells, need {MIN_FACE_POINTS}")

    rows, cols = np.nonzero(cells)
    width = depth.shape[1]
    quad = np.stack([rows * width + cols, rows * width + cols + 1,  # top-left, top-right
                     (rows + 1) * width + cols, (rows + 1) * width + cols + 1], axis=1)  # bottom-left, -right
    used, local = np.unique(quad.ravel(), return_inverse=True)
    quad = local.reshape(quad.shape)
    v, u = np.divmod(used, width)
    z = depth[v, u]
    reference = float(np.median(z))
    x = (u * stride - camera.cx) * reference / camera.fx
    y = -(v * stride - camera.cy) * reference / camera.fy
    scale = settings.width_mm / max(float(x.max() - x.min()), 1e-9)
    height = settings.base_mm + (z.max() - z) * scale
    x, y = (x - (x.max() + x.min()) / 2) * scale, (y - (y.max() + y.min()) / 2) * scale
    n = len(used)
    vertices = np.concatenate([np.stack([x, y, height], axis=1), np.stack([x, y, np.zeros(n)], axis=1)])

    # top faces +z: (top-left, bottom-left, bottom-right) and (top-left, bottom-right, top-right)
    tl, tr, bl, br = quad.T
    top = np.concatenate([np.stack([tl, bl, br], axis=1), np.stack([tl, br, tr], axis=1)])
    back = top[:, ::-1] + n
    # outline: directed top edges whose reverse no top triangle has; each gets a wall quad down to the back
    edges = np.concatenate([top[:, [0, 1]], top[:, [1, 2]], top[:, [2, 0]]])
    keys = np.minimum(edges[:, 0], edges[:, 1]) * (2 * n) + np.maximum(edges[:, 0], edges[:, 1])
    unique, counts = np.unique(keys, return_counts=True)
    outline = edges[np.isin(keys, unique[counts == 1])]
    p, q = outline[:, 0], outline[:, 1]
    walls = np.concatenate([np.stack([q, p, p + n], axis=1), np.stack([q, p + n, q + n], axis=1)])

    solid = trimesh.Trimesh(vertices=vertices, faces=np.concatenate([top, back, walls]), process=False)
    if not (solid.is_watertight and solid.is_winding_consistent and solid.volume > 0):
        raise ValueError("the relief could not be closed into a printable solid")  # a bug, not bad input
    return solid
