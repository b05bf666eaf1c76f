"""The Surrey Face Model (shape PCA + 6 expression blendshapes) through eos-py, with numpy geometry.

Vertices are in millimetres, +z towards the viewer. The mesh's mouth opening is capped with a triangle
fan so open mouths render as a surface (the model has no teeth or tongue), not as a hole. As a
:class:`facedepth.training.headmesh.SyntheticFaceModel` the whole mesh is scored face: it has no ears,
neck or eyes.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from facedepth.training.headmesh import HeadMesh, Look, Material
from facedepth.training.raster import vertex_normals

logger = logging.getLogger(__name__)

SFM_ENV = "FACEDEPTH_SFM_DIR"


def default_sfm_dir() -> Path:
    """$FACEDEPTH_SFM_DIR, else ../shared/data/sfm beside the checkout."""
    env = os.environ.get(SFM_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "sfm"


@dataclass
class Fit:
    """A landmark fit: vertices in model space, a 4x4 modelview, a 3x4 affine camera (model -> pixels)."""

    vertices: np.ndarray
    modelview: np.ndarray
    affine: np.ndarray
    shape_coeffs: np.ndarray
    expression_coeffs: np.ndarray
    yaw_pitch_roll: tuple[float, float, float]
    landmark_error: float
    """Mean distance between the image landmarks and the fitted model's, over the inter-ocular distance."""
    rendering_params: object = None
    mesh: object = None


PIVOT_MM = np.array([0.0, -10.0, -90.0])
"""Head rotation centre in model space (roughly the neck pivot behind the nose)."""


class FaceModel:
    """Loads the SFM files once; samples shapes; fits to 68 landmarks."""

    name = "surrey"
    pivot_mm = PIVOT_MM

    def __init__(self, sfm_dir: Path | None = None) -> None:
        import eos

        self.dir = Path(sfm_dir) if sfm_dir else default_sfm_dir()
        if not (self.dir / "sfm_shape_3448.bin").exists():
            raise FileNotFoundError(f"Surrey Face Model not found in {self.dir} (set {SFM_ENV})")
        self._eos = eos
        base = eos.morphablemodel.load_model(str(self.dir / "sfm_shape_3448.bin"))
        blendshapes = eos.morphablemodel.load_blendshapes(str(self.dir / "expression_blendshapes_3448.bin"))
        shape = base.get_shape_model()
        self.mean = np.asarray(shape.get_mean(), dtype=np.float64)
        self.shape_basis = np.asarray(shape.get_rescaled_pca_basis(), dtype=np.float64)
        self.expression_basis = np.stack([np.asarray(b.deformation, np.float64) for b in blendshapes], axis=1)
        self.expression_names = [b.name for b in blendshapes]
        self.triangles = np.asarray(shape.get_triangle_list(), dtype=np.int64)
        self.uv = np.asarray(base.get_texture_coordinates(), dtype=np.float64)
        self.morphable_model = eos.morphablemodel.MorphableModel(
            shape,
            blendshapes,
            color_model=eos.morphablemodel.PcaModel(),
            vertex_definitions=None,
            texture_coordinates=base.get_texture_coordinates(),
        )
        self.mapper = eos.core.LandmarkMapper(str(self.dir / "ibug_to_sfm.txt"))
        self.landmark_vertices = self._landmark_vertices()

    @property
    def num_shape(self) -> int:
        return self.shape_basis.shape[1]

    @property
    def num_expressions(self) -> int:
        return self.expression_basis.shape[1]

    def _landmark_vertices(self) -> dict[int, int]:
        """iBUG landmark number (1-based) -> vertex id, for the landmarks the model defines."""
        out = {}
        for i in range(1, 69):
            v = self.mapper.convert(str(i))
            if v is not None:
                out[i] = int(v)
        return out

    def inner_landmark_ids(self) -> tuple[np.ndarray, np.ndarray]:
        """(iBUG numbers, vertex ids) of the defined landmarks among 18-68 (the crop rule's points)."""
        nums = np.array([n for n in sorted(self.landmark_vertices) if n >= 18])
        return nums, np.array([self.landmark_vertices[n] for n in nums])

    def vertices(
        self, shape_coeffs: np.ndarray | None = None, expression_coeffs: np.ndarray | None = None
    ) -> np.ndarray:
        """(N, 3) vertices in mm for the given coefficients (None = mean)."""
        v = self.mean.copy()
        if shape_coeffs is not None:
            v += self.shape_basis[:, : len(shape_coeffs)] @ np.asarray(shape_coeffs, np.float64)
        if expression_coeffs is not None:
            v += self.expression_basis @ np.asarray(expression_coeffs, np.float64)
        return v.reshape(-1, 3)

    def sample_expression(self, rng: np.random.Generator, neutral_fraction: float) -> np.ndarray:
        """One or two of the six blendshapes (Dirichlet shares of a 0.3-1.2 total), or neutral."""
        expression = np.zeros(self.num_expressions)
        if rng.random() > neutral_fraction:
            k = rng.integers(1, 3)
            idx = rng.choice(self.num_expressions, size=k, replace=False)
            expression[idx] = rng.dirichlet(np.ones(k)) * rng.uniform(0.3, 1.2)
        return expression

    def sample_look(self, rng: np.random.Generator) -> Look:
        """The model has no eyes, teeth or hair to colour: a fixed look (and no random draws)."""
        return Look(hair=None)

    def head_mesh(self, vertices: np.ndarray, expression_coeffs: np.ndarray, look: Look) -> HeadMesh:
        """The capped mesh; the caps read as a dark mouth opening."""
        verts = self.with_caps(vertices)
        tris = self.capped_triangles
        n_tri = len(self.triangles)
        material = np.r_[np.full(n_tri, int(Material.SKIN)), np.full(len(tris) - n_tri, int(Material.MOUTH_CAP))]
        centre = np.r_[np.zeros(len(vertices)), np.ones(len(verts) - len(vertices))]
        return HeadMesh(verts, tris, vertex_normals(verts, tris), self.with_caps(self.uv), material,
                        np.ones(len(tris), bool), centre)

    @cached_property
    def cap_loops(self) -> list[np.ndarray]:
        """Vertex loops of the holes to close: every boundary loop except the outer one (the mouth)."""
        loops = sorted(boundary_loops(self.triangles), key=len, reverse=True)
        return [np.array(loop) for loop in loops[1:]]

    @cached_property
    def capped_triangles(self) -> np.ndarray:
        """The triangle list plus a fan per cap loop around an extra centre vertex (see with_caps)."""
        first_centre = len(self.mean) // 3
        extra = [(b, a, first_centre + k)
                 for k, loop in enumerate(self.cap_loops)
                 for a, b in zip(loop, np.roll(loop, -1), strict=True)]
        return np.concatenate([self.triangles, np.array(extra, np.int64).reshape(-1, 3)])

    def with_caps(self, vertices: np.ndarray) -> np.ndarray:
        """Vertices (or per-vertex attributes) extended by the mean over each cap loop."""
        centres = [vertices[loop].mean(axis=0) for loop in self.cap_loops]
        return np.concatenate([vertices, np.array(centres).reshape(-1, vertices.shape[1])])

    def fit(self, landmarks: np.ndarray, width: int, height: int, iterations: int = 5) -> Fit:
        """Fits shape, expression and (scaled orthographic) pose to 68 iBUG landmarks (x, y) in pixels."""
        eos = self._eos
        lms = [eos.core.Landmark(str(i + 1), [float(x), float(y)]) for i, (x, y) in enumerate(landmarks)]
        mesh, pose, shape_c, expr_c = eos.fitting.fit_shape_and_pose(
            self.morphable_model,
            lms,
            self.mapper,
            width,
            height,
            self._edges,
            self._contour_landmarks,
            self._model_contour,
            num_iterations=iterations,
            lambda_identity=30.0,
        )
        verts = np.asarray(mesh.vertices, np.float64)
        affine = np.asarray(eos.fitting.get_3x4_affine_camera_matrix(pose, width, height), np.float64)
        modelview = np.asarray(pose.get_modelview(), np.float64)
        nums = np.array(sorted(n for n in self.landmark_vertices if n >= 18))
        ids = np.array([self.landmark_vertices[n] for n in nums])
        proj = np.c_[verts[ids], np.ones(len(ids))] @ affine[:2].T
        iod = np.linalg.norm(landmarks[36:42].mean(0) - landmarks[42:48].mean(0))
        err = float(np.linalg.norm(proj - landmarks[nums - 1], axis=1).mean() / max(iod, 1e-6))
        return Fit(
            verts,
            modelview,
            affine,
            np.asarray(shape_c),
            np.asarray(expr_c),
            tuple(pose.get_yaw_pitch_roll()),
            err,
            pose,
            mesh,
        )

    @cached_property
    def _edges(self):
        return self._eos.morphablemodel.load_edge_topology(str(self.dir / "sfm_3448_edge_topology.json"))

    @cached_property
    def _contour_landmarks(self):
        return self._eos.fitting.ContourLandmarks.load(str(self.dir / "ibug_to_sfm.txt"))

    @cached_property
    def _model_contour(self):
        return self._eos.fitting.ModelContour.load(str(self.dir / "sfm_model_contours.json"))


def boundary_loops(triangles: np.ndarray) -> list[list[int]]:
    """Closed loops of edges that belong to one triangle only, each as an ordered vertex list."""
    edges = np.concatenate([triangles[:, [0, 1]], triangles[:, [1, 2]], triangles[:, [2, 0]]])
    key = np.sort(edges, axis=1)
    _, inverse, counts = np.unique(key, axis=0, return_inverse=True, return_counts=True)
    boundary = edges[counts[inverse.ravel()] == 1]
    nxt = {int(a): int(b) for a, b in boundary}
    loops, seen = [], set()
    for start in nxt:
        if start in seen:
            continue
        loop, v = [], start
        while v not in seen and v in nxt:
            seen.add(v)
            loop.append(v)
            v = nxt[v]
        loops.append(loop)
    return loops
