"""Open3D geometry -> flat vertex/index arrays for Kivy's ``Mesh`` (no Kivy import; built in the worker thread).

Kivy draws a ``Mesh`` with 16-bit indices, so one instruction can address at most 65,535 vertices. Triangles
are cut into runs of ``MAX_CHUNK_VERTICES // 3`` and each run gets its own compact vertex table, which keeps
every chunk within the limit whatever the mesh's vertex order (vertices shared across runs are repeated).

Every vertex is ``VERTEX_FLOATS`` float32 values: position (3), normal (3), colour (3), texture coordinate (2,
origin bottom-left; zero without a texture), in the viewer's frame:
the mesh is moved to its bounding-box centre and scaled so that its largest extent is 2, then turned from the
camera frame (x right, y down, z forward) into OpenGL's (x right, y up, z towards the viewer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # the window unpickles these buffers without loading Open3D
    import open3d as o3d

    from facedepth.reconstruction.texture import PhotoTexture

MAX_CHUNK_VERTICES = 65_535
VERTEX_FLOATS = 11
SHADED_COLOR = (0.78, 0.76, 0.74)
"""Clay-like grey for the shaded mode."""
_TO_GL = np.array([1.0, -1.0, -1.0])


@dataclass
class Chunk:
    vertices: np.ndarray
    """(n * VERTEX_FLOATS,) float32, n <= MAX_CHUNK_VERTICES."""
    indices: np.ndarray
    """(k,) uint16 into this chunk's vertices."""


@dataclass
class GeometryBuffers:
    """One primitive kind (triangles, lines or points) ready for Kivy, split into chunks."""

    mode: str
    """Kivy Mesh mode: "triangles", "lines" or "points"."""
    chunks: list[Chunk] = field(default_factory=list)
    primitives: int = 0
    """Triangles, lines or points in total (before chunking)."""


@dataclass
class SceneBuffers:
    """Everything the 3D view can show for one reconstruction, in the normalised viewer frame."""

    triangles: GeometryBuffers
    lines: GeometryBuffers
    points: GeometryBuffers
    center: np.ndarray
    """Bounding-box centre of the mesh in the camera frame (mm)."""
    scale: float
    """Viewer units per millimetre."""
    texture: np.ndarray | None = None
    """(h, w, 3) uint8 RGB image (top row first) that the triangles' texture coordinates point into."""


def chunked(mode: str, vertex_table: np.ndarray, elements: np.ndarray) -> GeometryBuffers:
    """Splits ``elements`` ((m, k) vertex indices, k = 3 triangles, 2 lines, 1 points) into chunks.

    ``vertex_table`` is (n, VERTEX_FLOATS). Each chunk holds at most ``MAX_CHUNK_VERTICES // k`` elements,
    so its distinct vertices always fit 16-bit indices.
    """
    per_element = elements.shape[1]
    step = MAX_CHUNK_VERTICES // per_element
    buffers = GeometryBuffers(mode=mode, primitives=len(elements))
    for start in range(0, len(elements), step):
        block = elements[start:start + step]
        used, local = np.unique(block.ravel(), return_inverse=True)
        buffers.chunks.append(Chunk(vertices=np.ascontiguousarray(vertex_table[used], dtype=np.float32).ravel(),
                                    indices=local.astype(np.uint16)))
    return buffers


def scene_buffers(mesh: o3d.geometry.TriangleMesh, point_cloud: o3d.geometry.PointCloud | None = None,
                  lines: o3d.geometry.LineSet | None = None, texture: PhotoTexture | None = None) -> SceneBuffers:
    """Vertex/index arrays for the mesh (triangles, with texture coordinates into ``texture``), its wire
    frame (lines, the mesh's edges) and the point cloud (points; the mesh's vertices when no cloud is given)."""
    positions = np.asarray(mesh.vertices, dtype=np.float64)
    triangles = np.asarray(mesh.triangles, dtype=np.int64)
    if len(triangles) == 0:
        raise ValueError("the mesh has no triangles")
    if not mesh.has_vertex_normals():
        mesh.compute_vertex_normals()
    lo, hi = positions.min(axis=0), positions.max(axis=0)
    center = (lo + hi) / 2
    scale = 2.0 / max(float((hi - lo).max()), 1e-9)

    def to_view(points: np.ndarray) -> np.ndarray:
        return (points - center) * scale * _TO_GL

    colors = np.asarray(mesh.vertex_colors) if mesh.has_vertex_colors() else np.tile(SHADED_COLOR, (len(positions), 1))
    uv = texture.uv(positions) if texture is not None else np.zeros((len(positions), 2))
    table = np.hstack([to_view(positions), np.asarray(mesh.vertex_normals) * _TO_GL, colors, uv])
    tri = chunked("triangles", table, triangles)

    if lines is None or len(lines.points) != len(positions):
        from facedepth.reconstruction.surface import wireframe

        lines = wireframe(mesh)
    edges = chunked("lines", table, np.asarray(lines.lines, dtype=np.int64))

    cloud = point_cloud if point_cloud is not None and len(point_cloud.points) else None
    if cloud is None:
        points = chunked("points", table, np.arange(len(positions), dtype=np.int64)[:, None])
    else:
        cloud_points = np.asarray(cloud.points, dtype=np.float64)
        cloud_colors = (np.asarray(cloud.colors) if cloud.has_colors()
                        else np.tile(SHADED_COLOR, (len(cloud_points), 1)))
        cloud_normals = np.asarray(cloud.normals) * _TO_GL if cloud.has_normals() else np.zeros_like(cloud_points)
        point_table = np.hstack([to_view(cloud_points), cloud_normals, cloud_colors, np.zeros((len(cloud_points), 2))])
        points = chunked("points", point_table, np.arange(len(cloud_points), dtype=np.int64)[:, None])
    return SceneBuffers(triangles=tri, lines=edges, points=points, center=center, scale=scale,
                        texture=texture.image if texture is not None else None)
