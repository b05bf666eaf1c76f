"""The window's wording of errors (no window needed): a title and one clear message per kind of failure."""

from __future__ import annotations

import errno

import pytest

from facedepth.app.errors import (
    EngineStopped,
    error_dialog_text,
    folder_problem,
    preload_error_text,
    save_error_text,
    stem_problem,
)
from facedepth.model.imageio import ImageLoadError
from facedepth.model.inference import WeightsError
from facedepth.model.service import NoFaceError


@pytest.mark.parametrize("exc, title", [
    (ImageLoadError("not an image file"), "Cannot open this file"),
    (NoFaceError("no face"), "No face found"),
    (WeightsError("weights file not found"), "Depth model unavailable"),
    (ValueError("too few face points"), "Could not build the face"),
    (EngineStopped("stopped unexpectedly"), "Processing stopped"),
    (KeyError("x"), "Unexpected error"),
])
def test_each_processing_error_has_its_title_and_names_the_photo(exc, title):
    got_title, message = error_dialog_text(exc, "me.jpg")
    assert got_title == title
    assert ("me.jpg" in message) != isinstance(exc, WeightsError)  # a weights problem is not the photo's
    assert "Traceback" not in message


def test_preload_errors_say_what_still_works():
    title, message = preload_error_text(WeightsError("weights file not found"))
    assert title == "Depth model unavailable" and "FACEDEPTH_WEIGHTS" in message and "still browse" in message
    assert preload_error_text(RuntimeError("no dlib"))[0] == "Face detector unavailable"


def test_folder_and_name_problems(tmp_path):
    assert folder_problem(tmp_path) is None
    assert "does not exist" in folder_problem(tmp_path / "missing")
    (tmp_path / "file").write_text("x")
    assert "is not a folder" in folder_problem(tmp_path / "file")
    assert list(p.name for p in tmp_path.iterdir()) == ["file"]  # the probe left nothing
    assert stem_problem("face") is None
    for bad in ("", ".", "..", "a/b"):
        assert "not a usable file name" in stem_problem(bad)


def test_save_errors_name_the_file_that_could_not_be_written(tmp_path):
    full = OSError(errno.ENOSPC, "No space left on device", str(tmp_path / ".face.tmp.ply"), None,
                   str(tmp_path / "face.ply"))
    assert save_error_text(full, tmp_path) == (f"Cannot write {tmp_path / 'face.ply'}: No space left on device. "
                                                "Files that were there before are unchanged.")
    assert save_error_text(RuntimeError("boom"), tmp_path) == "RuntimeError: boom"
