"""Training throughput (img/s, data pipeline included): our training step vs the TensorFlow pix2pix tutorial's.

All variants drive the same networks (model.architecture, --ngf/--ndf) with the same batch size on the same data:

* ``tutorial``: a plain re-implementation of the tutorial loop - tf.data with the seed's jitter and mirroring
  only, and a ``@tf.function`` train step with two GradientTapes over the float32 networks;
* ``facedepth``: what ``facedepth-train train`` runs with its defaults - training.dataset (jitter + mirroring +
  photometric augmentation, real/synthetic mix) and the compiled train function that Keras ``fit`` calls;

and, to measure one change each against ``facedepth``:

* ``float32``: float32 compute instead of the default precision (``auto``: bfloat16 where the CPU has it);
* ``xla``: the train step XLA-compiled (``jit_compile``);
* ``serial-data``: the input pipeline on one thread instead of tf.data's parallel maps;
* ``plain-data``: the tutorial's input pipeline (no photometric augmentation) instead of ours;
* ``hand-loop``: the step wrapped in ``tf.function`` by hand, as training/train.py did before it used ``fit``.

The variants take turns (``--rounds`` rounds of ``--steps`` steps each, after a warm-up), so that a machine
whose load changes (a shared one) slows them alike; the table gives each variant's median, min and max over the
rounds and the ratio of medians to the tutorial.

Usage: python bench/train_throughput.py --data data/gen [--rounds 5] [--steps 8] [--variants facedepth,float32]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import keras
import tensorflow as tf

from facedepth.model.architecture import build_discriminator, build_generator
from facedepth.model.losses import discriminator_loss, generator_loss
from facedepth.training.dataset import DataConfig, list_samples, load_pair, random_jitter, training_dataset
from facedepth.training.precision import resolve_precision
from facedepth.training.storage import DEFAULT_DATA_DIR
from facedepth.training.train import TrainConfig, build_model

Step = Callable[[], object]


def tutorial_dataset(data: Path, batch: int) -> tf.data.Dataset:
    stems = list_samples(data / "train")
    return (tf.data.Dataset.from_tensor_slices(stems).shuffle(1000).repeat()
            .map(load_pair, num_parallel_calls=tf.data.AUTOTUNE)
            .map(random_jitter, num_parallel_calls=tf.data.AUTOTUNE).batch(batch).prefetch(tf.data.AUTOTUNE))


def tutorial_step(cfg: TrainConfig) -> Step:
    ds = iter(tutorial_dataset(cfg.data.data_dir, cfg.data.batch_size))
    generator, discriminator = build_generator(cfg.ngf), build_discriminator(cfg.ndf)
    g_opt, d_opt = keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5)

    @tf.function
    def train_step(input_image, target):
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            gen_output = generator(input_image, training=True)
            disc_real_output = discriminator([input_image, target], training=True)
            disc_generated_output = discriminator([input_image, gen_output], training=True)
            gen_total_loss, *_ = generator_loss(disc_generated_output, gen_output, target)
            disc_loss = discriminator_loss(disc_real_output, disc_generated_output)
        g_opt.apply_gradients(zip(gen_tape.gradient(gen_total_loss, generator.trainable_variables),
                                  generator.trainable_variables, strict=True))
        d_opt.apply_gradients(zip(disc_tape.gradient(disc_loss, discriminator.trainable_variables),
                                  discriminator.trainable_variables, strict=True))
        return disc_loss

    return lambda: train_step(*next(ds))


def fit_step(cfg: TrainConfig, ds: tf.data.Dataset | None = None) -> Step:
    """One call of the train function that ``fit`` builds and calls once per step."""
    model = build_model(cfg)
    model.make_train_function()
    train_function = model.train_function
    iterator = iter(ds if ds is not None else training_dataset(cfg.data)[0])
    return lambda: train_function(iterator)


def serial_data_step(cfg: TrainConfig) -> Step:
    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    options.threading.max_intra_op_parallelism = 1
    return fit_step(cfg, training_dataset(cfg.data)[0].with_options(options))


def hand_loop_step(cfg: TrainConfig) -> Step:
    step = tf.function(build_model(cfg).train_step, reduce_retracing=True)
    iterator = iter(training_dataset(cfg.data)[0])
    return lambda: step(next(iterator))


VARIANTS: dict[str, Callable[[TrainConfig], Step]] = {
    "tutorial": tutorial_step,
    "facedepth": fit_step,
    "float32": lambda cfg: fit_step(replace(cfg, precision="float32")),
    "xla": lambda cfg: fit_step(replace(cfg, jit_compile=True)),
    "serial-data": serial_data_step,
    "plain-data": lambda cfg: fit_step(cfg, tutorial_dataset(cfg.data.data_dir, cfg.data.batch_size)),
    "hand-loop": hand_loop_step,
}


def _finish(result) -> None:
    """Waits for a step's outputs (a dict of tensors or one tensor) to exist."""
    for value in result.values() if isinstance(result, dict) else [result]:
        _ = float(value)


def measure(steps: dict[str, Step], rounds: int, n: int, batch: int) -> dict[str, list[float]]:
    """img/s of each variant in each round; the variants take turns within a round."""
    rates: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            for _ in range(n):
                result = step()
            _finish(result)
            rates[name].append(n * batch / (time.perf_counter() - start))
    return rates


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=8, help="timed steps per variant and round")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per variant first (tracing, compiling)")
    p.add_argument("--ngf", type=int, default=32)
    p.add_argument("--ndf", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--variants", default="tutorial,facedepth,float32,xla,serial-data,plain-data,hand-loop",
                   help=f"comma list among {', '.join(VARIANTS)} (tutorial is always measured)")
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    names = ["tutorial", *[v for v in args.variants.split(",") if v and v != "tutorial"]]
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        p.error(f"unknown variants {', '.join(unknown)}; choose among {', '.join(VARIANTS)}")
    cfg = TrainConfig(DataConfig(args.data, batch_size=args.batch_size), Path("unused"), ngf=args.ngf, ndf=args.ndf)
    steps = {}
    for name in names:
        start = time.perf_counter()
        steps[name] = VARIANTS[name](cfg)
        for _ in range(args.warmup):
            _finish(steps[name]())
        print(f"{name}: built and warmed up in {time.perf_counter() - start:.0f} s", flush=True)
    rates = measure(steps, args.rounds, args.steps, args.batch_size)
    medians = {name: statistics.median(r) for name, r in rates.items()}
    print(f"\nbatch {args.batch_size}, ngf {args.ngf}, ndf {args.ndf}, default precision "
          f"{resolve_precision(cfg.precision)}; {args.rounds} rounds x {args.steps} steps per variant, taking turns")
    print(f"{'variant':<12} {'median':>7} {'min':>7} {'max':>7}  img/s  vs tutorial")
    for name, r in rates.items():
        ratio = medians[name] / medians["tutorial"]
        print(f"{name:<12} {medians[name]:7.2f} {min(r):7.2f} {max(r):7.2f}        {ratio:5.2f}x")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "img_per_s": rates,
                                         "median": medians}, indent=1))


if __name__ == "__main__":
    main()
