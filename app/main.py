"""The ``facedepth-app`` command: the FaceDepth window, optionally opening a photo straight away.

``facedepth-app [IMAGE] [--weights PATH] [--screenshot PNG]``. With ``--screenshot`` the window saves
itself as a PNG once the photo is processed (or its error dialog is shown) and quits; exit status 0 when
a result was shown, 1 otherwise. TensorFlow is never imported in this process (LiteRT runs the model).
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from facedepth.model.reporting import configure_logging, verbosity_level

WINDOW_SIZE = (1360, 820)


def configure_kivy() -> None:
    """Settings that must be in place before Kivy creates its window (call before importing app.gui)."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")  # our own command line, not Kivy's
    os.environ.setdefault("KIVY_LOG_MODE", "PYTHON")  # Kivy logs through `logging` like the rest
    from kivy.config import Config

    from facedepth.model import resources

    Config.set("kivy", "exit_on_escape", "0")  # Esc cancels or closes a dialog; it never quits
    Config.set("input", "mouse", "mouse,disable_multitouch")  # right-drag pans instead of adding touch dots
    # Single-sampled window: Kivy's default (2) gets a 4x multisampled window from llvmpipe, so every frame
    # wrote and resolved 4 samples per pixel (half of a frame's CPU time with the cached backdrop); only the
    # panels' rounded corners were smoothed by it (the 3-D view draws into its own, single-sampled Fbo).
    Config.set("graphics", "multisamples", "0")
    Config.set("graphics", "width", str(WINDOW_SIZE[0]))
    Config.set("graphics", "height", str(WINDOW_SIZE[1]))
    icon = resources.icon_path()
    if icon.is_file():
        Config.set("kivy", "window_icon", str(icon))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="facedepth-app", description="FaceDepth: one face photo -> 3D face mesh.")
    parser.add_argument("image", nargs="?", type=Path, metavar="IMAGE", help="photo to open at start")
    parser.add_argument("--weights", type=Path, metavar="PATH",
                        help="generator .tflite (default: the bundled weights, or $FACEDEPTH_WEIGHTS)")
    parser.add_argument("--screenshot", type=Path, metavar="PNG",
                        help="save the window as PNG once IMAGE is processed, then quit")
    parser.add_argument("--screenshot-timeout", type=float, default=600.0, metavar="SECONDS",
                        help="with --screenshot: save whatever is shown after this long (default 600)")
    parser.add_argument("-v", "--verbose", action="count", default=0, help="log progress (-vv: debug)")
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    multiprocessing.freeze_support()  # the processing engine is a spawned process (also in frozen builds)
    args = build_parser().parse_args(argv)
    level = verbosity_level(args.verbose)
    configure_logging(level)
    for handler in logging.getLogger().handlers:  # Kivy's start-up chatter only with -v (its level is its own)
        handler.addFilter(lambda record: record.levelno >= level or not record.name.startswith("kivy"))
    configure_kivy()
    from facedepth.app.gui import FaceDepthApp

    app = FaceDepthApp(image=args.image, weights=args.weights, screenshot=args.screenshot,
                       screenshot_timeout=args.screenshot_timeout)
    app.run()
    return app.exit_status


if __name__ == "__main__":
    sys.exit(run())
