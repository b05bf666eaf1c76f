"""Evaluation errors (scale + shift fit, tilt forgiven, failures, baseline cache), their table and the model card."""

import json
import shutil

import numpy as np
import pytest

from facedepth.training.evaluate import SampleError, _cached, format_table, scale_shift_error, summarise
from facedepth.training.model_card import write_card

_ROWS, _COLS = np.mgrid[0:256, 0:256].astype(np.float64)


@pytest.fixture
def face():
    """A dome of true depth (mm) inside a disc mask."""
    mask = (_ROWS - 128) ** 2 + (_COLS - 128) ** 2 < 90**2
    depth = 40.0 - 40.0 * np.sqrt(np.clip(1 - ((_ROWS - 128) ** 2 + (_COLS - 128) ** 2) / 100**2, 0, 1))
    return depth, mask


def test_scaled_and_shifted_truth_has_no_error(face):
    depth, mask = face
    err = scale_shift_error(0.5 * depth - 7.0, depth, mask, mask)
    assert err.rmse < 1e-9 and err.mae < 1e-9 and err.rmse_tilt < 1e-9 and err.coverage == 1.0


def test_a_tilt_counts_unless_forgiven(face):
    depth, mask = face
    tilted = depth + 0.05 * _ROWS - 0.03 * _COLS  # a head pitched and turned a little
    err = scale_shift_error(tilted, depth, mask, mask)
    assert err.rmse > 1.0
    assert err.rmse_tilt < 1e-6


def test_shape_errors_stay_when_tilt_is_forgiven(face):
    depth, mask = face
    bumpy = depth + 3.0 * np.sin(_ROWS / 9.0) * np.cos(_COLS / 11.0)
    err = scale_shift_error(bumpy, depth, mask, mask)
    assert err.rmse_tilt > 0.8 * err.rmse > 1.0


def test_no_prediction_or_too_little_overlap_is_a_failure(face):
    depth, mask = face
    assert scale_shift_error(None, depth, mask, None) is None
    sliver = mask & (_COLS < 60)
    assert scale_shift_error(depth, depth, mask, sliver) is None
    half = mask & (_COLS < 128)
    assert scale_shift_error(depth, depth, mask, half).coverage == pytest.approx(0.5, abs=0.02)


def test_baseline_cache_entries_without_the_current_fields_are_recomputed():
    current = vars(SampleError(1.0, 0.8, 0.9, 0.7))
    assert _cached({"a": {"flat": current, "mean_face": None}}, "a")
    old = {k: v for k, v in current.items() if k != "rmse_tilt"}
    assert not _cached({"a": {"flat": old, "mean_face": None}}, "a")
    assert not _cached({}, "a")


def _report() -> dict:
    errs = [SampleError(2.0, 1.5, 0.9, 1.2), SampleError(4.0, 3.0, 0.8, 2.4), None]
    methods = {"generator_mirror": summarise(errs), "mean_face": summarise([None, None])}
    return {"real": {"samples": 3, "methods": methods, "per_sample": []}}


def test_summary_and_table_give_both_rmse_figures():
    s = _report()["real"]["methods"]["generator_mirror"]
    assert s["median_rmse_mm"] == 3.0 and s["median_rmse_tilt_mm"] == pytest.approx(1.8)
    assert s["failures"] == 1 and s["success_rate"] == pytest.approx(2 / 3)
    table = format_table(_report()).splitlines()
    assert "+tilt" in table[0]
    assert "3.00mm" in table[1] and "1.80mm" in table[1] and "85.0%" in table[1]
    assert table[2].split()[:3] == ["real", "mean_face", "-"]


def _write_run(tmp_path):
    """A finished run's state.json and config.json and its data set's index: (run folder, data folder)."""
    run, data = tmp_path / "run", tmp_path / "data"
    run.mkdir()
    history = [{"epoch": 1, "img_per_s": 7.0}, {"epoch": 2, "img_per_s": 8.0}]
    (run / "state.json").write_text(json.dumps({"epoch": 2, "step": 1000, "wall_seconds": 7200,
                                                "best_epoch": 2, "history": history}))
    (run / "config.json").write_text(json.dumps({
        "ngf": 32, "ndf": 32, "lambda_l1": 100.0, "learning_rate": 5e-5, "d_lr_factor": 0.25, "beta_1": 0.5,
        "steps_per_epoch": 500, "data": {"batch_size": 4, "real_fraction": 0.8}}))
    for split, kinds in (("train", ["real", "real", "synthetic"]), ("val", ["real"])):
        (data / split).mkdir(parents=True)
        (data / split / "index.jsonl").write_text("".join(json.dumps({"kind": k}) + "\n" for k in kinds))
    return run, data


@pytest.mark.parametrize("stamped", [False, True], ids=["unstamped", "stamped"])
def test_model_card_carries_sha_recipe_and_table(tmp_path, tiny_weights, stamped):
    run, data = _write_run(tmp_path)
    weights = tmp_path / "generator.tflite"
    weights.write_bytes(tiny_weights.read_bytes() if stamped else b"\0" * 1000)
    write_card(tmp_path / "MODEL_CARD.md", weights, "ab" * 32, run, data, _report(), notes="## Notes\nhello",
               precision="fp32")
    card = (tmp_path / "MODEL_CARD.md").read_text()
    assert "fp32 weights" in card and "gain 3.0" in card and "yaw up to ±65°" in card and "(10%)" in card
    assert f"sha256: {'ab' * 32}" in card
    assert ("Model id: test-generator-ngf8" in card) == stamped  # the app checks card and file agree
    assert "lr 5e-05 (discriminator x 0.25)" in card and "2 epochs x 500 steps (1000 steps, 4000" in card
    assert "| train | 2 | 1 |" in card and "| held out | 1 | 0 |" in card
    assert "| real (3) | generator_mirror | 3.00 | 3.00 | 2.25 | 1.80 | 85.0% | 66.7% |" in card
    assert "## Notes\nhello" in card and "non-commercial use only" in card
    assert "sigmoid cross-entropy GAN loss + 100 x L1" in card  # the seed's loss: no gan_weight in the config


def test_model_card_of_a_fine_tune_names_its_parent_and_only_the_data_it_trained_on(tmp_path, tiny_weights):
    run, data = _write_run(tmp_path)
    config = json.loads((run / "config.json").read_text())
    config.update(init_weights="weights/generator.tflite", init_model_id="parent-generator-1")
    config["data"].update(real_fraction=0.0, face_models=["ict"])
    (run / "config.json").write_text(json.dumps(config))
    write_card(tmp_path / "MODEL_CARD.md", tiny_weights, "ab" * 32, run, data, _report(), precision="fp32")
    card = (tmp_path / "MODEL_CARD.md").read_text()
    assert "Fine-tuned from the generator `parent-generator-1`" in card
    assert "| train | 0 | 0 |" in card  # no photo in a batch (share 0), and the data set's render is Surrey's
    assert "Fine-tuned from `parent-generator-1`: whatever that generator was trained from" in card


def test_model_card_names_a_weighted_or_absent_gan_term(tmp_path, tiny_weights):
    run, data = _write_run(tmp_path)
    config = json.loads((run / "config.json").read_text())
    for weight, words in ((0.0, "no GAN term (L1 only): 100 x L1"), (0.5, "0.5 x sigmoid cross-entropy GAN loss")):
        (run / "config.json").write_text(json.dumps({**config, "gan_weight": weight}))
        write_card(tmp_path / "MODEL_CARD.md", tiny_weights, "ab" * 32, run, data, _report(), precision="fp32")
        assert words in (tmp_path / "MODEL_CARD.md").read_text()


def test_model_card_names_the_shape_term_when_the_run_had_one(tmp_path, tiny_weights):
    run, data = _write_run(tmp_path)
    config = json.loads((run / "config.json").read_text())
    shape_term = "100 x L1 + 50 x L1 of the depth's finite differences (1-8 px); Adam"
    for weight, words in ((0.0, "100 x L1; Adam"), (0.5, shape_term)):
        (run / "config.json").write_text(json.dumps({**config, "gradient_weight": weight}))
        write_card(tmp_path / "MODEL_CARD.md", tiny_weights, "ab" * 32, run, data, _report(), precision="fp32")
        assert words in (tmp_path / "MODEL_CARD.md").read_text()


def test_card_command_writes_a_card_the_weights_loader_accepts(tmp_path, tiny_weights):
    from facedepth.model.inference import load_estimator
    from facedepth.training import cli

    run, data = _write_run(tmp_path)
    weights = tmp_path / "weights" / "generator.tflite"
    weights.parent.mkdir()
    shutil.copy(tiny_weights, weights)
    report = tmp_path / "eval.json"
    report.write_text(json.dumps(_report()))
    assert cli.main(["card", "--weights", str(weights), "--run-dir", str(run), "--data", str(data),
                     "--eval", str(report)]) == 0
    card = (weights.parent / "MODEL_CARD.md").read_text()
    assert "fp32 weights" in card  # the test generator is exported without fp16
    load_estimator(weights)  # the card's sha256 is the file's: the integrity check passes
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(Exception, match="does not match its model card"):
        load_estimator(weights)


def test_one_card_describes_both_generators_and_the_loader_checks_each(tmp_path, tiny_weights):
    """Issue 16: the fast (distilled) generator's part is added to the card beside the best one's; each file
    must match its own sha256 and model id among the card's."""
    from facedepth.model import identity
    from facedepth.model.inference import WeightsError, file_sha256, load_estimator

    run, data = _write_run(tmp_path)
    labelled = tmp_path / "labelled"
    for split in ("train", "val"):
        (labelled / split).mkdir(parents=True)
        (labelled / split / "index.jsonl").write_text(
            json.dumps({"kind": "real", "teacher": "test-generator-ngf8"}) + "\n")
    folder = tmp_path / "weights"
    folder.mkdir()
    best, fast = folder / "generator.tflite", folder / "generator_fast.tflite"
    shutil.copy(tiny_weights, best)
    fast.write_bytes(identity.stamp(tiny_weights.read_bytes(), "test-student-ngf8"))
    card = folder / "MODEL_CARD.md"
    write_card(card, best, file_sha256(best), run, data, _report(), precision="fp32")
    for _ in range(2):  # adding the same file's part again replaces it
        write_card(card, fast, file_sha256(fast), run, labelled, _report(), precision="fp32", add_to=True)
    text = card.read_text()
    assert text.count("# FaceDepth ") == 2 and "# FaceDepth fast generator (distilled) — model card" in text
    assert "Model id: test-generator-ngf8" in text and "Model id: test-student-ngf8" in text
    assert "Distilled from `test-generator-ngf8`" in text and "teacher-labels" in text
    load_estimator(best), load_estimator(fast)
    fast.write_bytes(identity.stamp(tiny_weights.read_bytes(), "test-other-ngf8"))
    with pytest.raises(WeightsError, match="does not match its model card"):
        load_estimator(fast)
