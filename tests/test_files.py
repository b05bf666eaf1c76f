"""The shared helpers every writer and command uses: atomic writes, the writability probe, one-line error
text and the logging set-up."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest

from facedepth.model.files import (
    OutputExistsError,
    atomic_write,
    atomic_write_bytes,
    probe_writable,
    staged,
    temp_path,
)
from facedepth.model.reporting import configure_logging, one_line, verbosity_level


def test_a_failing_writer_leaves_neither_temp_file_nor_damage(tmp_path):
    target = tmp_path / "out.ply"
    target.write_bytes(b"old")

    def broken(temp: Path) -> None:
        temp.write_bytes(b"half a file")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        atomic_write(target, broken, overwrite=True)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.ply"]


def test_a_writer_that_writes_nothing_is_an_error(tmp_path):
    with pytest.raises(OSError, match="could not write"):
        atomic_write(tmp_path / "out.png", lambda temp: None)
    assert list(tmp_path.iterdir()) == []


def test_a_missing_folder_is_named_before_writing(tmp_path):
    with pytest.raises(FileNotFoundError) as caught:
        atomic_write(tmp_path / "gone" / "a.npy", lambda temp: temp.write_bytes(b"x"))
    assert (caught.value.filename, caught.value.strerror) == (str(tmp_path / "gone" / "a.npy"),
                                                              f"output folder {tmp_path / 'gone'} does not exist")


def _remove(folder: Path, make_again: bool) -> None:
    if make_again:  # moved away, so the new folder cannot reuse the old one's inode
        folder.rename(folder.with_name("old"))
        folder.mkdir()
    else:
        shutil.rmtree(folder)


@pytest.mark.parametrize("make_again", [False, True], ids=["removed", "removed-and-made-again"])
@pytest.mark.parametrize("when", ["in-writer", "before-rename"])
def test_a_folder_removed_while_writing_gives_one_message(tmp_path, when, make_again):
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "a.ply"

    def writer(temp: Path) -> None:
        temp.write_bytes(b"ply")
        if when == "in-writer":
            _remove(folder, make_again)

    with pytest.raises(FileNotFoundError) as caught, staged():
        atomic_write(target, writer)
        if when == "before-rename":
            _remove(folder, make_again)
    assert (caught.value.filename, caught.value.strerror) == (str(target),
                                                              f"output folder {folder} was removed while writing")
    assert not folder.exists() or list(folder.iterdir()) == []


def test_existing_targets_are_kept_unless_overwrite(tmp_path):
    target = tmp_path / "a.bin"
    target.write_bytes(b"precious")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        atomic_write(target, lambda temp: temp.write_bytes(b"new"))
    assert target.read_bytes() == b"precious"
    assert atomic_write(target, lambda temp: temp.write_bytes(b"new"), overwrite=True) == target
    assert target.read_bytes() == b"new"


def test_temp_names_are_hidden_unique_and_keep_the_suffix(tmp_path):
    first, second = temp_path(tmp_path / "face.glb"), temp_path(tmp_path / "face.glb")
    assert first != second and first.parent == tmp_path
    assert first.name.startswith(".facedepth-") and first.suffix == ".glb"
    long_name = tmp_path / ("f" * 236 + "_depth_color.png")  # 252 bytes: legal
    assert len(temp_path(long_name).name) < 30  # issue 14.5: the temporary name fits wherever the final one does


def test_atomic_write_bytes_creates_folders_and_replaces(tmp_path):
    target = tmp_path / "a" / "b" / "data.json"
    atomic_write_bytes(target, b"1")
    atomic_write_bytes(target, b"2")
    assert target.read_bytes() == b"2"
    assert [p.name for p in target.parent.iterdir()] == ["data.json"]


def test_probe_leaves_nothing_and_fails_on_a_missing_folder(tmp_path):
    probe_writable(tmp_path)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(OSError):
        probe_writable(tmp_path / "missing")


@pytest.mark.parametrize("exc, text", [
    (ValueError("first\n\n  second  \nthird"), "first second third"),
    (RuntimeError(""), "RuntimeError"),
    (OSError(2, "No such file or directory"), "[Errno 2] No such file or directory"),
])
def test_one_line_joins_the_lines_of_the_message(exc, text):
    assert one_line(exc) == text


def test_verbosity_levels():
    assert [verbosity_level(v) for v in (0, 1, 2, 3)] == [logging.WARNING, logging.INFO, logging.DEBUG, logging.DEBUG]


def test_configure_logging_adds_one_handler_and_sets_the_level(monkeypatch):
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(root, "level", root.level)
    configure_logging(logging.INFO)
    configure_logging(logging.DEBUG, timestamps=True)
    assert len(root.handlers) == 1 and root.level == logging.DEBUG
    record = logging.LogRecord("facedepth.x", logging.INFO, __file__, 1, "hello", None, None)
    assert root.handlers[0].format(record) == "INFO: facedepth.x: hello"
