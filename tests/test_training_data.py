"""The data engine: rendering geometry, depth/photo alignment, the crop rule and the depth code."""

from __future__ import annotations

import numpy as np
import pytest
from synthetic_inputs import backdrop_photos, donor_texture

from facedepth.model import depthcode, spec
from facedepth.model.crop import box_from_landmarks

eos = pytest.importorskip("eos")

from facedepth.training.facemodel import FaceModel, boundary_loops, default_sfm_dir  # noqa: E402
from facedepth.training.raster import rasterize  # noqa: E402
from facedepth.training.synthetic import SyntheticConfig, render_scene, sample_scene  # noqa: E402

pytestmark = pytest.mark.skipif(not (default_sfm_dir() / "sfm_shape_3448.bin").exists(),
                                reason="Surrey Face Model not found (../shared/data/sfm)")


@pytest.fixture(scope="module")
def face_model() -> FaceModel:
    return FaceModel()


def test_rasterize_square_covers_expected_pixels():
    # Two triangles forming the square [2, 6) x [3, 7) at depth 5.
    verts = np.array([[2, 3, 5], [6, 3, 5], [6, 7, 5], [2, 7, 5]], float)
    tris = np.array([[0, 1, 2], [0, 2, 3]])
    r = rasterize(verts, tris, 10, 10)
    expected = np.zeros((10, 10), bool)
    expected[3:7, 2:6] = True
    assert np.array_equal(r.mask, expected)
    assert np.allclose(r.depth[r.mask], 5)


def test_rasterize_nearest_wins():
    near = np.array([[0, 0, 1], [8, 0, 1], [0, 8, 1]], float)
    far = np.array([[0, 0, 9], [8, 0, 9], [0, 8, 9]], float)
    verts = np.r_[far, near]
    r = rasterize(verts, np.array([[0, 1, 2], [3, 4, 5]]), 8, 8, attributes=np.r_[np.zeros((3, 1)), np.ones((3, 1))])
    assert np.allclose(r.depth[r.mask], 1)
    assert np.allclose(r.attributes[r.mask], 1)


def test_mouth_is_capped(face_model):
    loops = boundary_loops(face_model.capped_triangles)
    assert len(loops) == 1, "only the outer boundary of the face mask stays open"


def test_depth_code_round_trip():
    dist = np.array([[500.0, 520.0], [560.0, 0.0]])
    mask = np.array([[True, True], [True, False]])
    code = depthcode.encode(dist, mask, crop_side_mm=300.0)
    assert code[0, 0] == pytest.approx(spec.NEAR_CODE)
    assert code[1, 1] == spec.BACKGROUND_CODE
    back = depthcode.decode(code, crop_side_mm=300.0, nearest_mm=500.0)
    assert np.allclose(back[mask], dist[mask], atol=1e-3)
    assert np.isnan(back[1, 1])
    assert np.allclose(depthcode.from_uint16(depthcode.to_uint16(code)), code, atol=4e-5)


def test_synthetic_depth_aligns_with_landmarks(face_model):
    """Projected model landmarks land on the rendered face, and the nose tip is the nearest region."""
    rng = np.random.default_rng(3)
    cfg = SyntheticConfig(box_jitter=0.0)
    scene = sample_scene(rng, face_model, cfg)
    scene.yaw, scene.pitch, scene.roll = 20.0, 5.0, 0.0
    texture = np.full((64, 64, 3), 180, np.uint8)
    background = np.zeros((512, 512, 3))
    photo, code, meta = render_scene(face_model, scene, texture, background, rng, cfg)
    mask = depthcode.face_mask(code)
    assert photo.shape == (256, 256, 3) and code.shape == (256, 256)
    assert 0.15 < mask.mean() < 0.7
    # The photo shows the face exactly where the depth has it (background is black).
    lit = photo.sum(-1) > 0
    assert (lit == mask).mean() > 0.97
    # Nose tip (iBUG 31) is nearer than the outer eye corners (37, 46).
    from facedepth.training.synthetic import PIVOT_MM, VIRTUAL_FOCAL_PX, rotation

    verts = face_model.vertices(scene.shape, scene.expression)
    cam = (verts - PIVOT_MM) @ rotation(scene.yaw, scene.pitch, scene.roll).T + PIVOT_MM
    dist = scene.distance - cam[:, 2]
    pix = VIRTUAL_FOCAL_PX * np.c_[cam[:, 0], -cam[:, 1]] / dist[:, None]
    _, ids = face_model.inner_landmark_ids()
    box = box_from_landmarks(pix[ids])
    m = box.to_crop_matrix(256)

    def crop_px(landmark: int) -> tuple[int, int]:
        x, y = m[:, :2] @ pix[face_model.landmark_vertices[landmark]] + m[:, 2]
        return int(y), int(x)

    for lm in (31, 37, 46, 49, 55):
        assert mask[crop_px(lm)], f"landmark {lm} projects outside the rendered face"
    assert code[crop_px(31)] < code[crop_px(37)] and code[crop_px(31)] < code[crop_px(46)]


def test_pseudo_ground_truth_on_the_sample_photo(face_model):
    """The fitted depth covers the detected landmarks in the crop, nose nearer than the eye corners."""
    from facedepth.model.crop import box_from_landmarks
    from facedepth.model.face import FaceDetector
    from facedepth.model.imageio import load_photo
    from facedepth.model.resources import sample_image
    from facedepth.training.pseudo_gt import make_pseudo_sample

    rgb = load_photo(sample_image())
    sample = make_pseudo_sample(face_model, FaceDetector(), rgb, with_texture=True)
    assert sample.fit.landmark_error < 0.12
    assert sample.photo.shape == (256, 256, 3) and sample.texture.shape[2] == 3
    assert 180 < sample.crop_side_mm < 300
    box = box_from_landmarks(sample.face.landmarks)
    m = box.to_crop_matrix(256)
    lm = sample.face.landmarks @ m[:, :2].T + m[:, 2]
    mask = depthcode.face_mask(sample.code)

    def at(i: int) -> float:
        x, y = lm[i - 1]
        return sample.code[int(round(y)), int(round(x))]

    inside = [mask[int(round(y)), int(round(x))] for x, y in lm[17:]]
    assert np.mean(inside) > 0.95
    assert at(31) < at(37) and at(31) < at(46)


def _pitch_run(tmp_path, photo, count: int, pitch_deg: str) -> tuple:
    """A `generate synthetic --pitch-deg` command line on one backdrop and donor: (data set, split, args)."""
    photos, split = backdrop_photos(tmp_path, photo)
    out = tmp_path / "data"
    donor_texture(out, split)
    return out, split, ["generate", "synthetic", "--out", str(out), "--photos", str(photos), "--split", split,
                        "--count", str(count), "--workers", "1", "--pitch-deg", pitch_deg]


def test_generate_synthetic_draws_pitch_within_the_given_range(tmp_path, face_photo):
    from facedepth.training import storage
    from facedepth.training.cli import main
    from facedepth.training.model_card import render_pitch_range

    out, split, args = _pitch_run(tmp_path, face_photo, 6, "4")
    assert main(args) == 0
    pitches = [r["pitch"] for r in storage.read_index(out / split)]
    assert len(pitches) == 6 and max(abs(p) for p in pitches) <= 4 and np.ptp(pitches) > 0
    as_training = tmp_path / "as_training"  # the card reads the training split's records
    as_training.mkdir()
    (as_training / "train").symlink_to(out / split)
    assert render_pitch_range(as_training) == round(max(abs(p) for p in pitches))
    assert render_pitch_range(tmp_path / "nothing") == SyntheticConfig.pitch_deg


def test_generate_synthetic_refuses_an_impossible_pitch_range(tmp_path, face_photo, capsys):
    from facedepth.training.cli import main

    out, split, args = _pitch_run(tmp_path, face_photo, 2, "95")
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: pitch range 95") and "\n" not in err
    assert not (out / split).exists()
