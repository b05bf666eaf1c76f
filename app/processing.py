"""Processing photos from the window: starts jobs on the engine, keeps the newest request when one is still
running, and shows each job's progress, result or error on the window (:class:`~facedepth.app.gui.MainWindow`).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from facedepth.app.display import ResultView
from facedepth.app.errors import error_dialog_text
from facedepth.app.gui_faces import FaceChoice
from facedepth.app.gui_settings import GuiSettings
from facedepth.app.viewer import texture_from
from facedepth.app.worker import Job, JobCallbacks
from facedepth.model.progress import Stage
from facedepth.model.service import NoFaceError

if TYPE_CHECKING:
    from facedepth.app.gui import FaceDepthApp


class PhotoProcessing(FaceChoice):
    """The photo on screen, its faces and the result shown; ``root.busy`` (the window's) is the one record of
    a job running."""

    def __init__(self, app: FaceDepthApp) -> None:
        self.app = app
        self.current: Path | None = None
        self.result: ResultView | None = None
        self.result_settings: GuiSettings | None = None
        """The settings the result on screen was made with."""
        self._pending: tuple[Path, bool | None, int | str | None] | None = None
        self.detect_used: bool | None = None
        """The detection switch of the photo on screen's first job, which its other faces' jobs repeat."""
        self.reset_faces()

    def open(self, path: Path, detect: bool | None = None, face: int | str | None = None) -> None:
        """Processes ``path``: its largest face, or ``face`` of the photo on screen (see
        :meth:`~facedepth.app.gui_faces.FaceChoice.choose_face`); cancels a running job first (the newest
        request wins)."""
        app, root = self.app, self.app.root
        path = Path(path)
        app.last_folder = str(path.parent)
        if app.worker.busy:
            self._pending = (path, detect, face)
            app.worker.job.cancel()
            return
        self.current = path
        root.photo_name = path.name
        if face is None:  # a new photo (or new settings): forget its faces and clear the screen
            self.reset_faces()
            self.detect_used = detect
            root.photo_texture = root.depth_texture = root.legend_texture = None
            root.near_text = root.far_text = ""
            root.ids.mesh_view.set_scene(None)
            root.has_result = False
            self.result = None
        root.busy = True
        root.progress, root.stage_text, root.status_text = 0.0, Stage.LOADING.label, ""
        callbacks = JobCallbacks(on_progress=self._on_progress, on_photo=self._on_photo, on_done=self._on_done,
                                 on_error=self._on_error, on_cancelled=self._on_cancelled,
                                 on_finished=self._on_finished, on_faces=self._on_faces)
        app.worker.start(path, app.settings, callbacks, detect=detect, face=face)

    def cancel(self) -> None:
        if self.app.worker.busy:
            self._pending = None
            self.app.worker.job.cancel()
            self.app.root.stage_text = "Cancelling..."

    def _on_progress(self, stage: Stage, fraction: float) -> None:
        self.app.root.stage_text = stage.label
        self.app.root.progress = fraction

    def _on_photo(self, photo: np.ndarray) -> None:
        self.app.root.photo_texture = texture_from(photo)

    def _on_done(self, view: ResultView) -> None:
        self.result_settings = self.app.settings
        self.app.root.settings_changed = False
        if self.face_done(view):
            self.show_result(view)

    def show_result(self, view: ResultView) -> None:
        """Puts one face's result on screen: photo (its box highlighted), depth, legend, 3D view, status."""
        root = self.app.root
        self.result = view
        root.photo_texture = texture_from(view.photo)
        root.depth_texture = texture_from(view.depth)
        root.legend_texture = texture_from(view.legend)
        if np.isfinite(view.near_mm):
            root.near_text, root.far_text = f"near {view.near_mm:.0f} mm", f"far {view.far_mm:.0f} mm"
        root.ids.mesh_view.set_scene(view.scene)
        root.has_result = True
        seconds = view.timings.get("total", 0.0)
        face = "face found" if view.face_found else "whole image"
        if view.face_count > 1:
            face = f"face {view.face_index + 1} of {view.face_count} (click a box to choose)"
        root.status_text = (f"{self.current.name}  ·  {face}  ·  {view.triangles:,} triangles, "
                            f"{view.vertices:,} vertices  ·  {seconds:.1f} s")

    def _on_error(self, exc: BaseException) -> None:
        title, message = error_dialog_text(exc, self.current.name if self.current else "photo")
        buttons = [("OK", None)]
        if isinstance(exc, NoFaceError):
            path = self.current
            buttons = [("Use the whole image", lambda: self.open(path, detect=False)), ("Cancel", None)]
        self.app.root.status_text = title
        self.app.dialogs.message(title, message, buttons)

    def _on_cancelled(self) -> None:
        self.app.root.status_text = "Cancelled"

    def _on_finished(self, job: Job) -> None:
        app = self.app
        if app.worker.busy:
            return
        app.root.busy = False
        app.root.progress = 0.0
        if job.cancelled and self.result is None:
            app.root.status_text = "Cancelled"
        if self._pending is not None:
            path, detect, face = self._pending
            self._pending = None
            self.open(path, detect, face)
        else:
            app.job_finished()
