"""The messages between the window (:mod:`facedepth.app.worker`) and its engine process
(:mod:`facedepth.app.engine`), sent over a ``multiprocessing`` pipe (so everything here pickles, and the
window unpickles it without Open3D).

Window -> engine: :class:`Preload`, :class:`Process`, :class:`Save`, :class:`Stop`.
Engine -> window: :class:`Loaded` or :class:`LoadFailed` after a Preload; per job, any number of
:class:`StageStarted`, one :class:`PhotoLoaded` (unless the job is another face of the photo on screen), one
:class:`FacesFound`, then a :class:`Done` for each face asked for, or :class:`Failed` or
:class:`JobCancelled`, and always :class:`Finished` last; per save, one of :class:`Saved`,
:class:`SaveExists` (nothing written: ask the user, then send the Save again with ``overwrite``) or
:class:`SaveFailed`. Cancelling is not a message: a shared ``multiprocessing.Event`` that the engine checks
between stages.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from facedepth.app.gui_settings import GuiSettings
from facedepth.model import resources
from facedepth.model.progress import Stage

if TYPE_CHECKING:
    from facedepth.app.display import ResultView

VIEW_SUFFIX = "_view.png"
"""``<stem>_view.png``: the 3D view as shown when saving."""
ALL_FACES = "all"
"""A job's face choice that processes every face of the photo."""


@dataclass(frozen=True)
class SaveRequest:
    """What to write for the result on screen."""

    folder: Path
    stem: str
    mesh_formats: tuple[str, ...]
    depth_formats: tuple[str, ...]
    wireframe: bool
    overwrite: bool
    view_pixels: np.ndarray | None = None
    """(H, W, 3) uint8 picture of the 3D view to write as ``<stem>_view.png``; None = no picture."""
    faces: tuple[int, ...] = (0,)
    """The processed faces to write: one face as ``stem``, several as ``<stem>_face1`` ... (numbered as in the
    photo, left to right)."""

    def view_path(self) -> Path | None:
        return self.folder / f"{self.stem}{VIEW_SUFFIX}" if self.view_pixels is not None else None


# ---------------------------------------------------------------------------------------------- requests
@dataclass(frozen=True)
class Preload:
    """Load the generator of ``quality`` and the face detector now (about 1 s), not with the first photo."""

    quality: str = resources.DEFAULT_QUALITY


@dataclass(frozen=True)
class Process:
    job: int
    path: Path
    settings: GuiSettings
    detect: bool
    face: int | str | None = None
    """None: the largest face; an index into the photo's faces left to right; ALL_FACES: every face."""


@dataclass(frozen=True)
class Save:
    request: int
    save: SaveRequest


@dataclass(frozen=True)
class Stop:
    """Exit the engine."""


# ---------------------------------------------------------------------------------------------- replies
@dataclass(frozen=True)
class Loaded:
    """The models are loaded."""


@dataclass(frozen=True)
class LoadFailed:
    error: BaseException


@dataclass(frozen=True)
class JobReply:
    """A reply about the photo job ``job`` (the base of the job's messages)."""

    job: int


@dataclass(frozen=True)
class StageStarted(JobReply):
    stage: Stage
    fraction: float


@dataclass(frozen=True)
class PhotoLoaded(JobReply):
    photo: np.ndarray
    """The downscaled photo, shown before the depth is estimated."""


@dataclass(frozen=True)
class FacesFound(JobReply):
    boxes: list[tuple[float, float, float, float]]
    """The photo's face boxes (left, top, right, bottom in photo pixels), left to right; empty without detection."""
    size: tuple[int, int]
    """The photo's (width, height) in pixels."""


@dataclass(frozen=True)
class Done(JobReply):
    view: ResultView


@dataclass(frozen=True)
class Failed(JobReply):
    error: BaseException


class JobCancelled(JobReply):
    """The job stopped at a stage boundary; nothing was produced."""


class Finished(JobReply):
    """Always the job's last message, whatever the outcome."""


@dataclass(frozen=True)
class SaveReply:
    """A reply about the save request ``request`` (the base of the save's messages)."""

    request: int


@dataclass(frozen=True)
class Saved(SaveReply):
    paths: list[Path]


@dataclass(frozen=True)
class SaveExists(SaveReply):
    paths: list[Path]
    """The targets that exist already; nothing was written."""


@dataclass(frozen=True)
class SaveFailed(SaveReply):
    error: BaseException
