"""The ICT Face Model (USC ICT, MIT licence): a scan-based whole head with eyes, mouth socket and teeth.

Loaded either from the official ``FaceXModel/`` folder of github.com/ICT-VGL/ICT-FaceKit
(``generic_neutral_mesh.obj``, ``identity000.obj`` ..., one ``<expression>.obj`` per name listed in
``vertex_indices.json``) or from ``ict_face_model.npz`` beside ``generic_neutral_mesh.obj`` (the same
vertex positions, stacked). A face is ``neutral + sum w_i (identity_i - neutral) + sum e_j (expression_j -
neutral)`` with identity weights from N(0, 1). Units are converted from centimetres to millimetres.

Which parts are *scored face* (depth target) and which render into the photo only is decided per polygon
range of the model's published layout (:data:`OFFICIAL_LAYOUT`, from the ICT-FaceKit README): the narrow
face area (hairline to chin, inside the jaw: the region a depth camera's face mask covers), the eyeballs,
the eye sockets, the mouth socket, gums, tongue and teeth count as face; the rest of the full face area
(ears, sides of the head, under the chin), the back of the head and the neck render but are background
in the depth code, as in the real-depth set's masks. Lacrimal fluid, eye blend and occlusion meshes (shader
helpers) and the eyelash strips are not rendered; the iris mesh lies inside the sclera, which is rendered
with the iris painted on by angle.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from facedepth.training.headmesh import HeadMesh, Look, Material, rotation
from facedepth.training.objfile import ObjMesh, read_obj, read_positions
from facedepth.training.raster import vertex_normals

logger = logging.getLogger(__name__)

ICT_ENV = "FACEDEPTH_ICT_DIR"
NEUTRAL_OBJ = "generic_neutral_mesh.obj"
NPZ_NAME = "ict_face_model.npz"
INDICES_JSON = "vertex_indices.json"
MM_PER_UNIT = 10.0
"""The model is in centimetres."""
SKIN_TILES = 2
"""UV tiles the skin texture spans: u in [0, 1) is the face area, [1, 2) the head and neck."""


def default_ict_dir() -> Path:
    """$FACEDEPTH_ICT_DIR, else ../shared/data/ictface beside the checkout."""
    env = os.environ.get(ICT_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ictface"


@dataclass(frozen=True)
class Region:
    name: str
    polygons: tuple[int, int]
    """Polygon index range [start, end) in the OBJ's face order."""
    material: Material | None
    """None: not rendered."""
    scored: bool = False
    eye: str = ""
    """'L' / 'R' for an eyeball that gaze turns."""
    ears: bool = False
    """The region holds the ears (kept free of hair)."""


OFFICIAL_LAYOUT: tuple[Region, ...] = (
    Region("narrow face area", (0, 6560), Material.SKIN, scored=True),
    Region("rest of the face area (ears, sides, under the chin)", (6560, 9230), Material.SKIN, ears=True),
    Region("head and neck", (9230, 11144), Material.SKIN),
    Region("mouth socket", (11144, 13226), Material.MOUTH_SOCKET, scored=True),
    Region("eye socket left", (13226, 13630), Material.EYE_SOCKET, scored=True),
    Region("eye socket right", (13630, 14034), Material.EYE_SOCKET, scored=True),
    Region("gums and tongue", (14034, 17006), Material.GUMS, scored=True),
    Region("teeth", (17006, 21496), Material.TEETH, scored=True),
    Region("sclera left", (21496, 22296), Material.EYE, scored=True, eye="L"),
    Region("iris left", (22296, 23094), None, eye="L"),
    Region("sclera right", (23094, 23894), Material.EYE, scored=True, eye="R"),
    Region("iris right", (23894, 24692), None, eye="R"),
    Region("lacrimal fluid, eye blend and eye occlusion", (24692, 25304), None),
    Region("eyelashes", (25304, 26384), None),
)
"""The ICT-FaceKit README's geometry table (polygon ranges), with what the renderer does with each part."""

EXPRESSION_GROUPS: dict[str, tuple[tuple[str, ...], tuple[float, float]]] = {
    "jaw open": (("jawOpen",), (0.15, 0.8)),
    "smile": (("mouthSmile_L", "mouthSmile_R", "cheekSquint_L", "cheekSquint_R"), (0.3, 1.0)),
    "blink": (("eyeBlink_L", "eyeBlink_R"), (0.6, 1.0)),
    "squint": (("eyeSquint_L", "eyeSquint_R"), (0.3, 0.9)),
    "wide eyes": (("eyeWide_L", "eyeWide_R"), (0.3, 1.0)),
    "brows up": (("browInnerUp_L", "browInnerUp_R", "browOuterUp_L", "browOuterUp_R"), (0.3, 1.0)),
    "brows down": (("browDown_L", "browDown_R"), (0.3, 1.0)),
    "puff": (("cheekPuff_L", "cheekPuff_R"), (0.4, 1.0)),
    "pucker": (("mouthPucker",), (0.3, 1.0)),
    "funnel": (("mouthFunnel", "jawOpen"), (0.3, 0.8)),
    "frown": (("mouthFrown_L", "mouthFrown_R"), (0.3, 1.0)),
    "press": (("mouthPress_L", "mouthPress_R"), (0.3, 1.0)),
    "stretch": (("mouthStretch_L", "mouthStretch_R", "jawOpen"), (0.2, 0.7)),
    "sneer": (("noseSneer_L", "noseSneer_R"), (0.3, 0.9)),
    "jaw sideways": (("jawLeft",), (0.2, 0.8)),
    "mouth sideways": (("mouthLeft",), (0.3, 1.0)),
    "dimple": (("mouthDimple_L", "mouthDimple_R"), (0.3, 1.0)),
    "lips rolled": (("mouthRollLower", "mouthRollUpper"), (0.3, 1.0)),
    "gaze": (("eyeLookOut_L", "eyeLookIn_R"), (0.2, 0.9)),
    "gaze vertical": (("eyeLookUp_L", "eyeLookUp_R"), (0.2, 0.7)),
}
"""Facial actions drawn for random expressions: their blendshapes (weights jittered per side, so actions
stay roughly symmetric) and the intensity range. Sideways and gaze actions pick a random direction
(their mirror shapes: jawRight, mouthRight, eyeLookIn_L + eyeLookOut_R, eyeLookDown)."""
MIRRORED = {"jawLeft": "jawRight", "mouthLeft": "mouthRight", "eyeLookOut_L": "eyeLookIn_L",
            "eyeLookIn_R": "eyeLookOut_R", "eyeLookUp_L": "eyeLookDown_L", "eyeLookUp_R": "eyeLookDown_R"}

GAZE_DEG = 30.0
"""Eyeball rotation at a full eyeLook weight (the model's eyeLook shapes move the lids, not the eyes)."""
BLINK_ROLL_DEG = 12.0
"""Eyeballs turn up this much under fully closed lids (Bell's phenomenon)."""
PIVOT_MM = np.array([0.0, -5.0, 38.0])
"""Head rotation centre: ~93 mm behind the nose tip, as for the Surrey model."""
IRIS_COLOURS = np.array([[0.25, 0.13, 0.05], [0.12, 0.07, 0.04], [0.35, 0.25, 0.12],
                         [0.25, 0.35, 0.45], [0.30, 0.38, 0.28], [0.40, 0.42, 0.45]])
HAIR_COLOURS = np.array([[0.04, 0.03, 0.03], [0.10, 0.06, 0.04], [0.22, 0.13, 0.07], [0.45, 0.32, 0.18],
                         [0.60, 0.50, 0.35], [0.50, 0.48, 0.46], [0.75, 0.74, 0.72]])
HAIRLINE_Y_MM, NAPE_Y_MM, BEHIND_EARS_Z_MM = 85.0, -40.0, -10.0
FRINGE_MM = (72.0, 96.0)
"""Range of the neutral height above which hair also covers the forehead (half the haired samples): the
narrow face area reaches ~96 mm, so a fringe makes the scored face end lower, at a hairline."""
FRINGE_WAVE_MM = 4.0
TEMPLE_X_MM, TEMPLE_Y_MM, EAR_X_MM = 62.0, 48.0, 72.0
"""The hair shell covers unscored skin whose neutral position is above the hairline (brows are at ~55 mm,
the narrow face area ends at ~95 mm), behind the ears and above the nape, or above the ears at the temples."""


@dataclass
class ModelData:
    """Raw model arrays in the file's units (centimetres)."""

    neutral: np.ndarray
    identity: np.ndarray
    expression: np.ndarray
    expression_names: list[str]
    landmarks: list[int]
    mesh: ObjMesh


def model_folder(path: Path | None = None) -> Path:
    """The folder holding generic_neutral_mesh.obj: ``path`` (default :func:`default_ict_dir`) itself or its
    FaceXModel/ subfolder."""
    path = Path(path) if path else default_ict_dir()
    for cand in (path, path / "FaceXModel"):
        if (cand / NEUTRAL_OBJ).is_file():
            return cand
    raise FileNotFoundError(f"ICT Face Model not found in {path} (no {NEUTRAL_OBJ}; set {ICT_ENV})")


def load_model_data(path: Path) -> ModelData:
    """From ``ict_face_model.npz`` beside the neutral mesh if present, else from the official OBJ folder."""
    folder = model_folder(path)
    mesh = read_obj(folder / NEUTRAL_OBJ)
    indices = json.loads((folder / INDICES_JSON).read_text())
    landmarks = [int(i) for i in indices["idx_to_landmark_verts"]]
    if (folder / NPZ_NAME).is_file():
        with np.load(folder / NPZ_NAME) as z:
            neutral, identity, expression = (z[k].astype(np.float64) for k in ("neutral", "identity", "expression"))
            names = [str(n) for n in z["expression_names"]]
    else:
        neutral = mesh.vertices
        id_files = sorted(folder.glob("identity[0-9][0-9][0-9].obj"))
        names = [str(n) for n in indices["expressions"]]
        missing = [n for n in names if not (folder / f"{n}.obj").is_file()]
        if not id_files or missing:
            raise FileNotFoundError(f"{folder}: no identityNNN.obj files or missing expressions {missing[:3]}")
        logger.info("reading %d identity and %d expression OBJs from %s", len(id_files), len(names), folder)
        identity = np.stack([read_positions(p) for p in id_files])
        expression = np.stack([read_positions(folder / f"{n}.obj") for n in names])
    n = len(mesh.vertices)
    if neutral.shape != (n, 3) or identity.shape[1:] != (n, 3) or expression.shape[1:] != (n, 3):
        raise ValueError(f"{folder}: shape modes do not match the neutral mesh's {n} vertices")
    if not np.allclose(neutral, mesh.vertices, atol=1e-4):
        raise ValueError(f"{folder}: {NPZ_NAME} 'neutral' differs from {NEUTRAL_OBJ}")
    return ModelData(neutral, identity, expression, names, landmarks, mesh)


class IctFaceModel:
    """The ICT model as a :class:`facedepth.training.headmesh.SyntheticFaceModel`."""

    name = "ict"

    def __init__(self, path: Path | None = None, layout: tuple[Region, ...] = OFFICIAL_LAYOUT) -> None:
        self.dir = model_folder(path)
        data = load_model_data(self.dir)
        n_poly = len(data.mesh.polygon_material)
        ends = [r.polygons[1] for r in layout[:-1]]
        if layout[-1].polygons[1] != n_poly or ends != [r.polygons[0] for r in layout[1:]] or layout[0].polygons[0]:
            raise ValueError(f"layout does not tile the model's {n_poly} polygons")
        s = MM_PER_UNIT
        self.neutral = data.neutral * s
        self.identity_basis = (data.identity - data.neutral) * s
        self.expression_basis = (data.expression - data.neutral) * s
        self.expression_names = data.expression_names
        self.layout = layout
        self.pivot_mm = PIVOT_MM.copy()
        self.landmark_vertices = {i + 1: v for i, v in enumerate(data.landmarks)}
        self._setup_render(data.mesh)

    @property
    def num_shape(self) -> int:
        return len(self.identity_basis)

    @property
    def num_expressions(self) -> int:
        return len(self.expression_basis)

    def inner_landmark_ids(self) -> tuple[np.ndarray, np.ndarray]:
        nums = np.arange(18, 69)
        return nums, np.array([self.landmark_vertices[n] for n in nums])

    def vertices(self, shape_coeffs: np.ndarray | None = None,
                 expression_coeffs: np.ndarray | None = None) -> np.ndarray:
        v = self.neutral.copy()
        if shape_coeffs is not None:
            c = np.asarray(shape_coeffs, np.float64)
            v += np.tensordot(c, self.identity_basis[: len(c)], axes=1)
        if expression_coeffs is not None:
            c = np.asarray(expression_coeffs, np.float64)
            nz = np.flatnonzero(c)
            if nz.size:
                v += np.tensordot(c[nz], self.expression_basis[nz], axes=1)
        return v

    # -- random expressions and looks ---------------------------------------------------------------

    @cached_property
    def _index(self) -> dict[str, int]:
        return {n: i for i, n in enumerate(self.expression_names)}

    def sample_expression(self, rng: np.random.Generator, neutral_fraction: float) -> np.ndarray:
        """One to three facial actions of :data:`EXPRESSION_GROUPS`, the rest zero."""
        e = np.zeros(self.num_expressions)
        if rng.random() < neutral_fraction:
            return e
        groups = list(EXPRESSION_GROUPS)
        for g in rng.choice(len(groups), size=int(rng.integers(1, 4)), replace=False):
            names, (lo, hi) = EXPRESSION_GROUPS[groups[g]]
            flip = rng.random() < 0.5
            level = rng.uniform(lo, hi)
            for name in names:
                name = MIRRORED.get(name, name) if flip else name
                if name in self._index:
                    e[self._index[name]] = max(e[self._index[name]], np.clip(level * rng.uniform(0.85, 1.15), 0, 1))
        if rng.random() < 0.1:  # a wink
            side = "L" if rng.random() < 0.5 else "R"
            if f"eyeBlink_{side}" in self._index:
                e[self._index[f"eyeBlink_{side}"]] = rng.uniform(0.8, 1.0)
        return e

    def sample_look(self, rng: np.random.Generator) -> Look:
        iris = IRIS_COLOURS[rng.integers(len(IRIS_COLOURS))] * rng.uniform(0.7, 1.3)
        hair = None
        if rng.random() > 0.08:
            shade = HAIR_COLOURS[rng.integers(len(HAIR_COLOURS))] * rng.uniform(0.8, 1.2) * rng.uniform(0.95, 1.05, 3)
            hair = tuple(np.clip(shade, 0, 1))
        return Look(iris=tuple(np.clip(iris, 0, 1)), sclera=tuple(rng.uniform(0.72, 0.9) * np.array([1, 0.95, 0.92])),
                    teeth=tuple(rng.uniform(0.65, 0.9) * np.array([1, 0.95, 0.82])), hair=hair,
                    hair_mm=float(rng.uniform(4.0, 25.0)), hair_seed=int(rng.integers(2**31)),
                    fringe_mm=float(rng.uniform(*FRINGE_MM)) if hair and rng.random() < 0.5 else None,
                    gaze_deg=(float(rng.normal(0, 4)), float(rng.normal(0, 3))))

    # -- render mesh ---------------------------------------------------------------------------------

    def _setup_render(self, mesh: ObjMesh) -> None:
        poly_region = np.zeros(len(mesh.polygon_material), np.int64)
        for k, r in enumerate(self.layout):
            poly_region[r.polygons[0]: r.polygons[1]] = k
        tri_region = poly_region[mesh.triangle_polygon]
        rendered = np.array([r.material is not None for r in self.layout])[tri_region]
        self._all_triangles = mesh.triangles  # model vertex ids, for normals
        tris, tri_uv, tri_region = mesh.triangles[rendered], mesh.triangle_uv[rendered], tri_region[rendered]
        self._rendered_triangles = tris
        # Split vertices along UV seams: one render vertex per (vertex, uv) pair.
        uv_ids = np.where(tri_uv < 0, 0, tri_uv)
        pairs = np.stack([tris.ravel(), uv_ids.ravel()], axis=1)
        unique, inverse = np.unique(pairs, axis=0, return_inverse=True)
        self.render_source = unique[:, 0]
        """Model vertex id of each render vertex."""
        uv = mesh.uv[unique[:, 1]] if len(mesh.uv) else np.zeros((len(unique), 2))
        # Skin spans two UV tiles (face area, then head and neck): u / 2 across the texture; OBJ v is up.
        self._render_uv = np.c_[np.clip(uv[:, 0], 0, SKIN_TILES) / SKIN_TILES, 1.0 - uv[:, 1]]
        self._render_triangles = inverse.reshape(-1, 3)
        self._material = np.array([int(r.material) if r.material is not None else -1 for r in self.layout])[tri_region]
        self._scored = np.array([r.scored for r in self.layout])[tri_region]
        # Eyeball vertices per side, with their neutral direction from the eye centre.
        self._eyes: dict[str, np.ndarray] = {}
        for side in ("L", "R"):
            polys = [r for r in self.layout if r.eye == side]
            tri_of_side = np.isin(tri_region, [self.layout.index(r) for r in polys])
            self._eyes[side] = np.unique(tris[tri_of_side]) if tri_of_side.any() else np.zeros(0, np.int64)
        self._eye_angle_neutral = self._eye_angles(self.neutral)
        # Scalp: unscored skin whose neutral position is above the hairline or behind and above the nape.
        skin = self._material == int(Material.SKIN)
        unscored_skin = np.zeros(len(self.neutral), bool)
        unscored_skin[tris[skin & ~self._scored].ravel()] = True  # with the face area's rim: no bare band
        x, y, z = self.neutral.T
        ear = np.zeros(len(self.neutral), bool)
        ear[tris[np.isin(tri_region, [k for k, r in enumerate(self.layout) if r.ears])].ravel()] = True
        ear &= (np.abs(x) > EAR_X_MM) & (y < HAIRLINE_Y_MM)
        scalp = unscored_skin & ~ear & ((y > HAIRLINE_Y_MM) | ((z < BEHIND_EARS_Z_MM) & (y > NAPE_Y_MM))
                                 | ((np.abs(x) > TEMPLE_X_MM) & (y > TEMPLE_Y_MM)))
        self._scalp_tri = np.flatnonzero(skin & scalp[tris].all(axis=1))
        # Forehead: scored skin a fringe may cover, with the lowest neutral height of each triangle.
        forehead = np.flatnonzero(skin & self._scored & (y[tris].min(axis=1) > FRINGE_MM[0]))
        self._forehead_tri, self._forehead_low = forehead, y[tris[forehead]].min(axis=1)
        self._forehead_x = x[tris[forehead]].mean(axis=1)

    def _eye_angles(self, verts: np.ndarray) -> np.ndarray:
        """Angle (degrees) of each render vertex's eyeball direction from +z (0 for non-eye vertices)."""
        angle = np.zeros(len(verts))
        for ids in self._eyes.values():
            if ids.size:
                d = verts[ids] - verts[ids].mean(axis=0)
                d /= np.maximum(np.linalg.norm(d, axis=1, keepdims=True), 1e-9)
                angle[ids] = np.degrees(np.arccos(np.clip(d[:, 2], -1, 1)))
        return angle

    def _turn_eyes(self, verts: np.ndarray, expression: np.ndarray, look: Look) -> np.ndarray:
        """Rotates each eyeball about its centre by the gaze of the eyeLook shapes (and Bell's phenomenon)."""
        def w(name: str) -> float:
            return float(expression[self._index[name]]) if name in self._index else 0.0

        out = verts.copy()
        for side, ids in self._eyes.items():
            if not ids.size:
                continue
            # Subject's left is +x; looking "out" on the left eye turns it towards +x (yaw > 0 about y).
            sign = 1.0 if side == "L" else -1.0
            yaw = GAZE_DEG * sign * (w(f"eyeLookOut_{side}") - w(f"eyeLookIn_{side}")) + look.gaze_deg[0]
            pitch = (GAZE_DEG * (w(f"eyeLookDown_{side}") - w(f"eyeLookUp_{side}"))
                     - BLINK_ROLL_DEG * w(f"eyeBlink_{side}") + look.gaze_deg[1])
            if abs(yaw) < 1e-6 and abs(pitch) < 1e-6:
                continue
            centre = verts[ids].mean(axis=0)
            out[ids] = (verts[ids] - centre) @ rotation(yaw, pitch, 0.0).T + centre
        return out

    def head_mesh(self, vertices: np.ndarray, expression_coeffs: np.ndarray, look: Look) -> HeadMesh:
        verts = self._turn_eyes(vertices, np.asarray(expression_coeffs), look)
        normals = vertex_normals(verts, self._rendered_triangles)
        src = self.render_source
        mesh = HeadMesh(verts[src], self._render_triangles, normals[src], self._render_uv, self._material,
                        self._scored, self._eye_angle_neutral[src], cull_back=True)
        if look.hair is not None and self._scalp_tri.size:
            hair = self._scalp_tri
            if look.fringe_mm is not None:
                wave = FRINGE_WAVE_MM * np.sin(self._forehead_x / 9.0 + look.hair_seed % 7)  # a ragged edge
                hair = np.r_[hair, self._forehead_tri[self._forehead_low > look.fringe_mm + wave]]
            mesh = _with_hair(mesh, hair, look.hair_mm)
        return mesh

    def with_layout(self, **changes) -> IctFaceModel:
        """A shallow copy whose layout regions are changed by name (tests, ablations)."""
        clone = object.__new__(IctFaceModel)
        clone.__dict__.update(self.__dict__)
        clone.layout = tuple(replace(r, **changes.get(r.name, {})) for r in self.layout)
        return clone


def _with_hair(mesh: HeadMesh, scalp: np.ndarray, thickness_mm: float) -> HeadMesh:
    """Adds a copy of the scalp triangles pushed out along the normals: a hair shell (not scored), full
    thickness on the crown, thinning towards the hairline, the temples and the nape."""
    ids, inverse = np.unique(mesh.triangles[scalp], return_inverse=True)
    first = len(mesh.vertices)
    y = mesh.vertices[ids, 1]
    lo, hi = np.percentile(y, [5, 95])
    profile = 0.35 + 0.65 * np.clip((y - lo) / max(hi - lo, 1e-6), 0, 1) ** 0.7
    shell = mesh.vertices[ids] + (thickness_mm * profile)[:, None] * mesh.normals[ids]
    tris = first + inverse.reshape(-1, 3)
    return HeadMesh(
        np.r_[mesh.vertices, shell], np.r_[mesh.triangles, tris], np.r_[mesh.normals, mesh.normals[ids]],
        np.r_[mesh.uv, mesh.uv[ids]], np.r_[mesh.material, np.full(len(tris), int(Material.HAIR))],
        np.r_[mesh.scored, np.zeros(len(tris), bool)], np.r_[mesh.detail, np.zeros(len(ids))], cull_back=mesh.cull_back)
