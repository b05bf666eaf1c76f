"""Just enough Wavefront OBJ for the ICT Face Model: vertex positions, UVs, polygons and material groups."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class ObjMesh:
    vertices: np.ndarray
    """(N, 3) float64 positions."""
    uv: np.ndarray
    """(T, 2) float64 texture coordinates."""
    triangles: np.ndarray
    """(M, 3) vertex ids; polygons are fanned into triangles."""
    triangle_uv: np.ndarray
    """(M, 3) texture coordinate ids of the same corners (-1 where the file gives none)."""
    triangle_polygon: np.ndarray
    """(M,) index of the polygon each triangle came from, in file order."""
    polygon_material: list[str]
    """Material (``usemtl``) of each polygon, '' before the first one."""


def read_positions(path: Path) -> np.ndarray:
    """Only the ``v`` lines of an OBJ as (N, 3) float64: the fast path for blendshape files."""
    lines = [line[2:] for line in Path(path).read_bytes().splitlines() if line.startswith(b"v ")]
    values = np.array(b" ".join(lines).split(), dtype=np.float64)
    if values.size != 3 * len(lines):
        raise ValueError(f"{path}: vertex lines must hold exactly x y z")
    return values.reshape(-1, 3)


def read_obj(path: Path) -> ObjMesh:
    """Positions, UVs and polygons (fanned to triangles) with their material groups."""
    verts: list[list[float]] = []
    uvs: list[list[float]] = []
    tris: list[tuple[int, int, int]] = []
    tri_uv: list[tuple[int, int, int]] = []
    tri_poly: list[int] = []
    materials: list[str] = []
    current = ""
    for raw in Path(path).read_text().splitlines():
        parts = raw.split()
        if not parts:
            continue
        tag = parts[0]
        if tag == "v":
            verts.append([float(x) for x in parts[1:4]])
        elif tag == "vt":
            uvs.append([float(x) for x in parts[1:3]])
        elif tag == "usemtl":
            current = parts[1] if len(parts) > 1 else ""
        elif tag == "f":
            corners = [_corner(c, len(verts), len(uvs)) for c in parts[1:]]
            poly = len(materials)
            materials.append(current)
            for k in range(1, len(corners) - 1):
                a, b, c = corners[0], corners[k], corners[k + 1]
                tris.append((a[0], b[0], c[0]))
                tri_uv.append((a[1], b[1], c[1]))
                tri_poly.append(poly)
    if not verts or not tris:
        raise ValueError(f"{path}: no vertices or faces")
    return ObjMesh(np.array(verts), np.array(uvs).reshape(-1, 2), np.array(tris, np.int64),
                   np.array(tri_uv, np.int64), np.array(tri_poly, np.int64), materials)


def _corner(token: str, n_verts: int, n_uvs: int) -> tuple[int, int]:
    """'v', 'v/vt', 'v//vn' or 'v/vt/vn' (1-based, negatives count from the end) -> 0-based (v, vt or -1)."""
    fields = token.split("/")
    v = int(fields[0])
    v = v - 1 if v > 0 else n_verts + v
    t = -1
    if len(fields) > 1 and fields[1]:
        t = int(fields[1])
        t = t - 1 if t > 0 else n_uvs + t
    return v, t
