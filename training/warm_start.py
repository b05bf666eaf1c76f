"""A Keras generator with the weights of an exported .tflite: to fine-tune a bundled generator whose
training checkpoints are gone.

The converter folds each batch-norm into the convolution before it (scale into the kernel, shift into a
bias), so the rebuilt network's batch-norm layers are set to the identity plus that bias and frozen
(``trainable = False``, which Keras runs with the moving statistics): fine-tuning then trains kernels only,
and the network computes what the export computes. Dropout stays as the seed has it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import keras
import numpy as np

from facedepth.model.architecture import build_generator

logger = logging.getLogger(__name__)


def conv_weights(path: Path) -> list[tuple[np.ndarray, np.ndarray | None]]:
    """(kernel, bias or None) of every convolution and transposed convolution, in execution order, with
    kernels in TFLite's (out, h, w, in) layout; fp16 constants are read through their dequantize ops."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    # Without the default XNNPACK delegate, which would swallow the graph's ops.
    interpreter = Interpreter(model_path=str(path),
                              experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interpreter.allocate_tensors()
    ops = interpreter._get_ops_details()  # LiteRT has no public view of the graph
    source = {int(op["outputs"][0]): int(op["inputs"][0]) for op in ops if op["op_name"] == "DEQUANTIZE"}

    def constant(index: int) -> np.ndarray:
        return np.asarray(interpreter.get_tensor(source.get(index, index)), np.float32)

    found = []
    for op in ops:
        bias_at = {"CONV_2D": 2, "TRANSPOSE_CONV": 3}.get(op["op_name"])
        if bias_at is None:
            continue
        inputs = [int(i) for i in op["inputs"]]
        bias = constant(inputs[bias_at]) if len(inputs) > bias_at and inputs[bias_at] >= 0 else None
        found.append((constant(inputs[1]), bias))
    return found


def norms_of(block: keras.Sequential) -> list[keras.layers.BatchNormalization]:
    return [layer for layer in block.layers if isinstance(layer, keras.layers.BatchNormalization)]


def generator_from_tflite(path: Path, ngf: int) -> keras.Model:
    """The U-Net of :func:`facedepth.model.architecture.build_generator` holding the .tflite's weights."""
    model = build_generator(ngf)
    blocks = [layer for layer in model.layers if layer.name.startswith(("down", "up"))]
    head = model.get_layer("depth")
    weights = conv_weights(Path(path))
    if len(weights) != len(blocks) + 1:
        raise ValueError(f"{path}: {len(weights)} convolutions, expected {len(blocks) + 1}: not a FaceDepth generator")
    try:
        for block, (kernel, bias) in zip(blocks, weights, strict=False):
            conv = block.layers[0]
            transposed = isinstance(conv, keras.layers.Conv2DTranspose)
            conv.kernel.assign(np.transpose(kernel, (1, 2, 0, 3) if transposed else (1, 2, 3, 0)))
            channels = kernel.shape[0]
            shift = bias if bias is not None else np.zeros(channels, np.float32)
            norms = norms_of(block)
            if not norms and np.any(shift):
                raise ValueError(f"{block.name} has a bias but no batch-norm to hold it")
            for norm in norms:
                norm.gamma.assign(np.ones(channels, np.float32))
                norm.beta.assign(shift)
                norm.moving_mean.assign(np.zeros(channels, np.float32))
                norm.moving_variance.assign(np.full(channels, 1.0 - norm.epsilon, np.float32))
                norm.trainable = False
        kernel, bias = weights[-1]
        head.kernel.assign(np.transpose(kernel, (1, 2, 0, 3)))
        head.bias.assign(bias if bias is not None else np.zeros(kernel.shape[0], np.float32))
    except ValueError as exc:
        raise ValueError(f"{path}: its weights do not fit a generator of ngf={ngf} ({exc})") from None
    return model
