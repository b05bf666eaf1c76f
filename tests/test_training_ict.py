"""The ICT Face Model behind the synthetic renderer: both loaders, eyes, and renders whose photo and depth
sit exactly where the model's landmark vertices project, also when the scene is mirrored.

Most tests use a tiny generated model in the ICT file formats (tests/ict_tiny.py); the ones marked so also
run on the real model when ../shared/data/ictface is there."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from ict_tiny import EXPRESSIONS, MIRROR_PAIRS, TINY, TINY_LAYOUT, write_tiny_ict
from synthetic_inputs import backdrop_photos, donor_texture

from facedepth.model import depthcode, spec
from facedepth.training import storage
from facedepth.training.facemodel import default_sfm_dir
from facedepth.training.headmesh import Look, Material, rotation
from facedepth.training.ictface import IctFaceModel, default_ict_dir, model_folder
from facedepth.training.model_card import licence_section
from facedepth.training.synthetic import SyntheticConfig, crop_box, project, render_scene, sample_scene

REAL = (default_ict_dir() / "generic_neutral_mesh.obj").is_file()
NO_JITTER = SyntheticConfig(box_jitter=0.0)
SKIN = np.full((64, 128, 3), 200, np.uint8)
BLACK = np.zeros((512, 512, 3))


@pytest.fixture(scope="module")
def tiny_dirs(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("tiny_ict")
    return write_tiny_ict(root / "FaceXModel", npz=False), write_tiny_ict(root / "npz", npz=True)


@pytest.fixture(scope="module")
def tiny(tiny_dirs) -> IctFaceModel:
    return IctFaceModel(tiny_dirs[1], layout=TINY_LAYOUT)


@pytest.fixture(scope="module")
def real() -> IctFaceModel:
    if not REAL:
        pytest.skip("ICT Face Model not found (../shared/data/ictface)")
    return IctFaceModel()


@pytest.fixture(params=["tiny", "real"])
def model(request) -> IctFaceModel:
    return request.getfixturevalue(request.param)


def test_obj_folder_and_npz_give_the_same_model(tiny_dirs):
    obj_dir, npz_dir = tiny_dirs
    from_obj = IctFaceModel(obj_dir.parent, layout=TINY_LAYOUT)  # finds the FaceXModel/ subfolder
    from_npz = IctFaceModel(npz_dir, layout=TINY_LAYOUT)
    assert from_obj.num_shape == from_npz.num_shape == 2
    assert from_obj.expression_names == from_npz.expression_names == list(EXPRESSIONS)
    shape, expr = np.array([0.7, -1.2]), np.array([0.0, 0.3, 0.8])
    expected = 10.0 * (TINY["neutral"] + np.tensordot(shape, TINY["identity"] - TINY["neutral"], 1)
                       + np.tensordot(expr, TINY["expression"] - TINY["neutral"], 1))
    for m in (from_obj, from_npz):
        assert np.allclose(m.vertices(shape, expr), expected, atol=1e-3)  # millimetres
    assert from_obj.landmark_vertices == from_npz.landmark_vertices


def test_loader_refuses_bad_folders(tmp_path, tiny_dirs):
    with pytest.raises(FileNotFoundError, match="ICT Face Model not found"):
        model_folder(tmp_path)
    broken = write_tiny_ict(tmp_path / "broken", npz=False)
    (broken / f"{EXPRESSIONS[0]}.obj").unlink()
    with pytest.raises(FileNotFoundError, match="missing expressions"):
        IctFaceModel(broken, layout=TINY_LAYOUT)
    with pytest.raises(ValueError, match="layout does not tile"):
        IctFaceModel(tiny_dirs[1], layout=TINY_LAYOUT[:-1])


def test_gaze_and_blinks_turn_the_eyeballs(tiny):
    verts = tiny.vertices()
    left = tiny._eyes["L"]
    centre = verts[left].mean(0)

    def front_of_left_eye(expression: dict[str, float]) -> np.ndarray:
        e = np.zeros(tiny.num_expressions)
        for name, w in expression.items():
            e[EXPRESSIONS.index(name)] = w
        mesh = tiny.head_mesh(verts, e, Look(hair=None))
        eye = np.isin(tiny.render_source, left)
        moved = mesh.vertices[eye]
        before = verts[tiny.render_source[eye]]
        assert np.allclose(np.linalg.norm(moved - centre, axis=1), np.linalg.norm(before - centre, axis=1))  # turned
        return moved[np.argmin(mesh.detail[eye])] - centre  # the pupil's direction

    ahead = front_of_left_eye({})
    out = front_of_left_eye({"eyeLookOut_L": 1.0})
    blink = front_of_left_eye({"eyeBlink_L": 1.0})
    assert out[0] > ahead[0] + 0.3 * np.linalg.norm(ahead)  # the left eye looks out: towards +x
    assert blink[1] > ahead[1] + 0.1 * np.linalg.norm(ahead)  # under a closed lid the eye turns up


def test_sampled_expressions_are_sparse_and_in_range(real):
    rng = np.random.default_rng(0)
    draws = np.array([real.sample_expression(rng, 0.25) for _ in range(200)])
    active = (draws > 0).sum(1)
    assert 0.15 < (active == 0).mean() < 0.35
    assert active.max() <= 10 and draws.min() >= 0 and draws.max() <= 1
    assert (draws[:, real.expression_names.index("jawOpen")] > 0).mean() > 0.05


def _flat_scene(model: IctFaceModel, yaw: float, roll: float = 0.0, seed: int = 0):
    scene = sample_scene(np.random.default_rng(seed), model, NO_JITTER)
    return replace(scene, shape=np.zeros(model.num_shape), expression=np.zeros(model.num_expressions), yaw=yaw,
                   pitch=4.0, roll=roll, distance=700.0, ambient=np.ones(3), light_colour=np.zeros(3), specular=0.0,
                   look=Look(hair=None))


def _render(model, scene):
    rng = np.random.default_rng(1)
    photo, code, meta = render_scene(model, scene, SKIN, BLACK, rng, NO_JITTER)
    base = model.vertices(scene.shape, scene.expression)
    box = crop_box(model, base, scene, np.random.default_rng(1), NO_JITTER)
    ids = np.array([model.landmark_vertices[n] for n in range(18, 69)])
    _, dist, pix = project(base[ids], scene, model.pivot_mm)
    m = box.to_crop_matrix(spec.IMAGE_SIZE)
    return photo, code, meta, pix @ m[:, :2].T + m[:, 2], dist, ids


@pytest.mark.parametrize("yaw", [0.0, 25.0])
def test_landmark_vertices_land_on_their_pixels_in_photo_and_depth(model, yaw):
    _, code, meta, crop_xy, dist, ids = _render(model, _flat_scene(model, yaw))
    mask = depthcode.face_mask(code)
    col, row = np.floor(crop_xy).astype(int).T
    assert mask[row, col].all(), "a landmark projects outside the scored face"
    # Depth: the decoded code at each landmark's pixel is the landmark vertex's own distance.
    depth = meta["nearest_mm"] + (code[row, col] - spec.NEAR_CODE) * meta["crop_side_mm"] / spec.GAIN
    offset = np.median(depth - dist)  # the code's zero is the smoothed map's nearest pixel, not the vertex's
    err = np.abs(depth - dist - offset)
    assert abs(offset) < 1.0 and np.median(err) < 0.4 and np.percentile(err, 90) < 1.5, f"depth errors (mm): {err}"
    # Photo: a dark dot painted into the skin texture at each landmark's texel shows up, under flat white
    # light, centred on the landmark's projected pixel (brows, nose and outer lips where they face the camera;
    # the eyelid and inner-lip landmarks lie on the edge of the eyeball or the mouth opening).
    mesh = model.head_mesh(model.vertices(), np.zeros(model.num_expressions), Look(hair=None))
    first = np.array([np.flatnonzero(model.render_source == i)[0] for i in ids])
    scene = _flat_scene(model, yaw)
    cam, _, _ = project(mesh.vertices[first], scene, model.pivot_mm)
    to_eye = -cam + [0, 0, scene.distance]
    normal = mesh.normals[first] @ rotation(scene.yaw, scene.pitch, scene.roll).T
    facing = (normal * to_eye).sum(1) / np.linalg.norm(to_eye, axis=1) > 0.5
    skin = np.r_[18:37, 49:61] - 18
    skin = skin[facing[skin]]
    texture = np.full((512, 1024, 3), 230, np.uint8)
    for u, v in mesh.uv[first[skin]]:
        cv2.circle(texture, (int(round(u * 1023 * 16)), int(round(v * 511 * 16))), 3 * 16, (0, 0, 0), -1,
                   cv2.LINE_AA, shift=4)
    photo = render_scene(model, scene, texture, BLACK, np.random.default_rng(1), NO_JITTER)[0]
    dark = 230.0 - photo[..., 0].astype(float)
    for k in skin:
        c, r = np.floor(crop_xy[k]).astype(int)
        win = dark[r - 3: r + 4, c - 3: c + 4]
        win = np.where(win > 0.25 * win.max(), win, 0)
        assert 0 < (win > 0).mean() < 0.6, f"landmark {k + 18}: no dot, or one wider than the window"
        ys, xs = np.mgrid[r - 3: r + 4, c - 3: c + 4] + 0.5
        seen = np.array([(xs * win).sum(), (ys * win).sum()]) / win.sum()
        assert np.linalg.norm(seen - crop_xy[k]) < 0.8, f"landmark {k + 18}'s dot at {seen}, not {crop_xy[k]}"


def test_mirroring_the_scene_mirrors_photo_and_depth(model):
    """The training mirror (flip photo and depth together) is itself a render: of the mirrored scene."""
    scene = _flat_scene(model, yaw=30.0, roll=8.0)
    scene = replace(scene, ambient=np.full(3, 0.5), light_colour=np.full(3, 0.5), light_dir=np.array([0.6, 0.3, 0.74]))
    mirrored = replace(scene, yaw=-30.0, roll=-8.0, light_dir=scene.light_dir * [-1, 1, 1])
    grey = np.full((256, 512, 3), 170, np.uint8)
    rng = np.random.default_rng(1)
    photo_a, code_a, _ = render_scene(model, scene, grey, BLACK, rng, NO_JITTER)
    photo_b, code_b, _ = render_scene(model, mirrored, grey, BLACK, rng, NO_JITTER)
    mask_a, mask_b = depthcode.face_mask(code_a[:, ::-1]), depthcode.face_mask(code_b)
    assert (mask_a & mask_b).sum() / (mask_a | mask_b).sum() > 0.98
    assert np.median(np.abs(code_a[:, ::-1] - code_b)[mask_a & mask_b]) < 2e-3
    assert np.median(np.abs(photo_a[:, ::-1].astype(int) - photo_b)) <= 1
    # Landmark pairs swap: the right eye's outer corner in one is the left eye's in the other, mirrored.
    a = _render(model, scene)[3]
    b = _render(model, mirrored)[3]
    for left, right in MIRROR_PAIRS.items():
        assert np.allclose(a[left - 18] * [-1, 1] + [spec.IMAGE_SIZE, 0], b[right - 18], atol=0.05)


def test_scored_face_excludes_hair_ears_and_neck(real):
    """The depth target covers the narrow face area and the eyes, not the hair shell or the rest of the head."""
    scene = replace(_flat_scene(real, yaw=60.0), look=Look(hair=(0.1, 0.08, 0.05), hair_mm=12.0))
    photo, code, _ = render_scene(real, scene, SKIN, BLACK, np.random.default_rng(1), NO_JITTER)
    face = depthcode.face_mask(code)
    drawn = photo.sum(-1) > 0
    assert 0.25 < face.mean() < drawn.mean() - 0.1  # the ear, neck and hair are in the photo only
    mesh = real.head_mesh(real.vertices(), np.zeros(real.num_expressions), scene.look)
    scored = {Material(m) for m in np.unique(mesh.material[mesh.scored])}
    assert Material.HAIR not in scored and {Material.SKIN, Material.EYE, Material.TEETH} <= scored


def test_model_card_licence_names_the_face_models():
    surrey_only = licence_section(Counter(surrey=10), 5)
    both = licence_section(Counter(surrey=10, ict=4), 5)
    assert "ICT" not in surrey_only and "4 renders of the ICT Face Model" in both and "MIT" in both
    assert all("**non-commercial use only**" in text for text in (surrey_only, both))


def test_generate_ict_is_deterministic_by_seed(real, tmp_path, face_photo):
    """`generate synthetic --face-model ict`: the same seed gives the same files, another seed others."""
    sfm = default_sfm_dir()
    if not (sfm / "sfm_shape_3448.bin").is_file():
        pytest.skip("Surrey Face Model not found (../shared/data/sfm): ICT skin comes from its textures")
    from facedepth.training.cli import main

    photos, split = backdrop_photos(tmp_path, face_photo)
    outs = []
    for run, seed in (("a", 3), ("b", 3), ("c", 4)):
        out = tmp_path / run
        donor_texture(out, split)
        args = ["generate", "synthetic", "--face-model", "ict", "--out", str(out), "--photos", str(photos),
                "--split", split, "--count", "2", "--seed", str(seed), "--workers", "1"]
        assert main(args) == 0
        outs.append({p.name: p.read_bytes() for p in sorted((out / split).glob("ict_*"))})
    assert len(outs[0]) == 4 and outs[0] == outs[1]
    assert set(outs[2]).isdisjoint(outs[0])
    records = storage.read_index(tmp_path / "a" / split)
    assert [r["face_model"] for r in records] == ["ict", "ict"]


def test_skin_transfer_puts_donor_features_on_the_matching_ict_texels(real):
    """A dot painted at a Surrey landmark's texel lands on the same landmark's texel of the ICT layout (within
    3 % of the texture height: eye and mouth corners lose part of their dot to the Surrey model's holes)."""
    sfm = default_sfm_dir()
    if not (sfm / "sfm_shape_3448.bin").is_file():
        pytest.skip("Surrey Face Model not found (../shared/data/sfm)")
    from facedepth.training.facemodel import FaceModel
    from facedepth.training.skintransfer import SkinTransfer

    surrey = FaceModel(sfm)
    transfer = SkinTransfer(real, surrey)
    ict_uv = real.head_mesh(real.vertices(), np.zeros(real.num_expressions), Look(hair=None)).uv
    h = transfer.size
    for landmark in (31, 37, 46, 49, 55):  # nose tip, eye corners, mouth corners
        donor = np.full((256, 256, 3), 200, np.uint8)
        u, v = surrey.uv[surrey.landmark_vertices[landmark]]
        cv2.circle(donor, (int(u * 255), int(v * 255)), 4, (0, 0, 0), -1)
        out = transfer(donor)
        ys, xs = np.nonzero(out[..., 0] < 100)
        assert len(xs), f"landmark {landmark}'s dot was lost"
        target = ict_uv[np.flatnonzero(real.render_source == real.landmark_vertices[landmark])[0]] * [2 * h, h]
        assert np.hypot(xs.mean() - target[0], ys.mean() - target[1]) < 0.03 * h, f"landmark {landmark}"
    plain = transfer(np.full((256, 256, 3), (180, 120, 90), np.uint8))
    assert np.abs(plain.astype(int) - (180, 120, 90)).max() <= 1  # uncovered skin takes the donor's tone


def test_a_fringe_covers_the_forehead_and_ends_the_scored_face_there(real):
    scene = replace(_flat_scene(real, yaw=0.0), look=Look(hair=(0.1, 0.08, 0.05), hair_mm=10.0))
    masks = {}
    for fringe in (None, 78.0):
        look = replace(scene.look, fringe_mm=fringe)
        code = render_scene(real, replace(scene, look=look), SKIN, BLACK, np.random.default_rng(1), NO_JITTER)[1]
        masks[fringe] = depthcode.face_mask(code)
    top = {fringe: np.flatnonzero(mask.any(axis=1))[0] for fringe, mask in masks.items()}
    assert (masks[78.0] & ~masks[None]).sum() == 0
    assert top[78.0] > top[None] + 5  # the scored face starts lower, under the fringe
