"""The real-depth evaluator on synthetic cases with known answers (the protocol of the real-depth set)."""

import json

import numpy as np
import pytest
from PIL import Image

from facedepth.training.evaluate_real_depth import (
    BLOCK,
    COLUMN_BANDS,
    RealSample,
    evaluate_methods,
    format_table,
    load_real_depth_set,
    pose_angles,
    pose_labels,
    reduce_to_grid,
    score,
    without_band,
)

H, W = 40, 32


def _face(turn_mm_per_px: float = 0.0, tilt_mm_per_px: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """A bumpy 'face' at ~800 mm: a dome plus ripples, optionally on a tilted plane; an elliptic mask."""
    rows, cols = np.mgrid[:H, :W].astype(np.float64)
    r2 = ((rows - H / 2) / (H / 2.4)) ** 2 + ((cols - W / 2) / (W / 2.4)) ** 2
    depth = 800 + 30 * r2 + 3 * np.sin(cols / 2) * np.cos(rows / 3) + turn_mm_per_px * cols + tilt_mm_per_px * rows
    return depth.astype(np.float32), r2 < 1


def _upsampled(grid: np.ndarray) -> np.ndarray:
    return np.kron(grid, np.ones((BLOCK, BLOCK))).astype(np.float32)


def test_oracle_scores_zero_with_full_coverage():
    gt, mask = _face()
    s = score(_upsampled(gt), gt, mask)
    assert s.rmse == pytest.approx(0, abs=1e-6) and s.rmse_tilt == pytest.approx(0, abs=1e-6)
    assert not s.failed and s.coverage == 1.0


@pytest.mark.parametrize("scale, shift", [(0.01, 3.0), (7.0, -5000.0), (1.0, 123.0)])
def test_scale_and_shift_are_forgiven(scale, shift):
    gt, mask = _face()
    s = score(_upsampled(gt * scale + shift), gt, mask)
    assert s.rmse == pytest.approx(0, abs=1e-3) and not s.failed


def test_a_tilt_costs_rmse_but_is_forgiven_by_the_tilt_fit():
    gt, mask = _face()
    tilted, _ = _face(turn_mm_per_px=2.0, tilt_mm_per_px=-1.5)
    s = score(_upsampled(tilted), gt, mask)
    assert s.rmse > 5 and s.rmse_tilt == pytest.approx(0, abs=1e-3) and not s.failed


def test_turn_and_pitch_are_each_forgiven_only_by_their_own_fit():
    gt, mask = _face()
    turned, _ = _face(turn_mm_per_px=2.0)
    pitched, _ = _face(tilt_mm_per_px=-1.5)
    by_turn, by_pitch = score(_upsampled(turned), gt, mask), score(_upsampled(pitched), gt, mask)
    assert by_turn.rmse_turn == pytest.approx(0, abs=1e-3) and by_turn.rmse_pitch > 5
    assert by_pitch.rmse_pitch == pytest.approx(0, abs=1e-3) and by_pitch.rmse_turn > 5
    assert by_turn.rmse_tilt == pytest.approx(0, abs=1e-3) and by_pitch.rmse_tilt == pytest.approx(0, abs=1e-3)


def test_column_residuals_locate_a_band_the_prediction_gets_wrong():
    gt, mask = _face()
    pred = gt.copy()
    cols = np.nonzero(mask)[1]
    first_band = (np.arange(W) - cols.min()) * COLUMN_BANDS // (np.ptp(cols) + 1) <= 0
    pred[:, first_band] -= 20.0  # the mask's leftmost band predicted 20 mm too near
    profile = score(_upsampled(pred), gt, mask).column_residual_mm
    assert len(profile) == COLUMN_BANDS and profile[0] > 10 and max(abs(v) for v in profile[1:]) < profile[0] / 2
    assert score(_upsampled(gt), gt, mask).column_residual_mm == pytest.approx([0] * COLUMN_BANDS, abs=1e-6)
    assert score(None, gt, mask).column_residual_mm == ()


def test_inverted_depth_fails_and_scores_the_best_constant():
    gt, mask = _face()
    s = score(_upsampled(-gt), gt, mask)
    assert s.failed and s.rmse == pytest.approx(float(np.std(gt[mask].astype(np.float64))), rel=1e-6)


@pytest.mark.parametrize("prediction", [None, "all-nan", "too-few"])
def test_no_output_or_too_few_pixels_fails_with_the_flat_score(prediction):
    gt, mask = _face()
    if prediction is None:
        pred = None
    else:
        pred = np.full((H * BLOCK, W * BLOCK), np.nan, np.float32)
        if prediction == "too-few":
            pred[60:63, 45:60] = 1.0  # 5 sensor pixels
    s = score(pred, gt, mask)
    flat = score(np.zeros((H * BLOCK, W * BLOCK), np.float32), gt, mask)
    assert s.failed and s.coverage == 0 and not flat.failed
    assert s.rmse == pytest.approx(flat.rmse) and s.rmse_tilt == pytest.approx(flat.rmse_tilt)
    assert s.rmse_turn == pytest.approx(flat.rmse_turn) and s.rmse_pitch == pytest.approx(flat.rmse_pitch)


def test_constant_prediction_is_not_a_failure_and_scores_the_best_constant_and_plane():
    gt, mask = _face(turn_mm_per_px=1.0)
    s = score(np.full((H * BLOCK, W * BLOCK), 5.0, np.float32), gt, mask)
    values = gt[mask].astype(np.float64)
    rows, cols = np.nonzero(mask)
    design = np.c_[np.ones(len(rows)), cols, rows]
    plane_rmse = np.sqrt(np.mean((values - design @ np.linalg.lstsq(design, values, rcond=None)[0]) ** 2))
    assert not s.failed and s.rmse == pytest.approx(values.std()) and s.rmse_tilt == pytest.approx(plane_rmse)
    turn_only = design[:, :2]  # the measured depth turns along the columns only: that plane alone fits it as well
    turn_rmse = np.sqrt(np.mean((values - turn_only @ np.linalg.lstsq(turn_only, values, rcond=None)[0]) ** 2))
    assert s.rmse_turn == pytest.approx(turn_rmse) and s.rmse_pitch > s.rmse_turn


def test_coverage_counts_the_mask_pixels_the_prediction_covers():
    gt, mask = _face()
    pred = _upsampled(gt)
    pred[: H * BLOCK // 2] = np.nan  # top half missing
    s = score(pred, gt, mask)
    assert s.coverage == pytest.approx(mask[H // 2:].sum() / mask.sum()) and s.rmse == pytest.approx(0, abs=1e-6)


def test_reduce_to_grid_needs_five_finite_of_nine():
    pred = np.arange(36, dtype=np.float64).reshape(6, 6)
    pred[0, :2] = np.nan  # block (0, 0): 7 finite
    pred[3:, 3:] = np.nan
    pred[3, 3] = 1.0  # block (1, 1): 1 finite
    grid = reduce_to_grid(pred, (2, 2))
    assert grid[0, 0] == pytest.approx(np.nanmean(pred[:3, :3])) and np.isnan(grid[1, 1])
    assert grid[0, 1] == pytest.approx(pred[:3, 3:].mean())
    with pytest.raises(ValueError, match="expected the photo's"):
        reduce_to_grid(pred, (3, 3))


def test_pose_angles_follow_the_plane_of_the_face():
    flat_gt, mask = _face()
    nose_right, _ = _face(turn_mm_per_px=-2.0)  # the image-left half recedes: the nose points right
    looks_up, _ = _face(tilt_mm_per_px=-2.0)  # the chin comes nearer
    assert abs(pose_angles(flat_gt, mask)[0]) < 1
    assert pose_angles(nose_right, mask)[0] > 20 and pose_angles(looks_up, mask)[1] > 20


def test_pose_labels_are_relative_to_the_sets_median_pose():
    def sample(turn: float, tilt: float) -> RealSample:
        gt, mask = _face(turn_mm_per_px=turn, tilt_mm_per_px=tilt)
        return RealSample("s", "p", None, gt, mask)

    offset = 0.3  # every capture a little off-axis
    samples = [sample(offset, 0)] * 5 + [sample(offset - 2, 0), sample(offset + 2, 0), sample(offset, -2),
                                         sample(offset, 2)]
    assert pose_labels(samples) == ["front"] * 5 + ["right", "left", "up", "down"]


def _write_set(root, n=2):
    (root / "images").mkdir(parents=True)
    (root / "depth").mkdir()
    (root / "mask").mkdir()
    entries = []
    for i in range(n):
        gt, mask = _face(turn_mm_per_px=0.2 * i)
        stem = f"s{i}"
        Image.fromarray(np.zeros((H * BLOCK, W * BLOCK, 3), np.uint8)).save(root / "images" / f"{stem}.png")
        np.save(root / "depth" / f"{stem}.npy", gt)
        Image.fromarray((mask * 255).astype(np.uint8)).save(root / "mask" / f"{stem}.png")
        entries.append({"stem": stem, "subject": f"p{i}"})
    (root / "index.json").write_text(json.dumps({"samples": entries}))


def test_evaluate_methods_reports_rows_summaries_and_a_table(tmp_path):
    _write_set(tmp_path)
    samples = load_real_depth_set(tmp_path)
    methods = {"oracle": lambda s: _upsampled(s.depth_mm), "nothing": lambda s: None}
    report = evaluate_methods(samples, methods)
    assert [row["stem"] for row in report["per_sample"]] == ["s0", "s1"]
    assert report["methods"]["oracle"]["median_rmse_mm"] == pytest.approx(0, abs=1e-6)
    assert report["methods"]["nothing"]["failures"] == 2
    assert report["methods"]["nothing"]["mean_coverage"] == 0
    table = format_table(report)
    assert "oracle" in table and "nothing" in table and "front (2)" in table
    assert "only the turn" in table and report["methods"]["oracle"]["median_rmse_turn_mm"] == pytest.approx(0, abs=1e-6)
    assert report["methods"]["oracle"]["mean_column_residual_mm"] == pytest.approx([0] * COLUMN_BANDS, abs=1e-6)
    assert report["methods"]["nothing"]["mean_column_residual_mm"] == [None] * COLUMN_BANDS
    assert "NaN" not in json.dumps(report)  # every figure is valid JSON


def test_leaving_out_a_band_scores_only_the_rest_and_keeps_the_pose_groups(tmp_path):
    _write_set(tmp_path)
    samples = load_real_depth_set(tmp_path)

    def wrong_on_the_left(sample):
        pred = _upsampled(sample.depth_mm)
        band = without_band(sample.mask, "left") != sample.mask  # the mask's leftmost band
        pred[np.kron(band, np.ones((BLOCK, BLOCK), bool))] += 25.0
        return pred

    whole = evaluate_methods(samples, {"m": wrong_on_the_left})
    left_out = evaluate_methods(samples, {"m": wrong_on_the_left}, leave_out_band="left")
    assert whole["methods"]["m"]["median_rmse_mm"] > 1 and left_out["methods"]["m"]["median_rmse_mm"] < 1e-6
    assert [r["pose"] for r in whole["per_sample"]] == [r["pose"] for r in left_out["per_sample"]]
    assert left_out["leave_out_band"] == "left" and "leftmost band left out" in format_table(left_out)
    mask = samples[0].mask
    right = without_band(mask, "right")
    assert right.sum() < mask.sum() and np.array_equal(right[:, : W // 2], mask[:, : W // 2])


def test_loading_a_folder_that_is_not_a_set_says_so(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a real-depth set"):
        load_real_depth_set(tmp_path)


def test_cli_scores_saved_teacher_maps_and_a_fusion(tmp_path, capsys):
    from facedepth.training.cli import main

    _write_set(tmp_path / "set")
    teacher = tmp_path / "teacher"
    teacher.mkdir()
    for sample in load_real_depth_set(tmp_path / "set"):
        np.save(teacher / f"{sample.stem}.npy", _upsampled(sample.depth_mm * 2 + 10))
    report_path = tmp_path / "report.json"
    code = main(["evaluate", "--real-depth", str(tmp_path / "set"), "--baselines-only", "--baselines", "flat",
                 "--teacher", f"oracle={teacher}", "--fuse", "oracle+flat", "--json", str(report_path)])
    assert code == 0
    report = json.loads(report_path.read_text())
    assert report["methods"]["oracle"]["median_rmse_mm"] == pytest.approx(0, abs=1e-4)
    assert report["methods"]["flat"]["median_rmse_mm"] > 1
    assert set(report["methods"]) == {"flat", "oracle", "oracle+flat"}
    assert "oracle" in capsys.readouterr().out


def test_cli_refuses_a_fusion_of_unknown_methods(tmp_path, capsys):
    from facedepth.training.cli import main

    _write_set(tmp_path / "set")
    assert main(["evaluate", "--real-depth", str(tmp_path / "set"), "--baselines-only", "--baselines", "flat",
                 "--fuse", "flat+nope"]) == 2
    assert "expected A+B" in capsys.readouterr().err


def test_align_and_average_undoes_scale_shift_and_tilt_of_the_second():
    from facedepth.training.real_depth_methods import align_and_average

    gt, _ = _face()
    rows, cols = np.mgrid[:H, :W]
    other = (gt - 5 + 0.1 * cols - 0.2 * rows) / 3
    other[:5] = np.nan
    fused = align_and_average(gt, other.astype(np.float32))
    assert np.allclose(fused, gt, atol=1e-2)


def test_reposed_takes_the_shape_of_one_and_the_pose_of_the_other():
    from facedepth.training.real_depth_methods import reposed

    tilted, mask = _face(turn_mm_per_px=1.5, tilt_mm_per_px=-0.8)  # the pose method: the right tilt ...
    shape, _ = _face()
    bumped = tilted + 8 * mask * np.exp(-((np.mgrid[:H, :W][0] - 12.0) ** 2) / 8)  # ... with a wrong bump
    sample = RealSample("s", "p", None, tilted, mask)
    out = reposed(lambda s: _upsampled((shape + 40) / 2), lambda s: _upsampled(bumped))(sample)
    assert score(out, tilted, mask).rmse < 0.6 < score(_upsampled(bumped), tilted, mask).rmse  # pose, not bump
    assert reposed(lambda s: shape, lambda s: None)(sample) is not None  # nothing to pose by: the shape as is
    assert reposed(lambda s: None, lambda s: tilted)(sample) is None


def test_cli_scores_a_reposing_and_refuses_unknown_parts(tmp_path, capsys):
    from facedepth.training.cli import main

    _write_set(tmp_path / "set")
    args = ["evaluate", "--real-depth", str(tmp_path / "set"), "--baselines-only", "--baselines", "flat"]
    report_path = tmp_path / "report.json"
    assert main([*args, "--repose", "flat@flat", "--json", str(report_path)]) == 0
    assert set(json.loads(report_path.read_text())["methods"]) == {"flat", "flat@flat"}
    assert main([*args, "--repose", "flat@nope"]) == 2
    assert "expected SHAPE@POSE" in capsys.readouterr().err


def test_model_card_carries_the_real_depth_table(tmp_path):
    from facedepth.training.model_card import _real_depth_section

    _write_set(tmp_path)
    report = evaluate_methods(load_real_depth_set(tmp_path), {"oracle": lambda s: _upsampled(s.depth_mm)})
    section = _real_depth_section(report)
    assert "## Real-depth evaluation" in section and "2 samples" in section
    assert "| oracle | 0.00 | 0.00 | 0.00 | 0.00 | 0 | 100.0% |" in section
    assert _real_depth_section(None) == ""


def test_cli_reports_the_generator_gap_to_each_other_method(tmp_path, capsys, tiny_weights):
    """With the generator and another method, the report carries the generator's median gap per pose with its
    interval over people (training/median_gap.py); a method alone gets none."""
    from facedepth.training.cli import main

    _write_set(tmp_path / "set")
    report_path = tmp_path / "report.json"
    assert main(["evaluate", "--real-depth", str(tmp_path / "set"), "--weights", str(tiny_weights), "--baselines",
                 "flat", "--json", str(report_path)]) == 0
    gaps = json.loads(report_path.read_text())["median_gaps"]
    assert set(gaps) == {"flat"} and gaps["flat"]["samples"] == 2 and "front" in gaps["flat"]["poses"]
    assert gaps["flat"]["low_mm"] <= gaps["flat"]["gap_mm"] <= gaps["flat"]["high_mm"]
    assert "generator minus each method" in capsys.readouterr().out
    assert main(["evaluate", "--real-depth", str(tmp_path / "set"), "--baselines-only", "--baselines", "flat",
                 "--json", str(report_path)]) == 0
    assert "median_gaps" not in json.loads(report_path.read_text())
