"""Depth map + photo -> coloured Open3D point cloud, outlier removal and camera-facing normals."""

from __future__ import annotations

import numpy as np
import open3d as o3d

from facedepth.model.depthcode import valid_depth
from facedepth.reconstruction.camera import PinholeCamera
from facedepth.reconstruction.settings import MeshSettings


def check_inputs(depth_mm: np.ndarray, rgb: np.ndarray, camera: PinholeCamera, stride: int) -> None:
    """Raise ValueError with a one-line message when the arrays do not fit together."""
    if depth_mm.ndim != 2:
        raise ValueError(f"depth must be a 2-D array (H, W), got shape {depth_mm.shape}")
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"photo must be an (H, W, 3) uint8 array, got {rgb.shape} {rgb.dtype}")
    if rgb.shape[:2] != depth_mm.shape:
        raise ValueError(f"photo {rgb.shape[:2]} and depth {depth_mm.shape} differ in size")
    camera.check_image(depth_mm.shape)
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")


def depth_to_point_cloud(
    depth_mm: np.ndarray, rgb: np.ndarray, camera: PinholeCamera, stride: int = 1
) -> o3d.geometry.PointCloud:
    """One coloured point per valid pixel of every ``stride``-th row and column (internal camera frame)."""
    check_inputs(depth_mm, rgb, camera, stride)
    depth = depth_mm[::stride, ::stride]
    v, u = np.nonzero(valid_depth(depth))
    z = depth[v, u]
    u, v = u * stride, v * stride
    pcd = o3d.geometry.PointCloud()
    pcd.points = o3d.utility.Vector3dVector(camera.backproject(u, v, z))
    pcd.colors = o3d.utility.Vector3dVector(rgb[v, u].astype(np.float64) / 255.0)
    return pcd


def remove_outliers(
    pcd: o3d.geometry.PointCloud,
    nb_neighbors: int = MeshSettings.outlier_neighbors,
    std_ratio: float = MeshSettings.outlier_std,
) -> o3d.geometry.PointCloud:
    """Drop points whose mean distance to their neighbours is unusually large (flying pixels)."""
    if len(pcd.points) <= nb_neighbors:
        return pcd
    kept, _ = pcd.remove_statistical_outlier(nb_neighbors=nb_neighbors, std_ratio=std_ratio)
    return kept


def estimate_normals(
    pcd: o3d.geometry.PointCloud, radius_mm: float = MeshSettings.normal_radius_mm, max_nn: int = 30
) -> o3d.geometry.PointCloud:
    """Estimate normals in place (PCA over a radius) and flip them to face the camera at the origin."""
    pcd.estimate_normals(o3d.geometry.KDTreeSearchParamHybrid(radius=radius_mm, max_nn=max_nn))
    pcd.orient_normals_towards_camera_location(np.zeros(3))
    return pcd
