"""Mesh -> Kivy vertex buffers (no OpenGL needed): chunks within 16-bit indices, nothing lost or bent."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import pytest

from facedepth.app.meshbuffers import MAX_CHUNK_VERTICES, VERTEX_FLOATS, chunked, scene_buffers
from facedepth.reconstruction.surface import wireframe


def grid_mesh(rows: int, cols: int) -> o3d.geometry.TriangleMesh:
    """A bumpy coloured heightfield in the camera frame (z forward, around 500 mm)."""
    v, u = np.mgrid[0:rows, 0:cols]
    points = np.stack([u.ravel() * 1.0, v.ravel() * 1.0, 500 + 5 * np.sin(u.ravel() / 7.0)], axis=1)
    index = np.arange(rows * cols).reshape(rows, cols)
    a, b, c, d = index[:-1, :-1].ravel(), index[:-1, 1:].ravel(), index[1:, :-1].ravel(), index[1:, 1:].ravel()
    mesh = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(points),
                                     o3d.utility.Vector3iVector(np.concatenate([np.stack([a, c, b], 1),
                                                                                np.stack([b, c, d], 1)])))
    rng = np.random.default_rng(1)
    mesh.vertex_colors = o3d.utility.Vector3dVector(rng.random((len(points), 3)))
    mesh.compute_vertex_normals()
    return mesh


def rebuild(buffers, per_element: int) -> np.ndarray:
    """All elements back as (m, per_element, VERTEX_FLOATS) arrays of vertex data."""
    parts = []
    for chunk in buffers.chunks:
        table = chunk.vertices.reshape(-1, VERTEX_FLOATS)
        assert len(table) <= MAX_CHUNK_VERTICES
        assert chunk.indices.dtype == np.uint16
        parts.append(table[chunk.indices.astype(np.int64)].reshape(-1, per_element, VERTEX_FLOATS))
    return np.concatenate(parts)


def test_large_mesh_is_split_into_16_bit_chunks_without_losing_triangles():
    mesh = grid_mesh(260, 260)  # 67,600 vertices, 134,162 triangles: more than one chunk can address
    scene = scene_buffers(mesh)
    assert len(scene.triangles.chunks) > 1
    assert scene.triangles.primitives == len(mesh.triangles)
    assert sum(len(c.indices) for c in scene.triangles.chunks) == 3 * len(mesh.triangles)

    rebuilt = rebuild(scene.triangles, 3)
    vertices = np.asarray(mesh.vertices)
    expected = (vertices[np.asarray(mesh.triangles)] - scene.center) * scene.scale * np.array([1, -1, -1])
    np.testing.assert_allclose(rebuilt[:, :, :3], expected, atol=1e-4)
    colors = np.asarray(mesh.vertex_colors)[np.asarray(mesh.triangles)]
    np.testing.assert_allclose(rebuilt[:, :, 6:9], colors, atol=1e-6)
    assert scene.texture is None and not rebuilt[:, :, 9:].any()  # no texture: texture coordinates zero


def test_view_frame_is_centred_and_fits_in_unit_cube():
    scene = scene_buffers(grid_mesh(40, 60))
    positions = rebuild(scene.triangles, 3)[:, :, :3].reshape(-1, 3)
    assert np.abs(positions).max() == pytest.approx(1.0, abs=1e-5)
    np.testing.assert_allclose((positions.min(axis=0) + positions.max(axis=0)) / 2, 0, atol=1e-5)


def test_normals_face_the_viewer_in_opengl_frame():
    mesh = grid_mesh(30, 30)
    normals = np.asarray(mesh.vertex_normals)
    assert (normals[:, 2] < 0).all()  # camera frame: towards the camera is -z
    scene = scene_buffers(mesh)
    gl_normals = rebuild(scene.triangles, 3)[:, :, 3:6].reshape(-1, 3)
    assert (gl_normals[:, 2] > 0).all()  # OpenGL frame: towards the viewer is +z


def test_lines_and_points_cover_the_wireframe_and_cloud():
    mesh = grid_mesh(50, 50)
    lines = wireframe(mesh)
    cloud = o3d.geometry.PointCloud(mesh.vertices)
    cloud.colors = mesh.vertex_colors
    scene = scene_buffers(mesh, cloud, lines)
    assert scene.lines.primitives == len(lines.lines)
    assert sum(len(c.indices) for c in scene.lines.chunks) == 2 * len(lines.lines)
    assert scene.points.primitives == len(cloud.points)
    assert sum(len(c.indices) for c in scene.points.chunks) == len(cloud.points)


def test_chunk_limit_holds_for_scattered_indices():
    rng = np.random.default_rng(0)
    table = rng.random((200_000, VERTEX_FLOATS))
    triangles = rng.integers(0, len(table), size=(50_000, 3))  # no locality at all
    buffers = chunked("triangles", table, triangles)
    assert all(len(c.vertices) // VERTEX_FLOATS <= MAX_CHUNK_VERTICES for c in buffers.chunks)
    np.testing.assert_allclose(rebuild(buffers, 3), table[triangles].astype(np.float32))


def test_empty_mesh_is_refused():
    with pytest.raises(ValueError, match="no triangles"):
        scene_buffers(o3d.geometry.TriangleMesh())


def test_texture_coordinates_point_where_the_vertices_project():
    from facedepth.reconstruction.camera import PinholeCamera
    from facedepth.reconstruction.texture import photo_texture

    mesh = grid_mesh(30, 40)
    camera = PinholeCamera(fx=80.0, fy=80.0, cx=20.0, cy=15.0, width=64, height=48)
    photo = np.random.default_rng(2).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    texture = photo_texture(photo, camera, np.asarray(mesh.vertices))
    scene = scene_buffers(mesh, texture=texture)
    assert scene.texture is texture.image
    rebuilt = rebuild(scene.triangles, 3)
    expected = texture.uv(np.asarray(mesh.vertices))[np.asarray(mesh.triangles)]
    np.testing.assert_allclose(rebuilt[:, :, 9:], expected, atol=1e-6)
