"""Full-integer int8 quantisation of a generator: invoke time and code error against the fp16 export.

Converts the generator (the bundled one by default) to a LiteRT model with int8 weights and activations
(float32 input and output), calibrated on ``--calibration`` held-out crops of a generated data set, and
prints, for each model, the median invoke time of one and of two photos (the app's mirror pair) and the
error of its depth code against the fp16 model's on face pixels of other held-out crops. With ``--out``
it also writes the int8 model, stamped, for ``facedepth-train evaluate --weights`` (held-out and real-depth
accuracy). Needs the training environment (TensorFlow); not dynamic-range int8, which is ~40x slower here.

    python bench/int8.py --data data/gen [--weights PATH] [--calibration 200] [--threads 2] [--out int8.tflite]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np


def int8_bytes(generator, calibration: list[np.ndarray]) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(generator)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([photo[None].astype(np.float32)] for photo in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return converter.convert()


def interpreter(model: Path | bytes, threads: int, batch: int):
    from ai_edge_litert.interpreter import Interpreter

    interp = (Interpreter(model_path=str(model), num_threads=threads) if isinstance(model, Path)
              else Interpreter(model_content=model, num_threads=threads))
    interp.resize_tensor_input(interp.get_input_details()[0]["index"], [batch, 256, 256, 3])
    interp.allocate_tensors()
    return interp


def run(interp, photos: np.ndarray) -> np.ndarray:
    interp.set_tensor(interp.get_input_details()[0]["index"], photos.astype(np.float32))
    interp.invoke()
    return interp.get_tensor(interp.get_output_details()[0]["index"]).copy()


def invoke_ms(model: Path | bytes, threads: int, batch: int, runs: int = 8) -> float:
    interp = interpreter(model, threads, batch)
    photos = np.random.default_rng(0).uniform(-1, 1, (batch, 256, 256, 3))
    times = []
    for _ in range(runs + 2):
        start = time.perf_counter()
        run(interp, photos)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times[2:])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="generated data set (its held-out split)")
    parser.add_argument("--weights", type=Path, help="fp16 generator .tflite (default: the bundled one)")
    parser.add_argument("--ngf", type=int, default=32)
    parser.add_argument("--calibration", type=int, default=200, help="held-out crops to calibrate on")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, help="also write the int8 model here (stamped)")
    args = parser.parse_args(argv)

    from facedepth.model import depthcode, identity, resources
    from facedepth.training.dataset import validation_dataset
    from facedepth.training.warm_start import generator_from_tflite

    weights = args.weights or resources.default_weights()
    pairs = [(p.numpy(), d.numpy()) for p, d in validation_dataset(args.data, batch_size=1,
                                                                    limit=2 * args.calibration).unbatch()]
    calibration, test = [p for p, _ in pairs[::2]], pairs[1::2]
    data = int8_bytes(generator_from_tflite(weights, args.ngf), calibration)
    if args.out:
        model_id = identity.check(weights.read_bytes())["model_id"]
        args.out.write_bytes(identity.stamp(data, f"{model_id}-int8"))
    full, quantised = interpreter(weights, args.threads, 1), interpreter(data, args.threads, 1)
    errors = []
    for photo, target in test:
        face = depthcode.face_mask(target[..., 0])
        errors.append(np.abs(run(full, photo[None])[0, ..., 0] - run(quantised, photo[None])[0, ..., 0])[face])
    errors = np.concatenate(errors)
    print(f"{'model':<8} {'MB':>6} {'1 photo ms':>11} {'2 photos ms':>12} {'face code |error| mean / p99':>30}")
    for name, model, size in (("fp16", weights, weights.stat().st_size), ("int8", data, len(data))):
        error = "-" if name == "fp16" else f"{errors.mean():.4f} / {np.percentile(errors, 99):.4f}"
        print(f"{name:<8} {size / 1e6:>6.1f} {invoke_ms(model, args.threads, 1):>11.1f} "
              f"{invoke_ms(model, args.threads, 2):>12.1f} {error:>30}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
