"""``facedepth-train teacher-labels``: a copy of a data set whose depth targets are a generator's own output,
as the app runs it (training scale, mirror-averaged), so a smaller student can be trained to give in one pass
what the bundled generator gives in two (``train --data <out> --ngf 16 --gan-weight 0``).

The photos are hard-linked (copied across file systems), never re-encoded; each index record keeps its kind,
pose and source and names the teacher it was labelled by. Resumable: samples already in the output's index are
skipped.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import sys
from collections import Counter
from pathlib import Path

import numpy as np

from facedepth.model import depthcode
from facedepth.model.files import atomic_write, atomic_write_bytes
from facedepth.training import storage
from facedepth.training.generate import run_pool

logger = logging.getLogger(__name__)

SPLITS = ("train", "val")
_state: dict = {}


def _init(weights: Path) -> None:
    from facedepth.model.inference import load_app_estimator

    _state["estimator"] = load_app_estimator(weights, num_threads=1, quality="best")  # one per worker process


def _link_or_copy(source: Path, target: Path) -> None:
    if target.exists():
        return
    try:
        os.link(source, target)
    except OSError:  # another file system, or links not allowed
        atomic_write(target, lambda temp: shutil.copyfile(source, temp))


def _label_task(args: tuple[dict, Path, Path, str]) -> dict:
    record, source_split, out_split, teacher_id = args
    name = record["name"]
    try:
        photo = storage.read_rgb(source_split / f"{name}.jpg")
    except OSError as exc:
        return {"rejected": f"unreadable ({exc})", "source": name}
    code = _state["estimator"](photo[None].astype(np.float32) / 127.5 - 1.0)[0, ..., 0]
    storage.write_image(out_split / f"{name}_depth.png", depthcode.to_uint16(code))
    _link_or_copy(source_split / f"{name}.jpg", out_split / f"{name}.jpg")
    return {**record, "split": out_split.name, "teacher": teacher_id, "target_was": record.get("teacher")}


def label_data_set(source: Path, out: Path, weights: Path, workers: int = 2) -> Counter:
    """Every sample of ``source``'s splits, its target replaced by the generator's output (see the module
    docstring); returns the outcomes counted."""
    from facedepth.model.inference import load_estimator

    teacher_id = load_estimator(Path(weights)).identity["model_id"]  # fails here, once, on unusable weights
    outcomes: Counter = Counter()
    for split in SPLITS:
        source_split, out_split = Path(source) / split, Path(out) / split
        out_split.mkdir(parents=True, exist_ok=True)
        done = {r["name"] for r in storage.read_index(out_split)}
        jobs = [(r, source_split, out_split, teacher_id) for r in storage.read_index(source_split)
                if r["name"] not in done]
        logger.info("%s: %d samples to label, %d already done", split, len(jobs), len(done))
        outcomes += run_pool(_label_task, jobs, len(jobs), workers, _init, (Path(weights),), Path(out),
                             f"labels {split}")
    atomic_write_bytes(Path(out) / "TEACHER.txt", f"{teacher_id}\n".encode())
    return outcomes


def add_parser(sub) -> None:
    p = sub.add_parser("teacher-labels", help="copy a data set with a generator's output as the depth targets "
                                              "(for distilling a smaller student)")
    p.add_argument("--data", type=Path, default=storage.DEFAULT_DATA_DIR, help="the data set to copy")
    p.add_argument("--weights", type=Path, required=True, help="the teacher: an exported, stamped .tflite")
    p.add_argument("--out", type=Path, required=True, help="the labelled copy (resumable)")
    p.add_argument("--workers", type=int, default=2)
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from facedepth.model.inference import WeightsError

    if Path(args.out).resolve() == Path(args.data).resolve():
        print("error: --out must be another folder than --data", file=sys.stderr)
        return 2
    if not storage.read_index(Path(args.data) / "train"):
        print(f"error: no training samples in {Path(args.data) / 'train'}", file=sys.stderr)
        return 2
    try:
        outcomes = label_data_set(args.data, args.out, args.weights, args.workers)
    except WeightsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for key, count in sorted(outcomes.items()):
        logger.info("  %s: %d", key, count)
    return 0
