"""The methods the real-depth evaluation scores, each a sample -> depth map on the photo's grid (or None).

* ``generator``: the .tflite as the app and the CLI run it (``facedepth predict --save-depth npy``): the
  app's face detection and crop, the generator at the training scale, mirror-averaged, its code mapped
  back among face pixels (:func:`facedepth.model.depthcode.uncropped`);
* ``flat``: a constant depth (the floor every method must beat);
* ``mean_face`` / ``landmark_fit``: the Surrey model's mean shape posed by a dlib-68 + eos landmark fit, and
  the full fit (shape + expression + pose), rendered in the app's crop and uncropped the same way;
* a folder of ``<stem>.npy`` maps made elsewhere (e.g. a teacher run in an environment of its own).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image

from facedepth.model import crop, depthcode
from facedepth.model.face import FaceDetector
from facedepth.model.imageio import load_photo
from facedepth.model.inference import DepthEstimator
from facedepth.model.resources import DEFAULT_QUALITY
from facedepth.training.evaluate_real_depth import DepthMethod, RealSample
from facedepth.training.teachers import align_to, blend

logger = logging.getLogger(__name__)

BASELINES = ("flat", "mean_face", "landmark_fit")


def flat(sample: RealSample) -> np.ndarray:
    with Image.open(sample.image_path) as image:
        width, height = image.size
    return np.zeros((height, width), np.float32)


def app_generator(estimator: DepthEstimator) -> DepthMethod:
    """The generator behind ``estimator`` (already wrapped as the app runs it) through the app's service."""
    from facedepth.model.service import DepthService, NoFaceError

    service = DepthService(estimator)

    def predict(sample: RealSample) -> np.ndarray | None:
        try:
            return service.predict(load_photo(sample.image_path)).depth_mm
        except NoFaceError:
            return None

    return predict


def saved_maps(folder: Path) -> DepthMethod:
    """Depth maps saved as ``folder/<stem>.npy`` (a missing file = no output)."""
    folder = Path(folder)

    def load(sample: RealSample) -> np.ndarray | None:
        path = folder / f"{sample.stem}.npy"
        return np.load(path).astype(np.float32) if path.is_file() else None

    return load


class LandmarkFits:
    """dlib-68 landmarks + eos fit per photo (computed once per sample), rendered as two methods."""

    def __init__(self, sfm_dir: Path | None = None) -> None:
        self.sfm_dir = sfm_dir
        self._cache: dict[str, dict[str, np.ndarray | None]] = {}

    @cached_property
    def _model(self):
        from facedepth.training.facemodel import FaceModel

        return FaceModel(self.sfm_dir)

    @cached_property
    def _detector(self) -> FaceDetector:
        return FaceDetector()

    def _maps(self, sample: RealSample) -> dict[str, np.ndarray | None]:
        if sample.stem not in self._cache:
            self._cache = {sample.stem: self._render(sample)}  # methods ask in turn for the same sample
        return self._cache[sample.stem]

    def _render(self, sample: RealSample) -> dict[str, np.ndarray | None]:
        from facedepth.training.pseudo_gt import render_fit_code

        rgb = load_photo(sample.image_path)
        face = self._detector.largest(rgb)
        if face is None:
            return {"mean_face": None, "landmark_fit": None}
        height, width = rgb.shape[:2]
        fit = self._model.fit(face.landmarks, width, height)
        box = crop.box_from_landmarks(face.landmarks)
        maps = {}
        for name, vertices in (("mean_face", self._model.vertices()), ("landmark_fit", fit.vertices)):
            code, side_mm = render_fit_code(self._model, vertices, fit, box)
            full = depthcode.uncropped(code, box, width, height)
            maps[name] = depthcode.decode(full, crop_side_mm=side_mm)
        return maps

    def method(self, name: str) -> DepthMethod:
        return lambda sample: self._maps(sample)[name]


def baseline_methods(names: tuple[str, ...] = BASELINES, sfm_dir: Path | None = None) -> dict[str, DepthMethod]:
    fits = LandmarkFits(sfm_dir)
    makers: dict[str, Callable[[], DepthMethod]] = {"flat": lambda: flat, "mean_face": lambda: fits.method("mean_face"),
                                                   "landmark_fit": lambda: fits.method("landmark_fit")}
    unknown = set(names) - set(makers)
    if unknown:
        raise ValueError(f"unknown baseline(s) {', '.join(sorted(unknown))} (choose from {', '.join(makers)})")
    return {name: makers[name]() for name in names}


def fused(first: DepthMethod, second: DepthMethod) -> DepthMethod:
    """The mean of two methods, the second aligned to the first (least-squares scale, shift and tilt on the
    pixels both predict); where only one predicts, that one (aligned); the other alone when one gives nothing."""

    def predict(sample: RealSample) -> np.ndarray | None:
        a, b = first(sample), second(sample)
        if a is None or b is None:
            return a if b is None else b
        return align_and_average(a, b)

    return predict


def reposed(shape: DepthMethod, pose: DepthMethod) -> DepthMethod:
    """``shape``'s depth tilted, scaled and shifted to agree with ``pose``'s (least squares on the pixels both
    predict): one method's face shape in the other's head pose, on the first one's pixels; ``shape`` as it is
    when ``pose`` gives nothing or the two cannot be aligned."""

    def predict(sample: RealSample) -> np.ndarray | None:
        a, b = pose(sample), shape(sample)
        aligned = None if a is None or b is None else _aligned(a, b)
        return b if aligned is None else aligned.astype(np.float32)

    return predict


def _aligned(a: np.ndarray, b: np.ndarray) -> np.ndarray | None:
    """``b`` scaled, shifted and tilted onto ``a``; None when they share too few pixels or disagree in sign."""
    alignment = align_to(a, b, min_pixels=3)
    return None if alignment is None or alignment[1] <= 0 else alignment[0]


def align_and_average(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``b`` aligned to ``a`` and averaged with it (``a`` alone when they cannot be aligned)."""
    aligned = _aligned(a, b)
    return a if aligned is None else blend(a, aligned).astype(np.float32)


def parse_named_folder(text: str) -> tuple[str, Path]:
    """'NAME=DIR' -> (NAME, DIR), for --teacher."""
    name, sep, folder = text.partition("=")
    if not sep or not name or not folder:
        raise ValueError(f"expected NAME=DIR, got {text!r}")
    return name, Path(folder)


def methods_for(weights: Path | None, with_generator: bool = True, baselines: tuple[str, ...] = BASELINES,
                teachers: list[tuple[str, Path]] = (), fusions: list[str] = (), reposings: list[str] = (),
                sfm_dir: Path | None = None, quality: str = DEFAULT_QUALITY) -> dict[str, DepthMethod]:
    """The methods to score: the generator (as the app runs it at ``quality``), baselines, saved maps, fusions
    'A+B' of any two of those, and reposings 'S@P' (S's shape in P's pose) of any two of all the former."""
    methods: dict[str, DepthMethod] = {}
    if with_generator:
        from facedepth.model.inference import load_app_estimator

        methods["generator"] = app_generator(load_app_estimator(weights, quality=quality))
    methods.update(baseline_methods(baselines, sfm_dir))
    methods.update({name: saved_maps(folder) for name, folder in teachers})
    for fusion in fusions:
        parts = fusion.split("+")
        if len(parts) != 2 or not all(p in methods for p in parts):
            raise ValueError(f"--fuse {fusion!r}: expected A+B of the methods {', '.join(methods)}")
        methods[fusion] = fused(methods[parts[0]], methods[parts[1]])
    for reposing in reposings:
        shape, at, pose = reposing.rpartition("@")
        if not at or shape not in methods or pose not in methods:
            raise ValueError(f"--repose {reposing!r}: expected SHAPE@POSE of the methods {', '.join(methods)}")
        methods[reposing] = reposed(methods[shape], methods[pose])
    return methods
