"""What the synthetic renderer needs from a face model, whichever model it is.

A face model (:class:`SyntheticFaceModel`) turns identity and expression coefficients and a random
:class:`Look` (eye, hair, teeth colours) into a :class:`HeadMesh`: render-ready triangles in model space
(millimetres, x to the subject's left = image right in a frontal view, y up, z towards the viewer) with
UVs into the model's own skin texture layout, unit normals, a material per triangle and whether the
triangle is *scored face* (its depth is in the training target; everything else renders into the photo
only and counts as background in the depth code).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Protocol

import numpy as np


class Material(IntEnum):
    SKIN = 0
    """Textured from the skin texture through the UVs."""
    MOUTH_CAP = 1
    """The Surrey model's capped mouth opening: skin texture, darkened where ``HeadMesh.detail`` > 0.5."""
    EYE = 2
    """Eyeball: sclera, iris and pupil by the angle from the eye's gaze axis (``HeadMesh.detail``)."""
    TEETH = 3
    GUMS = 4
    """Gums and tongue."""
    MOUTH_SOCKET = 5
    """Inside of the cheeks and throat: dark."""
    EYE_SOCKET = 6
    """Pink inner eyelid skin around the eyeball."""
    HAIR = 7
    """A shell over the scalp, coloured from ``Look.hair``."""


IRIS_DEG, PUPIL_DEG = 36.0, 14.0
"""Half-angles, seen from the eyeball centre, of the iris and a mid-size pupil."""


@dataclass(frozen=True)
class Look:
    """Per-sample colours of what the skin texture does not cover (linear RGB in [0, 1])."""

    iris: tuple[float, float, float] = (0.30, 0.18, 0.08)
    sclera: tuple[float, float, float] = (0.85, 0.80, 0.76)
    teeth: tuple[float, float, float] = (0.85, 0.80, 0.68)
    hair: tuple[float, float, float] | None = (0.10, 0.07, 0.05)
    """None: no hair shell (bald)."""
    hair_mm: float = 8.0
    """Thickness of the hair shell on the crown (it thins towards its edges)."""
    hair_seed: int = 0
    """Seed of the hair's strand pattern."""
    fringe_mm: float | None = None
    """Hair also covers the forehead above this neutral height (model mm); None: the model's own hairline."""
    gaze_deg: tuple[float, float] = (0.0, 0.0)
    """Extra eyeball rotation (yaw, pitch) on top of what the eyeLook expressions give."""


@dataclass
class HeadMesh:
    vertices: np.ndarray
    """(R, 3) render vertices in mm (vertices split where the UV layout has seams)."""
    triangles: np.ndarray
    """(M, 3) render vertex ids."""
    normals: np.ndarray
    """(R, 3) unit normals (computed before splitting, so seams do not show)."""
    uv: np.ndarray
    """(R, 2) skin texture coordinates in [0, 1], v down (texture row / height)."""
    material: np.ndarray
    """(M,) :class:`Material` of each triangle."""
    scored: np.ndarray
    """(M,) bool: the triangle is face (its depth is the target); else photo only."""
    detail: np.ndarray
    """(R,) a per-vertex value the material reads: for eyeballs the degrees between the vertex and its eye's
    gaze axis, for the mouth cap 1 at its centre and 0 on the lips."""
    cull_back: bool = False
    """Skip back faces (the mesh is wound counter-clockwise seen from outside; its inside never shows)."""


class SyntheticFaceModel(Protocol):
    """The interface :mod:`facedepth.training.synthetic` renders through."""

    name: str
    pivot_mm: np.ndarray
    """Head rotation centre in model space (roughly the neck pivot behind the nose)."""
    landmark_vertices: dict[int, int]
    """iBUG landmark number (1-based) -> model vertex id."""

    @property
    def num_shape(self) -> int: ...

    @property
    def num_expressions(self) -> int: ...

    def vertices(self, shape_coeffs: np.ndarray | None = None,
                 expression_coeffs: np.ndarray | None = None) -> np.ndarray:
        """(N, 3) model vertices in mm (None = mean / neutral)."""

    def inner_landmark_ids(self) -> tuple[np.ndarray, np.ndarray]:
        """(iBUG numbers, vertex ids) of the defined landmarks among 18-68 (the crop rule's points)."""

    def sample_expression(self, rng: np.random.Generator, neutral_fraction: float) -> np.ndarray:
        """Random plausible expression coefficients (all zero with probability ``neutral_fraction``)."""

    def sample_look(self, rng: np.random.Generator) -> Look:
        """Random colours and hair for one sample."""

    def head_mesh(self, vertices: np.ndarray, expression_coeffs: np.ndarray, look: Look) -> HeadMesh:
        """The render mesh for model vertices from :meth:`vertices` (eyes turned by the expression's gaze)."""



def rotation(yaw: float, pitch: float, roll: float) -> np.ndarray:
    """Rotation matrix (degrees): yaw about y, pitch about x, roll about z, applied in that order."""
    y, p, r = np.radians([yaw, pitch, roll])
    ry = np.array([[np.cos(y), 0, np.sin(y)], [0, 1, 0], [-np.sin(y), 0, np.cos(y)]])
    rx = np.array([[1, 0, 0], [0, np.cos(p), -np.sin(p)], [0, np.sin(p), np.cos(p)]])
    rz = np.array([[np.cos(r), -np.sin(r), 0], [np.sin(r), np.cos(r), 0], [0, 0, 1]])
    return rz @ rx @ ry
