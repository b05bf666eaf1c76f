"""The processing engine: runs in its own process, started by :class:`facedepth.app.worker.ProcessingWorker`.

Why a process and not a thread: Open3D's Python bindings keep the GIL while they work (normal estimation,
outlier removal and the Poisson solve hold it for 0.2-2.5 s each), which would freeze Kivy's main thread
however the work is scheduled. This process owns the pipeline (models stay loaded between photos) and the
photo on screen with its faces and their results (saving reads them from here; choosing another face of
the same photo skips loading and detection, and a face done before is only shown again); it never imports
Kivy or TensorFlow. The messages it takes and sends are the dataclasses of :mod:`facedepth.app.messages`.
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

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
        self.photo: PhotoFaces | None = None
        """The photo of the last job, its faces and every face's result so far."""

    def serve(self) -> None:
        while True:
            try:
                request = self.conn.recv()
            except (EOFError, OSError):  # the window has gone
                return
            if isinstance(request, msg.Stop):
                return
            if isinstance(request, msg.Preload):
                self.preload(request)
            elif isinstance(request, msg.Process):
                self.process(request)
            elif isinstance(request, msg.Save):
                self.save(request)
            else:
                logger.error("unknown request %r", request)

    def preload(self, request: msg.Preload) -> None:
        try:
            _ = self.pipeline.service(request.quality).detector._dlib  # generator and dlib's models (about 1 s)
            self.conn.send(msg.Loaded())
        except Exception as exc:
            self.conn.send(msg.LoadFailed(portable(exc)))

    def process(self, request: msg.Process) -> None:
        """One job: the photo's faces (loaded and detected unless it is the photo of the last job, with the same
        settings), then each face asked for, processed unless it was done before."""
        from facedepth.app.display import photo_with_face_boxes, result_view
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
            settings = request.settings.pipeline_settings(detect=request.detect)
            key = (str(request.path), request.settings, request.detect)
            photo = self.photo
            if photo is None or photo.key != key:
                self.photo = None
                rgb = load_photo(Path(request.path))
                self.conn.send(msg.PhotoLoaded(job, photo_with_face_boxes(rgb, [])))
                progress(Stage.DETECTING_FACE)
                photo = self.photo = PhotoFaces(key, rgb, self.pipeline.find_faces(rgb, settings))
            self.conn.send(msg.FacesFound(job, photo.boxes(), (photo.rgb.shape[1], photo.rgb.shape[0])))
            chosen = photo.chosen(request.face)
            for index in chosen:
                if index not in photo.results:
                    photo.results[index] = self.pipeline.run(
                        photo.rgb, settings, face=photo.faces[index], isolate=len(photo.faces) > 1,
                        progress=send_until_done, cancelled=self.cancel.is_set)
                progress(Stage.PREPARING_VIEW)
                self.conn.send(msg.Done(job, result_view(photo.results[index], photo.boxes(), index, chosen)))
            progress(Stage.DONE)
        except Cancelled:
            self.conn.send(msg.JobCancelled(job))
        except Exception as exc:
            logger.debug("processing %s failed", request.path, exc_info=True)
            self.conn.send(msg.Failed(job, portable(exc)))
        self.conn.send(msg.Finished(job))

    def save(self, request: msg.Save) -> None:
        from facedepth.app import interrupts
        from facedepth.app.display import write_png
        from facedepth.app.pipeline import check_name_fits, face_stems, output_paths, save_outputs
        from facedepth.model import files

        save, photo = request.save, self.photo
        try:
            results = [photo.results[i] for i in save.faces if i in photo.results] if photo is not None else []
            if not results or len(results) != len(save.faces):
                raise RuntimeError("nothing to save yet")
            numbered = face_stems(save.stem, len(photo.faces))
            stems = [save.stem] if len(results) == 1 else [numbered[i] for i in save.faces]
            targets = [path for result, stem in zip(results, stems, strict=True)
                       for path in output_paths(save.folder, stem, save.mesh_formats, save.depth_formats,
                                                save.wireframe, with_mesh=result.reconstruction is not None)]
            view_path = save.view_path()
            for target in [*targets, view_path]:
                if target is not None:
                    check_name_fits(target)
            existing = [p for p in [*targets, view_path] if p is not None and p.exists()]
            if existing and not save.overwrite:
                self.conn.send(msg.SaveExists(request.request, existing))
                return
            paths = []
            with files.staged(guard=interrupts.deferred):  # one save, one set: every face and the view, or none
                for result, stem in zip(results, stems, strict=True):
                    paths += save_outputs(result, save.folder, stem, save.mesh_formats, save.depth_formats,
                                          save.overwrite, save.wireframe)
                if view_path is not None:
                    paths.append(write_png(save.view_pixels, view_path, save.overwrite))
            self.conn.send(msg.Saved(request.request, paths))
        except Exception as exc:
            self.conn.send(msg.SaveFailed(request.request, portable(exc)))


@dataclass
class PhotoFaces:
    """The engine's current photo: its faces (left to right, as ``Pipeline.find_faces`` orders them; ``[None]``
    without detection) and the result of each face processed so far, for one photo file and settings."""

    key: tuple
    rgb: np.ndarray
    faces: list
    results: dict[int, object] = field(default_factory=dict)

    def boxes(self) -> list[tuple[float, float, float, float]]:
        return [face.box for face in self.faces if face is not None]

    def largest(self) -> int:
        return max(range(len(self.faces)), key=lambda i: self.faces[i].area if self.faces[i] is not None else 0.0)

    def chosen(self, choice: int | str | None) -> list[int]:
        """The face indices a request names: None = the largest, an index, or ALL_FACES."""
        if choice == msg.ALL_FACES:
            return list(range(len(self.faces)))
        if choice is None or not 0 <= int(choice) < len(self.faces):
            return [self.largest()]
        return [int(choice)]


def serve(conn, cancel, weights: Path | None, log_level: int = logging.WARNING) -> None:
    """The engine process's main loop (the ``target`` of the Process)."""
    configure_logging(log_level)
    from facedepth.app import interrupts

    interrupts.install()  # SIGTERM/SIGHUP (a session logout) mid-save: clean up like SIGINT, then exit
    Engine(conn, cancel, weights).serve()
