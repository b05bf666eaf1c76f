"""Evaluation on held-out splits against landmark-fitting baselines.

Every method gives a depth code on the same 256x256 crop. Errors are in millimetres inside the
ground-truth face mask, on the pixels the method covers, after a per-sample least-squares scale and shift
(depth from one photo is only defined up to those). Methods:

* ``generator``: the exported .tflite through LiteRT, shown the crop at the training scale
  (:class:`facedepth.model.inference.AtTrainingScale`);
* ``generator_mirror``: the same, averaged with its prediction on the mirrored photo (mirrored back), as the
  app runs it (:func:`facedepth.model.inference.load_app_estimator`);
* ``flat``: a plane facing the camera (its error is the spread of the true depth);
* ``mean_face``: the face model's mean shape, posed by a landmark fit on the crop (dlib + eos);
* ``landmark_fit``: the full landmark fit (shape + expression + pose), the classic single-photo method.

A method fails on a sample when it gives no depth there (no face detected, or an empty mask).

Each error is also given with the global tilt forgiven (``rmse_tilt``: a plane in the image coordinates is
fitted besides scale and shift). On the real split the ground truth is itself a landmark fit, whose head
pose is uncertain (on the renders, the landmark fit's own errors drop most when tilt is forgiven), and the
posed mean face shares that pose by construction; the tilt-forgiven figure separates shape from pose.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from facedepth.model import depthcode, spec
from facedepth.model.crop import CropBox
from facedepth.model.files import atomic_write_bytes
from facedepth.model.resources import DEFAULT_QUALITY, QUALITIES
from facedepth.training import storage
from facedepth.training.evaluate_real_depth import BANDS, default_real_depth_dir, evaluate_methods, load_real_depth_set
from facedepth.training.evaluate_real_depth import format_table as format_real_depth_table
from facedepth.training.median_gap import format_gaps, median_gaps
from facedepth.training.real_depth_methods import BASELINES, methods_for, parse_named_folder

logger = logging.getLogger(__name__)

METHODS = ("generator", "generator_mirror", "flat", "mean_face", "landmark_fit")
MIN_COVERAGE = 0.3


@dataclass
class SampleError:
    rmse: float
    mae: float
    coverage: float
    rmse_tilt: float


def relative_mm(code: np.ndarray, crop_side_mm: float) -> np.ndarray:
    return (code - spec.NEAR_CODE) * crop_side_mm / spec.GAIN


def scale_shift_error(pred_mm: np.ndarray | None, true_mm: np.ndarray, true_mask: np.ndarray,
                      pred_mask: np.ndarray | None) -> SampleError | None:
    """Errors after the least-squares fit a * pred + b ~ true on the pixels both cover (and ``rmse_tilt``
    after a * pred + b + c * x + d * y ~ true, x and y in crop pixels); None = failure."""
    if pred_mm is None:
        return None
    both = true_mask & pred_mask
    coverage = float(both.sum() / max(true_mask.sum(), 1))
    if coverage < MIN_COVERAGE:
        return None
    p, t = pred_mm[both].astype(np.float64), true_mm[both].astype(np.float64)
    design = np.c_[p, np.ones_like(p)]
    resid = _fit_residual(design, t)
    rows, cols = np.nonzero(both)
    tilt_resid = _fit_residual(np.c_[design, cols / spec.IMAGE_SIZE, rows / spec.IMAGE_SIZE], t)
    return SampleError(float(np.sqrt(np.mean(resid**2))), float(np.mean(np.abs(resid))), coverage,
                       float(np.sqrt(np.mean(tilt_resid**2))))


def _fit_residual(design: np.ndarray, target: np.ndarray) -> np.ndarray:
    coef, *_ = np.linalg.lstsq(design, target, rcond=None)
    return design @ coef - target


class Baselines:
    """Landmark-fit baselines on a crop (lazy: loads dlib and the face model on first use)."""

    def __init__(self, sfm_dir: Path | None = None) -> None:
        from facedepth.model.face import FaceDetector
        from facedepth.training.facemodel import FaceModel

        self.model = FaceModel(sfm_dir)
        self.detector = FaceDetector(min_score=-0.5)

    def codes(self, photo: np.ndarray) -> dict[str, np.ndarray | None]:
        from facedepth.training.pseudo_gt import render_fit_code

        face = self.detector.largest(photo)
        if face is None:
            return {"mean_face": None, "landmark_fit": None}
        h, w = photo.shape[:2]
        fit = self.model.fit(face.landmarks, w, h)
        box = CropBox(w / 2, h / 2, float(w))
        mean_code, _ = render_fit_code(self.model, self.model.vertices(), fit, box, size=w)
        fit_code, _ = render_fit_code(self.model, fit.vertices, fit, box, size=w)
        return {"mean_face": mean_code, "landmark_fit": fit_code}


BASELINE_CACHE = "baseline_errors.json"
"""Baseline errors per held-out sample, kept beside the split: they do not depend on the generator."""


def _cached(cache: dict, name: str) -> bool:
    """Whether ``name``'s baseline errors are cached with every field SampleError has now."""
    fields = set(SampleError.__dataclass_fields__)
    return name in cache and all(e is None or set(e) == fields for e in cache[name].values())


def _baseline_errors(rec: dict, photo: np.ndarray, true_code: np.ndarray,
                     baselines: Baselines) -> dict[str, dict | None]:
    side = rec["crop_side_mm"]
    true_mask = depthcode.face_mask(true_code)
    true_mm = relative_mm(true_code, side)
    # A plane facing the camera: only the shift can be fitted, so the error is the spread of the true depth.
    out = {"flat": scale_shift_error(np.zeros_like(true_mm), true_mm, true_mask, true_mask)}
    for m, code in baselines.codes(photo).items():
        out[m] = scale_shift_error(None if code is None else relative_mm(code, side), true_mm, true_mask,
                                   None if code is None else depthcode.face_mask(code))
    return {m: None if e is None else vars(e) for m, e in out.items()}


def evaluate(data_dir: Path, weights: Path | None, kinds: tuple[str, ...] = ("synthetic", "real"),
             limit: int | None = None, sfm_dir: Path | None = None, baselines_only: bool = False,
             quality: str = DEFAULT_QUALITY) -> dict:
    """Per-kind, per-method median/mean RMSE and MAE (mm), coverage and failure counts. The generator (the
    bundled one of ``quality`` unless ``weights``) is scored as the app runs it at each quality: one pass
    ("generator", the ``fast`` path) and mirror-averaged ("generator_mirror", the ``best`` path)."""
    from facedepth.model.inference import as_the_app_runs_it, load_estimator

    generators = {}
    if not baselines_only:
        estimator = load_estimator(weights, quality=quality)
        generators = {"generator": as_the_app_runs_it(estimator, "fast"),
                      "generator_mirror": as_the_app_runs_it(estimator, "best")}
    split_dir = Path(data_dir) / "val"
    cache_path = split_dir / BASELINE_CACHE
    cache: dict = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    baselines: Baselines | None = None
    index = storage.read_index(split_dir)
    report: dict = {}
    for kind in kinds:
        records = [r for r in index if r["kind"] == kind][:limit]
        if not records:
            continue
        errors: dict[str, list[SampleError | None]] = {m: [] for m in METHODS}
        per_sample = []
        for rec in tqdm(records, desc=f"evaluate {kind}"):
            photo, true_code = storage.read_sample(split_dir, rec["name"])
            if not _cached(cache, rec["name"]):
                baselines = baselines or Baselines(sfm_dir)
                cache[rec["name"]] = _baseline_errors(rec, photo, true_code, baselines)
            found = {m: None if e is None else SampleError(**e) for m, e in cache[rec["name"]].items()}
            side = rec["crop_side_mm"]
            x = spec.to_network_input(photo[None])
            for name, est in generators.items():
                pred = depthcode.trim_prediction(est(x)[0, ..., 0])
                found[name] = scale_shift_error(relative_mm(pred, side), relative_mm(true_code, side),
                                                depthcode.face_mask(true_code), depthcode.face_mask(pred))
            row = {"name": rec["name"], "yaw": rec.get("yaw")}
            for m in METHODS:
                if m in found:
                    errors[m].append(found[m])
                    row[m] = None if found[m] is None else found[m].rmse
            per_sample.append(row)
        report[kind] = {"samples": len(records),
                        "methods": {m: summarise(errs) for m, errs in errors.items() if errs},
                        "per_sample": per_sample}
    atomic_write_bytes(cache_path, json.dumps(cache).encode())
    return report


def _run_real_depth(args) -> int:
    baselines = tuple(b for b in args.baselines.split(",") if b and b != "none")
    try:
        methods = methods_for(args.weights, not args.baselines_only, baselines, args.teacher, args.fuse,
                              args.repose, quality=args.quality)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    samples = load_real_depth_set(args.real_depth, limit=args.limit)
    report = evaluate_methods(samples, methods, progress=lambda items: tqdm(items, desc="real depth"),
                              leave_out_band=args.leave_out_band)
    print(format_real_depth_table(report))
    others = [name for name in methods if name != "generator"]
    if "generator" in methods and others:
        report["median_gaps"] = {other: median_gaps(report["per_sample"], "generator", other) for other in others}
        print(format_gaps(report["median_gaps"], "generator"))
    if args.json:
        atomic_write_bytes(args.json, json.dumps(report, indent=1).encode())
    return 0


def summarise(errs: list[SampleError | None]) -> dict:
    ok = [e for e in errs if e is not None]
    if not ok:
        return {"failures": len(errs), "success_rate": 0.0}
    rmse = np.array([e.rmse for e in ok])
    return {"median_rmse_mm": float(np.median(rmse)), "mean_rmse_mm": float(rmse.mean()),
            "median_mae_mm": float(np.median([e.mae for e in ok])),
            "median_rmse_tilt_mm": float(np.median([e.rmse_tilt for e in ok])),
            "mean_coverage": float(np.mean([e.coverage for e in ok])),
            "failures": len(errs) - len(ok), "success_rate": len(ok) / len(errs)}


def format_table(report: dict) -> str:
    lines = [f"{'split':<10} {'method':<16} {'median RMSE':>11} {'mean RMSE':>9} {'median MAE':>10} "
             f"{'+tilt':>8} {'coverage':>8} {'success':>8}"]
    for kind, rep in report.items():
        for m, s in rep["methods"].items():
            if "median_rmse_mm" not in s:
                lines.append(f"{kind:<10} {m:<16} {'-':>11} {'-':>9} {'-':>10} {'-':>8} {'-':>8} "
                             f"{s['success_rate']:>8.1%}")
                continue
            lines.append(f"{kind:<10} {m:<16} {s['median_rmse_mm']:>9.2f}mm {s['mean_rmse_mm']:>7.2f}mm "
                         f"{s['median_mae_mm']:>8.2f}mm {s['median_rmse_tilt_mm']:>6.2f}mm "
                         f"{s['mean_coverage']:>8.1%} {s['success_rate']:>8.1%}")
    return "\n".join(lines)


def add_parser(sub) -> None:
    p = sub.add_parser("evaluate", help="held-out errors of the generator and landmark baselines")
    p.add_argument("--data", type=Path, default=storage.DEFAULT_DATA_DIR)
    p.add_argument("--weights", type=Path, help="generator .tflite (default: the bundled one of --quality)")
    p.add_argument("--quality", choices=QUALITIES, default=DEFAULT_QUALITY,
                   help="real depth: run the generator as the app does at this quality, one pass (fast) or "
                        "mirror-averaged (best); held-out splits report both (default: %(default)s)")
    p.add_argument("--limit", type=int, help="at most this many samples per kind")
    p.add_argument("--json", type=Path, help="write the full report here")
    p.add_argument("--baselines-only", action="store_true", help="compute (and cache) the baselines only")
    real = p.add_argument_group("real depth", "score on real faces with measured depth instead of the held-out "
                                "splits (validation only: the set is never trained on)")
    real.add_argument("--real-depth", type=Path, nargs="?", const=default_real_depth_dir(), metavar="DIR",
                      help="the real-depth set (default: %(const)s)")
    real.add_argument("--baselines", default=",".join(BASELINES),
                      help="comma list of baselines to score beside the generator (default: %(default)s; none)")
    real.add_argument("--teacher", action="append", default=[], metavar="NAME=DIR", type=_named_folder,
                      help="also score depth maps saved as DIR/<stem>.npy (repeatable)")
    real.add_argument("--fuse", action="append", default=[], metavar="A+B",
                      help="also score the mean of two methods, B aligned to A (repeatable)")
    real.add_argument("--repose", action="append", default=[], metavar="SHAPE@POSE",
                      help="also score SHAPE's depth tilted to agree with POSE's: one method's face shape in "
                           "another's head pose (repeatable; SHAPE may be an A+B fusion)")
    real.add_argument("--leave-out-band", choices=BANDS, metavar="SIDE",
                      help="diagnostic, not the protocol: score without each face's leftmost or rightmost eighth "
                           f"({' or '.join(BANDS)}; the pose groups stay those of the whole faces)")
    p.set_defaults(func=_run)


def _named_folder(text: str) -> tuple[str, Path]:
    try:
        return parse_named_folder(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _run(args) -> int:
    if args.real_depth is not None:
        return _run_real_depth(args)
    report = evaluate(args.data, args.weights, limit=args.limit, baselines_only=args.baselines_only,
                      quality=args.quality)
    print(format_table(report))
    if args.json:
        atomic_write_bytes(args.json, json.dumps(report, indent=1).encode())
    return 0
