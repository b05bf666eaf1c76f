"""Poisson and grid meshes, trimming, wire frames and the staged reconstruct()."""

from __future__ import annotations

import numpy as np
import pytest
from reconstruction_scenes import SPHERE_CENTRE_Z_MM, SPHERE_RADIUS_MM, camera, hemisphere, plane

from facedepth.model.progress import Cancelled, Progress
from facedepth.reconstruction.pointcloud import depth_to_point_cloud, estimate_normals
from facedepth.reconstruction.surface import (
    MeshSettings,
    clean_mesh,
    grid_mesh,
    poisson_surface,
    reconstruct,
    trim_poisson,
    vertex_components,
    wireframe,
)

SPHERE_CENTRE = np.array([0.0, 0.0, SPHERE_CENTRE_Z_MM])
CAP_HEIGHT_MM = 40.0
"""The tests' sphere cap: the part of the hemisphere within 40 mm of its nearest point (60 deg half-angle),
where pixels sample the surface densely, as on a face's front."""


def sphere_error(mesh) -> np.ndarray:
    return np.abs(np.linalg.norm(np.asarray(mesh.vertices) - SPHERE_CENTRE, axis=1) - SPHERE_RADIUS_MM)


@pytest.fixture(scope="module")
def cap():
    cam = camera()
    depth, rgb = hemisphere(cam)
    depth[depth > SPHERE_CENTRE_Z_MM - SPHERE_RADIUS_MM + CAP_HEIGHT_MM] = np.nan
    return depth, rgb, cam


@pytest.fixture(scope="module")
def cap_cloud(cap):
    depth, rgb, cam = cap
    return estimate_normals(depth_to_point_cloud(depth, rgb, cam))


def poisson_mesh(pcd, depth, trim_quantile, mask_points=None):
    """The Poisson steps of reconstruct() on a cloud with normals: surface, then trimmed to ``mask_points``."""
    mesh, densities = poisson_surface(pcd, depth, n_threads=1)
    return trim_poisson(mesh, densities, trim_quantile, mask_points if mask_points is not None else pcd, depth)


@pytest.fixture(scope="module")
def cap_mesh(cap_cloud):
    return poisson_mesh(cap_cloud, depth=7, trim_quantile=0.05)


def test_poisson_cap_matches_the_sphere(cap_mesh, cap_cloud):
    assert len(cap_mesh.triangles) > 1000
    assert np.median(sphere_error(cap_mesh)) < 0.1
    assert np.percentile(sphere_error(cap_mesh), 99) < 1.0
    analytic_area = 2 * np.pi * SPHERE_RADIUS_MM * CAP_HEIGHT_MM
    assert cap_mesh.get_surface_area() == pytest.approx(analytic_area, rel=0.15)
    points = np.asarray(cap_cloud.points)
    lo, hi = cap_mesh.get_min_bound(), cap_mesh.get_max_bound()
    np.testing.assert_allclose(lo, points.min(axis=0), atol=3.0)
    np.testing.assert_allclose(hi, points.max(axis=0), atol=3.0)


def test_poisson_mesh_is_one_clean_manifold_piece(cap_mesh):
    assert cap_mesh.is_edge_manifold() and cap_mesh.is_vertex_manifold()
    _, sizes, _ = cap_mesh.cluster_connected_triangles()
    assert len(sizes) == 1


def test_poisson_vertices_take_the_colour_of_the_nearest_pixel(cap_mesh, cap):
    _, rgb, cam = cap
    u, v = cam.project(np.asarray(cap_mesh.vertices))
    expected = rgb[np.round(v).astype(int), np.round(u).astype(int)].astype(float)
    error = np.abs(np.asarray(cap_mesh.vertex_colors) * 255 - expected)
    # The image is a gradient of about 1.6 levels per pixel; nearest point = within a pixel or so.
    assert np.median(error) <= 2.0


def test_trimming_removes_the_poisson_balloon(cap_cloud):
    raw, densities = poisson_surface(cap_cloud, depth=7, n_threads=1)
    assert sphere_error(raw).max() > 10.0  # Poisson closes the open cap with a surface far off the sphere
    trimmed = trim_poisson(raw, densities, 0.05, cap_cloud, poisson_depth=7)
    assert len(trimmed.vertices) < len(densities)
    assert sphere_error(trimmed).max() < 3.0


def test_a_stronger_trim_quantile_removes_more(cap_cloud):
    light = poisson_mesh(cap_cloud, depth=6, trim_quantile=0.0)
    strong = poisson_mesh(cap_cloud, depth=6, trim_quantile=0.3)
    assert len(strong.vertices) < len(light.vertices)


def test_mask_points_give_region_and_colours_when_meshing_a_subsample(cap, cap_cloud):
    depth, rgb, cam = cap
    sparse = estimate_normals(depth_to_point_cloud(depth, rgb, cam, stride=3))
    mesh = poisson_mesh(sparse, depth=6, trim_quantile=0.05, mask_points=cap_cloud)
    assert np.median(sphere_error(mesh)) < 1.0
    assert mesh.get_surface_area() == pytest.approx(2 * np.pi * SPHERE_RADIUS_MM * CAP_HEIGHT_MM, rel=0.15)
    assert mesh.has_vertex_colors()


def test_grid_mesh_of_a_plane_is_manifold_open_and_faces_the_camera():
    cam = camera(width=40, height=30)
    depth, rgb = plane(cam)
    mesh = grid_mesh(depth, rgb, cam)
    assert len(mesh.vertices) == 40 * 30
    assert len(mesh.triangles) == 2 * 39 * 29
    assert mesh.is_edge_manifold() and mesh.is_vertex_manifold()
    assert not mesh.is_watertight()
    mesh.compute_triangle_normals()
    np.testing.assert_allclose(np.asarray(mesh.triangle_normals), [[0.0, 0.0, -1.0]] * len(mesh.triangles), atol=1e-9)
    np.testing.assert_allclose(np.asarray(mesh.vertex_colors) * 255, [[200, 120, 40]] * len(mesh.vertices))


def test_grid_mesh_stride_and_holes():
    cam = camera(width=41, height=31)
    depth, rgb = plane(cam)
    assert len(grid_mesh(depth, rgb, cam, stride=2).triangles) == 2 * 20 * 15
    depth[10, 10] = np.nan  # an inner pixel: the four quads around it go
    mesh = grid_mesh(depth, rgb, cam)
    assert len(mesh.triangles) == 2 * (40 * 30 - 4)
    assert len(mesh.vertices) == 41 * 31 - 1


def test_grid_mesh_does_not_bridge_depth_discontinuities():
    cam = camera(width=40, height=30)
    depth, rgb = plane(cam)
    depth[:, 20:] = 600.0  # a 100 mm step between columns 19 and 20
    assert len(grid_mesh(depth, rgb, cam).triangles) == 2 * 29 * 38
    depth[:, 20:] = 501.0  # a gentle 1 mm step (about 35 degrees at this footprint) stays connected
    assert len(grid_mesh(depth, rgb, cam).triangles) == 2 * 29 * 39


def test_grid_mesh_of_the_hemisphere_lies_on_it():
    cam = camera()
    depth, rgb = hemisphere(cam)
    mesh = grid_mesh(depth, rgb, cam, smoothing=0)
    assert sphere_error(mesh).max() < 0.01
    assert mesh.is_edge_manifold()


def test_grid_smoothing_takes_out_noise_without_shrinking_the_surface():
    cam = camera(width=60, height=50)
    depth, rgb = plane(cam)
    depth += np.random.default_rng(0).normal(0.0, 0.3, depth.shape).astype(depth.dtype)  # pixel-level noise
    raw, smooth = grid_mesh(depth, rgb, cam, smoothing=0), grid_mesh(depth, rgb, cam, smoothing=5)
    assert len(smooth.vertices) == len(raw.vertices) and len(smooth.triangles) == len(raw.triangles)
    assert smooth.is_edge_manifold() and smooth.is_vertex_manifold()
    z_raw, z_smooth = np.asarray(raw.vertices)[:, 2], np.asarray(smooth.vertices)[:, 2]
    assert np.std(z_smooth - 500.0) < 0.6 * np.std(z_raw - 500.0)
    assert abs(np.mean(z_smooth) - 500.0) < 0.05  # the plane stays where it was
    extent = np.ptp(np.asarray(smooth.vertices)[:, :2], axis=0) / np.ptp(np.asarray(raw.vertices)[:, :2], axis=0)
    assert np.all(extent > 0.98)  # Taubin's inflating pass keeps the outline from shrinking


def test_clean_up_keeps_only_the_largest_piece():
    cam = camera(width=40, height=30)
    depth, rgb = plane(cam)
    depth[:, 25] = np.nan  # columns 0-24 and 26-39: two separate pieces
    depth[5, 30] = np.nan
    mesh = grid_mesh(depth, rgb, cam, smoothing=0)
    labels = vertex_components(np.asarray(mesh.triangles), len(mesh.vertices))
    assert len(np.unique(labels)) == 2
    cleaned = clean_mesh(mesh)
    assert len(cleaned.triangles) == 2 * 24 * 29
    right_edge = (24 - cam.cx) * 500.0 / cam.fx  # the left piece ends at column 24
    assert np.asarray(cleaned.vertices)[:, 0].max() == pytest.approx(right_edge)


def test_vertex_components_agree_with_open3d_on_many_pieces():
    rng = np.random.default_rng(1)
    cam = camera(width=60, height=50)
    depth, rgb = plane(cam)
    depth[rng.random(depth.shape) < 0.35] = np.nan
    mesh = grid_mesh(depth, rgb, cam)
    triangles = np.asarray(mesh.triangles)
    labels = vertex_components(triangles, len(mesh.vertices))[triangles[:, 0]]
    clusters, sizes, _ = mesh.cluster_connected_triangles()
    assert len(sizes) > 5
    # Grid triangles only meet along edges or at shared quad corners, so both groupings are the same
    # partition up to vertex-only contacts, which Open3D does not count.
    assert len(np.unique(labels)) <= len(sizes)
    for cluster in np.unique(clusters):
        assert len(np.unique(labels[np.asarray(clusters) == cluster])) == 1


def test_wireframe_has_each_mesh_edge_once_with_colours():
    cam = camera(width=5, height=4)
    depth, rgb = plane(cam)
    lines = wireframe(grid_mesh(depth, rgb, cam))
    # 4 rows x 4 horizontal + 3 x 5 vertical + 3 x 4 diagonal edges.
    assert len(lines.lines) == 4 * 4 + 3 * 5 + 3 * 4
    edges = np.sort(np.asarray(lines.lines), axis=1)
    assert len(np.unique(edges, axis=0)) == len(edges)
    np.testing.assert_allclose(np.asarray(lines.colors) * 255, [[200, 120, 40]] * len(edges))


def test_wireframe_without_vertex_colours_uses_the_given_colour(cap_mesh):
    bare = type(cap_mesh)(cap_mesh)
    bare.vertex_colors.clear()
    lines = wireframe(bare, color=(1.0, 0.0, 0.0))
    assert np.all(np.asarray(lines.colors) == [1.0, 0.0, 0.0])


@pytest.mark.parametrize(
    "mode, stages",
    [
        ("poisson", ["point cloud", "normals", "poisson surface", "trimming", "wireframe"]),
        ("grid", ["point cloud", "grid mesh", "trimming", "wireframe"]),
    ],
)
def test_reconstruct_reports_every_stage_and_times_it(cap, mode, stages):
    depth, rgb, cam = cap
    seen: list[str] = []
    settings = MeshSettings(mode=mode, poisson_depth=6, stride=1, n_threads=1)
    result = reconstruct(depth, rgb, cam, settings, Progress(lambda stage, _fraction: seen.append(stage)))
    assert seen == stages
    assert list(result.timings) == stages
    assert len(result.mesh.triangles) > 1000
    assert len(result.wireframe.lines) > len(result.mesh.triangles)
    assert len(result.point_cloud.points) > 0.95 * np.isfinite(depth).sum()
    assert np.median(sphere_error(result.mesh)) < 0.1


def test_strided_poisson_takes_colours_from_the_full_resolution_photo(cap):
    depth, rgb, cam = cap
    mesh = reconstruct(depth, rgb, cam, MeshSettings(mode="poisson", stride=3, poisson_depth=6, n_threads=1)).mesh
    u, v = cam.project(np.asarray(mesh.vertices))
    expected = rgb[np.round(v).astype(int), np.round(u).astype(int)]
    np.testing.assert_array_equal(np.round(np.asarray(mesh.vertex_colors) * 255), expected)


def test_reconstruct_stops_when_cancelled(cap):
    depth, rgb, cam = cap
    seen: list[str] = []
    with pytest.raises(Cancelled):
        reconstruct(
            depth,
            rgb,
            cam,
            MeshSettings(mode="poisson", poisson_depth=6, n_threads=1),
            Progress(lambda stage, _fraction: seen.append(stage), cancelled=lambda: "normals" in seen),
        )
    assert seen == ["point cloud", "normals"]


def test_reconstruct_rejects_depth_without_a_face(cap):
    _, rgb, cam = cap
    with pytest.raises(ValueError, match="too few face points"):
        reconstruct(np.full((cam.height, cam.width), np.nan, np.float32), rgb, cam)
    few = np.full((cam.height, cam.width), np.nan, np.float32)
    few[:5, :10] = 500.0
    with pytest.raises(ValueError, match="too few face points"):
        reconstruct(few, rgb, cam, MeshSettings(mode="grid"))


@pytest.mark.parametrize(
    "kwargs", [{"mode": "marching"}, {"poisson_depth": 3}, {"trim_quantile": 1.0}, {"stride": 0}, {"outlier_std": 0.0},
               {"grid_smoothing": -1}]
)
def test_mesh_settings_are_validated(kwargs):
    with pytest.raises(ValueError):
        MeshSettings(**kwargs)
