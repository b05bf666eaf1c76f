"""Keras callbacks of a training run (training/train.py puts them in order): epoch throughput, validation on
a real-depth set, the run's checkpoints and state for ``--resume``, the best generator, sample images,
TensorBoard and early stop that continue a resumed run, a wall-time budget and a progress bar."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from pathlib import Path

import keras
import tensorflow as tf
from tqdm import tqdm

from facedepth.training.state import TrainState, save_state

logger = logging.getLogger(__name__)


class EpochThroughput(keras.callbacks.Callback):
    """Adds ``train_seconds`` (the epoch's training steps, validation excluded) and ``img_per_s`` to the epoch
    logs; first in the list, so that every later callback sees them."""

    def __init__(self, batch_size: int):
        super().__init__()
        self.batch_size = batch_size
        self._started = self._validation_started = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self._started, self._validation_started = time.monotonic(), 0.0

    def on_test_begin(self, logs=None):
        self._validation_started = self._validation_started or time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        seconds = (self._validation_started or time.monotonic()) - self._started
        logs["train_seconds"] = seconds
        logs["img_per_s"] = self.params["steps"] * self.batch_size / seconds


class RealDepthValidation(keras.callbacks.Callback):
    """Scores the generator on a real-depth set after each epoch, as the app runs it: adds real_rmse and
    real_rmse_tilt (median RMSE in mm) and real_failures to the epoch logs."""

    def __init__(self, validator: Callable[[Callable], dict]):
        super().__init__()
        self.validator = validator

    def on_epoch_end(self, epoch, logs=None):
        from facedepth.training.real_depth_validation import keras_generator_call

        real = self.validator(keras_generator_call(self.model.generator))
        logs.update(real_rmse=real["median_rmse_mm"], real_rmse_tilt=real["median_rmse_tilt_mm"],
                    real_failures=real["failures"])


class RunCheckpoints(keras.callbacks.Callback):
    """After each epoch: the run's history and state.json, the latest checkpoints (both networks and both
    optimizers, what ``--resume`` restores) and, when ``monitor`` (lower is better) improved, the generator in
    ``best``."""

    def __init__(self, run_dir: Path, state: TrainState, latest: tf.train.CheckpointManager,
                 best: tf.train.CheckpointManager, monitor: str):
        super().__init__()
        self.run_dir, self.state, self.latest, self.best, self.monitor = run_dir, state, latest, best, monitor

    def on_epoch_end(self, epoch, logs=None):
        if self.monitor not in logs:
            raise KeyError(f"the epoch logs have no {self.monitor!r} to pick the best generator by: {sorted(logs)}")
        state = self.state
        state.epoch, state.step = epoch + 1, state.step + self.params["steps"]
        state.wall_seconds += logs.get("train_seconds", 0.0)
        state.history.append({**logs, "epoch": state.epoch})
        if logs[self.monitor] < state.best_val:
            state.best_val, state.best_epoch, state.epochs_since_best = logs[self.monitor], state.epoch, 0
            self.best.save(checkpoint_number=state.epoch)
        else:
            state.epochs_since_best += 1
        self.latest.save(checkpoint_number=state.epoch)
        save_state(self.run_dir, state)


class ResumedEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras' early stop (lower ``monitor`` is better) that, in a resumed run, goes on counting from the best value
    and the epochs without improvement that the run's state kept."""

    def __init__(self, state: TrainState, monitor: str, patience: int):
        super().__init__(monitor=monitor, patience=patience, mode="min")
        self.state = state

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if math.isfinite(self.state.best_val):
            self.best, self.wait = self.state.best_val, self.state.epochs_since_best

    def on_train_end(self, logs=None):
        super().on_train_end(logs)
        if self.stopped_epoch:
            logger.info("early stop: no improvement for %d epochs", self.patience)


class ResumedTensorBoard(keras.callbacks.TensorBoard):
    """Keras' TensorBoard (epoch scalars in ``train/`` and ``validation/``, batch scalars every ``update_freq``
    steps) whose batch-level curves continue a resumed run's step count instead of starting again at 0."""

    def __init__(self, log_dir: Path, start_step: int, update_freq: int = 50):
        super().__init__(str(log_dir), update_freq=update_freq, write_graph=False, profile_batch=0)
        self.start_step = start_step

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self._global_train_batch = self.start_step  # Keras counts from 0 in each fit call


class SamplePanels(keras.callbacks.Callback):
    """Writes photo | target | prediction panels of a few validation pairs to TensorBoard after each epoch."""

    def __init__(self, log_dir: Path, photos: tf.Tensor, targets: tf.Tensor):
        super().__init__()
        self.writer = tf.summary.create_file_writer(str(log_dir))
        self.photos, self.targets = photos, targets

    def on_epoch_end(self, epoch, logs=None):
        pred = tf.cast(self.model.generator(self.photos, training=False), tf.float32)
        grey = [tf.tile((depth + 1) / 2, [1, 1, 1, 3]) for depth in (self.targets, pred)]
        with self.writer.as_default(step=epoch):
            tf.summary.image("photo_target_prediction", tf.concat([(self.photos + 1) / 2, *grey], axis=2),
                             max_outputs=len(self.photos))

    def on_train_end(self, logs=None):
        self.writer.close()


class TimeBudget(keras.callbacks.Callback):
    """Stops at the end of the first epoch that ends after ``minutes`` of wall time in this fit call."""

    def __init__(self, minutes: float):
        super().__init__()
        self.minutes = minutes
        self._started = 0.0

    def on_train_begin(self, logs=None):
        self._started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        minutes = (time.monotonic() - self._started) / 60
        if minutes > self.minutes:
            logger.info("stopping after %.0f minutes (resume with --resume)", minutes)
            self.model.stop_training = True


class Progress(keras.callbacks.Callback):
    """A tqdm bar per epoch (losses shown every ``every`` steps) and one log line with the epoch's logs; last in
    the list, so that the line has what every other callback added."""

    def __init__(self, every: int = 50):
        super().__init__()
        self.every = every
        self._bar: tqdm | None = None

    def on_epoch_begin(self, epoch, logs=None):
        self._bar = tqdm(total=self.params["steps"], desc=f"epoch {epoch + 1}/{self.params['epochs']}",
                         mininterval=10)

    def on_train_batch_end(self, batch, logs=None):
        self._bar.update(1)
        if (batch + 1) % self.every == 0:
            self._bar.set_postfix(l1=f"{float(logs['g_l1']):.4f}", d=f"{float(logs['d_loss']):.3f}")

    def on_epoch_end(self, epoch, logs=None):
        self._bar.close()
        logger.info("epoch %d: %s", epoch + 1, {k: round(float(v), 5) for k, v in logs.items()})
