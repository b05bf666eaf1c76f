"""The built wheel installs one top-level package, ``facedepth``, holding the four code folders."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_holds_only_the_facedepth_package(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           "-w", str(tmp_path), str(ROOT)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    (wheel,) = tmp_path.glob("facedepth-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    dist_info = {name for name in top_level if name.endswith(".dist-info")}
    assert top_level - dist_info == {"facedepth"}
    assert len(dist_info) == 1
    for package in ("app", "model", "reconstruction", "training"):
        assert f"facedepth/{package}/__init__.py" in names
    assert "facedepth/app/facedepth.kv" in names
    (record,) = dist_info
    assert zipfile.ZipFile(wheel).read(f"{record}/top_level.txt").decode().split() == ["facedepth"]
