"""Saving the result on screen: the save dialog, the checks before anything is written, asking before
replacing files, and the status line and dialogs that report the outcome (the engine writes the files)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from facedepth.app.dialogs import SaveDialog
from facedepth.app.errors import folder_problem, save_error_text, stem_problem
from facedepth.app.messages import SaveRequest
from facedepth.app.worker import SaveCallbacks
from facedepth.reconstruction.settings import DEPTH_FORMATS, MESH_OUTPUTS

if TYPE_CHECKING:
    from facedepth.app.gui import FaceDepthApp

SAVE_DEFAULTS = {"mesh_formats": ["ply", "glb"], "depth_formats": ["png16", "color"]}
"""The formats ticked when the save dialog opens (it offers all of reconstruction.settings' MESH_OUTPUTS and
DEPTH_FORMATS: the meshes, the printable solid and the depth files)."""
MAX_LISTED = 8
"""At most this many existing files are named when asking before replacing them."""


class SaveController:
    """The app's Save command; ``app`` provides the result, the window, the dialogs and the engine."""

    def __init__(self, app: FaceDepthApp) -> None:
        self.app = app

    def show_dialog(self) -> SaveDialog | None:
        app = self.app
        if app.result is None:
            return None
        dialog = SaveDialog(folder=app.last_folder, stem=app.processing.save_stem(),
                            **SAVE_DEFAULTS, has_mesh=app.result.scene is not None, save_action=self.save)
        return app.dialogs.open(dialog)

    def save(self, folder: Path, stem: str, mesh_formats: list[str], depth_formats: list[str], wireframe: bool,
             view_png: bool, overwrite: bool = False) -> None:
        """Checks the target and has the engine write the chosen files; asks before replacing anything."""
        app = self.app
        if app.result is None:
            return
        problem = stem_problem(stem)
        with_mesh = app.result.scene is not None
        mesh_formats = [f for f in mesh_formats if f in MESH_OUTPUTS] if with_mesh else []
        depth_formats = [f for f in depth_formats if f in DEPTH_FORMATS]
        wireframe, view_png = wireframe and with_mesh, view_png and with_mesh
        if problem is None and not (mesh_formats or depth_formats or wireframe or view_png):
            problem = "Choose at least one format to save."
        problem = problem or folder_problem(folder)
        if problem:
            app.dialogs.message("Cannot save", problem)
            return
        app.last_folder = str(folder)
        pixels = app.root.ids.mesh_view.render_pixels() if view_png else None
        request = SaveRequest(folder=folder, stem=stem, mesh_formats=tuple(mesh_formats),
                              depth_formats=tuple(depth_formats), wireframe=wireframe, overwrite=overwrite,
                              view_pixels=pixels, faces=app.processing.faces_to_save())
        status = app.root

        def ask(existing: list[Path]) -> None:
            status.status_text = ""
            names = "\n".join(p.name for p in existing[:MAX_LISTED]) + ("\n..." if len(existing) > MAX_LISTED else "")
            app.dialogs.message("Replace existing files?", f"These files already exist in {folder}:\n{names}",
                                [("Replace", lambda: self.save(folder, stem, mesh_formats, depth_formats, wireframe,
                                                               view_png, overwrite=True)), ("Cancel", None)])

        def failed(exc: BaseException) -> None:
            status.status_text = "Saving failed"
            app.dialogs.message("Could not save", save_error_text(exc, folder))

        def saved(written: list[Path]) -> None:
            status.status_text = f"Saved {len(written)} file{'s' if len(written) != 1 else ''} to {folder}"

        status.status_text = f"Saving to {folder} ..."
        app.worker.save(request, SaveCallbacks(on_saved=saved, on_exists=ask, on_error=failed))
