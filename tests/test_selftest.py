"""``python -m facedepth.app --self-test`` (the frozen app's entry point, from source): dispatched before Kivy loads,
one line per check, exit 0 when everything passed and 1 with a FAIL line otherwise."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def self_test(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key != "FACEDEPTH_WEIGHTS"}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "facedepth.app", "--self-test", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_self_test_passes_and_reports_every_check(tiny_weights, tmp_path):
    proc = self_test("--weights", str(tiny_weights), cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    checks = [line.split(":")[0][5:] for line in lines[:-1]]
    assert checks == ["model", "face models", "sample photo", "pipeline", "save", "depth png16", "depth npy",
                      "depth color", "mesh ply", "mesh obj", "mesh stl", "mesh glb", "wire frame", "runtime imports"]
    assert all(line.startswith("ok   ") for line in lines[:-1])
    assert lines[-1].startswith("self-test passed: 14 checks")
    assert list(tmp_path.iterdir()) == []  # outputs went to a temporary folder that is gone again


def test_self_test_fails_with_one_line_per_problem(tmp_path):
    broken = tmp_path / "generator.tflite"
    broken.write_bytes(b"\0" * 64)
    proc = self_test("--weights", str(broken), cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stdout.strip().splitlines()
    assert lines[0].startswith(f"FAIL model: WeightsError: {broken}: not a valid LiteRT model")
    assert lines[-1].startswith("self-test FAILED: 1 of 3 checks failed (model)")
    assert "Traceback" not in proc.stdout + proc.stderr
