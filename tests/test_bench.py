import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def test_latency_benchmark_reports_every_stage(tmp_path, tiny_weights):
    report = tmp_path / "latency.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "latency.py"), "--runs", "2", "--poisson-depths", "5",
                           "--weights", str(tiny_weights), "--json", str(report), "--detect-sizes", "0.3",
                           "--generator-options"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert f"weights: {tiny_weights}" in proc.stdout and "poisson d5" in proc.stdout
    record = json.loads(report.read_text())
    assert record["weights"] == str(tiny_weights) and record["runs"] == 2
    stages = {(row["configuration"], row["stage"]) for row in record["stages"]}
    for stage in ("load photo", "detect", "generator", "export depth png16", "export depth npy"):
        assert ("depth", stage) in stages
    for stage in ("point cloud", "normals", "poisson surface", "trimming", "wireframe", "export ply", "export obj",
                  "export stl", "export glb", "export wireframe"):
        assert ("poisson d5", stage) in stages
    assert ("grid", "grid mesh") in stages
    assert ("detect", "0.3 Mpx") in stages and "detect at 0.3 Mpx" in proc.stdout
    assert {"2 x batch 1, 1 thr", "batch 2, 1 thr"} <= {stage for config, stage in stages if config == "generator"}
    assert "photo -> depth (best)" in proc.stdout and "photo -> depth (fast)" in proc.stdout
    for row in record["stages"]:  # the summary figures are those of the runs listed
        seconds = row["seconds"]
        assert len(seconds) == 2
        assert (row["min_s"], row["max_s"]) == (min(seconds), max(seconds))
        assert row["median_s"] == pytest.approx(statistics.median(seconds))


def test_speed_options_benchmark_scores_every_option_against_the_full_cost_one(tmp_path, tiny_weights, face_photo):
    """Issue 16: each generator in one pass and mirror-averaged, timed and scored on held-out and real-depth data."""
    from real_depth_set import set_with_the_sample_face

    from facedepth.model import spec
    from facedepth.training import storage

    val = tmp_path / "data" / "val"
    val.mkdir(parents=True)
    photo = np.asarray(Image.open(face_photo).convert("RGB").resize((spec.IMAGE_SIZE, spec.IMAGE_SIZE)))
    rows, cols = np.mgrid[:spec.IMAGE_SIZE, :spec.IMAGE_SIZE] / spec.IMAGE_SIZE - 0.5
    bowl = np.where(rows**2 + cols**2 < 0.1, spec.NEAR_CODE + 2 * (rows**2 + cols**2), spec.BACKGROUND_CODE)
    for name, kind in (("s0", "synthetic"), ("r0", "real")):
        storage.write_sample(val, name, photo, bowl.astype(np.float32))
        storage.append_index(val, [{"name": name, "kind": kind, "crop_side_mm": 227.0}])
    (val / "baseline_errors.json").write_text(json.dumps({"s0": {"flat": None}, "r0": {"flat": None}}))
    set_with_the_sample_face(tmp_path / "real", face_photo)
    report = tmp_path / "options.json"
    proc = subprocess.run([sys.executable, str(ROOT / "bench" / "speed_options.py"), "--data", str(tmp_path / "data"),
                           "--real-depth", str(tmp_path / "real"), "--best", str(tiny_weights), "--fast",
                           str(tiny_weights), "--runs", "1", "--limit", "1", "--json", str(report)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(report.read_text())
    assert set(figures) == {f"{file} generator, {passes}" for file in ("best", "fast")
                            for passes in ("one pass", "mirror-averaged")}
    for f in figures.values():
        assert f["photo_to_depth_ms"] > 0 and f["real_failures"] in (0, 1)
        assert {"heldout_synthetic_mm", "heldout_real_mm", "real_mm", "real_tilt_mm"} <= set(f)
    full_cost = next(line for line in proc.stdout.splitlines() if line.startswith("| best generator, mirror"))
    assert full_cost.endswith("| +0.0% |")  # the reference itself
    same_file = figures["best generator, one pass"], figures["fast generator, one pass"]
    assert same_file[0]["heldout_real_mm"] == same_file[1]["heldout_real_mm"]  # one file under two names
