"""Evaluation on real faces with measured depth: the maintainers' protocol, in our own code.

The protocol is the one of ``../shared/data/realdepth/README.md`` (RAP3DF Kinect v2 captures; validation
only, never training data). A method gives, for each input photo, a depth map of the photo's size (larger =
farther, any unit and offset, NaN where it gives no depth; ``None`` = no output = failure). Scoring:

1. the map is reduced to the sensor's grid (3 x 3 blocks, the mean of a block's finite values where at
   least 5 of the 9 are finite);
2. on the pixels in the face mask where the prediction is finite, ``gt ~ s * pred + t`` is fitted by least
   squares; the sample fails with fewer than 30 such pixels or ``s <= 0`` (inverted depth), and a failed
   sample scores the best constant's RMSE (the spread of the true depth on the mask), as a flat plane does;
3. the sample's RMSE is that of ``gt - (s * pred + t)``; coverage = fitted pixels / mask pixels;
4. "tilt forgiven": ``s * pred + t + a * col + b * row`` instead, which forgives a global head-pose error;
   where that fit is impossible (a failed sample, a constant prediction, a fitted ``s <= 0``) the sample
   scores the best plane's RMSE. A constant prediction is not a failure: it scores the best constant.
   Beside it, as a diagnostic of which part of the pose costs (not part of the protocol), the same fit with
   only the turn (``a * col``) or only the pitch (``b * row``) forgiven.

Samples are grouped by head pose, labelled from the measured depth itself (a plane fitted to the face: its
slopes give the turn left/right and up/down), so that per-pose rows need no landmark method's opinion.
"""

from __future__ import annotations

import json
import math
import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

REAL_DEPTH_ENV = "FACEDEPTH_REAL_DEPTH"
BLOCK = 3
MIN_FINITE_IN_BLOCK = 5
MIN_PIXELS = 30
POSE_THRESHOLD_DEG = 10.0
"""A face turned more than this (from the plane fitted to its measured depth) is labelled left/right/up/down."""
SENSOR_FOCAL_PX = 365.0
"""Kinect v2 depth camera focal length at the grid's resolution (the data set's README), for pose angles."""
POSES = ("front", "left", "right", "up", "down")
COLUMN_BANDS = 8
BANDS = ("left", "right")
"""The outer column bands ``--leave-out-band`` can leave out of the masks."""

DepthMethod = Callable[["RealSample"], "np.ndarray | None"]
"""A method under test: a sample -> its depth map on the photo's grid (or None = no output)."""


def default_real_depth_dir() -> Path:
    """$FACEDEPTH_REAL_DEPTH, else ../shared/data/realdepth/rap3df-v1 beside the checkout."""
    env = os.environ.get(REAL_DEPTH_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "realdepth" / "rap3df-v1"


@dataclass(frozen=True)
class RealSample:
    stem: str
    subject: str
    image_path: Path
    depth_mm: np.ndarray
    """(h, w) float32 measured z-depth in mm, NaN = no depth."""
    mask: np.ndarray
    """(h, w) bool: the scored face pixels."""


def load_real_depth_set(folder: Path, limit: int | None = None) -> list[RealSample]:
    """The samples listed in ``folder/index.json`` (images/, depth/, mask/ as the set's README describes)."""
    folder = Path(folder)
    index_path = folder / "index.json"
    if not index_path.is_file():
        raise FileNotFoundError(f"{index_path} not found: not a real-depth set folder")
    entries = json.loads(index_path.read_text())["samples"][:limit]
    samples = []
    for entry in entries:
        stem = entry["stem"]
        depth = np.load(folder / "depth" / f"{stem}.npy").astype(np.float32)
        mask = np.asarray(Image.open(folder / "mask" / f"{stem}.png")) > 127
        samples.append(RealSample(stem, str(entry.get("subject", "")), folder / "images" / f"{stem}.png",
                                  depth, mask & np.isfinite(depth)))
    return samples


def reduce_to_grid(pred: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Mean of each BLOCK x BLOCK block's finite values where at least MIN_FINITE_IN_BLOCK are finite."""
    h, w = shape
    if pred.shape != (h * BLOCK, w * BLOCK):
        raise ValueError(f"prediction is {pred.shape[1]} x {pred.shape[0]}, expected the photo's "
                         f"{w * BLOCK} x {h * BLOCK}")
    blocks = pred.astype(np.float64).reshape(h, BLOCK, w, BLOCK).transpose(0, 2, 1, 3).reshape(h, w, -1)
    finite = np.isfinite(blocks)
    count = finite.sum(-1)
    total = np.where(finite, blocks, 0.0).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count >= MIN_FINITE_IN_BLOCK, total / count, np.nan)


FORGIVEN_TERMS = {"tilt": ("col", "row"), "turn": ("col",), "pitch": ("row",)}
"""The plane terms each forgiven score fits beside the scale + shift: the protocol's tilt (both), and as a
diagnostic of where a pose error lies, the turn alone (a slope along the columns: left/right) or the pitch
alone (along the rows: up/down)."""


@dataclass(frozen=True)
class RealScore:
    rmse: float
    rmse_tilt: float
    coverage: float
    failed: bool
    rmse_turn: float
    """With only the turn forgiven (diagnostic, not the protocol's)."""
    rmse_pitch: float
    """With only the pitch forgiven (diagnostic, not the protocol's)."""
    column_residual_mm: tuple[float | None, ...] = ()
    """Mean of ``gt - (s * pred + t)`` in each of COLUMN_BANDS equal bands of the fitted pixels' columns, left to
    right (None: an empty band; empty for a failure or a constant prediction): where the error is systematic."""


def _rms(values: np.ndarray) -> float:
    return float(np.sqrt(np.mean(values**2)))


def _lstsq_residual(design: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    return coef, target - design @ coef


def _plane_design(rows: np.ndarray, cols: np.ndarray, terms: tuple[str, ...] = ("col", "row")) -> np.ndarray:
    """A constant plus the slope along each of ``terms`` ('col', 'row')."""
    axes = {"col": cols, "row": rows}
    return np.column_stack([np.ones(len(rows)), *(axes[t].astype(np.float64) for t in terms)])


def _best_planes(rows: np.ndarray, cols: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Each forgiven score's fallback: the RMSE of the best plane of its terms alone (no prediction)."""
    return {f"rmse_{name}": _rms(_lstsq_residual(_plane_design(rows, cols, terms), truth)[1])
            for name, terms in FORGIVEN_TERMS.items()}


def score(pred: np.ndarray | None, gt_mm: np.ndarray, mask: np.ndarray) -> RealScore:
    """One sample's score by the protocol (see the module docstring); ``pred`` on the photo's grid."""
    rows_m, cols_m = np.nonzero(mask)
    truth_m = gt_mm[mask].astype(np.float64)
    constant = _rms(truth_m - truth_m.mean())
    failure = RealScore(rmse=constant, coverage=0.0, failed=True, **_best_planes(rows_m, cols_m, truth_m))
    if pred is None:
        return failure
    reduced = reduce_to_grid(np.asarray(pred, np.float64), gt_mm.shape)
    used = mask & np.isfinite(reduced)
    if used.sum() < MIN_PIXELS:
        return failure
    rows, cols = np.nonzero(used)
    p, t = reduced[used], gt_mm[used].astype(np.float64)
    coverage = float(used.sum() / mask.sum())
    if np.ptp(p) <= 1e-9 * max(1.0, np.abs(p).max()):  # constant: the best constant and the best planes
        return RealScore(rmse=_rms(t - t.mean()), coverage=coverage, failed=False, **_best_planes(rows, cols, t))
    (s, _), resid = _lstsq_residual(np.c_[p, np.ones_like(p)], t)
    if s <= 0:
        return replace(failure, coverage=coverage)
    forgiven = {}
    for name, terms in FORGIVEN_TERMS.items():  # where the fit's s <= 0, the best plane of its terms alone
        design = _plane_design(rows, cols, terms)
        (s_plane, *_), resid_plane = _lstsq_residual(np.c_[p, design], t)
        forgiven[f"rmse_{name}"] = _rms(resid_plane if s_plane > 0 else _lstsq_residual(design, t)[1])
    return RealScore(rmse=_rms(resid), coverage=coverage, failed=False, column_residual_mm=_column_means(cols, resid),
                     **forgiven)


def _column_band(cols: np.ndarray, span: np.ndarray) -> np.ndarray:
    """Which of COLUMN_BANDS equal bands across the columns ``span`` covers each of ``cols`` lies in (below 0
    or above COLUMN_BANDS - 1 outside it)."""
    return (cols - span.min()) * COLUMN_BANDS // (np.ptp(span) + 1)


def _column_means(cols: np.ndarray, values: np.ndarray) -> tuple[float | None, ...]:
    band = _column_band(cols, cols)
    sums, counts = np.bincount(band, values, COLUMN_BANDS), np.bincount(band, minlength=COLUMN_BANDS)
    return tuple(float(total / n) if n else None for total, n in zip(sums, counts, strict=True))


def pose_angles(gt_mm: np.ndarray, mask: np.ndarray) -> tuple[float, float]:
    """(turn, tilt) in degrees from a plane fitted to the measured face depth. turn > 0: the nose points to
    the image's right (the face's image-left half recedes); tilt > 0: the face looks up (the chin comes
    nearer)."""
    rows, cols = np.nonzero(mask)
    z = gt_mm[mask].astype(np.float64)
    (_, dz_dcol, dz_drow), _ = _lstsq_residual(_plane_design(rows, cols), z)
    mm_per_px = float(np.median(z)) / SENSOR_FOCAL_PX
    turn = math.degrees(math.atan(-dz_dcol / mm_per_px))
    tilt = math.degrees(math.atan(-dz_drow / mm_per_px))
    return turn, tilt


def pose_labels(samples: list[RealSample]) -> list[str]:
    """front, left, right, up or down per sample: the larger of its two angles, taken relative to the set's
    median pose (a frontal capture's plane is not square to the sensor: the face is off the optical axis
    and the mask is not symmetric), names it when past POSE_THRESHOLD_DEG."""
    angles = np.array([pose_angles(s.depth_mm, s.mask) for s in samples]).reshape(-1, 2)
    labels = []
    for turn, tilt in angles - np.median(angles, axis=0):
        if max(abs(turn), abs(tilt)) < POSE_THRESHOLD_DEG:
            labels.append("front")
        elif abs(turn) >= abs(tilt):
            labels.append("right" if turn > 0 else "left")
        else:
            labels.append("up" if tilt > 0 else "down")
    return labels


def evaluate_methods(samples: list[RealSample], methods: dict[str, DepthMethod],
                     progress: Callable[[Iterable], Iterator] = iter, leave_out_band: str | None = None) -> dict:
    """Scores every method on every sample: per-sample rows and per-method summaries (all + per pose). With
    ``leave_out_band`` ('left' / 'right', a diagnostic outside the protocol) each mask loses that band (see
    :func:`without_band`) for scoring; the pose labels still come from the whole masks."""
    rows = []
    for sample, pose in progress(list(zip(samples, pose_labels(samples), strict=True))):
        row: dict = {"stem": sample.stem, "subject": sample.subject, "pose": pose}
        mask = without_band(sample.mask, leave_out_band) if leave_out_band else sample.mask
        for name, method in methods.items():
            row[name] = asdict(score(method(sample), sample.depth_mm, mask))
        rows.append(row)
    report = {"samples": len(rows), "methods": {name: summarise(rows, name) for name in methods}, "per_sample": rows}
    return report | ({"leave_out_band": leave_out_band} if leave_out_band else {})


def without_band(mask: np.ndarray, side: str) -> np.ndarray:
    """``mask`` less its leftmost or rightmost of COLUMN_BANDS bands of columns (the bands of the column
    residuals)."""
    cols = np.nonzero(mask.any(axis=0))[0]
    if not cols.size:
        return mask
    band = _column_band(np.arange(mask.shape[1]), cols)
    out = mask.copy()
    out[:, band <= 0 if side == "left" else band >= COLUMN_BANDS - 1] = False
    return out


def summarise(rows: list[dict], method: str) -> dict:
    """Median (headline) and mean RMSE, tilt-, turn- and pitch-forgiven medians, failures, mean coverage; also
    per pose."""

    def stats(group: list[dict]) -> dict:
        scores = [r[method] for r in group]
        rmse = np.array([s["rmse"] for s in scores])
        return {"samples": len(scores), "median_rmse_mm": float(np.median(rmse)), "mean_rmse_mm": float(rmse.mean()),
                "median_rmse_tilt_mm": float(np.median([s["rmse_tilt"] for s in scores])),
                "median_rmse_turn_mm": float(np.median([s["rmse_turn"] for s in scores])),
                "median_rmse_pitch_mm": float(np.median([s["rmse_pitch"] for s in scores])),
                "failures": int(sum(s["failed"] for s in scores)),
                "mean_column_residual_mm": _mean_profile([s["column_residual_mm"] for s in scores]),
                "mean_coverage": float(np.mean([s["coverage"] for s in scores]))}

    summary = stats(rows)
    summary["poses"] = {pose: stats(group) for pose in POSES if (group := [r for r in rows if r["pose"] == pose])}
    return summary


def _mean_profile(profiles: list) -> list[float | None]:
    """Band-wise mean of the samples' column residuals (those that have one), None where no sample has a value
    (JSON has no NaN)."""
    rows = np.array([p for p in profiles if len(p)], np.float64).reshape(-1, COLUMN_BANDS)  # None -> NaN
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a band no sample reaches
        means = np.nanmean(rows, axis=0) if len(rows) else np.full(COLUMN_BANDS, np.nan)
    return [float(v) if np.isfinite(v) else None for v in means]


def format_table(report: dict) -> str:
    """One line per method: median RMSE over all and per pose, mean, tilt-forgiven median, failures."""
    poses = [p for p in POSES if any(p in s["poses"] for s in report["methods"].values())]
    counts = {p: next(s["poses"][p]["samples"] for s in report["methods"].values() if p in s["poses"]) for p in poses}
    head = f"{'method':<22} {'median':>7} {'mean':>7} " + " ".join(f"{f'{p} ({counts[p]})':>10}" for p in poses)
    left_out = (f"; diagnostic, not the protocol: each face's {report['leave_out_band']}most band left out"
                if report.get("leave_out_band") else "")
    lines = [f"real depth, {report['samples']} samples: RMSE in mm after scale + shift (median unless said){left_out}",
             head + f" {'tilt-forgiven':>13} {'failures':>8} {'coverage':>8}"]
    for name, s in report["methods"].items():
        per_pose = " ".join(f"{s['poses'][p]['median_rmse_mm']:>10.2f}" if p in s["poses"] else f"{'-':>10}"
                            for p in poses)
        lines.append(f"{name:<22} {s['median_rmse_mm']:>7.2f} {s['mean_rmse_mm']:>7.2f} {per_pose} "
                     f"{s['median_rmse_tilt_mm']:>13.2f} {s['failures']:>8d} {s['mean_coverage']:>8.1%}")
    lines += ["where the pose error lies: median RMSE with only the turn (left/right) / only the pitch (up/down) "
              "forgiven", f"{'method':<22} {'all':>15} " + " ".join(f"{p:>10}" for p in poses)]
    for name, s in report["methods"].items():
        per_pose = " ".join(f"{_turn_pitch(s['poses'][p]):>10}" if p in s["poses"] else f"{'-':>10}" for p in poses)
        lines.append(f"{name:<22} {_turn_pitch(s):>15} {per_pose}")
    lines.append(f"mean of gt - (s * pred + t) in mm in {COLUMN_BANDS} bands of the face's width, image left to right")
    for name, s in report["methods"].items():
        lines.append(f"{name:<22} " + " ".join(f"{v:>+6.1f}" if v is not None else f"{'-':>6}"
                                               for v in s["mean_column_residual_mm"]))
    return "\n".join(lines)


def _turn_pitch(summary: dict) -> str:
    return f"{summary['median_rmse_turn_mm']:.2f}/{summary['median_rmse_pitch_mm']:.2f}"


def markdown_table(report: dict) -> str:
    """The summary as a Markdown table (for the model card): median RMSE over all and per pose, mean,
    tilt-forgiven median, failures, coverage."""
    poses = [p for p in POSES if any(p in s["poses"] for s in report["methods"].values())]
    counts = {p: next(s["poses"][p]["samples"] for s in report["methods"].values() if p in s["poses"]) for p in poses}
    head = ["method", "median RMSE", "mean RMSE", *(f"{p} ({counts[p]})" for p in poses), "tilt forgiven",
            "failures", "coverage"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, s in report["methods"].items():
        cells = [name, f"{s['median_rmse_mm']:.2f}", f"{s['mean_rmse_mm']:.2f}",
                 *(f"{s['poses'][p]['median_rmse_mm']:.2f}" if p in s["poses"] else "-" for p in poses),
                 f"{s['median_rmse_tilt_mm']:.2f}", str(s["failures"]), f"{s['mean_coverage']:.1%}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
