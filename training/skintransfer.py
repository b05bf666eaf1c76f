"""Skin textures from real photos in the ICT Face Model's UV layout, made from the Surrey-layout textures
that pseudo ground truth extracts (eos ``extract_texture`` on UTKFace photos).

A fixed map is computed once: the ICT neutral head is aligned to the Surrey mean face by the landmarks
both define (similarity, then a thin-plate spline through the landmarks), every ICT skin texel is looked up
on the Surrey surface (inverse-distance weights of the nearest Surrey vertices' UVs) and kept where the
Surrey face covers it. Per sample the donor texture is resampled through the map; what the Surrey face does
not cover (ears, neck, scalp, the back of the head) gets the donor's own skin tone, smoothly extended from
the covered texels, with the seam feathered.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy.interpolate import RBFInterpolator
from scipy.spatial import cKDTree

from facedepth.training.headmesh import Look, Material
from facedepth.training.raster import rasterize

TEXTURE_SIZE = 512
"""Height of an ICT skin texture; its width is two UV tiles (face, then head and neck)."""
MAX_GAP_MM = 6.0
"""An ICT point farther than this from the nearest Surrey vertex is not covered by the Surrey face."""
FEATHER_PX = 6.0


def similarity(src: np.ndarray, dst: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Least-squares scale, rotation and translation with ``s R src + t ~ dst`` (Umeyama)."""
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    u, sig, vt = np.linalg.svd(b.T @ a)
    d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
    rot = u @ d @ vt
    scale = float((sig * np.diag(d)).sum() / (a**2).sum())
    return scale, rot, mu_d - scale * rot @ mu_s


class SkinTransfer:
    """Resamples Surrey-layout skin textures into the ICT layout (see the module docstring)."""

    def __init__(self, ict, surrey, size: int = TEXTURE_SIZE) -> None:
        nums = sorted(set(ict.landmark_vertices) & set(surrey.landmark_vertices))
        src = ict.neutral[[ict.landmark_vertices[n] for n in nums]]
        target_verts = surrey.vertices()
        dst = target_verts[[surrey.landmark_vertices[n] for n in nums]]
        scale, rot, shift = similarity(src, dst)
        aligned = ict.neutral @ (scale * rot).T + shift
        aligned_lm = aligned[[ict.landmark_vertices[n] for n in nums]]
        warp = RBFInterpolator(aligned_lm, dst - aligned_lm, kernel="thin_plate_spline", smoothing=1.0)
        mesh = ict.head_mesh(ict.neutral, np.zeros(ict.num_expressions), Look(hair=None))
        skin = mesh.material == int(Material.SKIN)
        points = aligned[ict.render_source]
        points = points + warp(points)
        dist, idx = cKDTree(target_verts).query(points, k=4)
        wgt = 1.0 / np.maximum(dist, 1e-3) ** 2
        surrey_uv = (surrey.uv[idx] * wgt[..., None]).sum(1) / wgt.sum(1, keepdims=True)
        covered = (dist[:, 0] < MAX_GAP_MM) & ~np.isin(idx[:, 0], _boundary_vertices(surrey))
        # Rasterise the ICT skin in its own UV space, carrying the Surrey UV and the coverage.
        screen = np.c_[mesh.uv[:, 0] * 2 * size, mesh.uv[:, 1] * size, np.zeros(len(mesh.uv))]
        attrs = np.c_[surrey_uv, covered.astype(np.float64)]
        r = rasterize(screen, mesh.triangles[skin], 2 * size, size, attrs)
        inside = r.mask & (r.attributes[..., 2] > 0.999)
        self.map = r.attributes[..., :2].astype(np.float32)
        self.weight = cv2.GaussianBlur(inside.astype(np.float32), (0, 0), FEATHER_PX) * inside
        self.size = size

    def __call__(self, surrey_texture: np.ndarray) -> np.ndarray:
        """A Surrey-layout RGB uint8 texture -> an ICT-layout one (size x 2 size)."""
        h, w = surrey_texture.shape[:2]
        tex = cv2.remap(surrey_texture.astype(np.float32), self.map[..., 0] * (w - 1), self.map[..., 1] * (h - 1),
                        cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        wgt = self.weight[..., None]
        # The donor's skin tone, extended smoothly from the covered texels (at 1/8 scale: a wide blur).
        small = (self.size // 8 * 2, self.size // 8)
        sw = cv2.resize(self.weight, small, interpolation=cv2.INTER_AREA)
        st = cv2.resize(tex * wgt, small, interpolation=cv2.INTER_AREA)
        sigma = self.size / 48
        num, den = cv2.GaussianBlur(st, (0, 0), sigma), cv2.GaussianBlur(sw, (0, 0), sigma)
        tone = st.reshape(-1, 3).sum(0) / max(float(sw.sum()), 1e-6)
        reach = np.clip(den * 8, 0, 1)[..., None]
        fill = reach * num / np.maximum(den, 1e-6)[..., None] + (1 - reach) * tone
        fill = cv2.resize(fill, (2 * self.size, self.size), interpolation=cv2.INTER_LINEAR)
        out = wgt * tex + (1 - wgt) * fill
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _boundary_vertices(surrey) -> np.ndarray:
    from facedepth.training.facemodel import boundary_loops

    loops = sorted(boundary_loops(surrey.triangles), key=len, reverse=True)
    return np.array(loops[0], np.int64)
