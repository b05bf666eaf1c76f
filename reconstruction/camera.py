"""Pinhole camera model and the one coordinate frame used for exported files.

Internal frame (Open3D's camera convention): origin at the camera centre, x right, y down, z forward
(away from the camera, into the scene), millimetres. A pixel (u, v) with depth z (distance along the
optical axis) is the point ``((u - cx) * z / fx, (v - cy) * z / fy, z)``.

Export frame (every mesh, wire frame and point cloud written by :mod:`facedepth.reconstruction.export`): the
internal frame rotated 180 degrees about the x axis, i.e. x right, y up, z towards the viewer,
millimetres, origin still at the camera centre (so the face lies around z = -500 mm). Common viewers
(MeshLab, Blender's glTF/PLY importers, Windows 3D Viewer, three.js) then show the face upright and
looking at the user. A rotation, not a mirror: triangle winding and normals stay consistent.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

EXPORT_ROTATION = np.diag([1.0, -1.0, -1.0])
"""Internal (x right, y down, z forward) -> export (x right, y up, z towards the viewer)."""


@dataclass(frozen=True)
class PinholeCamera:
    """Intrinsics in pixels of the image the depth map belongs to."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    def __post_init__(self) -> None:
        if not (self.fx > 0 and self.fy > 0):
            raise ValueError(f"focal lengths must be positive, got fx={self.fx}, fy={self.fy}")
        if self.width <= 0 or self.height <= 0:
            raise ValueError(f"image size must be positive, got {self.width}x{self.height}")

    def backproject(self, u: np.ndarray, v: np.ndarray, z: np.ndarray) -> np.ndarray:
        """Pixel coordinates and depths (same shape, N) -> (N, 3) float64 points in the internal frame."""
        z = np.asarray(z, dtype=np.float64)
        x = (np.asarray(u, dtype=np.float64) - self.cx) * z / self.fx
        y = (np.asarray(v, dtype=np.float64) - self.cy) * z / self.fy
        return np.stack([x, y, z], axis=-1)

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 3) points in the internal frame -> pixel coordinates (u, v), float."""
        points = np.asarray(points, dtype=np.float64)
        z = points[:, 2]
        return points[:, 0] * self.fx / z + self.cx, points[:, 1] * self.fy / z + self.cy

    def resampled(self, matrix: np.ndarray, width: int, height: int) -> PinholeCamera:
        """The camera of this image resampled by ``matrix`` (2x3, image -> new pixels; a scale and a shift,
        as in a crop), to a ``width`` x ``height`` image: back-projection gives the same rays."""
        m = np.asarray(matrix, dtype=np.float64)
        if abs(m[0, 1]) > 1e-12 or abs(m[1, 0]) > 1e-12:
            raise ValueError("only a scale and a shift keep a pinhole camera's axes")
        cx, cy = m @ np.array([self.cx, self.cy, 1.0])
        return PinholeCamera(fx=self.fx * m[0, 0], fy=self.fy * m[1, 1], cx=float(cx), cy=float(cy),
                             width=width, height=height)

    def check_image(self, shape: tuple[int, ...]) -> None:
        """Raise ValueError unless an array of this shape is an image of this camera's size."""
        if tuple(shape[:2]) != (self.height, self.width):
            raise ValueError(f"image is {shape[1]}x{shape[0]} pixels but the camera is {self.width}x{self.height}")
