"""The processing engine: runs in its own process, started by :class:`facedepth.app.worker.ProcessingWorker`.

Why a process and not a thread: Open3D's Python bindings keep the GIL while they work (normal estimation,
outlier removal and the Poisson solve hold it for 0.2-2.5 s each), which would freeze Kivy's main thread
however the work is scheduled. This process owns the pipeline (models stay loaded between photos) and the
last result (saving reads it from here); it never imports Kivy or TensorFlow.

Protocol over a ``multiprocessing`` pipe, requests from the window: ``("preload",)``,
``("process", job_id, path, GuiSettings, detect)``, ``("save", request_id, SaveRequest)``, ``("stop",)``.
Replies: ``("loaded",)`` / ``("load_error", exc)``, per job ``("progress", id, stage, fraction)``,
``("photo", id, rgb)``, ``("done", id, ResultView)`` / ``("error", id, exc)`` / ``("cancelled", id)``, then
always ``("finished", id)``; per save ``("saved", id, [paths])``, ``("save_exists", id, [existing paths])``
(nothing written; ask, then send again with ``overwrite``) or ``("save_error", id, exc)``. The shared
``cancel`` event is checked between stages.
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facedepth.model.reporting import configure_logging

logger = logging.getLogger(__name__)

PREPARING_FRACTION = 0.96
VIEW_SUFFIX = "_view.png"
"""``<stem>_view.png``: the 3D view as shown when saving."""


@dataclass(frozen=True)
class SaveRequest:
    folder: Path
    stem: str
    mesh_formats: tuple[str, ...]
    depth_formats: tuple[str, ...]
    wireframe: bool
    overwrite: bool
    view_pixels: np.ndarray | None = None
    """(H, W, 3) uint8 picture of the 3D view to write as ``<stem>_view.png``; None = no picture."""

    def view_path(self) -> Path | None:
        return self.folder / f"{self.stem}{VIEW_SUFFIX}" if self.view_pixels is not None else None


def portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a RuntimeError with its type and message."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


def serve(conn, cancel, weights: Path | None, log_level: int = logging.WARNING) -> None:
    """The engine process's main loop (the ``target`` of the Process)."""
    configure_logging(log_level)
    from facedepth.app.display import photo_with_face_box, result_view, write_png
    from facedepth.app.pipeline import STAGE_FRACTIONS, Pipeline, output_paths, save_outputs
    from facedepth.model.imageio import load_photo
    from facedepth.reconstruction.surface import Cancelled

    pipeline = Pipeline(weights)
    last = None

    def send(*message) -> None:
        conn.send(message)

    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):  # the window has gone
            return
        kind = request[0]
        if kind == "stop":
            return
        if kind == "preload":
            try:
                _ = pipeline.service.detector._dlib  # generator and dlib's models (about 1 s)
                send("loaded")
            except Exception as exc:
                send("load_error", portable(exc))
        elif kind == "process":
            _, job, path, settings, detect = request

            def stage(name: str, fraction: float, job=job) -> None:
                if cancel.is_set():
                    raise Cancelled(f"cancelled before {name}")
                send("progress", job, name, fraction)

            try:
                stage("loading", STAGE_FRACTIONS["loading"])
                rgb = load_photo(Path(path))
                send("photo", job, photo_with_face_box(rgb, None))
                result = pipeline.run(rgb, settings.pipeline_settings(detect=detect),
                                      progress=lambda name, fraction, job=job: send("progress", job, name, fraction)
                                      if name != "done" else None,
                                      cancelled=cancel.is_set)
                stage("preparing view", PREPARING_FRACTION)
                view = result_view(result)
                stage("done", STAGE_FRACTIONS["done"])
                last = result
                send("done", job, view)
            except Cancelled:
                send("cancelled", job)
            except Exception as exc:
                logger.debug("processing %s failed", path, exc_info=True)
                send("error", job, portable(exc))
            send("finished", job)
        elif kind == "save":
            _, request_id, save = request
            try:
                if last is None:
                    raise RuntimeError("nothing to save yet")
                targets = output_paths(save.folder, save.stem, save.mesh_formats, save.depth_formats, save.wireframe,
                                       with_mesh=last.reconstruction is not None)
                view_path = save.view_path()
                existing = [p for p in [*targets, view_path] if p is not None and p.exists()]
                if existing and not save.overwrite:
                    send("save_exists", request_id, existing)
                    continue
                paths = save_outputs(last, save.folder, save.stem, save.mesh_formats, save.depth_formats,
                                     save.overwrite, save.wireframe)
                if view_path is not None:
                    paths.append(write_png(save.view_pixels, view_path, save.overwrite))
                send("saved", request_id, paths)
            except Exception as exc:
                send("save_error", request_id, portable(exc))
