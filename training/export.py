"""Export of a trained Keras generator to a .tflite file for LiteRT, with a sha256 for the model card."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

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


def export_tflite(generator, path: Path, fp16: bool = True) -> str:
    """Writes the .tflite atomically and returns its sha256."""
    data = tflite_bytes(generator, fp16=fp16)
    atomic_write_bytes(Path(path), data)
    digest = hashlib.sha256(data).hexdigest()
    logger.info("exported %s (%.1f MB, fp16=%s, sha256 %s)", path, len(data) / 1e6, fp16, digest)
    return digest


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
