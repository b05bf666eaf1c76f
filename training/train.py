"""The training loop: compiled steps, checkpoints with resume, TensorBoard, validation, early stop."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from tqdm import tqdm

from facedepth.model.architecture import build_discriminator, build_generator
from facedepth.training.dataset import training_dataset, validation_dataset
from facedepth.training.pix2pix import Pix2Pix
from facedepth.training.train_config import TrainConfig

logger = logging.getLogger(__name__)


@dataclass
class TrainState:
    epoch: int = 0
    step: int = 0
    best_val: float = float("inf")
    best_epoch: int = -1
    epochs_since_best: int = 0
    wall_seconds: float = 0.0
    history: list[dict] = field(default_factory=list)


def _state_path(run_dir: Path) -> Path:
    return run_dir / "state.json"


def load_state(run_dir: Path) -> TrainState:
    path = _state_path(run_dir)
    return TrainState(**json.loads(path.read_text())) if path.exists() else TrainState()


def save_state(run_dir: Path, state: TrainState) -> None:
    tmp = _state_path(run_dir).with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(state), indent=1))
    tmp.replace(_state_path(run_dir))


def build_model(cfg: TrainConfig) -> Pix2Pix:
    if cfg.init_weights is not None:
        from facedepth.training.warm_start import generator_from_tflite

        generator = generator_from_tflite(cfg.init_weights, cfg.ngf)
        logger.info("generator starts from %s (batch-norms frozen)", cfg.init_weights)
    else:
        generator = build_generator(cfg.ngf)
    model = Pix2Pix(generator, build_discriminator(cfg.ndf), lambda_l1=cfg.lambda_l1)
    model.compile(g_optimizer=keras.optimizers.Adam(cfg.learning_rate, beta_1=cfg.beta_1),
                  d_optimizer=keras.optimizers.Adam(cfg.d_learning_rate, beta_1=cfg.beta_1))
    return model


def _checkpoint(model: Pix2Pix) -> tf.train.Checkpoint:
    return tf.train.Checkpoint(generator=model.generator, discriminator=model.discriminator,
                               g_optimizer=model.g_optimizer, d_optimizer=model.d_optimizer)


def validate(model: Pix2Pix, val_ds: tf.data.Dataset, step_fn) -> dict[str, float]:
    sums: dict[str, float] = {}
    for batch in val_ds:
        for k, v in step_fn(batch).items():
            sums[k] = sums.get(k, 0.0) + float(v)
    n = max(sums.get("count", 0.0), 1.0)
    return {"val_l1": sums["l1_sum"] / n, "val_face_mae": sums["face_abs_sum"] / max(sums["face_px"], 1.0),
            "val_mask_iou": sums["mask_iou_sum"] / n}


def train(cfg: TrainConfig, resume: bool = False) -> TrainState:
    """Trains (or resumes) and keeps the generator with the best validation face error in run_dir/best."""
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    state = load_state(run_dir) if resume else TrainState()
    if not resume and (run_dir / "ckpt").exists():
        raise FileExistsError(f"{run_dir} already has checkpoints: pass --resume or choose another --run-dir")
    (run_dir / "config.json").write_text(json.dumps(asdict(cfg), default=str, indent=1))
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
    real_validator = None
    if cfg.real_depth is not None:
        from facedepth.training.real_depth_validation import RealDepthValidator, keras_generator_call

        real_validator = RealDepthValidator(cfg.real_depth, cfg.real_depth_limit)
    logger.info("training on %s samples, ngf=%d, batch %d", counts, cfg.ngf, cfg.data.batch_size)
    train_step = tf.function(model.train_step, reduce_retracing=True)
    test_step = tf.function(model.test_step, reduce_retracing=True)
    writer = tf.summary.create_file_writer(str(run_dir / "tensorboard"))
    preview = next(iter(val_ds.unbatch().batch(4)))
    iterator = iter(train_ds)
    started = time.monotonic()
    while state.epoch < cfg.epochs:
        t0 = time.monotonic()
        sums: dict[str, float] = {}
        bar = tqdm(range(cfg.steps_per_epoch), desc=f"epoch {state.epoch + 1}/{cfg.epochs}", mininterval=10)
        for _ in bar:
            logs = train_step(next(iterator))
            state.step += 1
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            if state.step % 50 == 0:
                bar.set_postfix(l1=f"{float(logs['g_l1']):.4f}", d=f"{float(logs['d_loss']):.3f}")
                with writer.as_default(step=state.step):
                    for k, v in logs.items():
                        tf.summary.scalar(f"train/{k}", v)
        epoch_seconds = time.monotonic() - t0
        state.wall_seconds += epoch_seconds
        state.epoch += 1
        metrics = {k: v / cfg.steps_per_epoch for k, v in sums.items()}
        metrics.update(validate(model, val_ds, test_step))
        if real_validator is not None:
            real = real_validator(keras_generator_call(model.generator))
            metrics.update(real_rmse=real["median_rmse_mm"], real_rmse_tilt=real["median_rmse_tilt_mm"],
                           real_failures=real["failures"])
        metrics["img_per_s"] = cfg.steps_per_epoch * cfg.data.batch_size / epoch_seconds
        metrics["epoch"] = state.epoch
        state.history.append(metrics)
        with writer.as_default(step=state.step):
            for k in ("val_l1", "val_face_mae", "val_mask_iou", "img_per_s", "real_rmse", "real_rmse_tilt"):
                if k in metrics:
                    tf.summary.scalar(f"val/{k}", metrics[k])
            pred = model.generator(preview[0], training=False)
            panel = tf.concat([(preview[0] + 1) / 2, tf.tile((preview[1] + 1) / 2, [1, 1, 1, 3]),
                               tf.tile((pred + 1) / 2, [1, 1, 1, 3])], axis=2)
            tf.summary.image("val/photo_target_prediction", panel, max_outputs=4)
        logger.info("epoch %d: %s", state.epoch, {k: round(v, 5) for k, v in metrics.items()})
        if metrics[cfg.select_by] < state.best_val:
            state.best_val, state.best_epoch, state.epochs_since_best = metrics[cfg.select_by], state.epoch, 0
            best_manager.save(checkpoint_number=state.epoch)
        else:
            state.epochs_since_best += 1
        manager.save(checkpoint_number=state.epoch)
        save_state(run_dir, state)
        if state.epochs_since_best >= cfg.patience:
            logger.info("early stop: no improvement for %d epochs", cfg.patience)
            break
        if cfg.max_minutes and (time.monotonic() - started) / 60 > cfg.max_minutes:
            logger.info("stopping after %.0f minutes (resume with --resume)", (time.monotonic() - started) / 60)
            break
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
