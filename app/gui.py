"""The FaceDepth window: photo, depth map and 3D mesh side by side; processing in an engine process.

This module wires the app together: the window (:class:`MainWindow`, laid out in facedepth.kv), the
settings, keys and dropped files, and the screenshot option. Processing is :mod:`facedepth.app.processing`,
saving :mod:`facedepth.app.saving`, the wording of errors :mod:`facedepth.app.errors` and the dialogs
:mod:`facedepth.app.dialogs`.

Import :mod:`facedepth.app.main` (which configures Kivy) before this module: importing it creates the window.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import numpy as np
from kivy.app import App
from kivy.clock import Clock
from kivy.core.window import Window
from kivy.metrics import dp
from kivy.properties import BooleanProperty, NumericProperty, ObjectProperty, StringProperty
from kivy.uix.boxlayout import BoxLayout

from facedepth.app import gui_settings
from facedepth.app.backdrop import BackdropLayout
from facedepth.app.dialogs import Buttons, DialogHost, MessageDialog, OpenDialog, SaveDialog
from facedepth.app.display import ResultView, write_png
from facedepth.app.errors import preload_error_text
from facedepth.app.gui_settings import GuiSettings
from facedepth.app.processing import PhotoProcessing
from facedepth.app.saving import SaveController
from facedepth.app.viewer import MeshView
from facedepth.app.worker import ProcessingWorker
from facedepth.model import resources

logger = logging.getLogger(__name__)

KV_FILE = Path(__file__).with_name("facedepth.kv")
BACKGROUND = (0.086, 0.094, 0.110, 1)
MIN_WINDOW = (960, 600)
"""Smallest window size in density-independent pixels."""
SETTINGS = ("quality", "mesh_mode", "poisson_depth", "trim_quantile", "detect_face")
"""The MainWindow properties that hold the processing settings (GuiSettings' fields)."""

__all__ = ["FaceDepthApp", "MainWindow", "MeshView"]


class MainWindow(BackdropLayout, BoxLayout):
    """The root widget; layout in facedepth.kv. Its panels are drawn from a cached backdrop, the 3-D view
    live over it (:mod:`facedepth.app.backdrop`), so turning the view redraws only the view."""

    backdrop_clear = BACKGROUND

    photo_name = StringProperty("")
    photo_texture = ObjectProperty(None, allownone=True)
    depth_texture = ObjectProperty(None, allownone=True)
    legend_texture = ObjectProperty(None, allownone=True)
    near_text = StringProperty("")
    far_text = StringProperty("")
    busy = BooleanProperty(False)
    """A photo is being processed (the one place this is kept)."""
    progress = NumericProperty(0.0)
    stage_text = StringProperty("")
    status_text = StringProperty("")
    has_result = BooleanProperty(False)
    quality = StringProperty(GuiSettings.quality)
    mesh_mode = StringProperty(GuiSettings.mesh_mode)
    poisson_depth = NumericProperty(GuiSettings.poisson_depth)
    trim_quantile = NumericProperty(GuiSettings.trim_quantile)
    detect_face = BooleanProperty(GuiSettings.detect_face)
    face_count = NumericProperty(0)
    """Faces detected on the photo on screen (boxes drawn; with two or more, clicking one processes it)."""
    all_faces = BooleanProperty(False)
    """"All faces" was chosen: saving writes every face."""
    settings_changed = BooleanProperty(False)
    """The settings differ from those of the result on screen (offer to rebuild)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        view = self.ids.mesh_view
        self.keep_live(view, view.layer)


class FaceDepthApp(App):
    """``FaceDepthApp(image=...).run()``; ``screenshot`` saves the window once processing ends, then quits."""

    title = "FaceDepth"
    kv_file = str(KV_FILE)

    def __init__(self, image: Path | None = None, weights: Path | None = None, screenshot: Path | None = None,
                 screenshot_timeout: float = 600.0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.initial_image = Path(image) if image else None
        self.worker = ProcessingWorker(weights)
        self.screenshot_path = Path(screenshot) if screenshot else None
        self.screenshot_timeout = screenshot_timeout
        self.exit_status = 0
        self.last_folder = str(Path.home())
        """Where the open and save dialogs start: the folder last opened from or saved to."""
        self.dialogs = DialogHost()
        self.processing = PhotoProcessing(self)
        self.saving = SaveController(self)

    # ------------------------------------------------------------------ state
    @property
    def busy(self) -> bool:
        return self.root is not None and self.root.busy

    @property
    def result(self) -> ResultView | None:
        return self.processing.result

    @property
    def current(self) -> Path | None:
        """The photo on screen (or being processed)."""
        return self.processing.current

    @property
    def dialog(self):
        """The dialog showing, or None."""
        return self.dialogs.current

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
        root.ids.photo_image.bind(on_touch_down=self.processing.on_photo_touch)
        self.apply_settings_to(root, gui_settings.read(self.config))
        for name in SETTINGS:
            root.bind(**{name: self._settings_edited})
        return root

    def on_start(self) -> None:
        self.preload()
        if self.initial_image is not None:
            self.open_photo(self.initial_image)
        if self.screenshot_path is not None:
            Clock.schedule_once(lambda _dt: self._take_screenshot(timed_out=True), self.screenshot_timeout)

    def on_stop(self) -> None:
        self.worker.shutdown()

    def preload(self) -> None:
        """Starts the engine and loads the models; a failure is a dialog (photos can still be browsed)."""
        self.worker.preload(lambda exc: self.show_message(*preload_error_text(exc)), self.settings.quality)

    # ------------------------------------------------------------------ settings
    @property
    def settings(self) -> GuiSettings:
        root = self.root
        return GuiSettings(quality=root.quality, mesh_mode=root.mesh_mode, poisson_depth=int(root.poisson_depth),
                           trim_quantile=round(float(root.trim_quantile), 3), detect_face=bool(root.detect_face))

    @staticmethod
    def apply_settings_to(root: MainWindow, settings: GuiSettings) -> None:
        for name in SETTINGS:
            setattr(root, name, getattr(settings, name))

    def _settings_edited(self, *_args) -> None:
        gui_settings.write(self.config, self.settings)
        made_with = self.processing.result_settings
        self.root.settings_changed = made_with is not None and self.settings != made_with

    def reset_settings(self) -> None:
        self.apply_settings_to(self.root, GuiSettings())
        gui_settings.write(self.config, GuiSettings())

    # ------------------------------------------------------------------ commands (toolbar, keys, .kv)
    def open_photo(self, path: Path, detect: bool | None = None) -> None:
        """Processes ``path`` (cancels a running job first; the newest request wins)."""
        self.processing.open(path, detect)

    def choose_face(self, choice: int | str) -> None:
        """Shows (processing it first if need be) face ``choice`` of the photo on screen, or "all" faces."""
        self.processing.choose_face(choice)

    def open_sample(self) -> None:
        self.open_photo(resources.sample_image())

    def rebuild(self) -> None:
        if self.current is not None:
            self.open_photo(self.current)

    def cancel(self) -> None:
        self.processing.cancel()

    def save(self, folder: Path, stem: str, mesh_formats: list[str], depth_formats: list[str], wireframe: bool,
             view_png: bool, overwrite: bool = False) -> None:
        """Has the engine write the chosen files of the result on screen (see :class:`SaveController`)."""
        self.saving.save(folder, stem, mesh_formats, depth_formats, wireframe, view_png, overwrite)

    def show_message(self, title: str, message: str, buttons: Buttons | None = None) -> MessageDialog:
        return self.dialogs.message(title, message, buttons)

    def show_open_dialog(self) -> OpenDialog:
        return self.dialogs.open(OpenDialog(start_path=self.last_folder, open_action=self.open_photo))

    def show_save_dialog(self) -> SaveDialog | None:
        return self.saving.show_dialog()

    def job_finished(self) -> None:
        """Called when processing ended and nothing else is waiting: the screenshot option's cue."""
        if self.screenshot_path is not None:
            Clock.schedule_once(lambda _dt: self._take_screenshot(timed_out=False), 0.5)

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
