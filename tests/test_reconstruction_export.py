"""Mesh, wire frame, point cloud and depth exports: formats reload, colours survive, writes are atomic."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import open3d as o3d
import pytest
import trimesh
from reconstruction_scenes import camera, hemisphere

from facedepth.reconstruction import export
from facedepth.reconstruction.export import (
    DEPTH_FORMATS,
    MESH_FORMATS,
    OutputExistsError,
    colorize_depth,
    save_depth,
    save_mesh,
    save_wireframe,
)
from facedepth.reconstruction.surface import grid_mesh, wireframe

FLIP = np.array([1.0, -1.0, -1.0])


@pytest.fixture(scope="module")
def scene():
    cam = camera(width=64, height=48, focal=120.0)
    depth, rgb = hemisphere(cam)
    return depth, rgb, cam


@pytest.fixture(scope="module")
def mesh(scene):
    return grid_mesh(*scene)


def vertex_colors(mesh: o3d.geometry.TriangleMesh) -> np.ndarray:
    return np.round(np.asarray(mesh.vertex_colors) * 255).astype(np.uint8)


def test_mesh_exports_are_all_known_formats():
    assert MESH_FORMATS == ("ply", "obj", "stl", "glb")
    assert DEPTH_FORMATS == ("png16", "npy", "color")


@pytest.mark.parametrize("fmt", ["ply", "obj", "glb"])
def test_coloured_mesh_formats_reload_with_geometry_and_colours(tmp_path, mesh, fmt):
    before = np.asarray(mesh.vertices).copy()
    path = save_mesh(mesh, tmp_path / f"face.{fmt}")
    loaded = trimesh.load(path, force="mesh", process=False)
    assert len(loaded.faces) == len(mesh.triangles)
    np.testing.assert_allclose(loaded.vertices, before * FLIP, atol=1e-4)
    np.testing.assert_array_equal(loaded.visual.vertex_colors[:, :3], vertex_colors(mesh))
    np.testing.assert_array_equal(np.asarray(mesh.vertices), before)  # the caller's mesh is not rotated


def test_stl_reloads_with_the_same_triangles(tmp_path, mesh):
    loaded = trimesh.load(save_mesh(mesh, tmp_path / "face.stl"), force="mesh", process=False)
    assert len(loaded.faces) == len(mesh.triangles)
    expected = (np.asarray(mesh.vertices) * FLIP)[np.asarray(mesh.triangles)]
    np.testing.assert_allclose(loaded.triangles, expected, atol=1e-3)


def test_export_frame_is_upright_and_faces_the_viewer(tmp_path, mesh):
    loaded = trimesh.load(save_mesh(mesh, tmp_path / "face.glb"), force="mesh", process=False)
    # The hemisphere bulges towards the camera: its nearest point has the largest z after export, and the
    # top image row (small v, camera y < 0) has the largest y.
    assert loaded.vertices[np.argmax(loaded.vertices[:, 2]), :2] == pytest.approx([0.0, 0.0], abs=2.0)
    assert np.all(loaded.vertices[:, 2] < 0)
    top = np.argmin(np.asarray(mesh.vertices)[:, 1])
    assert loaded.vertices[top, 1] == loaded.vertices[:, 1].max()
    assert np.mean(loaded.face_normals[:, 2]) > 0.5


def test_wireframe_ply_reloads_with_its_edges_and_vertex_colours(tmp_path, mesh):
    lines = wireframe(mesh)
    path = save_wireframe(lines, tmp_path / "face_wire.ply")
    reread = o3d.io.read_line_set(str(path))
    np.testing.assert_array_equal(np.asarray(reread.lines), np.asarray(lines.lines))
    np.testing.assert_allclose(np.asarray(reread.points), np.asarray(lines.points) * FLIP, atol=1e-4)
    loaded = trimesh.load(path)
    assert isinstance(loaded, trimesh.path.Path3D)
    assert len(loaded.vertices) == len(lines.points)
    header, body = path.read_bytes().split(b"end_header\n", 1)
    records = np.frombuffer(body, dtype=[("xyz", "<f4", 3), ("rgb", "u1", 3)], count=len(lines.points))
    # Each vertex gets the mean of its lines' colours, which are means of vertex colours.
    assert np.abs(records["rgb"].astype(int) - vertex_colors(mesh)).max() <= 2


def test_npy_round_trips_exactly_with_nans(tmp_path, scene):
    depth = scene[0].copy()
    depth[0, 0] = -5.0  # not a depth: stored as NaN
    original = depth.copy()
    loaded = np.load(save_depth(depth, tmp_path / "depth.npy", "npy"))
    assert loaded.dtype == np.float32 and loaded.shape == depth.shape
    expected = np.where(depth > 0, depth, np.nan)
    np.testing.assert_array_equal(loaded, expected)
    np.testing.assert_array_equal(depth, original)


def test_png16_round_trips_within_a_tenth_of_a_millimetre(tmp_path, scene):
    depth = scene[0]
    image = cv2.imread(str(save_depth(depth, tmp_path / "depth.png", "png16")), cv2.IMREAD_UNCHANGED)
    assert image.dtype == np.uint16 and image.shape == depth.shape
    valid = np.isfinite(depth)
    assert np.all(image[~valid] == 0) and np.all(image[valid] > 0)
    assert np.abs(image[valid] / 10.0 - depth[valid]).max() <= 0.05 + 1e-4


def test_png16_refuses_depths_it_cannot_hold(tmp_path):
    with pytest.raises(ValueError, match="png16"):
        save_depth(np.full((4, 4), 7000.0, np.float32), tmp_path / "far.png", "png16")
    assert list(tmp_path.iterdir()) == []


def test_colour_map_is_warm_near_cold_far_black_outside(tmp_path, scene):
    depth = scene[0]
    image = cv2.imread(str(save_depth(depth, tmp_path / "depth_color.png", "color")))[:, :, ::-1]
    np.testing.assert_array_equal(image, colorize_depth(depth))
    assert np.all(image[~np.isfinite(depth)] == 0)
    near = np.unravel_index(np.nanargmin(depth), depth.shape)
    far = np.unravel_index(np.nanargmax(depth), depth.shape)
    assert image[near][0] > image[near][2]  # red over blue
    assert image[far][2] > image[far][0]


def test_colorize_depth_of_nothing_is_black():
    assert not colorize_depth(np.full((3, 5), np.nan, np.float32)).any()


@pytest.mark.parametrize("kind, name", [("png16", "d.png"), ("npy", "d.npy"), ("color", "d.png")])
def test_existing_depth_file_is_kept_unless_overwrite(tmp_path, scene, kind, name):
    target = tmp_path / name
    target.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        save_depth(scene[0], target, kind)
    assert target.read_bytes() == b"precious"
    save_depth(scene[0], target, kind, overwrite=True)
    assert target.read_bytes() != b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


@pytest.mark.parametrize("name", ["face.ply", "face.obj", "face.stl", "face.glb"])
def test_existing_mesh_file_is_kept_unless_overwrite(tmp_path, mesh, name):
    target = tmp_path / name
    target.write_bytes(b"precious")
    with pytest.raises(OutputExistsError):
        save_mesh(mesh, target)
    assert target.read_bytes() == b"precious"
    save_mesh(mesh, target, overwrite=True)
    assert len(trimesh.load(target, force="mesh").faces) == len(mesh.triangles)


def test_an_open3d_writer_reporting_failure_raises_and_cleans_up(tmp_path, mesh, monkeypatch):
    def fails(path, *args, **kwargs):
        Path(path).write_bytes(b"partial")
        return False

    monkeypatch.setattr(export.o3d.io, "write_triangle_mesh", fails)
    with pytest.raises(OSError, match="could not write"):
        save_mesh(mesh, tmp_path / "face.ply")
    assert list(tmp_path.iterdir()) == []


def test_bad_requests_are_refused_with_clear_errors(tmp_path, mesh, scene):
    with pytest.raises(ValueError, match=r"\.ply"):
        save_mesh(mesh, tmp_path / "face.fbx")
    with pytest.raises(ValueError, match="depth format"):
        save_depth(scene[0], tmp_path / "d.png", "exr")
    with pytest.raises(ValueError, match=r"\.npy"):
        save_depth(scene[0], tmp_path / "d.png", "npy")
    with pytest.raises(ValueError, match="empty"):
        save_mesh(o3d.geometry.TriangleMesh(), tmp_path / "empty.ply")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save_mesh(mesh, tmp_path / "missing" / "face.ply")
    assert list(tmp_path.iterdir()) == []
