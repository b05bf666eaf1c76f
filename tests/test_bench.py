import json
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

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
    for row in record["stages"]:  # the summary figures are those of the runs listed
        seconds = row["seconds"]
        assert len(seconds) == 2
        assert (row["min_s"], row["max_s"]) == (min(seconds), max(seconds))
        assert row["median_s"] == pytest.approx(statistics.median(seconds))
