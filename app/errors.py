"""What the window says when something fails: a title and a message for each kind of error, never a
traceback. No Kivy here, so the wording is tested without a window."""

from __future__ import annotations

from pathlib import Path

from facedepth.model.files import probe_writable
from facedepth.model.imageio import ImageLoadError
from facedepth.model.inference import WeightsError
from facedepth.model.service import NoFaceError


class EngineStopped(RuntimeError):
    """The processing process ended unexpectedly (crashed or was killed)."""


def error_dialog_text(exc: BaseException, name: str) -> tuple[str, str]:
    """(title, message) for a processing error of the photo ``name``."""
    if isinstance(exc, ImageLoadError):
        return "Cannot open this file", f"{name}: {exc}"
    if isinstance(exc, NoFaceError):
        return "No face found", (f"No face was found in {name}.\n\nYou can process the whole image instead, "
                                 "as if it were a tight crop of a face.")
    if isinstance(exc, WeightsError):
        return "Depth model unavailable", (f"{exc}\n\nPoint the FACEDEPTH_WEIGHTS environment variable at a "
                                           "generator .tflite file, or reinstall FaceDepth.")
    if isinstance(exc, ValueError):
        return "Could not build the face", f"{name}: {exc}"
    if isinstance(exc, EngineStopped):
        return "Processing stopped", f"{name}: {exc}"
    return "Unexpected error", f"{name}: {type(exc).__name__}: {exc}"


def preload_error_text(exc: BaseException) -> tuple[str, str]:
    """(title, message) when the model or the face detector cannot be loaded at start."""
    if isinstance(exc, WeightsError):
        title, message = error_dialog_text(exc, "")
        return title, message + "\n\nYou can still browse photos; processing needs the model."
    return "Face detector unavailable", f"{type(exc).__name__}: {exc}"


def folder_problem(folder: Path) -> str | None:
    """Why files cannot be written into ``folder`` (None when a probe file can be created and removed)."""
    if not folder.exists():
        return f"The folder {folder} does not exist."
    if not folder.is_dir():
        return f"{folder} is not a folder."
    try:
        probe_writable(folder)
    except OSError as exc:
        return f"Cannot write to the folder {folder}: {exc.strerror or exc}."
    return None


def save_error_text(exc: BaseException, folder: Path) -> str:
    """The message when writing the files failed part-way."""
    if isinstance(exc, OSError) and exc.strerror:
        target = exc.filename2 or exc.filename or folder  # os.replace(temp, target) names the target second
        return f"Cannot write {target}: {exc.strerror}. Files that were there before are unchanged."
    if isinstance(exc, ValueError | OSError):  # a name too long for the folder, a file Open3D could not write
        return f"{exc}"
    return f"{type(exc).__name__}: {exc}"


def stem_problem(stem: str) -> str | None:
    """Why ``stem`` cannot name the saved files (None when it can)."""
    if not stem or Path(stem).name != stem or stem in (".", ".."):
        return f"'{stem}' is not a usable file name."
    return None
