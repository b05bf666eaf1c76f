"""The FaceDepth window: photo, depth map and 3D mesh side by side; processing in a worker thread.

Import :mod:`facedepth.app.main` (which configures Kivy) before this module: importing it creates the window.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.graphics.texture import Texture
from kivy.metrics import dp
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout

from facedepth.app import gui_settings
from facedepth.app.dialogs import MessageDialog, OpenDialog, SaveDialog
from facedepth.app.display import ResultView, write_png
from facedepth.app.gui_settings import GuiSettings
from facedepth.app.messages import SaveRequest
from facedepth.app.viewer import MeshView
from facedepth.app.worker import EngineStopped, Job, JobCallbacks, ProcessingWorker, SaveCallbacks
from facedepth.model import resources
from facedepth.model.files import probe_writable
from facedepth.model.imageio import ImageLoadError
from facedepth.model.inference import WeightsError
from facedepth.model.progress import Stage
from facedepth.model.service import NoFaceError
from facedepth.reconstruction.settings import DEPTH_FORMATS, MESH_FORMATS

logger = logging.getLogger(__name__)

KV_FILE = Path(__file__).with_name("facedepth.kv")
BACKGROUND = (0.086, 0.094, 0.110, 1)
SAVE_DEFAULTS = {"mesh_formats": ["ply", "glb"], "depth_formats": ["png16", "color"]}
"""The formats ticked when the save dialog opens (it offers all of reconstruction.settings')."""
MIN_WINDOW = (960, 600)
"""Smallest window size in density-independent pixels."""

__all__ = ["FaceDepthApp", "MainWindow", "MeshView"]


def texture_from(rgb: np.ndarray) -> Texture:
    """(H, W, 3) uint8, top row first -> a Kivy texture (uploads from the main thread)."""
    height, width = rgb.shape[:2]
    texture = Texture.create(size=(width, height), colorfmt="rgb")
    texture.blit_buffer(np.ascontiguousarray(rgb[::-1]).tobytes(), colorfmt="rgb", bufferfmt="ubyte")
    return texture


def error_dialog_text(exc: BaseException, name: str) -> tuple[str, str]:
    """(title, message) for a processing error; never a traceback."""
    if isinstance(exc, ImageLoadError):
        return "Cannot open this file", f"{name}: {exc}"
    if isinstance(exc, NoFaceError):
        return "No face found", (f"No face was found in {name}.\n\nYou can process the whole image instead, "
                                 "as if it were a tight crop of a face.")
    if isinstance(exc, WeightsError):
        return "Depth model unavailable", (f"{exc}\n\nPoint the FACEDEPTH_WEIGHTS environment variable at a "
                                           "generator .tflite file, or reinstall FaceDepth.")
    if isinstance(exc, ValueError):
        return "Could not build the face", f"{name}: {exc}"
    if isinstance(exc, EngineStopped):
        return "Processing stopped", f"{name}: {exc}"
    return "Unexpected error", f"{name}: {type(exc).__name__}: {exc}"


class MainWindow(BoxLayout):
    """The root widget; layout in facedepth.kv."""

    photo_name = StringProperty("")
    photo_texture = ObjectProperty(None, allownone=True)
    depth_texture = ObjectProperty(None, allownone=True)
    legend_texture = ObjectProperty(None, allownone=True)
    near_text = StringProperty("")
    far_text = StringProperty("")
    busy = BooleanProperty(False)
    progress = NumericProperty(0.0)
    stage_text = StringProperty("")
    status_text = StringProperty("")
    has_result = BooleanProperty(False)
    mesh_mode = StringProperty(GuiSettings.mesh_mode)
    poisson_depth = NumericProperty(GuiSettings.poisson_depth)
    trim_quantile = NumericProperty(GuiSettings.trim_quantile)
    detect_face = BooleanProperty(GuiSettings.detect_face)
    settings_changed = BooleanProperty(False)
    """The settings differ from those of the result on screen (offer to rebuild)."""


class FaceDepthApp(App):
    """``FaceDepthApp(image=...).run()``; ``screenshot`` saves the window once processing ends, then quits."""

    title = "FaceDepth"
    kv_file = str(KV_FILE)
    busy = BooleanProperty(False)

    def __init__(self, image: Path | None = None, weights: Path | None = None, screenshot: Path | None = None,
                 screenshot_timeout: float = 600.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.initial_image = Path(image) if image else None
        self.worker = ProcessingWorker(weights)
        self.screenshot_path = Path(screenshot) if screenshot else None
        self.screenshot_timeout = screenshot_timeout
        self.exit_status = 0
        self.result: ResultView | None = None
        self.result_settings: GuiSettings | None = None
        self.current: Path | None = None
        self.dialog = None
        self._pending: tuple[Path, bool | None] | None = None
        self._last_folder = str(Path.home())

    # ------------------------------------------------------------------ setup
    def get_application_config(self, defaultpath: str = "") -> str:
        """``<user_data_dir>/facedepth.ini`` (e.g. ~/.config/facedepth/ on Linux); Kivy's home if that fails."""
        try:
            folder = Path(self.user_data_dir)
        except OSError:  # Kivy creates the folder but not its parents
            import kivy

            folder = Path(kivy.kivy_home_dir)
        return str(folder / "facedepth.ini")

    def build_config(self, config) -> None:
        for section, values in gui_settings.defaults().items():
            config.setdefaults(section, values)

    def build(self) -> MainWindow:
        Window.title = self.title
        Window.clearcolor = BACKGROUND  # cheaper than a full-window rectangle with software OpenGL
        set_minimum_size(dp(MIN_WINDOW[0]), dp(MIN_WINDOW[1]))
        icon = resources.icon_path()
        if icon.is_file():
            self.icon = str(icon)
        Window.bind(on_drop_file=self._on_drop_file, on_keyboard=self._on_keyboard)
        root = MainWindow()
        self.apply_settings_to(root, gui_settings.read(self.config))
        for name in ("mesh_mode", "poisson_depth", "trim_quantile", "detect_face"):
            root.bind(**{name: self._settings_edited})
        return root

    def on_start(self) -> None:
        self.worker.preload(self._on_preload_error)
        if self.initial_image is not None:
            self.open_photo(self.initial_image)
        if self.screenshot_path is not None:
            Clock.schedule_once(lambda _dt: self._take_screenshot(timed_out=True), self.screenshot_timeout)

    def on_stop(self) -> None:
        self.worker.shutdown()

    # ------------------------------------------------------------------ settings
    @property
    def settings(self) -> GuiSettings:
        root = self.root
        return GuiSettings(mesh_mode=root.mesh_mode, poisson_depth=int(root.poisson_depth),
                           trim_quantile=round(float(root.trim_quantile), 3), detect_face=bool(root.detect_face))

    @staticmethod
    def apply_settings_to(root: MainWindow, settings: GuiSettings) -> None:
        root.mesh_mode, root.poisson_depth = settings.mesh_mode, settings.poisson_depth
        root.trim_quantile, root.detect_face = settings.trim_quantile, settings.detect_face

    def _settings_edited(self, *_args) -> None:
        gui_settings.write(self.config, self.settings)
        self.root.settings_changed = self.result_settings is not None and self.settings != self.result_settings

    def reset_settings(self) -> None:
        self.apply_settings_to(self.root, GuiSettings())
        gui_settings.write(self.config, GuiSettings())

    # ------------------------------------------------------------------ processing
    def open_photo(self, path: Path, detect: bool | None = None) -> None:
        """Processes ``path`` (cancels a running job first; the newest request wins)."""
        path = Path(path)
        self._last_folder = str(path.parent)
        if self.worker.busy:
            self._pending = (path, detect)
            self.worker.job.cancel()
            return
        self.current = path
        root = self.root
        root.photo_name = path.name
        root.photo_texture = root.depth_texture = root.legend_texture = None
        root.near_text = root.far_text = ""
        root.ids.mesh_view.set_scene(None)
        root.has_result = False
        self.result = None
        root.busy = self.busy = True
        root.progress, root.stage_text, root.status_text = 0.0, Stage.LOADING.label, ""
        callbacks = JobCallbacks(on_progress=self._on_progress, on_photo=self._on_photo, on_done=self._on_done,
                                 on_error=self._on_error, on_cancelled=self._on_cancelled,
                                 on_finished=self._on_finished)
        self.worker.start(path, self.settings, callbacks, detect=detect)

    def open_sample(self) -> None:
        self.open_photo(resources.sample_image())

    def rebuild(self) -> None:
        if self.current is not None:
            self.open_photo(self.current)

    def cancel(self) -> None:
        if self.worker.busy:
            self._pending = None
            self.worker.job.cancel()
            self.root.stage_text = "Cancelling..."

    def _on_progress(self, stage: Stage, fraction: float) -> None:
        self.root.stage_text = stage.label
        self.root.progress = fraction

    def _on_photo(self, photo: np.ndarray) -> None:
        self.root.photo_texture = texture_from(photo)

    def _on_done(self, view: ResultView) -> None:
        root = self.root
        self.result = view
        self.result_settings = self.settings
        root.settings_changed = False
        root.photo_texture = texture_from(view.photo)
        root.depth_texture = texture_from(view.depth)
        root.legend_texture = texture_from(view.legend)
        if np.isfinite(view.near_mm):
            root.near_text, root.far_text = f"near {view.near_mm:.0f} mm", f"far {view.far_mm:.0f} mm"
        root.ids.mesh_view.set_scene(view.scene)
        root.has_result = True
        seconds = view.timings.get("total", 0.0)
        face = "face found" if view.face_found else "whole image"
        root.status_text = (f"{self.current.name}  ·  {face}  ·  {view.triangles:,} triangles, "
                            f"{view.vertices:,} vertices  ·  {seconds:.1f} s")

    def _on_error(self, exc: BaseException) -> None:
        name = self.current.name if self.current else "photo"
        title, message = error_dialog_text(exc, name)
        buttons: list[tuple[str, Callable[[], None] | None]] = [("OK", None)]
        if isinstance(exc, NoFaceError):
            path = self.current
            buttons = [("Use the whole image", lambda: self.open_photo(path, detect=False)), ("Cancel", None)]
        self.root.status_text = title
        self.show_message(title, message, buttons)

    def _on_cancelled(self) -> None:
        self.root.status_text = "Cancelled"

    def _on_finished(self, job: Job) -> None:
        if self.worker.busy:
            return
        self.root.busy = self.busy = False
        self.root.progress = 0.0
        if job.cancelled and self.result is None:
            self.root.status_text = "Cancelled"
        if self._pending is not None:
            path, detect = self._pending
            self._pending = None
            self.open_photo(path, detect)
        elif self.screenshot_path is not None:
            Clock.schedule_once(lambda _dt: self._take_screenshot(timed_out=False), 0.5)

    def _on_preload_error(self, exc: BaseException) -> None:
        if isinstance(exc, WeightsError):
            title, message = error_dialog_text(exc, "")
            self.show_message(title, message + "\n\nYou can still browse photos; processing needs the model.")
        else:
            self.show_message("Face detector unavailable", f"{type(exc).__name__}: {exc}")

    # ------------------------------------------------------------------ dialogs
    def show_message(self, title: str, message: str,
                     buttons: list[tuple[str, Callable[[], None] | None]] | None = None) -> MessageDialog:
        dialog = MessageDialog(title, message, buttons)
        dialog.bind(on_dismiss=self._dialog_closed)
        self.dialog = dialog
        dialog.open()
        return dialog

    def _dialog_closed(self, dialog, *_args) -> None:
        if self.dialog is dialog:
            self.dialog = None

    def show_open_dialog(self) -> OpenDialog:
        dialog = OpenDialog(start_path=self._last_folder, open_action=self.open_photo)
        dialog.bind(on_dismiss=self._dialog_closed)
        self.dialog = dialog
        dialog.open()
        return dialog

    def show_save_dialog(self) -> SaveDialog | None:
        if self.result is None:
            return None
        has_mesh = self.result.scene is not None
        dialog = SaveDialog(folder=self._last_folder, stem=self.current.stem if self.current else "face",
                            **SAVE_DEFAULTS, has_mesh=has_mesh,
                            save_action=self.save)
        dialog.bind(on_dismiss=self._dialog_closed)
        self.dialog = dialog
        dialog.open()
        return dialog

    # ------------------------------------------------------------------ saving
    def save(self, folder: Path, stem: str, mesh_formats: list[str], depth_formats: list[str], wireframe: bool,
             view_png: bool, overwrite: bool = False) -> None:
        """Checks the target and has the engine write the chosen files; asks before replacing anything."""
        if self.result is None:
            return
        if not stem or Path(stem).name != stem or stem in (".", ".."):
            self.show_message("Cannot save", f"'{stem}' is not a usable file name.")
            return
        with_mesh = self.result.scene is not None
        mesh_formats = [f for f in mesh_formats if f in MESH_FORMATS] if with_mesh else []
        depth_formats = [f for f in depth_formats if f in DEPTH_FORMATS]
        wireframe, view_png = wireframe and with_mesh, view_png and with_mesh
        if not (mesh_formats or depth_formats or wireframe or view_png):
            self.show_message("Cannot save", "Choose at least one format to save.")
            return
        problem = folder_problem(folder)
        if problem:
            self.show_message("Cannot save", problem)
            return
        self._last_folder = str(folder)
        pixels = self.root.ids.mesh_view.render_pixels() if view_png else None
        request = SaveRequest(folder=folder, stem=stem, mesh_formats=tuple(mesh_formats),
                              depth_formats=tuple(depth_formats), wireframe=wireframe, overwrite=overwrite,
                              view_pixels=pixels)

        def ask(existing: list[Path]) -> None:
            self.root.status_text = ""
            names = "\n".join(p.name for p in existing[:8]) + ("\n..." if len(existing) > 8 else "")
            self.show_message("Replace existing files?", f"These files already exist in {folder}:\n{names}",
                              [("Replace", lambda: self.save(folder, stem, mesh_formats, depth_formats, wireframe,
                                                             view_png, overwrite=True)), ("Cancel", None)])

        def failed(exc: BaseException) -> None:
            self.root.status_text = "Saving failed"
            self.show_message("Could not save", _save_error(exc, folder))

        def saved(written: list[Path]) -> None:
            self.root.status_text = f"Saved {len(written)} file{'s' if len(written) != 1 else ''} to {folder}"

        self.root.status_text = f"Saving to {folder} ..."
        self.worker.save(request, SaveCallbacks(on_saved=saved, on_exists=ask, on_error=failed))

    # ------------------------------------------------------------------ window events
    def _on_drop_file(self, _window, filename: bytes, *_args) -> None:
        path = Path(os.fsdecode(filename))
        if path.is_dir():
            self.show_message("Cannot open this file", f"{path.name} is a folder; drop an image file.")
            return
        self.open_photo(path)

    def _on_keyboard(self, _window, key: int, _scancode, codepoint, modifiers) -> bool:
        ctrl = "ctrl" in modifiers or "meta" in modifiers
        if key == 27:  # Esc: cancel processing or close the dialog (ModalView closes itself); never quit
            if self.dialog is None and self.worker.busy:
                self.cancel()
            return True
        if ctrl and codepoint == "o" and self.dialog is None:
            self.show_open_dialog()
            return True
        if ctrl and codepoint == "s" and self.dialog is None:
            self.show_save_dialog()
            return True
        return False

    # ------------------------------------------------------------------ screenshot
    def _take_screenshot(self, timed_out: bool) -> None:
        if self.screenshot_path is None:
            return
        path, self.screenshot_path = self.screenshot_path, None
        try:
            save_window_png(path)
        except Exception as exc:
            logger.error("could not save the screenshot %s: %s", path, exc)
            self.exit_status = 1
        else:
            logger.info("saved %s", path)
            self.exit_status = 1 if timed_out or self.result is None else 0
        self.stop()


def set_minimum_size(width: float, height: float) -> None:
    """Window.minimum_width/height (Kivy warns about the first of the two while the other is still 0)."""
    kivy_log = logging.getLogger("kivy")
    level = kivy_log.level
    kivy_log.setLevel(logging.ERROR)
    try:
        Window.minimum_width = round(width)
    finally:
        kivy_log.setLevel(level)
    Window.minimum_height = round(height)


def folder_problem(folder: Path) -> str | None:
    """Why files cannot be written into ``folder`` (None when a probe file can be created and removed)."""
    if not folder.exists():
        return f"The folder {folder} does not exist."
    if not folder.is_dir():
        return f"{folder} is not a folder."
    try:
        probe_writable(folder)
    except OSError as exc:
        return f"Cannot write to the folder {folder}: {exc.strerror or exc}."
    return None


def _save_error(exc: BaseException, folder: Path) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        target = exc.filename2 or exc.filename or folder  # os.replace(temp, target) names the target second
        return f"Cannot write {target}: {exc.strerror}."
    return f"{type(exc).__name__}: {exc}"


def save_window_png(path: Path) -> Path:
    """Atomically writes what the window shows as a PNG (replacing ``path``): the window is drawn into
    the back buffer and read back before any buffer swap."""
    from kivy.graphics.opengl import GL_RGBA, GL_UNSIGNED_BYTE, glReadPixels

    width, height = (int(v) for v in Window.size)
    Window.dispatch("on_draw")
    data = glReadPixels(0, 0, width, height, GL_RGBA, GL_UNSIGNED_BYTE)
    pixels = np.frombuffer(data, dtype=np.uint8)[: width * height * 4].reshape(height, width, 4)[::-1, :, :3]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return write_png(np.ascontiguousarray(pixels), Path(path), overwrite=True)
