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
from facedepth.app import messages as msg
from facedepth.app.display import ResultView
from facedepth.app.errors import EngineStopped
from facedepth.app.gui_settings import GuiSettings
from facedepth.model.progress import Stage

logger = logging.getLogger(__name__)


@dataclass
class JobCallbacks:
    """Called on the main thread. ``on_photo`` gets the loaded photo before the depth is estimated."""

    on_progress: Callable[[Stage, float], None]
    on_photo: Callable[[np.ndarray], None]
    on_done: Callable[[ResultView], None]
    on_error: Callable[[BaseException], None]
    on_cancelled: Callable[[], None]
    on_finished: Callable[[Job], None] = lambda job: None
    """Always called last, whatever the outcome."""
    on_faces: Callable[[list, tuple[int, int]], None] = lambda boxes, size: None
    """The photo's face boxes (left to right, photo pixels) and its (width, height), before any face is done;
    ``on_done`` then comes once for each face the job asked for."""


@dataclass
class Job:
    id: int
    source: Path
    settings: GuiSettings
    detect: bool
    callbacks: JobCallbacks
    face: int | str | None = None
    """None: the largest face; an index into the faces left to right; messages.ALL_FACES: every face."""
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

    @property
    def engine_pid(self) -> int | None:
        """The engine process's id while it runs (None before the first request or after it ended)."""
        process = self._process
        return process.pid if process is not None and process.is_alive() else None

    # ------------------------------------------------------------------ requests
    def preload(self, on_error: Callable[[BaseException], None], quality: str) -> None:
        """Starts the engine and loads the generator of ``quality`` and the face detector (errors go to
        ``on_error``)."""
        self._on_load_error = on_error
        self._send(msg.Preload(quality))

    def start(self, source: Path, settings: GuiSettings, callbacks: JobCallbacks, detect: bool | None = None,
              face: int | str | None = None) -> Job:
        if self.busy:
            raise RuntimeError("a photo is still being processed; cancel it first")
        self._ensure_engine()
        self._cancel.clear()
        job = Job(id=next(self._ids), source=Path(source), settings=settings,
                  detect=settings.detect_face if detect is None else detect, callbacks=callbacks, face=face,
                  _cancel_event=self._cancel)
        self.job = job
        self._send(msg.Process(job.id, job.source, settings, job.detect, face))
        return job

    def save(self, request: msg.SaveRequest, callbacks: SaveCallbacks) -> None:
        request_id = next(self._ids)
        self._saves[request_id] = callbacks
        self._send(msg.Save(request_id, request))

    def shutdown(self) -> None:
        """Asks the engine to exit (it also exits when the window's process ends)."""
        if self.job is not None:
            self.job.cancel()
        if self._process is not None and self._process.is_alive():
            with contextlib.suppress(OSError):
                self._conn.send(msg.Stop())
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

    def _send(self, message: msg.Preload | msg.Process | msg.Save) -> None:
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

    def _dispatch(self, message: msg.Loaded | msg.LoadFailed | msg.JobReply | msg.SaveReply) -> None:
        if isinstance(message, msg.Loaded):
            return
        if isinstance(message, msg.LoadFailed):
            if self._on_load_error is not None:
                self._on_load_error(message.error)
            return
        if isinstance(message, msg.SaveReply):
            self._dispatch_save(message)
            return
        job = self.job
        if job is None or message.job != job.id:
            return
        cb = job.callbacks
        if isinstance(message, msg.Finished):
            job.finished = True
            cb.on_finished(job)
        elif isinstance(message, msg.JobCancelled):
            cb.on_cancelled()
        elif job.cancelled:
            return  # a cancelled job's late results are dropped
        elif isinstance(message, msg.StageStarted):
            cb.on_progress(message.stage, message.fraction)
        elif isinstance(message, msg.PhotoLoaded):
            cb.on_photo(message.photo)
        elif isinstance(message, msg.FacesFound):
            cb.on_faces(message.boxes, message.size)
        elif isinstance(message, msg.Done):
            cb.on_done(message.view)
        elif isinstance(message, msg.Failed):
            cb.on_error(message.error)

    def _dispatch_save(self, message: msg.SaveReply) -> None:
        callbacks = self._saves.pop(message.request, None)
        if callbacks is None:
            return
        if isinstance(message, msg.Saved):
            callbacks.on_saved(message.paths)
        elif isinstance(message, msg.SaveExists):
            callbacks.on_exists(message.paths)
        else:
            callbacks.on_error(message.error)

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
