"""Training with Keras ``fit``: the Pix2Pix model's train step, checkpoints with resume, TensorBoard, validation,
early stop and a time budget as callbacks (training/callbacks.py)."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import asdict, replace
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from facedepth.model.architecture import build_discriminator, build_generator
from facedepth.model.files import atomic_write_bytes
from facedepth.training import callbacks as cb
from facedepth.training.dataset import training_dataset, validation_dataset
from facedepth.training.pix2pix import Pix2Pix
from facedepth.training.precision import resolve_precision
from facedepth.training.state import TrainState, load_state
from facedepth.training.train_config import TrainConfig

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def _dtype_policy(name: str) -> Iterator[None]:
    """Layers built inside take this dtype policy (Keras reads the global policy when a layer is made)."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


def build_model(cfg: TrainConfig) -> Pix2Pix:
    """The seed's recipe: Pix2Pix with Adam (cfg.learning_rate, beta_1) for both networks, at cfg's precision."""
    with _dtype_policy(resolve_precision(cfg.precision)):
        if cfg.init_weights is not None:
            from facedepth.training.warm_start import generator_from_tflite

            generator = generator_from_tflite(cfg.init_weights, cfg.ngf)
            logger.info("generator starts from %s (batch-norms frozen)", cfg.init_weights)
        else:
            generator = build_generator(cfg.ngf)
        discriminator = build_discriminator(cfg.ndf)
    model = Pix2Pix(generator, discriminator, lambda_l1=cfg.lambda_l1, gan_weight=cfg.gan_weight,
                    gradient_weight=cfg.gradient_weight)
    model.compile(g_optimizer=keras.optimizers.Adam(cfg.learning_rate, beta_1=cfg.beta_1),
                  d_optimizer=keras.optimizers.Adam(cfg.d_learning_rate, beta_1=cfg.beta_1),
                  jit_compile=cfg.jit_compile)
    return model


def _checkpoint(model: Pix2Pix) -> tf.train.Checkpoint:
    return tf.train.Checkpoint(generator=model.generator, discriminator=model.discriminator,
                               g_optimizer=model.g_optimizer, d_optimizer=model.d_optimizer)


def train(cfg: TrainConfig, resume: bool = False,
          extra_callbacks: Sequence[keras.callbacks.Callback] = ()) -> TrainState:
    """Trains (or resumes) with ``fit`` and keeps the generator with the best ``cfg.select_by`` in run_dir/best.

    Per-epoch validation: fit's own on the held-out split (val_l1, val_face_mae, val_mask_iou), then the
    real-depth set's when ``cfg.real_depth`` is set (real_rmse, real_rmse_tilt, real_failures), then
    ``extra_callbacks``: their ``on_epoch_end`` runs before the run's bookkeeping, so the values they write into
    ``logs`` reach the run's history (state.json), TensorBoard and the log line, and a key listed in
    train_config.SELECTION_METRICS can pick the best epoch and drive early stop. ``self.model.generator`` is
    the generator."""
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    state = load_state(run_dir) if resume else TrainState()
    if not resume and (run_dir / "ckpt").exists():
        raise FileExistsError(f"{run_dir} already has checkpoints: pass --resume or choose another --run-dir")
    cfg = replace(cfg, precision=resolve_precision(cfg.precision))
    record = asdict(cfg)
    if cfg.init_weights is not None:  # the card names the parent even after the file is replaced
        from facedepth.model import identity

        stamp = identity.read(Path(cfg.init_weights).read_bytes())
        record["init_model_id"] = stamp.get("model_id") if isinstance(stamp, dict) else None
    atomic_write_bytes(run_dir / "config.json", json.dumps(record, default=str, indent=1).encode())
    model = build_model(cfg)
    ckpt = _checkpoint(model)
    manager = tf.train.CheckpointManager(ckpt, run_dir / "ckpt", max_to_keep=cfg.keep_checkpoints)
    best_manager = tf.train.CheckpointManager(tf.train.Checkpoint(generator=model.generator), run_dir / "best",
                                              max_to_keep=1)
    if resume and manager.latest_checkpoint:
        ckpt.restore(manager.latest_checkpoint).expect_partial()
        # The checkpoint holds the old rates.
        model.g_optimizer.learning_rate = cfg.learning_rate
        model.d_optimizer.learning_rate = cfg.d_learning_rate
        logger.info("resumed from %s (epoch %d, step %d), learning rate %g (discriminator %g)",
                    manager.latest_checkpoint, state.epoch, state.step, float(model.g_optimizer.learning_rate),
                    float(model.d_optimizer.learning_rate))
    train_ds, counts = training_dataset(cfg.data)
    val_ds = validation_dataset(cfg.data.data_dir, limit=cfg.val_limit)
    logger.info("training on %s samples, ngf=%d, batch %d, %s", counts, cfg.ngf, cfg.data.batch_size,
                cfg.precision)
    validations = list(extra_callbacks)
    if cfg.real_depth is not None:
        from facedepth.training.real_depth_validation import RealDepthValidator

        validator = RealDepthValidator(cfg.real_depth, cfg.real_depth_limit, cfg.real_depth_quality)
        validations.insert(0, cb.RealDepthValidation(validator))
    preview_photos, preview_targets = next(iter(val_ds.unbatch().batch(4)))
    callbacks = [
        cb.EpochThroughput(cfg.data.batch_size),
        *validations,
        cb.RunCheckpoints(run_dir, state, manager, best_manager, cfg.select_by),
        cb.ResumedTensorBoard(run_dir / "tensorboard", start_step=state.step),
        cb.SamplePanels(run_dir / "tensorboard" / "samples", preview_photos, preview_targets),
        cb.ResumedEarlyStopping(state, cfg.select_by, cfg.patience),
        *([cb.TimeBudget(cfg.max_minutes)] if cfg.max_minutes else []),
        cb.Progress(),
    ]
    model.fit(train_ds, epochs=cfg.epochs, initial_epoch=state.epoch, steps_per_epoch=cfg.steps_per_epoch,
              validation_data=val_ds, callbacks=callbacks, verbose=0, shuffle=False)
    return state


def _restored_generator(path: str, ngf: int) -> keras.Model:
    generator = build_generator(ngf)
    tf.train.Checkpoint(generator=generator).restore(path).expect_partial()
    _ = generator(np.zeros((1, 256, 256, 3), np.float32), training=False)
    logger.info("loaded generator from %s", path)
    return generator


def load_best_generator(run_dir: Path, ngf: int, latest: bool = False) -> keras.Model:
    """The generator from run_dir/best (or the latest checkpoint when asked, or when no best was kept)."""
    best = None if latest else tf.train.latest_checkpoint(str(Path(run_dir) / "best"))
    path = best or tf.train.latest_checkpoint(str(Path(run_dir) / "ckpt"))
    if path is None:
        raise FileNotFoundError(f"no checkpoint in {run_dir}")
    return _restored_generator(path, ngf)


def load_averaged_generator(run_dir: Path, ngf: int, last: int) -> keras.Model:
    """The element-wise mean of the generator weights (batch-norm statistics included) of the last `last`
    checkpoints in run_dir/ckpt: checkpoint averaging smooths the epoch-to-epoch wobble of GAN training."""
    state = tf.train.get_checkpoint_state(str(Path(run_dir) / "ckpt"))
    paths = list(state.all_model_checkpoint_paths)[-last:] if state else []
    if len(paths) < last:
        raise FileNotFoundError(f"{run_dir} keeps {len(paths)} checkpoints, fewer than the {last} to average")
    generators = [_restored_generator(path, ngf) for path in paths]
    averaged = generators[0]
    averaged.set_weights([np.mean(ws, axis=0) for ws in zip(*(g.get_weights() for g in generators), strict=True)])
    return averaged
