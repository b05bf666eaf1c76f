"""The stages of processing one photo, and the one helper that reports them and checks for cancellation.

Every long step (the depth service, the reconstruction, the pipeline around them and the window's engine)
calls a :class:`Progress` with the :class:`Stage` it is about to start; the Progress raises
:class:`Cancelled` when its ``cancelled()`` has turned True and otherwise reports the stage. So a job stops
only between stages, and nothing half-made escapes. Standard library only: the window's process imports it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum


class Stage(str, Enum):
    """A stage's name (its value: what logs, timings and progress callbacks carry), with the window's label
    and the share of a typical Poisson run done when it starts (the progress bar)."""

    LOADING = "loading"
    DETECTING_FACE = "detecting face"
    ESTIMATING_DEPTH = "estimating depth"
    POINT_CLOUD = "point cloud"
    NORMALS = "normals"
    POISSON_SURFACE = "poisson surface"
    GRID_MESH = "grid mesh"
    TRIMMING = "trimming"
    WIREFRAME = "wireframe"
    PREPARING_VIEW = "preparing view"
    DONE = "done"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)

    @property
    def label(self) -> str:
        return _LABELS[self]

    @property
    def fraction(self) -> float:
        return _FRACTIONS[self]


_LABELS = {Stage.LOADING: "Loading", Stage.DETECTING_FACE: "Detecting face", Stage.ESTIMATING_DEPTH: "Estimating depth",
           Stage.POINT_CLOUD: "Building point cloud", Stage.NORMALS: "Estimating normals",
           Stage.POISSON_SURFACE: "Poisson surface", Stage.GRID_MESH: "Grid mesh", Stage.TRIMMING: "Trimming",
           Stage.WIREFRAME: "Wire frame", Stage.PREPARING_VIEW: "Preparing 3D view", Stage.DONE: "Done"}
_FRACTIONS = {Stage.LOADING: 0.0, Stage.DETECTING_FACE: 0.05, Stage.ESTIMATING_DEPTH: 0.2, Stage.POINT_CLOUD: 0.3,
              Stage.NORMALS: 0.4, Stage.POISSON_SURFACE: 0.5, Stage.GRID_MESH: 0.5, Stage.TRIMMING: 0.85,
              Stage.WIREFRAME: 0.93, Stage.PREPARING_VIEW: 0.96, Stage.DONE: 1.0}


class Cancelled(Exception):
    """The caller's ``cancelled()`` turned True; nothing was produced."""


@dataclass(frozen=True)
class Progress:
    """``progress(stage)`` before each stage: raises Cancelled once ``cancelled()`` is True, else calls
    ``report(stage, stage.fraction)``. Both callbacks are optional; ``Progress()`` does nothing."""

    report: Callable[[Stage, float], None] | None = None
    cancelled: Callable[[], bool] | None = None

    def __call__(self, stage: Stage) -> None:
        if self.cancelled is not None and self.cancelled():
            raise Cancelled(f"cancelled before {stage}")
        if self.report is not None:
            self.report(stage, stage.fraction)

    @contextmanager
    def timed(self, stage: Stage, timings: dict[str, float]) -> Iterator[None]:
        """Reports ``stage``, then records the seconds its block took as ``timings[stage.value]``."""
        self(stage)
        start = time.perf_counter()
        yield
        timings[stage.value] = time.perf_counter() - start
