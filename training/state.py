"""A training run's progress between invocations (run_dir/state.json): what ``--resume`` continues from."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from facedepth.model.files import atomic_write_bytes


@dataclass
class TrainState:
    epoch: int = 0
    step: int = 0
    best_val: float = float("inf")
    """The best value of the run's monitor (TrainConfig.select_by), at epoch ``best_epoch``."""
    best_epoch: int = -1
    epochs_since_best: int = 0
    wall_seconds: float = 0.0
    """Time spent in training steps, validation excluded, summed over all invocations."""
    history: list[dict] = field(default_factory=list)
    """Each epoch's logs: train losses, val_* metrics, img_per_s, train_seconds, epoch, and whatever extra
    callbacks added."""


def _state_path(run_dir: Path) -> Path:
    return Path(run_dir) / "state.json"


def load_state(run_dir: Path) -> TrainState:
    path = _state_path(run_dir)
    return TrainState(**json.loads(path.read_text())) if path.exists() else TrainState()


def save_state(run_dir: Path, state: TrainState) -> None:
    atomic_write_bytes(_state_path(run_dir), json.dumps(asdict(state), indent=1).encode())
