"""Fault tests of ``facedepth predict`` in child processes: signals at random points of a batch and in the
middle of writing a set, a write failing part-way (file size limit, a full tmpfs where one can be mounted), a
read-only output folder and one that vanishes mid-run. Whatever happens: no traceback, a documented exit
status, no temporary file left, and every photo's set complete or absent (an old set untouched)."""

from __future__ import annotations

import hashlib
import os
import random
import resource
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from facedepth.app.pipeline import output_paths
from facedepth.reconstruction.export import DEPTH_FORMATS, MESH_FORMATS

GRID = ["--mesh", "grid"]


def _command(*args) -> list[str]:
    return [sys.executable, "-m", "facedepth.app.cli", "predict", *map(str, args)]


def _set(out: Path, stem: str) -> set[str]:
    return {p.name for p in output_paths(out, stem, MESH_FORMATS, DEPTH_FORMATS)}


def assert_clean(out: Path, stems: list[str]) -> dict[str, bool]:
    """No hidden or temporary file in ``out``, and each stem's set complete or absent; returns which are
    complete."""
    names = {p.name for p in out.iterdir()} if out.exists() else set()
    assert not [n for n in names if n.startswith(".") or ".tmp" in n], names
    complete = {}
    for stem in stems:
        present = _set(out, stem) & names
        assert present in (set(), _set(out, stem)), f"{stem}: partial set {sorted(present)}"
        complete[stem] = bool(present)
    assert names <= set().union(*(_set(out, s) for s in stems)), names
    return complete


def assert_error_lines(stderr: str) -> list[str]:
    assert "Traceback" not in stderr, stderr[-2000:]
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert all(line.startswith("error: ") for line in lines), stderr[-2000:]
    return lines


@pytest.fixture
def batch(tmp_path, face_photo) -> list[Path]:
    photos = []
    for i in range(4):
        photos.append(tmp_path / "in" / f"p{i}.jpg")
        photos[-1].parent.mkdir(exist_ok=True)
        shutil.copy(face_photo, photos[-1])
    return photos


@pytest.mark.parametrize(("signum", "seed"), [(signal.SIGTERM, 1), (signal.SIGINT, 2)], ids=["SIGTERM", "SIGINT"])
def test_signal_at_a_random_point_of_a_batch(tmp_path, tiny_weights, batch, signum, seed):
    out = tmp_path / "out"
    proc = subprocess.Popen(_command(*batch, "-o", out, "--weights", tiny_weights, *GRID), cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    first = proc.stdout.readline()  # the first photo is done: the signal lands somewhere in the rest
    assert " files in " in first, proc.stderr.read()
    delay = random.Random(seed).uniform(0.0, 0.8)
    try:
        proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        proc.send_signal(signum)
    _, stderr = proc.communicate(timeout=120)
    # 128 + N: stopped mid-batch and cleaned up; -N: the signal came as the finished run was exiting (after
    # main() returned), which the shell reports as 128 + N too; 0: the batch finished first.
    assert proc.returncode in (0, 128 + signum, -signum), (proc.returncode, stderr)
    lines = assert_error_lines(stderr)
    if proc.returncode == 128 + signum:
        assert lines[-1] in ("error: interrupted", f"error: terminated by {signal.Signals(signum).name}")
    complete = assert_clean(out, [p.stem for p in batch])
    assert complete["p0"]
    if proc.returncode == -signum:
        assert all(complete.values()), complete


_KILL_MID_SET = textwrap.dedent(
    """
    import os, signal, sys
    from facedepth.app import cli
    from facedepth.reconstruction import export

    real = export.save_mesh
    count = [0]
    signum = [0]

    def save_mesh_then_signal(*args, **kwargs):
        path = real(*args, **kwargs)
        count[0] += 1
        if count[0] % 4 == 2:  # half of the meshes written: the set is in the making
            os.kill(os.getpid(), signum[0])
        return path

    export.save_mesh = save_mesh_then_signal
    for name in sys.argv[1].split(","):
        signum[0] = int(getattr(signal, name))
        print(name, cli.main(sys.argv[2:]), flush=True)
    """
)
SIGNALS = ("SIGTERM", "SIGHUP", "SIGINT")


def test_signal_while_a_set_is_written_leaves_the_old_set(tmp_path, tiny_weights, face_photo):
    """Issue 14.3: SIGTERM used to leave hidden temporary files and half-written sets (SIGINT did not); with
    --overwrite the old set must survive whole. One child process takes each signal in turn (cli.main
    returns its exit status)."""
    out = tmp_path / "out"
    out.mkdir()
    old = {name: f"old {name}".encode() for name in _set(out, "sample_face")}
    for name, data in old.items():
        (out / name).write_bytes(data)
    proc = subprocess.run([sys.executable, "-c", _KILL_MID_SET, ",".join(SIGNALS), "predict", str(face_photo),
                           "-o", str(out), "--weights", str(tiny_weights), *GRID, "--overwrite"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    statuses = dict(line.split() for line in proc.stdout.splitlines())
    assert statuses == {name: str(128 + getattr(signal, name)) for name in SIGNALS}, (proc.stdout, proc.stderr)
    assert assert_error_lines(proc.stderr) == ["error: terminated by SIGTERM", "error: terminated by SIGHUP",
                                               "error: interrupted"]
    assert_clean(out, ["sample_face"])
    assert {name: (out / name).read_bytes() for name in old} == old


def _digests(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def _limit_file_size(limit: int):
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG instead
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_write_failing_part_way_keeps_the_old_set(tmp_path, tiny_weights, face_photo):
    """Issue 14.4 and 14.8: a write failing part-way through --overwrite left a mixed set, and numpy's
    "262144 requested and 259040 written" was the reason given."""
    out = tmp_path / "out"
    out.mkdir()
    for name in _set(out, "sample_face"):
        (out / name).write_bytes(f"old {name}".encode())
    before = _digests(out)
    limit = 200_000  # the depth .npy (1 MB) cannot be written; the PNGs before it can
    proc = subprocess.run(_command(face_photo, "-o", out, "--weights", tiny_weights, *GRID, "--overwrite",
                                   "--poisson-depth", "5"),
                          capture_output=True, text=True, timeout=120, preexec_fn=_limit_file_size(limit))
    assert proc.returncode == 1, proc.stderr
    (line,) = assert_error_lines(proc.stderr)
    assert line == f"error: {face_photo}: cannot write {out / 'sample_face_depth.npy'}: File too large", line
    assert_clean(out, ["sample_face"])
    assert _digests(out) == before


def test_full_disk_is_called_a_full_disk(tmpfs, tiny_weights, face_photo):
    tiny_tmpfs = tmpfs("1m")
    proc = subprocess.run(_command(face_photo, "-o", tiny_tmpfs, "--weights", tiny_weights, *GRID),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stderr
    (line,) = assert_error_lines(proc.stderr)
    assert line.startswith(f"error: {face_photo}: cannot write {tiny_tmpfs}/") and line.endswith(
        ": No space left on device"), line
    assert_clean(tiny_tmpfs, ["sample_face"])
    assert not list(tiny_tmpfs.iterdir())


def test_read_only_output_folder(tmp_path, tmpfs, tiny_weights, face_photo):
    """Exit 4 before any photo is processed. Root writes anywhere, so there the folder is a read-only tmpfs."""
    if os.geteuid() == 0:
        out, reason = tmpfs("64k", read_only=True), "Read-only file system"
    else:
        out, reason = tmp_path / "out", "Permission denied"
        out.mkdir(mode=0o555)
    try:
        proc = subprocess.run(_command(face_photo, "-o", out, "--weights", tiny_weights, *GRID),
                              capture_output=True, text=True, timeout=120)
        assert proc.returncode == 4, proc.stderr
        (line,) = assert_error_lines(proc.stderr)
        assert line == f"error: cannot write to output folder {out}: {reason}"
        assert not list(out.iterdir())
    finally:
        if os.geteuid() != 0:
            out.chmod(0o755)


def _remove_while_written(folder: Path) -> None:
    """Removes a folder the app is writing into: its temporary files can vanish (renamed or cleaned up) between
    rmtree listing and unlinking them, so it retries until the folder is gone."""
    for _ in range(100):
        shutil.rmtree(folder, ignore_errors=True)
        if not folder.exists():
            return
    raise AssertionError(f"{folder} could not be removed")


def test_output_folder_vanishing_mid_run(tmp_path, tiny_weights, batch):
    out = tmp_path / "out"
    proc = subprocess.Popen(_command(*batch, "-o", out, "--weights", tiny_weights, *GRID), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert " files in " in proc.stdout.readline()
    _remove_while_written(out)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode in (0, 1), stderr
    for line in assert_error_lines(stderr):
        assert line.startswith("error: ") and f": cannot write {out / 'p'}" in line, line
        assert line.endswith((f"output folder {out} does not exist", f"output folder {out} was removed while writing"))
    assert_clean(out, [p.stem for p in batch])
