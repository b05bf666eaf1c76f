"""Per-epoch validation on the real-depth set: a Keras generator scored as the app would run its export.

Photos are loaded and faces detected once; each call runs the generator through the app's own service
(crop at the training scale, mirror average, code mapped back among face pixels, decode) and scores the
result with the set's protocol (:mod:`facedepth.training.evaluate_real_depth`). Validation only: nothing
here feeds training data.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from facedepth.model.face import Face, FaceDetector
from facedepth.model.imageio import load_photo
from facedepth.model.inference import as_the_app_runs_it
from facedepth.model.service import DepthService, NoFaceError
from facedepth.training.evaluate_real_depth import RealSample, evaluate_methods, load_real_depth_set

GeneratorCall = Callable[[np.ndarray], np.ndarray]
"""A generator as a function: (N, 256, 256, 3) photos in [-1, 1] -> (N, 256, 256, 1) codes."""


class RemembersFaces(FaceDetector):
    """A face detector that detects each photo (by identity) once: the validator shows it the same arrays
    every epoch."""

    def __init__(self) -> None:
        super().__init__()
        self._found: dict[int, list[Face]] = {}

    def detect(self, rgb: np.ndarray) -> list[Face]:
        if id(rgb) not in self._found:
            self._found[id(rgb)] = super().detect(rgb)
        return self._found[id(rgb)]


class RealDepthValidator:
    """Scores generators on the real-depth set; build once, call every epoch."""

    def __init__(self, folder: Path, limit: int | None = None, quality: str = "best") -> None:
        self.quality = quality
        """How the generator is run (:func:`facedepth.model.inference.passes`): a student is validated in the
        one pass the app gives it, the full generator mirror-averaged."""
        self.samples = load_real_depth_set(folder, limit)
        self._photos = {s.stem: load_photo(s.image_path) for s in self.samples}
        self._detector = RemembersFaces()

    def __call__(self, generator: GeneratorCall) -> dict:
        """The set's summary for ``generator``: median_rmse_mm, median_rmse_tilt_mm, failures, per pose, ..."""
        service = DepthService(as_the_app_runs_it(generator, self.quality), self._detector)

        def predict(sample: RealSample) -> np.ndarray | None:
            try:
                return service.predict(self._photos[sample.stem]).depth_mm
            except NoFaceError:
                return None

        return evaluate_methods(self.samples, {"generator": predict})["methods"]["generator"]


def keras_generator_call(model) -> GeneratorCall:
    """A Keras generator in inference mode as a :data:`GeneratorCall`."""
    return lambda photos: np.asarray(model(photos, training=False), np.float32)
