"""Export of a trained Keras generator to a .tflite file for LiteRT, stamped with its FaceDepth identity
(:mod:`facedepth.model.identity`), with a sha256 for the model card."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from facedepth.model import identity
from facedepth.model.files import atomic_write_bytes

logger = logging.getLogger(__name__)


def tflite_bytes(generator, fp16: bool = True) -> bytes:
    """Converts the generator in inference mode (batch-norm moving statistics, no dropout)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(generator)
    if fp16:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    return converter.convert()


def export_tflite(generator, path: Path, fp16: bool = True, model_id: str | None = None) -> str:
    """Writes the .tflite, stamped with ``model_id`` (default: the Keras model's name and the first 12 hex
    digits of the unstamped file's sha256), atomically and returns its sha256."""
    data = tflite_bytes(generator, fp16=fp16)
    model_id = model_id or f"{generator.name}-{hashlib.sha256(data).hexdigest()[:12]}"
    data = identity.stamp(data, model_id)
    atomic_write_bytes(Path(path), data)
    digest = hashlib.sha256(data).hexdigest()
    logger.info("exported %s as %s (%.1f MB, fp16=%s, sha256 %s)", path, model_id, len(data) / 1e6, fp16, digest)
    return digest


def stamp_file(path: Path, model_id: str) -> tuple[str, str]:
    """Stamps an exported .tflite in place with ``model_id`` (for generators exported before export did) and
    moves the ``sha256:`` line of the MODEL_CARD.md beside it, if it named the old file, to the new digest;
    returns (old sha256, new sha256). Stamping the same file with the same id again changes nothing."""
    from facedepth.model import resources

    path = Path(path)
    old = path.read_bytes()
    new = identity.stamp(old, model_id)
    before, after = hashlib.sha256(old).hexdigest(), hashlib.sha256(new).hexdigest()
    if after != before:
        atomic_write_bytes(path, new)
    card = path.parent / resources.MODEL_CARD_FILE
    if card.is_file():
        text = card.read_text(encoding="utf-8")
        if before in text and after != before:
            atomic_write_bytes(card, text.replace(before, after).encode("utf-8"))
            logger.info("%s: sha256 line moved to %s", card, after)
    logger.info("stamped %s as %s (sha256 %s -> %s)", path, model_id, before, after)
    return before, after


def max_abs_difference(generator, tflite_path: Path, photos: np.ndarray) -> float:
    """Largest |Keras - LiteRT| over a batch of photos in [-1, 1] (checks an export)."""
    from ai_edge_litert.interpreter import Interpreter

    interp = Interpreter(model_path=str(tflite_path))
    interp.allocate_tensors()
    inp, out = interp.get_input_details()[0], interp.get_output_details()[0]
    worst = 0.0
    for photo in photos:
        interp.set_tensor(inp["index"], photo[None].astype(np.float32))
        interp.invoke()
        lite = interp.get_tensor(out["index"])
        ref = np.asarray(generator(photo[None], training=False))
        worst = max(worst, float(np.abs(lite - ref).max()))
    return worst
