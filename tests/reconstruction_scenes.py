"""Analytic depth maps with known geometry for the reconstruction tests."""

from __future__ import annotations

import numpy as np

from facedepth.reconstruction.camera import PinholeCamera

SPHERE_RADIUS_MM = 80.0
SPHERE_CENTRE_Z_MM = 500.0


def camera(width: int = 160, height: int = 120, focal: float = 300.0) -> PinholeCamera:
    return PinholeCamera(fx=focal, fy=focal, cx=(width - 1) / 2, cy=(height - 1) / 2, width=width, height=height)


def hemisphere(cam: PinholeCamera, radius: float = SPHERE_RADIUS_MM, centre_z: float = SPHERE_CENTRE_Z_MM):
    """Depth (mm, NaN off the sphere) of the camera-facing half of a sphere centred on the optical axis.

    Every pixel ray is intersected with the sphere exactly, so the points lie on it up to float32.
    Returns (depth float32 (H, W), rgb uint8 (H, W, 3) with a colour gradient).
    """
    v, u = np.mgrid[0 : cam.height, 0 : cam.width].astype(np.float64)
    dx, dy = (u - cam.cx) / cam.fx, (v - cam.cy) / cam.fy
    # Ray (dx*z, dy*z, z) meets |p - (0, 0, c)| = r where a z^2 - 2 c z + c^2 - r^2 = 0.
    a = dx**2 + dy**2 + 1.0
    disc = centre_z**2 - a * (centre_z**2 - radius**2)
    with np.errstate(invalid="ignore"):
        z = (centre_z - np.sqrt(disc)) / a
    depth = np.where(disc > 0, z, np.nan).astype(np.float32)
    rgb = np.zeros((cam.height, cam.width, 3), dtype=np.uint8)
    rgb[..., 0] = np.linspace(0, 255, cam.width, dtype=np.uint8)[None, :]
    rgb[..., 1] = np.linspace(0, 255, cam.height, dtype=np.uint8)[:, None]
    rgb[..., 2] = 128
    return depth, rgb


def plane(cam: PinholeCamera, z: float = 500.0):
    """A fronto-parallel plane filling the whole image, in a single colour."""
    depth = np.full((cam.height, cam.width), z, dtype=np.float32)
    rgb = np.full((cam.height, cam.width, 3), (200, 120, 40), dtype=np.uint8)
    return depth, rgb
