"""The processing engine: runs in its own process, started by :class:`facedepth.app.worker.ProcessingWorker`.

Why a process and not a thread: Open3D's Python bindings keep the GIL while they work (normal estimation,
outlier removal and the Poisson solve hold it for 0.2-2.5 s each), which would freeze Kivy's main thread
however the work is scheduled. This process owns the pipeline (models stay loaded between photos) and the
last result (saving reads it from here); it never imports Kivy or TensorFlow. The messages it takes and
sends are the dataclasses of :mod:`facedepth.app.messages`.
"""

from __future__ import annotations

import logging
import pickle
from pathlib import Path

from facedepth.app import messages as msg
from facedepth.model.progress import Cancelled, Progress, Stage
from facedepth.model.reporting import configure_logging

logger = logging.getLogger(__name__)


def portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives pickling, else a RuntimeError with its type and message."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


class Engine:
    """Serves the window's requests: holds the pipeline (warm models) and the last result."""

    def __init__(self, conn, cancel, weights: Path | None) -> None:
        from facedepth.app.pipeline import Pipeline

        self.conn, self.cancel = conn, cancel
        self.pipeline = Pipeline(weights)
        self.last = None

    def serve(self) -> None:
        while True:
            try:
                request = self.conn.recv()
            except (EOFError, OSError):  # the window has gone
                return
            if isinstance(request, msg.Stop):
                return
            if isinstance(request, msg.Preload):
                self.preload()
            elif isinstance(request, msg.Process):
                self.process(request)
            elif isinstance(request, msg.Save):
                self.save(request)
            else:
                logger.error("unknown request %r", request)

    def preload(self) -> None:
        try:
            _ = self.pipeline.service.detector._dlib  # generator and dlib's models (about 1 s)
            self.conn.send(msg.Loaded())
        except Exception as exc:
            self.conn.send(msg.LoadFailed(portable(exc)))

    def process(self, request: msg.Process) -> None:
        from facedepth.app.display import photo_with_face_box, result_view
        from facedepth.model.imageio import load_photo

        job = request.job

        def send(stage: Stage, fraction: float) -> None:
            self.conn.send(msg.StageStarted(job, stage, fraction))

        def send_until_done(stage: Stage, fraction: float) -> None:
            if stage is not Stage.DONE:  # the job is done once its view is ready, below
                send(stage, fraction)

        progress = Progress(send, self.cancel.is_set)
        try:
            progress(Stage.LOADING)
            rgb = load_photo(Path(request.path))
            self.conn.send(msg.PhotoLoaded(job, photo_with_face_box(rgb, None)))
            result = self.pipeline.run(rgb, request.settings.pipeline_settings(detect=request.detect),
                                       progress=send_until_done, cancelled=self.cancel.is_set)
            progress(Stage.PREPARING_VIEW)
            view = result_view(result)
            progress(Stage.DONE)
            self.last = result
            self.conn.send(msg.Done(job, view))
        except Cancelled:
            self.conn.send(msg.JobCancelled(job))
        except Exception as exc:
            logger.debug("processing %s failed", request.path, exc_info=True)
            self.conn.send(msg.Failed(job, portable(exc)))
        self.conn.send(msg.Finished(job))

    def save(self, request: msg.Save) -> None:
        from facedepth.app.display import write_png
        from facedepth.app.pipeline import output_paths, save_outputs

        save, last = request.save, self.last
        try:
            if last is None:
                raise RuntimeError("nothing to save yet")
            targets = output_paths(save.folder, save.stem, save.mesh_formats, save.depth_formats, save.wireframe,
                                   with_mesh=last.reconstruction is not None)
            view_path = save.view_path()
            existing = [p for p in [*targets, view_path] if p is not None and p.exists()]
            if existing and not save.overwrite:
                self.conn.send(msg.SaveExists(request.request, existing))
                return
            paths = save_outputs(last, save.folder, save.stem, save.mesh_formats, save.depth_formats,
                                 save.overwrite, save.wireframe)
            if view_path is not None:
                paths.append(write_png(save.view_pixels, view_path, save.overwrite))
            self.conn.send(msg.Saved(request.request, paths))
        except Exception as exc:
            self.conn.send(msg.SaveFailed(request.request, portable(exc)))


def serve(conn, cancel, weights: Path | None, log_level: int = logging.WARNING) -> None:
    """The engine process's main loop (the ``target`` of the Process)."""
    configure_logging(log_level)
    Engine(conn, cancel, weights).serve()
