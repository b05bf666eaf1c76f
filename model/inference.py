"""Running the depth generator: LiteRT for the exported .tflite (the app's path), Keras for .keras files.

TensorFlow/Keras is imported only when a .keras file is asked for; the app and the CLI load .tflite
files through ``ai_edge_litert`` and never import TensorFlow (TensorFlow and Kivy's OpenGL in one
process crash).

Identity: a .tflite must carry the FaceDepth identity written at export (:mod:`facedepth.model.identity`:
model id and depth convention), so another project's model of the same shape is refused. Integrity: when a
``MODEL_CARD.md`` lies beside the weights file and holds ``sha256: <64 hex digits>`` lines, the file's
sha256 must equal one of them, so a half-copied or swapped model is refused instead of silently producing
noise; when the card names a ``Model id:``, the file's identity must name the same.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import threading
from pathlib import Path
from typing import Protocol

import numpy as np

from facedepth.model import crop, depthcode, identity, native, resources, spec
from facedepth.model.imageops import invert_affine, warp_affine
from facedepth.model.ripple import Derippled

logger = logging.getLogger(__name__)

INPUT_SHAPE = (1, spec.IMAGE_SIZE, spec.IMAGE_SIZE, spec.INPUT_CHANNELS)
OUTPUT_SHAPE = (1, spec.IMAGE_SIZE, spec.IMAGE_SIZE, spec.OUTPUT_CHANNELS)
MAX_BATCH = 2
"""Photos per invoke: the mirror average's pair. Larger batches gain nothing more on 2 cores and cost
memory (about 60 MB of activations per photo)."""
_CARD_SHA = re.compile(r"sha256\W{0,4}\s*([0-9a-fA-F]{64})\b")
_CARD_ID = re.compile(r"^\W*model id\W*\s*([^\s`*]+)", re.IGNORECASE | re.MULTILINE)
KERAS_GENERATOR_PREFIX = "unet_generator"
"""Name prefix of the Keras model made by :func:`facedepth.model.architecture.build_generator`."""


class WeightsError(RuntimeError):
    """The generator weights are missing, unreadable, of the wrong shape or do not match the model card."""


class DepthEstimator(Protocol):
    def __call__(self, photos: np.ndarray) -> np.ndarray:
        """(N, 256, 256, 3) float32 photos in [-1, 1] -> (N, 256, 256, 1) float32 depth codes."""
        ...


class TFLiteDepthEstimator:
    """The exported generator run by the LiteRT interpreter (XNNPACK on the CPU).

    The model is exported with batch 1; a call with N photos resizes the input to N and runs them in one
    invoke (both mirror passes as one batch-2 invoke measured 1.3x faster than two batch-1 invokes on 2
    cores, with the same outputs to float rounding). ``num_threads`` defaults to every CPU; batch workers,
    which run side by side, use 1 each.
    """

    def __init__(self, path: Path, num_threads: int | None = None) -> None:
        from ai_edge_litert.interpreter import Interpreter

        self.path = Path(path)
        self.num_threads = num_threads or os.cpu_count() or 1
        try:
            model = self.path.read_bytes()
        except OSError as exc:
            raise WeightsError(f"cannot read weights file {self.path} ({exc.strerror or exc})") from exc
        try:
            self._interp = Interpreter(model_path=str(self.path), num_threads=self.num_threads)
            with native.stderr_to_log(logger, "LiteRT"):
                self._interp.allocate_tensors()
        except (ValueError, RuntimeError) as exc:
            raise WeightsError(f"{self.path}: not a valid LiteRT model ({_first_line(exc)})") from exc
        try:
            self.identity = identity.check(model)
        except identity.IdentityError as exc:
            raise WeightsError(f"{self.path}: {exc}") from exc
        inputs, outputs = self._interp.get_input_details(), self._interp.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise WeightsError(f"{self.path}: expected one input and one output, found {len(inputs)} and "
                               f"{len(outputs)}")
        self._input, self._output = inputs[0], outputs[0]
        _check_shape(self.path, "input", tuple(self._input["shape"]), INPUT_SHAPE)
        _check_shape(self.path, "output", tuple(self._output["shape"]), OUTPUT_SHAPE)
        if self._input["dtype"] != np.float32 or self._output["dtype"] != np.float32:
            raise WeightsError(f"{self.path}: expected float32 input and output")
        self._batch = 1
        self._lock = threading.Lock()  # one interpreter, one caller at a time

    def __call__(self, photos: np.ndarray) -> np.ndarray:
        photos = _check_photos(photos)
        out = np.empty((len(photos), *OUTPUT_SHAPE[1:]), np.float32)
        with self._lock:
            for start in range(0, len(photos), MAX_BATCH):
                chunk = photos[start:start + MAX_BATCH]
                self._resize(len(chunk))
                self._interp.set_tensor(self._input["index"], chunk)
                self._interp.invoke()
                out[start:start + len(chunk)] = self._interp.get_tensor(self._output["index"])
        return out

    def _resize(self, batch: int) -> None:
        """Sets the interpreter's batch size (a re-allocation, so only when it changes)."""
        if batch != self._batch:
            self._interp.resize_tensor_input(self._input["index"], [batch, *INPUT_SHAPE[1:]])
            with native.stderr_to_log(logger, "LiteRT"):
                self._interp.allocate_tensors()
            self._batch = batch


class KerasDepthEstimator:
    """A generator saved by Keras (.keras); for evaluating checkpoints, never used by the app."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up notices are not errors
        try:
            with native.stderr_to_log(logger, "TensorFlow"):
                import keras
        except ImportError as exc:
            raise WeightsError(f"{self.path}: .keras weights need TensorFlow, which this installation lacks "
                               "(install the train extra: pip install 'facedepth[train]'), or pass a "
                               ".tflite") from exc
        try:
            self._model = keras.models.load_model(self.path, compile=False)
        except Exception as exc:  # Keras raises ValueError, OSError, zipfile errors, ... on bad files
            raise WeightsError(f"{self.path}: not a loadable Keras model ({_first_line(exc)})") from exc
        if not str(self._model.name).startswith(KERAS_GENERATOR_PREFIX):
            raise WeightsError(f"{self.path}: not a FaceDepth generator (Keras model {self._model.name!r}, "
                               f"expected {KERAS_GENERATOR_PREFIX}_...)")
        _check_shape(self.path, "input", (1, *self._model.input_shape[1:]), INPUT_SHAPE)
        _check_shape(self.path, "output", (1, *self._model.output_shape[1:]), OUTPUT_SHAPE)

    def __call__(self, photos: np.ndarray) -> np.ndarray:
        photos = _check_photos(photos)
        return np.concatenate([np.asarray(self._model(p[None], training=False), np.float32) for p in photos])


class MirrorAveraged:
    """Test-time augmentation: the mean of the depth of the photos and of their mirror images (mirrored
    back). Faces are nearly symmetric, so this cancels part of the generator's left/right error at twice
    the generator's cost.

    Only pixels that both predictions call face are averaged; the rest is background. Averaging a face
    code with the background code would invent a surface half-way between the two along the outline."""

    def __init__(self, inner: DepthEstimator) -> None:
        self.inner = inner

    def __call__(self, photos: np.ndarray) -> np.ndarray:
        photos = _check_photos(photos)
        both_ways = self.inner(np.concatenate([photos, photos[:, :, ::-1]]))  # one batched call
        direct, mirrored = both_ways[:len(photos)], both_ways[len(photos):, :, ::-1]
        both = depthcode.face_mask(direct) & depthcode.face_mask(mirrored)
        return np.where(both, (direct + mirrored) / 2, np.float32(spec.BACKGROUND_CODE)).astype(np.float32)


class AtTrainingScale:
    """Shows the generator each crop magnified ``spec.JITTER_SIZE / spec.IMAGE_SIZE`` times about its
    centre, the scale every training face had after the seed's random jitter (resize to 286, crop 256),
    and maps its depth code back onto the crop.

    Faces at the crop's own scale are outside what the generator was trained on (the model card's held-out
    figures are measured so, as the app runs it). Codes need no rescaling: training resized the targets with
    the photos and kept their values. The crop's outer ring (13 pixels) is not seen and comes back as background; faces
    lie well inside it.

    On a whole photo, :class:`facedepth.model.service.DepthService` folds this zoom into its crop instead
    (:meth:`view`, then ``inner``): the same pixels, resampling the photo and the code once each instead of twice."""

    def __init__(self, inner: DepthEstimator, zoom: float = spec.JITTER_SIZE / spec.IMAGE_SIZE) -> None:
        self.inner = inner
        self.zoom = zoom
        centre = (spec.IMAGE_SIZE - 1) / 2
        self._in = np.array([[zoom, 0, centre * (1 - zoom)], [0, zoom, centre * (1 - zoom)]])
        self._out = invert_affine(self._in)

    def __call__(self, photos: np.ndarray) -> np.ndarray:
        size = spec.IMAGE_SIZE
        photos = _check_photos(photos)
        zoomed = np.stack([warp_affine(p, self._in, size, size) for p in photos])
        codes = self.inner(zoomed)
        return np.stack([depthcode.warped(code[..., 0], self._out, size, size)[..., None] for code in codes])

    def view(self, box: crop.CropBox) -> crop.CropBox:
        """The square of the photo that this estimator shows ``inner`` when given ``box``'s crop."""
        return crop.zoomed(box, self.zoom)


def load_estimator(path: Path | None = None, num_threads: int | None = None,
                   quality: str = resources.DEFAULT_QUALITY) -> DepthEstimator:
    """The generator at ``path`` (default: the bundled one of ``quality``), after checking it against its model
    card; ``num_threads`` for LiteRT (default: every CPU)."""
    bundled = path is None
    path = Path(path) if path is not None else resources.default_weights(quality)
    if not path.is_file():
        name = resources.GENERATOR_FILES[quality]
        if bundled and path == resources.weights_dir() / name:
            other = [q for q in resources.QUALITIES if q != quality]
            raise WeightsError(f"bundled model missing: weights/{name} not found; train one with facedepth-train, "
                               f"pass --weights or choose --quality {'/'.join(other)}")
        raise WeightsError(f"weights file not found: {path}")
    verify_model_card(path)
    suffix = path.suffix.lower()
    if suffix == ".tflite":
        estimator = TFLiteDepthEstimator(path, num_threads)
        check_card_id(path, estimator.identity)
        return estimator
    if suffix == ".keras":
        return KerasDepthEstimator(path)
    raise WeightsError(f"{path}: unsupported weights format '{suffix}' (expected .tflite or .keras)")


def passes(estimator: DepthEstimator, quality: str) -> DepthEstimator:
    """``best``: the mean of the photo's and its mirror image's depth (two passes); ``fast``: one pass (the
    bundled fast generator was distilled from the best one's mirror-averaged output)."""
    if quality not in resources.QUALITIES:
        raise ValueError(f"quality {quality!r}: choose from {', '.join(resources.QUALITIES)}")
    return MirrorAveraged(estimator) if quality == "best" else estimator


def as_the_app_runs_it(estimator: DepthEstimator, quality: str = resources.DEFAULT_QUALITY) -> DepthEstimator:
    """``estimator`` at the training scale, run as ``quality`` asks (:func:`passes`), without its checkerboard
    ripple (:mod:`facedepth.model.ripple`, on the generator's own grid)."""
    return AtTrainingScale(Derippled(passes(estimator, quality)))


def load_app_estimator(path: Path | None = None, num_threads: int | None = None,
                       quality: str = resources.DEFAULT_QUALITY) -> DepthEstimator:
    """The generator at ``path`` (default: the bundled one of ``quality``) as the app runs it."""
    return as_the_app_runs_it(load_estimator(path, num_threads, quality), quality)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise WeightsError(f"cannot read weights file {path} ({exc.strerror})") from exc
    return digest.hexdigest()


def card_digests(card: Path) -> list[str]:
    """All ``sha256: <hex>`` values in a model card (lower case)."""
    try:
        text = card.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise WeightsError(f"cannot read model card {card} ({exc.strerror})") from exc
    return [m.lower() for m in _CARD_SHA.findall(text)]


def verify_model_card(path: Path) -> str | None:
    """Checks ``path`` against MODEL_CARD.md beside it; returns the digest when a card was checked."""
    card = path.parent / resources.MODEL_CARD_FILE
    if not card.is_file():
        logger.info("no model card beside %s; integrity not checked", path)
        return None
    expected = card_digests(card)
    if not expected:
        logger.warning("%s has no 'sha256: <hex>' line; integrity of %s not checked", card, path.name)
        return None
    actual = file_sha256(path)
    if actual not in expected:
        raise WeightsError(f"{path} does not match its model card: sha256 {actual[:12]}..., card lists "
                           f"{', '.join(d[:12] + '...' for d in expected)}; the file is damaged or was replaced")
    return actual


def card_model_ids(card: Path) -> list[str]:
    """The ``Model id:`` lines of a model card (one per generator it describes)."""
    try:
        return _CARD_ID.findall(card.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return []


def check_card_id(path: Path, found: dict) -> None:
    """Refuses a generator whose identity names none of the models the card beside it describes."""
    card = path.parent / resources.MODEL_CARD_FILE
    named = card_model_ids(card) if card.is_file() else []
    if named and found.get("model_id") not in named:
        raise WeightsError(f"{path}: identifies itself as {found.get('model_id')!r} but its model card "
                           f"describes {' and '.join(repr(n) for n in named)}")


def _check_shape(path: Path, what: str, actual: tuple, expected: tuple) -> None:
    if tuple(int(v) if v is not None else 1 for v in actual) != expected:
        raise WeightsError(f"{path}: {what} shape {tuple(actual)} is not the generator's {expected}")


def _check_photos(photos: np.ndarray) -> np.ndarray:
    photos = np.asarray(photos, dtype=np.float32)
    if photos.ndim != 4 or photos.shape[1:] != INPUT_SHAPE[1:]:
        raise ValueError(f"photos must have shape (N, {', '.join(map(str, INPUT_SHAPE[1:]))}), got {photos.shape}")
    return np.ascontiguousarray(photos)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
