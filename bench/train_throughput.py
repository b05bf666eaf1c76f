"""Training throughput (img/s, data pipeline included): our loop vs the TensorFlow pix2pix tutorial's.

Both drive the same networks (model.architecture, --ngf/--ndf) with the same batch size on the same data:

* ``tutorial``: a plain re-implementation of the tutorial loop - tf.data with the seed's jitter and
  mirroring only, and a ``@tf.function`` train step with two GradientTapes over the networks;
* ``facedepth``: training.dataset (jitter + mirroring + photometric augmentation, real/synthetic mix)
  and the Pix2Pix model's compiled train step, as ``facedepth-train train`` runs it.

Usage: python bench/train_throughput.py --data data/gen [--steps 30] [--ngf 32] [--ndf 32] [--batch-size 4]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import keras
import tensorflow as tf

from facedepth.model.architecture import build_discriminator, build_generator
from facedepth.model.losses import discriminator_loss, generator_loss
from facedepth.training.dataset import DataConfig, list_samples, load_pair, random_jitter, training_dataset
from facedepth.training.storage import DEFAULT_DATA_DIR
from facedepth.training.train import TrainConfig, build_model


def tutorial_rate(data: Path, ngf: int, ndf: int, batch: int, steps: int) -> float:
    stems = list_samples(data / "train")
    ds = (tf.data.Dataset.from_tensor_slices(stems).shuffle(1000).repeat()
          .map(load_pair, num_parallel_calls=tf.data.AUTOTUNE)
          .map(random_jitter, num_parallel_calls=tf.data.AUTOTUNE).batch(batch).prefetch(tf.data.AUTOTUNE))
    generator, discriminator = build_generator(ngf), build_discriminator(ndf)
    g_opt, d_opt = keras.optimizers.Adam(2e-4, beta_1=0.5), keras.optimizers.Adam(2e-4, beta_1=0.5)

    @tf.function
    def train_step(input_image, target):
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            gen_output = generator(input_image, training=True)
            disc_real_output = discriminator([input_image, target], training=True)
            disc_generated_output = discriminator([input_image, gen_output], training=True)
            gen_total_loss, _, _ = generator_loss(disc_generated_output, gen_output, target)
            disc_loss = discriminator_loss(disc_real_output, disc_generated_output)
        g_opt.apply_gradients(zip(gen_tape.gradient(gen_total_loss, generator.trainable_variables),
                                  generator.trainable_variables, strict=True))
        d_opt.apply_gradients(zip(disc_tape.gradient(disc_loss, discriminator.trainable_variables),
                                  discriminator.trainable_variables, strict=True))

    return _rate(ds, lambda b: train_step(*b), batch, steps)


def facedepth_rate(data: Path, ngf: int, ndf: int, batch: int, steps: int) -> float:
    cfg = TrainConfig(DataConfig(data, batch_size=batch), Path("unused"), ngf=ngf, ndf=ndf)
    ds, _ = training_dataset(cfg.data)
    step = tf.function(build_model(cfg).train_step, reduce_retracing=True)
    return _rate(ds, step, batch, steps)


def _rate(ds, step, batch: int, steps: int) -> float:
    it = iter(ds)
    for _ in range(3):  # trace, compile and warm up
        step(next(it))
    start = time.perf_counter()
    for _ in range(steps):
        step(next(it))
    return steps * batch / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--ngf", type=int, default=32)
    p.add_argument("--ndf", type=int, default=32)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--json", type=Path)
    args = p.parse_args()
    rates = {name: fn(args.data, args.ngf, args.ndf, args.batch_size, args.steps)
             for name, fn in (("tutorial", tutorial_rate), ("facedepth", facedepth_rate))}
    print(f"batch {args.batch_size}, ngf {args.ngf}, ndf {args.ndf}, {args.steps} timed steps each")
    for name, rate in rates.items():
        print(f"  {name:<10} {rate:6.2f} img/s")
    if args.json:
        args.json.write_text(json.dumps({"args": {k: str(v) for k, v in vars(args).items()}, "img_per_s": rates}))


if __name__ == "__main__":
    main()
