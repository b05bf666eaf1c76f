"""Drives the real FaceDepth window inside the pytest process (one window per process, as in Kivy itself).

Needs a display: the current one, or an Xvfb server started here when none is set. Kivy must be configured
before it is first imported, so nothing here imports Kivy at module level.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from facedepth.app import xvfb


def start_xvfb() -> subprocess.Popen | None:
    """Starts Xvfb on a free display number and points DISPLAY at it (None when a display is set)."""
    if os.environ.get("DISPLAY"):
        return None
    if shutil.which("Xvfb") is None:
        pytest.skip("GUI tests need a display or Xvfb (apt-get install xvfb)")
    server, os.environ["DISPLAY"] = xvfb.start()
    return server


class Harness:
    """The running app plus helpers that pump Kivy's event loop until something happens."""

    def __init__(self, app) -> None:
        from kivy.base import EventLoop

        self.app = app
        self.loop = EventLoop

    @property
    def root(self):
        return self.app.root

    @property
    def view(self):
        return self.app.root.ids.mesh_view

    def pump(self, condition: Callable[[], bool] = lambda: False, timeout: float = 180.0,
             what: str = "the condition") -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
            self.loop.idle()

    def frames(self, count: int = 3) -> None:
        for _ in range(count):
            self.loop.idle()

    def wait_idle(self, timeout: float = 300.0) -> None:
        """Until no photo is being processed (and the last callbacks have been delivered)."""
        self.pump(lambda: not self.app.busy and not self.app.worker.busy, timeout, "processing to finish")
        self.frames(3)

    def process(self, path: Path, detect: bool | None = None) -> None:
        self.app.open_photo(path, detect)
        self.wait_idle()

    def wait_dialog(self, kind: type | None = None, timeout: float = 60.0):
        from kivy.uix.modalview import ModalView

        def shown():
            dialog = self.app.dialog
            return isinstance(dialog, kind or ModalView) and self.app.dialogs.is_showing(dialog)

        self.pump(shown, timeout, f"a {kind.__name__ if kind else 'dialog'}")
        self.frames(2)
        return self.app.dialog

    def close_dialogs(self) -> None:
        from kivy.core.window import Window
        from kivy.uix.modalview import ModalView

        for child in list(Window.children):
            if isinstance(child, ModalView):
                child.dismiss(animation=False)
        self.frames(3)

    def key(self, key: int, codepoint: str = "", modifiers: list[str] | None = None) -> None:
        from kivy.core.window import Window

        Window.dispatch("on_keyboard", key, 0, codepoint, modifiers or [])
        self.frames(2)

    def drag(self, start: tuple[float, float], end: tuple[float, float], steps: int = 8, button: str = "left") -> None:
        """A mouse drag from ``start`` to ``end`` (window coordinates) with ``button`` held."""
        from kivy.tests.common import UnitTestTouch

        touch = UnitTestTouch(*start)
        touch.profile.append("button")
        touch.button = button
        touch.touch_down()
        self.frames(1)
        for i in range(1, steps + 1):
            f = i / steps
            touch.touch_move(start[0] + (end[0] - start[0]) * f, start[1] + (end[1] - start[1]) * f)
            self.frames(1)
        touch.touch_up()
        self.frames(2)

    def click(self, pos: tuple[float, float], button: str = "left", double: bool = False) -> None:
        from kivy.tests.common import UnitTestTouch

        touch = UnitTestTouch(*pos)
        touch.profile.append("button")
        touch.button = button
        touch.is_double_tap = double
        touch.touch_down()
        self.frames(1)
        touch.touch_up()
        self.frames(2)


def launch(weights: Path, home: Path) -> tuple[Harness, subprocess.Popen | None]:
    """Configures Kivy for a headless test run, opens the window and returns the harness."""
    if "tensorflow" in sys.modules or "keras" in sys.modules:
        pytest.fail("TensorFlow is already imported in this pytest process (by another test module); TensorFlow "
                    "and Kivy's OpenGL crash together: run the GUI tests on their own, e.g. "
                    "pytest -m gui tests/test_app_gui.py")
    server = start_xvfb()
    (home / "config").mkdir(parents=True, exist_ok=True)
    os.environ.update(KIVY_NO_ARGS="1", KIVY_HOME=str(home / "kivy"), XDG_CONFIG_HOME=str(home / "config"),
                      FACEDEPTH_WEIGHTS=str(weights), KIVY_LOG_MODE="PYTHON")
    from facedepth.app.main import configure_kivy

    configure_kivy()
    from kivy.base import runTouchApp

    from facedepth.app.gui import FaceDepthApp

    app = FaceDepthApp()
    app._run_prepare()
    runTouchApp(embedded=True)
    harness = Harness(app)
    harness.frames(5)
    return harness, server


def shut_down(harness: Harness, server: subprocess.Popen | None) -> None:
    from kivy.base import stopTouchApp

    if harness.app.worker.job is not None:
        harness.app.worker.job.cancel()
    harness.app.stop()
    stopTouchApp()
    if server is not None:
        xvfb.stop(server)
