import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from facedepth.model import resources, spec
from facedepth.model.inference import (
    INPUT_SHAPE,
    AtTrainingScale,
    MirrorAveraged,
    TFLiteDepthEstimator,
    WeightsError,
    as_the_app_runs_it,
    load_estimator,
)


@pytest.fixture
def weights_copy(tiny_weights, tmp_path):
    """A private copy of the tiny generator and its model card (tests may damage it)."""
    folder = tmp_path / "weights"
    folder.mkdir()
    shutil.copy(tiny_weights, folder / tiny_weights.name)
    shutil.copy(tiny_weights.parent / "MODEL_CARD.md", folder / "MODEL_CARD.md")
    return folder / tiny_weights.name


def test_random_weights_load_and_give_codes_in_range(tiny_weights):
    estimator = load_estimator(tiny_weights)
    assert isinstance(estimator, TFLiteDepthEstimator)
    photos = np.random.default_rng(0).uniform(-1, 1, (3, *INPUT_SHAPE[1:])).astype(np.float32)
    codes = estimator(photos)
    assert codes.shape == (3, 256, 256, 1) and codes.dtype == np.float32
    assert np.isfinite(codes).all() and np.abs(codes).max() <= 1.0
    np.testing.assert_allclose(codes[1], estimator(photos[1:2])[0], atol=1e-6)  # batch = loop of ones
    assert not np.allclose(codes[0], codes[1])


def test_wrong_photo_shape_is_refused(tiny_weights):
    with pytest.raises(ValueError, match="shape"):
        load_estimator(tiny_weights)(np.zeros((1, 128, 128, 3), np.float32))


@pytest.mark.parametrize(("quality", "name", "other"), [("best", "generator.tflite", "fast"),
                                                         ("fast", "generator_fast.tflite", "best")])
def test_missing_bundled_weights_message(monkeypatch, tmp_path, quality, name, other):
    monkeypatch.delenv(resources.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(resources, "weights_dir", lambda: tmp_path)
    with pytest.raises(WeightsError, match=rf"^bundled model missing: weights/{name} not found; train one with "
                                           rf"facedepth-train, pass --weights or choose --quality {other}$"):
        load_estimator(quality=quality)


def test_missing_explicit_weights(tmp_path):
    with pytest.raises(WeightsError, match="not found"):
        load_estimator(tmp_path / "generator.tflite")


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_file_without_card(weights_copy, damage):
    (weights_copy.parent / "MODEL_CARD.md").unlink()
    data = weights_copy.read_bytes()
    weights_copy.write_bytes({"truncate": data[:2000], "garbage": b"not a model\n" * 100, "empty": b""}[damage])
    with pytest.raises(WeightsError, match="not a valid LiteRT model"):
        load_estimator(weights_copy)


def test_sha_mismatch_against_model_card(weights_copy):
    data = bytearray(weights_copy.read_bytes())
    data[-100] ^= 0xFF  # one flipped byte: still loads, but is not the released file
    weights_copy.write_bytes(bytes(data))
    with pytest.raises(WeightsError, match="does not match its model card"):
        load_estimator(weights_copy)


def test_card_with_matching_sha_among_several(weights_copy):
    digest = hashlib.sha256(weights_copy.read_bytes()).hexdigest()
    card = weights_copy.parent / "MODEL_CARD.md"
    card.write_text(f"- generator.keras sha256: `{'0' * 64}`\n- generator.tflite sha256: `{digest}`\n")
    code = load_estimator(weights_copy)(np.zeros((1, 256, 256, 3), np.float32))
    assert code.shape == (1, 256, 256, 1) and np.isfinite(code).all()


def test_unsupported_suffix(weights_copy):
    other = weights_copy.with_suffix(".onnx")
    weights_copy.rename(other)
    (other.parent / "MODEL_CARD.md").unlink()
    with pytest.raises(WeightsError, match="unsupported weights format"):
        load_estimator(other)


_KERAS_CHECK = """
import sys
from pathlib import Path
import keras
import numpy as np
from facedepth.model.architecture import build_generator
from facedepth.model.inference import KerasDepthEstimator, WeightsError, load_estimator
from facedepth.training.export import export_tflite

folder = Path(sys.argv[1])
keras.utils.set_random_seed(1)
generator = build_generator(ngf=8)
generator.save(folder / "generator.keras")
export_tflite(generator, folder / "generator.tflite", fp16=False)
foreign = keras.Sequential([keras.Input((256, 256, 3)), keras.layers.Conv2D(1, 3, padding="same")], name="segmenter")
foreign.save(folder / "foreign.keras")
try:
    load_estimator(folder / "foreign.keras")
    raise SystemExit("a foreign .keras model was accepted")
except WeightsError as exc:
    assert "not a FaceDepth generator" in str(exc), exc
photos = np.random.default_rng(0).uniform(-1, 1, (2, 256, 256, 3)).astype(np.float32)
from_keras = load_estimator(folder / "generator.keras")
assert isinstance(from_keras, KerasDepthEstimator)
a, b = from_keras(photos), load_estimator(folder / "generator.tflite")(photos)
assert a.shape == b.shape == (2, 256, 256, 1), (a.shape, b.shape)
print("max difference", float(np.abs(a - b).max()))
"""


def test_keras_file_runs_like_its_tflite_export(tmp_path):
    """Keras is loaded only for .keras files, so this runs in a subprocess (no TensorFlow in pytest)."""
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run([sys.executable, "-c", _KERAS_CHECK, str(tmp_path)], cwd=root, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert float(proc.stdout.strip().splitlines()[-1].split()[-1]) < 1e-4


class _HalfFace:
    """A fake estimator: a face on columns 0-159 with code 0.2 when a photo's first pixel is dark, else a
    face on columns 96-255 with code 0.4. Mirrored back, a bright-first photo's face lies on 0-159."""

    def __call__(self, photos: np.ndarray) -> np.ndarray:
        codes = np.full((len(photos), 256, 256, 1), spec.BACKGROUND_CODE, np.float32)
        for code, photo in zip(codes, photos, strict=True):
            dark = photo[0, 0, 0] < 0
            code[:, slice(0, 160) if dark else slice(96, 256)] = 0.2 if dark else 0.4
        return codes


def test_mirror_average_is_the_mean_where_both_see_the_face():
    photo = np.ones((1, 256, 256, 3), np.float32)
    photo[0, :, 0] = -1.0  # only the direct photo starts dark
    codes = MirrorAveraged(_HalfFace())(photo)[0, ..., 0]
    assert np.allclose(codes[:, :160], 0.3)
    assert np.all(codes[:, 160:] == spec.BACKGROUND_CODE)


def test_mirror_average_does_not_blend_face_with_background():
    photo = np.ones((1, 256, 256, 3), np.float32)  # face on 96-255 direct, on 0-159 mirrored back
    codes = MirrorAveraged(_HalfFace())(photo)[0, ..., 0]
    assert np.allclose(codes[:, 96:160], 0.4)
    assert np.all(codes[:, :96] == spec.BACKGROUND_CODE) and np.all(codes[:, 160:] == spec.BACKGROUND_CODE)


_ROWS, _COLS = np.mgrid[0:256, 0:256]
_CENTRE = 127.5


def _disc(radius: float) -> np.ndarray:
    return np.hypot(_ROWS - _CENTRE, _COLS - _CENTRE) < radius


class _FaceWhereDark:
    """A fake estimator: face (code = 0.3 + 0.1 x the red channel) where the red channel is below 0,
    background elsewhere; it keeps the photos it was shown."""

    def __init__(self) -> None:
        self.seen: list[np.ndarray] = []

    def __call__(self, photos: np.ndarray) -> np.ndarray:
        self.seen.append(photos)
        red = photos[..., :1]
        return np.where(red < 0, 0.3 + 0.1 * red, spec.BACKGROUND_CODE).astype(np.float32)


def test_training_scale_shows_the_generator_a_magnified_crop():
    photo = np.where(_disc(60)[None, ..., None], -1.0, 1.0).astype(np.float32).repeat(3, axis=-1)
    inner = _FaceWhereDark()
    AtTrainingScale(inner)(photo)
    shown = inner.seen[0][0, ..., 0] < 0
    radius = np.sqrt(shown.sum() / np.pi)
    assert radius == pytest.approx(60 * spec.JITTER_SIZE / spec.IMAGE_SIZE, abs=0.7)


def test_training_scale_maps_the_depth_back_onto_the_crop():
    rng = np.random.default_rng(3)
    red = np.where(_disc(70), rng.uniform(-1, -0.5, (256, 256)), 1.0)
    photo = np.repeat(red[None, ..., None], 3, axis=-1).astype(np.float32)
    codes = AtTrainingScale(_FaceWhereDark())(photo)[0, ..., 0]
    face = codes < spec.MASK_THRESHOLD
    # The same disc comes back (up to a pixel along its rim) ...
    assert (face ^ _disc(70)).sum() < 2 * np.pi * 70
    # ... with face values from face pixels only: no blend with the background code 1.0.
    assert codes[face].min() >= 0.2 - 1e-5 and codes[face].max() <= 0.3 + 1e-5
    # Away from the rim, the values are the ones the fake gives at the crop's own scale, resampled twice.
    inner = _disc(60)
    assert np.abs(codes[inner] - (0.3 + 0.1 * red[inner])).mean() < 0.02


def test_training_scale_keeps_the_outer_ring_as_background():
    photo = -np.ones((1, 256, 256, 3), np.float32)  # face everywhere
    codes = AtTrainingScale(_FaceWhereDark())(photo)[0, ..., 0]
    assert np.all(codes[_disc(110)] < spec.MASK_THRESHOLD)
    assert np.all(codes[:5] == spec.BACKGROUND_CODE) and np.all(codes[:, -5:] == spec.BACKGROUND_CODE)


def test_mirror_average_runs_both_passes_in_one_call():
    inner = _FaceWhereDark()
    photos = np.random.default_rng(4).uniform(-1, 1, (2, 256, 256, 3)).astype(np.float32)
    MirrorAveraged(inner)(photos)
    assert len(inner.seen) == 1 and inner.seen[0].shape == (4, 256, 256, 3)
    np.testing.assert_array_equal(inner.seen[0][2:], photos[:, :, ::-1])


@pytest.mark.parametrize(("quality", "seen"), [("fast", 2), ("best", 4)])
def test_quality_sets_the_passes_as_the_app_runs_the_generator(quality, seen):
    """Issue 16: the fast quality runs its generator once per photo, the best one on the photo and its mirror."""
    inner = _FaceWhereDark()
    photos = np.random.default_rng(6).uniform(-1, 1, (2, 256, 256, 3)).astype(np.float32)
    assert as_the_app_runs_it(inner, quality)(photos).shape == (2, 256, 256, 1)
    assert [len(batch) for batch in inner.seen] == [seen]
    with pytest.raises(ValueError, match="quality 'ultra': choose from fast, best"):
        as_the_app_runs_it(inner, "ultra")


def test_batched_invoke_matches_one_photo_at_a_time_on_any_thread_count(tiny_weights):
    photos = np.random.default_rng(5).uniform(-1, 1, (2, *INPUT_SHAPE[1:])).astype(np.float32)
    two_threads = load_estimator(tiny_weights, num_threads=2)
    batched = two_threads(photos)
    singles = np.concatenate([two_threads(photo[None]) for photo in photos])
    np.testing.assert_allclose(batched, singles, atol=1e-6)
    np.testing.assert_allclose(load_estimator(tiny_weights, num_threads=1)(photos), batched, atol=1e-6)


def test_foreign_model_of_the_same_shapes_is_refused(foreign_weights):
    """Issue 14.1: another project's 256 x 256 model, no model card beside it, used to run and write garbage."""
    with pytest.raises(WeightsError, match=r"segmenter.tflite: not a FaceDepth generator: its metadata holds no "
                                           r"FaceDepth identity"):
        load_estimator(foreign_weights)


def test_stamping_a_foreign_model_with_another_depth_convention_is_refused(foreign_weights, tmp_path, monkeypatch):
    from facedepth.model import identity

    real = identity.depth_convention()
    monkeypatch.setattr(identity, "depth_convention", lambda: {**real, "gain": 2.0})
    stamped = tmp_path / "other.tflite"
    stamped.write_bytes(identity.stamp(foreign_weights.read_bytes(), "someone-elses"))
    monkeypatch.setattr(identity, "depth_convention", lambda: real)
    with pytest.raises(WeightsError, match=r"someone-elses was trained for another depth convention: gain 2.0 "
                                           r"\(expected 3.0\)"):
        load_estimator(stamped)


def test_stamp_is_reproducible_and_identifies_the_model(tiny_weights, tmp_path):
    from facedepth.model import identity
    from facedepth.training.export import stamp_file

    found = identity.check_file(tiny_weights)
    assert found["model_id"] == "test-generator-ngf8" and found["depth_convention"] == identity.depth_convention()
    data = tiny_weights.read_bytes()
    assert identity.stamp(data, "test-generator-ngf8") == data  # stamping again changes nothing
    copy = tmp_path / "generator.tflite"
    copy.write_bytes(data)
    old_digest = hashlib.sha256(data).hexdigest()
    (tmp_path / "MODEL_CARD.md").write_text(f"sha256: {old_digest}\nModel id: renamed\n")
    before, after = stamp_file(copy, "renamed")
    assert before == old_digest != after == hashlib.sha256(copy.read_bytes()).hexdigest()
    assert (tmp_path / "MODEL_CARD.md").read_text() == f"sha256: {after}\nModel id: renamed\n"
    assert load_estimator(copy)(np.zeros((1, 256, 256, 3), np.float32)).shape == (1, 256, 256, 1)


def test_model_card_naming_another_model_is_refused(weights_copy):
    card = weights_copy.parent / "MODEL_CARD.md"
    card.write_text(card.read_text().replace("Model id: test-generator-ngf8", "Model id: facedepth-other"))
    with pytest.raises(WeightsError, match="identifies itself as 'test-generator-ngf8' but its model card "
                                           "describes 'facedepth-other'"):
        load_estimator(weights_copy)


def test_bundled_generator_carries_the_identity_its_card_names():
    from facedepth.model import identity
    from facedepth.model.inference import card_model_ids

    weights = resources.weights_dir() / resources.GENERATOR_FILES["best"]
    assert identity.check_file(weights)["model_id"] in card_model_ids(weights.parent / resources.MODEL_CARD_FILE)


def test_keras_weights_without_tensorflow_are_a_weights_error(tmp_path, monkeypatch):
    """Issue 14.7: a .keras file where Keras is not installed was 'unexpected ModuleNotFoundError', exit 1."""
    monkeypatch.setitem(sys.modules, "keras", None)  # import keras -> ImportError, as without the train extra
    weights = tmp_path / "generator.keras"
    weights.write_bytes(os.urandom(2000))
    with pytest.raises(WeightsError, match=r"generator.keras: .keras weights need TensorFlow.*facedepth\[train\]"):
        load_estimator(weights)
