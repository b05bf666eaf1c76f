"""Camera model, depth -> point cloud, outlier removal and normal orientation."""

from __future__ import annotations

import numpy as np
import open3d as o3d
import pytest
from reconstruction_scenes import SPHERE_CENTRE_Z_MM, SPHERE_RADIUS_MM, camera, hemisphere

from facedepth.reconstruction.camera import PinholeCamera
from facedepth.reconstruction.pointcloud import depth_to_point_cloud, estimate_normals, remove_outliers

SPHERE_CENTRE = np.array([0.0, 0.0, SPHERE_CENTRE_Z_MM])


def test_backprojection_follows_the_pinhole_formula():
    cam = PinholeCamera(fx=400.0, fy=500.0, cx=100.0, cy=50.0, width=200, height=100)
    points = cam.backproject(np.array([100.0, 140.0]), np.array([50.0, 0.0]), np.array([600.0, 1000.0]))
    np.testing.assert_allclose(points, [[0.0, 0.0, 600.0], [100.0, -100.0, 1000.0]])


@pytest.mark.parametrize("kwargs", [{"fx": 0.0}, {"fy": -1.0}, {"width": 0}])
def test_camera_rejects_impossible_intrinsics(kwargs):
    base = {"fx": 300.0, "fy": 300.0, "cx": 80.0, "cy": 60.0, "width": 160, "height": 120}
    with pytest.raises(ValueError):
        PinholeCamera(**(base | kwargs))


def test_hemisphere_cloud_has_one_point_per_valid_pixel_on_the_sphere():
    cam = camera()
    depth, rgb = hemisphere(cam)
    pcd = depth_to_point_cloud(depth, rgb, cam)
    points = np.asarray(pcd.points)
    assert len(points) == np.isfinite(depth).sum()
    np.testing.assert_allclose(np.linalg.norm(points - SPHERE_CENTRE, axis=1), SPHERE_RADIUS_MM, atol=0.01)
    # Seen from the origin the sphere's silhouette has radius r * sqrt(1 - (r/c)^2) and the visible
    # cap reaches back to z = c - r^2 / c.
    silhouette = SPHERE_RADIUS_MM * np.sqrt(1 - (SPHERE_RADIUS_MM / SPHERE_CENTRE_Z_MM) ** 2)
    assert 0.95 * silhouette < points[:, 0].max() <= silhouette
    assert -silhouette <= points[:, 1].min() < -0.95 * silhouette
    assert points[:, 2].min() == pytest.approx(SPHERE_CENTRE_Z_MM - SPHERE_RADIUS_MM, abs=0.05)
    assert points[:, 2].max() <= SPHERE_CENTRE_Z_MM - SPHERE_RADIUS_MM**2 / SPHERE_CENTRE_Z_MM + 0.01


def test_points_take_the_colour_of_their_pixel():
    cam = camera()
    depth, rgb = hemisphere(cam)
    pcd = depth_to_point_cloud(depth, rgb, cam)
    u, v = cam.project(np.asarray(pcd.points))
    expected = rgb[np.round(v).astype(int), np.round(u).astype(int)] / 255.0
    np.testing.assert_allclose(np.asarray(pcd.colors), expected)


def test_stride_samples_every_nth_pixel_at_its_true_position():
    cam = camera()
    depth, rgb = hemisphere(cam)
    full = np.asarray(depth_to_point_cloud(depth, rgb, cam).points)
    sparse = np.asarray(depth_to_point_cloud(depth, rgb, cam, stride=3).points)
    assert len(sparse) == np.isfinite(depth[::3, ::3]).sum()
    # Every strided point is one of the full-resolution points.
    distances = np.min(np.linalg.norm(sparse[:, None, :] - full[None, :, :], axis=2), axis=1)
    assert distances.max() < 1e-9


def test_missing_and_non_positive_depths_make_no_points():
    cam = camera(width=4, height=3)
    nan, inf = np.nan, np.inf
    depth = np.array([[500, nan, 0, 500], [-3, 500, inf, nan], [500, 500, 500, nan]], dtype=np.float32)
    rgb = np.zeros((3, 4, 3), dtype=np.uint8)
    assert len(depth_to_point_cloud(depth, rgb, cam).points) == 6


@pytest.mark.parametrize(
    "depth_shape, rgb_shape, stride",
    [
        ((120, 160), (120, 161, 3), 1),
        ((120, 160, 1), (120, 160, 3), 1),
        ((60, 80), (60, 80, 3), 1),
        ((120, 160), (120, 160, 3), 0),
    ],
)
def test_inconsistent_inputs_are_rejected(depth_shape, rgb_shape, stride):
    with pytest.raises(ValueError):
        depth_to_point_cloud(np.full(depth_shape, 500, np.float32), np.zeros(rgb_shape, np.uint8), camera(), stride)


def test_outlier_removal_drops_flying_points_only():
    rng = np.random.default_rng(0)
    surface = np.column_stack([rng.uniform(-50, 50, (2000, 2)), np.full(2000, 500.0)])
    flying = np.array([[0.0, 0.0, 300.0], [40.0, -40.0, 700.0], [200.0, 200.0, 500.0]])
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(np.vstack([surface, flying])))
    kept = np.asarray(remove_outliers(pcd).points)
    assert not any(np.any(np.all(kept == point, axis=1)) for point in flying)
    assert len(kept) >= 0.97 * len(surface)


def test_normals_face_the_camera_and_follow_the_sphere():
    cam = camera()
    depth, rgb = hemisphere(cam)
    pcd = estimate_normals(depth_to_point_cloud(depth, rgb, cam))
    points, normals = np.asarray(pcd.points), np.asarray(pcd.normals)
    assert np.all(np.einsum("ij,ij->i", normals, -points) > 0)
    outward = (points - SPHERE_CENTRE) / SPHERE_RADIUS_MM
    assert np.median(np.einsum("ij,ij->i", normals, outward)) > 0.99
