"""A tiny model in the ICT Face Model's file formats, generated for tests: an ellipsoid head with a nose,
two eyeballs, two identity modes and three expressions, mirror-symmetric about x = 0.

``write_tiny_ict(folder, npz=...)`` writes ``generic_neutral_mesh.obj`` (polygons grouped by material, with
UVs), ``vertex_indices.json`` and either the official layout's ``identityNNN.obj`` / ``<expression>.obj``
files or ``ict_face_model.npz``; :data:`TINY_LAYOUT` is its region table.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from facedepth.training.headmesh import Material
from facedepth.training.ictface import Region

EXPRESSIONS = ("eyeBlink_L", "eyeLookOut_L", "jawOpen")
RADII_CM = np.array([7.5, 10.0, 9.0])
EYE_CM = np.array([3.0, 2.6])
"""Eyeball centre (|x|, y); z is set on the head surface."""
EYE_RADIUS_CM = 1.1
N_LON, N_LAT = 40, 24
MIRROR_PAIRS = {37: 46, 49: 55, 18: 27, 32: 36}


def _sphere(n_lon: int, n_lat: int) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """Unit directions of a UV sphere without poles: (azimuth from +z towards +x, latitude) grid and quads."""
    az = 2 * np.pi * np.arange(n_lon) / n_lon
    lat = np.linspace(-np.pi / 2, np.pi / 2, n_lat + 2)[1:-1]
    a, b = np.meshgrid(az, lat)
    dirs = np.stack([np.sin(a) * np.cos(b), np.sin(b), np.cos(a) * np.cos(b)], -1).reshape(-1, 3)
    quads = [[i * n_lon + j, i * n_lon + (j + 1) % n_lon, (i + 1) * n_lon + (j + 1) % n_lon, (i + 1) * n_lon + j]
             for i in range(n_lat - 1) for j in range(n_lon)]
    return dirs, np.stack([a.ravel(), b.ravel()], 1), quads


def build() -> dict:
    dirs, angles, quads = _sphere(N_LON, N_LAT)
    head = dirs * RADII_CM
    head[:, 2] += 2.0 * np.exp(-(head[:, 0] ** 2 + (head[:, 1] + 1.0) ** 2) / 2.0) * (dirs[:, 2] > 0)  # the nose
    # The quads run counter-clockwise seen from outside: the winding back-face culling expects.
    centres = np.array([head[q].mean(0) for q in quads])
    front = centres[:, 2] > 0.55 * RADII_CM[2]
    order = np.r_[np.flatnonzero(front), np.flatnonzero(~front)]
    quads = [quads[k] for k in order]
    n_front = int(front.sum())
    # UVs in tile 0 by the direction's x and y: the front fills the tile (the back reuses it, unseen).
    uv = np.c_[0.5 + 0.45 * dirs[:, 0], 0.5 + 0.45 * dirs[:, 1]]
    verts, uvs, polys = [head], [uv], [(q, q, "M_Face" if k < n_front else "M_BackHead") for k, q in enumerate(quads)]
    eye_dirs, eye_angles, eye_quads = _sphere(12, 8)
    eye_ranges = []
    for side, sx in (("Left", 1.0), ("Right", -1.0)):
        x, y = sx * EYE_CM[0], EYE_CM[1]
        z = RADII_CM[2] * np.sqrt(1 - (x / RADII_CM[0]) ** 2 - (y / RADII_CM[1]) ** 2) - 0.6
        first = sum(len(v) for v in verts)
        verts.append(np.array([x, y, z]) + EYE_RADIUS_CM * eye_dirs)
        uvs.append(np.c_[0.5 + 0.4 * eye_dirs[:, 0], 0.5 + 0.4 * eye_dirs[:, 1]])
        start = len(polys)
        polys += [([first + i for i in q], [first + i for i in q], f"M_Sclera{side}") for q in eye_quads]
        eye_ranges.append((start, len(polys)))
    neutral = np.concatenate(verts)
    # Landmarks: front vertices on a grid, mirror pairs on mirrored vertices.
    grid = [i * N_LON + j % N_LON for i in N_LAT // 2 + np.arange(-3, 4) for j in range(-3, 4)]
    away = [np.linalg.norm(np.abs(head[v, :2]) - EYE_CM) > EYE_RADIUS_CM + 0.7 for v in grid]  # not under an eye
    pool = [v for v, ok in zip(grid, away, strict=True) if ok]
    def mirror(v: int) -> int:
        i, j = divmod(v, N_LON)
        return i * N_LON + (N_LON - j) % N_LON

    off_axis = [v for v in pool if mirror(v) != v]
    landmarks = [-1] * 68
    for k, (a, b) in enumerate(MIRROR_PAIRS.items()):
        landmarks[a - 1], landmarks[b - 1] = off_axis[2 * k], mirror(off_axis[2 * k])
    rest = [v for v in pool if v not in landmarks]
    free = [k for k in range(68) if landmarks[k] < 0]
    for n, k in enumerate(free[::-1]):  # 68 down to 1: 18-68 get the whole pool first
        landmarks[k] = rest[n % len(rest)]
    if len(free) - 17 < len(rest) or set(landmarks[17:]) != set(pool):
        raise AssertionError("the tiny landmarks are not a mirror-symmetric set")
    identity = np.stack([neutral * [1.1, 1.0, 1.0], neutral * [1.0, 1.08, 1.0]])
    expression = np.stack([neutral.copy() for _ in EXPRESSIONS])
    low_front = (neutral[:, 1] < -3) & (neutral[:, 2] > 0)
    expression[EXPRESSIONS.index("jawOpen"), low_front, 1] -= 1.0
    n_head = len(quads)
    layout = (
        Region("narrow face area", (0, n_front), Material.SKIN, scored=True),
        Region("rest of the head", (n_front, n_head), Material.SKIN),
        Region("sclera left", eye_ranges[0], Material.EYE, scored=True, eye="L"),
        Region("sclera right", eye_ranges[1], Material.EYE, scored=True, eye="R"),
    )
    return {"neutral": neutral, "uv": np.concatenate(uvs), "polys": polys, "landmarks": landmarks,
            "identity": identity, "expression": expression, "layout": layout}


TINY = build()
TINY_LAYOUT: tuple[Region, ...] = TINY["layout"]


def _v_lines(v: np.ndarray) -> str:
    return "".join(f"v {x:.6f} {y:.6f} {z:.6f}\n" for x, y, z in v)


def write_tiny_ict(folder: Path, npz: bool) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    lines = ["# tiny ICT-format test model\nmtllib ICTFaceModelMaterial.mtl\n", _v_lines(TINY["neutral"])]
    lines += [f"vt {u:.6f} {v:.6f}\n" for u, v in TINY["uv"]]
    current = None
    for q, t, mat in TINY["polys"]:
        if mat != current:
            lines.append(f"usemtl {mat}\n")
            current = mat
        lines.append("f " + " ".join(f"{a + 1}/{b + 1}" for a, b in zip(q, t, strict=True)) + "\n")
    (folder / "generic_neutral_mesh.obj").write_text("".join(lines))
    (folder / "vertex_indices.json").write_text(json.dumps(
        {"expressions": list(EXPRESSIONS), "idx_to_landmark_verts": [int(i) for i in TINY["landmarks"]]}))
    if npz:
        np.savez(folder / "ict_face_model.npz", neutral=TINY["neutral"].astype(np.float32),
                 identity=TINY["identity"].astype(np.float32), expression=TINY["expression"].astype(np.float32),
                 identity_names=np.array([f"identity{i:03d}" for i in range(len(TINY["identity"]))]),
                 expression_names=np.array(EXPRESSIONS))
    else:
        for i, v in enumerate(TINY["identity"]):
            (folder / f"identity{i:03d}.obj").write_text(_v_lines(v))
        for name, v in zip(EXPRESSIONS, TINY["expression"], strict=True):
            (folder / f"{name}.obj").write_text(_v_lines(v))
    return folder
