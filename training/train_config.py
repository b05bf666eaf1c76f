"""What a training run and its input pipeline are configured with (free of TensorFlow, so that the command
line can read it without loading TensorFlow)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from facedepth.model.resources import QUALITIES
from facedepth.training.precision import PRECISIONS

SELECTION_METRICS = ("val_face_mae", "real_rmse")
"""Validation figures that can pick a run's best epoch."""

FACE_MODELS = ("surrey", "ict")
"""The face models that synthetic renders come from (a render's index record names its model)."""


@dataclass(frozen=True)
class DataConfig:
    data_dir: Path
    batch_size: int = 4
    real_fraction: float = 0.5
    """Share of real-photo (pseudo ground truth or imported RGB-D) samples in each batch, in expectation."""
    shuffle_buffer: int = 2000
    seed: int = 0
    face_models: tuple[str, ...] = FACE_MODELS
    """Train on synthetic renders of these face models only (held-out validation keeps every sample, so runs
    that differ here are scored on the same pairs)."""

    def __post_init__(self) -> None:
        unknown = sorted(set(self.face_models) - set(FACE_MODELS))
        if unknown or not self.face_models:
            raise ValueError(f"face models {', '.join(unknown) or '(none)'}: choose from {', '.join(FACE_MODELS)}")


@dataclass(frozen=True)
class TrainConfig:
    data: DataConfig
    run_dir: Path
    ngf: int = 32
    ndf: int = 64
    learning_rate: float = 2e-4
    d_lr_factor: float = 1.0
    """The discriminator's learning rate relative to the generator's. Below 1 it slows the discriminator when it
    starts to win late in training (the pix2pix paper halves its objective for that; under Adam only the rate
    has that effect)."""
    beta_1: float = 0.5
    lambda_l1: float = 100.0
    gan_weight: float = 1.0
    """Weight of the GAN term in the generator's loss: 1 is the seed's; 0 trains on L1 alone, without running
    the discriminator (e.g. a student distilled from a teacher's labels)."""
    gradient_weight: float = 0.0
    """Weight of the shape term (:func:`facedepth.model.losses.gradient_loss`, weighed like L1: x lambda_l1)
    beside L1; 0 is the seed's objective."""
    epochs: int = 20
    steps_per_epoch: int = 1000
    max_minutes: float | None = None
    """Stop (after saving) once this much wall time has passed in this invocation."""
    patience: int = 5
    """Early stop after this many epochs without a better ``select_by``."""
    val_limit: int = 400
    keep_checkpoints: int = 3
    init_weights: Path | None = None
    """Start the generator from this exported .tflite (fp16; its batch-norms folded and frozen, see
    :mod:`facedepth.training.warm_start`) instead of random weights: fine-tunes a bundled generator."""
    real_depth: Path | None = None
    """A real-depth set to score the generator on after every epoch, as the app runs it (validation only)."""
    real_depth_limit: int | None = None
    real_depth_quality: str = "best"
    """How the real-depth validation runs the generator: "best" (mirror-averaged, the full generator's path) or
    "fast" (one pass, a distilled student's path)."""
    select_by: str = "val_face_mae"
    """The validation figure that picks the best epoch and drives early stop: ``val_face_mae`` (held-out
    renders and pseudo ground truth) or ``real_rmse`` (median RMSE in mm on ``real_depth``)."""
    precision: str = "auto"
    """Compute precision: "float32", "mixed_bfloat16" (bfloat16 arithmetic; float32 weights, optimizer state
    and output layers, so checkpoints are the same either way) or "auto" (see
    :func:`facedepth.training.precision.resolve_precision`)."""
    jit_compile: bool = False
    """XLA-compile the train step; slower on CPUs, where it gives up oneDNN's convolutions."""

    def __post_init__(self) -> None:
        if self.real_depth_quality not in QUALITIES:
            raise ValueError(f"real_depth_quality {self.real_depth_quality!r}: choose from {', '.join(QUALITIES)}")
        if self.select_by not in SELECTION_METRICS:
            raise ValueError(f"select_by {self.select_by!r}: choose from {', '.join(SELECTION_METRICS)}")
        if self.select_by == "real_rmse" and self.real_depth is None:
            raise ValueError("select_by real_rmse needs a real-depth set")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision {self.precision!r}: choose from {', '.join(PRECISIONS)}")
        if self.gradient_weight < 0:
            raise ValueError(f"gradient_weight {self.gradient_weight}: must be 0 or more")

    @property
    def d_learning_rate(self) -> float:
        return self.learning_rate * self.d_lr_factor
