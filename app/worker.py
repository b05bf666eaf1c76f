"""The window's side of the processing engine (:mod:`facedepth.app.engine`), which runs in a child process.

A listener thread receives the engine's messages and hands each to Kivy's main thread with
``Clock.schedule_once``; the main thread only uploads textures and vertex buffers. Open3D holds the GIL
while it works, so running it in a thread of the window's process would freeze the window; a process
keeps the main thread free. The engine is started on first use (``spawn``: no Kivy or OpenGL state is
inherited) and restarted if it dies.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from kivy.clock import Clock

from facedepth.app import engine
from facedepth.app.display import ResultView
from facedepth.app.gui_settings import GuiSettings

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


class EngineStopped(RuntimeError):
    """The processing process ended unexpectedly (crashed or was killed)."""


@dataclass
class JobCallbacks:
    """Called on the main thread. ``on_photo`` gets the loaded photo before the depth is estimated."""

    on_progress: Callable[[str, float], None]
    on_photo: Callable[[np.ndarray], None]
    on_done: Callable[[ResultView], None]
    on_error: Callable[[BaseException], None]
    on_cancelled: Callable[[], None]
    on_finished: Callable[[Job], None] = lambda job: None
    """Always called last, whatever the outcome."""


@dataclass
class Job:
    id: int
    source: Path
    settings: GuiSettings
    detect: bool
    callbacks: JobCallbacks
    finished: bool = False
    cancelled: bool = False
    _cancel_event: object = field(default=None, repr=False)

    def cancel(self) -> None:
        """Stops the job at the engine's next stage boundary."""
        self.cancelled = True
        if self._cancel_event is not None:
            self._cancel_event.set()


@dataclass
class SaveCallbacks:
    on_saved: Callable[[list[Path]], None]
    on_exists: Callable[[list[Path]], None]
    on_error: Callable[[BaseException], None]


class ProcessingWorker:
    """Starts and talks to the engine process; at most one job at a time."""

    def __init__(self, weights: Path | None = None) -> None:
        self.weights = weights
        self.job: Job | None = None
        self._ids = itertools.count(1)
        self._saves: dict[int, SaveCallbacks] = {}
        self._on_load_error: Callable[[BaseException], None] | None = None
        self._process = None
        self._conn = None
        self._cancel = None
        self._lock = threading.Lock()

    @property
    def busy(self) -> bool:
        return self.job is not None and not self.job.finished

    # ------------------------------------------------------------------ requests
    def preload(self, on_error: Callable[[BaseException], None]) -> None:
        """Starts the engine and loads the generator and face detector (errors go to ``on_error``)."""
        self._on_load_error = on_error
        self._send(("preload",))

    def start(self, source: Path, settings: GuiSettings, callbacks: JobCallbacks, detect: bool | None = None) -> Job:
        if self.busy:
            raise RuntimeError("a photo is still being processed; cancel it first")
        self._ensure_engine()
        self._cancel.clear()
        job = Job(id=next(self._ids), source=Path(source), settings=settings,
                  detect=settings.detect_face if detect is None else detect, callbacks=callbacks,
                  _cancel_event=self._cancel)
        self.job = job
        self._send(("process", job.id, str(job.source), settings, job.detect))
        return job

    def save(self, request: engine.SaveRequest, callbacks: SaveCallbacks) -> None:
        request_id = next(self._ids)
        self._saves[request_id] = callbacks
        self._send(("save", request_id, request))

    def shutdown(self) -> None:
        """Asks the engine to exit (it also exits when the window's process ends)."""
        if self.job is not None:
            self.job.cancel()
        if self._process is not None and self._process.is_alive():
            with contextlib.suppress(OSError):
                self._conn.send(("stop",))
            self._process.join(timeout=5)
            if self._process.is_alive():
                self._process.terminate()
        self._process = None

    # ------------------------------------------------------------------ engine process
    def _ensure_engine(self) -> None:
        with self._lock:
            if self._process is not None and self._process.is_alive():
                return
            context = multiprocessing.get_context("spawn")
            self._conn, child = context.Pipe()
            self._cancel = context.Event()
            self._process = context.Process(target=engine.serve, name="facedepth-engine", daemon=True,
                                            args=(child, self._cancel, self.weights, logging.getLogger().level))
            self._process.start()
            child.close()
            threading.Thread(target=self._listen, args=(self._conn, self._process), name="facedepth-listener",
                             daemon=True).start()

    def _send(self, message: tuple) -> None:
        self._ensure_engine()
        self._conn.send(message)

    def _listen(self, conn, process) -> None:
        """Listener thread: forwards every engine message to the main thread, in order."""
        while True:
            try:
                message = conn.recv()
            except (EOFError, OSError):
                break
            Clock.schedule_once(lambda _dt, message=message: self._dispatch(message), 0)
        process.join(timeout=1)
        Clock.schedule_once(lambda _dt: self._engine_gone(process), 0)

    def _dispatch(self, message: tuple) -> None:
        kind = message[0]
        if kind == "loaded":
            return
        if kind == "load_error":
            if self._on_load_error is not None:
                self._on_load_error(message[1])
            return
        if kind in ("saved", "save_exists", "save_error"):
            callbacks = self._saves.pop(message[1], None)
            if callbacks is not None:
                {"saved": callbacks.on_saved, "save_exists": callbacks.on_exists,
                 "save_error": callbacks.on_error}[kind](message[2])
            return
        job = self.job
        if job is None or message[1] != job.id:
            return
        cb = job.callbacks
        if kind == "finished":
            job.finished = True
            cb.on_finished(job)
        elif kind == "cancelled":
            cb.on_cancelled()
        elif job.cancelled:
            return  # a cancelled job's late results are dropped
        elif kind == "progress":
            cb.on_progress(message[2], message[3])
        elif kind == "photo":
            cb.on_photo(message[2])
        elif kind == "done":
            cb.on_done(message[2])
        elif kind == "error":
            cb.on_error(message[2])

    def _engine_gone(self, process) -> None:
        if process is not self._process:
            return  # an engine that was shut down on purpose
        logger.error("the processing engine stopped (exit code %s)", process.exitcode)
        self._process = None
        job = self.job
        if job is not None and not job.finished:
            job.finished = True
            if not job.cancelled:
                job.callbacks.on_error(EngineStopped("the processing engine stopped unexpectedly; try again"))
            job.callbacks.on_finished(job)
        for callbacks in self._saves.values():
            callbacks.on_error(EngineStopped("the processing engine stopped unexpectedly; try again"))
        self._saves.clear()
