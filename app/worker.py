"""Runs the pipeline in a background thread and hands every event back to Kivy's main thread.

One :class:`Job` per photo. The thread loads the photo, runs :class:`app.pipeline.Pipeline` (depth, then
mesh) and prepares the pictures and vertex buffers (:func:`app.display.result_view`), so the main thread
only uploads textures and buffers. Callbacks are delivered with ``Clock.schedule_once``; a cancelled job
delivers nothing but ``on_cancelled``. Cancelling takes effect between stages (the pipeline's
``cancelled`` callback).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from kivy.clock import Clock

from app.display import ResultView, photo_with_face_box, result_view
from app.gui_settings import GuiSettings
from app.pipeline import STAGE_FRACTIONS, Pipeline, PipelineResult
from model.imageio import load_photo
from reconstruction.surface import Cancelled

logger = logging.getLogger(__name__)

STAGE_LABELS = {
    "loading": "Loading",
    "detecting face": "Detecting face",
    "estimating depth": "Estimating depth",
    "point cloud": "Building point cloud",
    "normals": "Estimating normals",
    "poisson surface": "Poisson surface",
    "grid mesh": "Grid mesh",
    "trimming": "Trimming",
    "wireframe": "Wire frame",
    "preparing view": "Preparing 3D view",
    "done": "Done",
}
PREPARING_FRACTION = 0.96


@dataclass
class JobCallbacks:
    """Called on the main thread. ``on_photo`` gets the loaded photo before the depth is estimated."""

    on_progress: Callable[[str, float], None]
    on_photo: Callable[[np.ndarray], None]
    on_done: Callable[[PipelineResult, ResultView], None]
    on_error: Callable[[BaseException], None]
    on_cancelled: Callable[[], None]
    on_finished: Callable[[Job], None] = lambda job: None
    """Always called last, whatever the outcome."""


@dataclass
class Job:
    source: Path
    settings: GuiSettings
    detect: bool
    callbacks: JobCallbacks
    started: float = field(default_factory=time.perf_counter)
    _cancel: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def cancel(self) -> None:
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()


class ProcessingWorker:
    """Owns the (lazily loaded, then warm) pipeline; runs at most one job at a time."""

    def __init__(self, weights: Path | None = None) -> None:
        self.pipeline = Pipeline(weights)
        self.job: Job | None = None
        self._preload: threading.Thread | None = None

    @property
    def busy(self) -> bool:
        return self.job is not None and self.job.thread is not None and self.job.thread.is_alive()

    def start(self, source: Path, settings: GuiSettings, callbacks: JobCallbacks, detect: bool | None = None) -> Job:
        if self.busy:
            raise RuntimeError("a photo is still being processed; cancel it first")
        job = Job(source=Path(source), settings=settings,
                  detect=settings.detect_face if detect is None else detect, callbacks=callbacks)
        job.thread = threading.Thread(target=self._run, args=(job,), name="facedepth-worker", daemon=True)
        self.job = job
        job.thread.start()
        return job

    def preload(self, on_error: Callable[[BaseException], None]) -> threading.Thread:
        """Loads the generator and face detector in the background (first photo then starts at once)."""

        def load() -> None:
            try:
                service = self.pipeline.service
                _ = service.detector._dlib  # warm dlib's models too (about 1 s)
            except Exception as exc:  # WeightsError, or a damaged dlib model
                Clock.schedule_once(lambda _dt, error=exc: on_error(error), 0)

        self._preload = threading.Thread(target=load, name="facedepth-preload", daemon=True)
        self._preload.start()
        return self._preload

    def _run(self, job: Job) -> None:
        cb = job.callbacks

        def post(callback: Callable, *args) -> None:
            if not job.cancelled:
                Clock.schedule_once(lambda _dt: None if job.cancelled else callback(*args), 0)

        def progress(stage: str, fraction: float) -> None:
            post(cb.on_progress, stage, fraction)

        if self._preload is not None:
            self._preload.join()  # the pipeline loads its models lazily; never twice at once
        try:
            progress("loading", STAGE_FRACTIONS["loading"])
            rgb = load_photo(job.source)
            post(cb.on_photo, photo_with_face_box(rgb, None))
            result = self.pipeline.run(rgb, job.settings.pipeline_settings(detect=job.detect),
                                       progress=lambda stage, fraction: progress(stage, fraction)
                                       if stage != "done" else None,
                                       cancelled=lambda: job.cancelled)
            if job.cancelled:
                raise Cancelled("cancelled")
            progress("preparing view", PREPARING_FRACTION)
            view = result_view(result)
            if job.cancelled:
                raise Cancelled("cancelled")
            progress("done", STAGE_FRACTIONS["done"])
            post(cb.on_done, result, view)
        except Cancelled:
            Clock.schedule_once(lambda _dt: cb.on_cancelled(), 0)
        except Exception as exc:  # shown to the user as a dialog by on_error
            logger.debug("processing %s failed", job.source, exc_info=True)
            post(cb.on_error, exc)
        finally:
            Clock.schedule_once(lambda _dt: cb.on_finished(job), 0)
