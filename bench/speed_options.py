"""Accuracy and photo -> depth time of every speed option, beside the full-cost path.

The options: each bundled generator (``--best`` / ``--fast`` to name other files) run once and mirror-averaged,
as the app runs it (training scale, ripple removed). For each: the median photo -> depth time on the sample
photo (``--runs`` runs after a warm-up, photo loading to the depth on the photo's grid); the median depth
RMSE (mm, after a scale + shift fit) on the held-out renders and photos of a generated data set (``--data``,
``--limit`` of each; the photos are scored against their pseudo ground truth); and the median and
tilt-forgiven median RMSE and failures on the real-depth development set. The last column is each figure's
largest change against the full-cost path (the best generator, mirror-averaged): the speed issue allows 2 %.
Needs the training environment (the held-out evaluation's landmark-fit baselines are cached beside the
data on the first run).

    python bench/speed_options.py --data data/gen [--limit 300] [--real-depth DIR] [--runs 5] [--json PATH]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from facedepth.model import resources
from facedepth.model.face import FaceDetector
from facedepth.model.imageio import load_photo
from facedepth.model.inference import as_the_app_runs_it, load_estimator
from facedepth.model.service import DepthService
from facedepth.training.evaluate import evaluate
from facedepth.training.evaluate_real_depth import default_real_depth_dir, evaluate_methods, load_real_depth_set
from facedepth.training.real_depth_methods import app_generator

PASSES = {"fast": ("one pass", "generator"), "best": ("mirror-averaged", "generator_mirror")}
"""How each quality runs a generator: its words, and the name evaluate() reports it under."""
FULL_COST = ("best", "best")
"""(file, passes) of the full-cost path the others are compared with."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True, help="generated data set with a val split")
    parser.add_argument("--limit", type=int, default=300, help="held-out samples of each kind (default 300)")
    parser.add_argument("--real-depth", type=Path, default=default_real_depth_dir(), help="real-depth set")
    parser.add_argument("--best", type=Path, help="the full generator (default: the bundled one)")
    parser.add_argument("--fast", type=Path, help="the fast generator (default: the bundled one)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each option (default 5)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    return parser.parse_args(argv)


def photo_to_depth_ms(service: DepthService, image: Path, runs: int) -> float:
    service.predict(load_photo(image))  # warm-up
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        service.predict(load_photo(image))
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    files = {"best": args.best or resources.default_weights("best"),
             "fast": args.fast or resources.default_weights("fast")}
    detector = FaceDetector()
    loaded = {file: load_estimator(path) for file, path in files.items()}
    runs = {f"{file} generator, {words}": (file, passes) for file in files for passes, (words, _) in PASSES.items()}
    options = {name: as_the_app_runs_it(loaded[file], passes) for name, (file, passes) in runs.items()}
    figures = {name: {"file": str(files[file]), "passes": passes,
                      "photo_to_depth_ms": photo_to_depth_ms(DepthService(options[name], detector),
                                                             resources.sample_image(), args.runs)}
               for name, (file, passes) in runs.items()}
    for file, path in files.items():
        report = evaluate(args.data, path, limit=args.limit, quality=file)
        for words, method in PASSES.values():
            for kind, rep in report.items():
                figures[f"{file} generator, {words}"][f"heldout_{kind}_mm"] = rep["methods"][method]["median_rmse_mm"]
    samples = load_real_depth_set(args.real_depth)
    real = evaluate_methods(samples, {name: app_generator(estimator) for name, estimator in options.items()})
    for name in options:
        summary = real["methods"][name]
        figures[name].update(real_mm=summary["median_rmse_mm"], real_tilt_mm=summary["median_rmse_tilt_mm"],
                             real_failures=summary["failures"])
    print_table(figures, f"{FULL_COST[0]} generator, {PASSES[FULL_COST[1]][0]}", len(samples), args.limit)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))
    return 0


ACCURACY = ("heldout_synthetic_mm", "heldout_real_mm", "real_mm", "real_tilt_mm")


def print_table(figures: dict[str, dict], full_cost: str, real_samples: int, limit: int) -> None:
    print(f"| option | photo -> depth (ms) | held-out renders (mm) | held-out photos, pseudo GT (mm) | real depth, "
          f"{real_samples} (mm) | tilt forgiven (mm) | failures | worst change vs {full_cost} |")
    print("|---|---|---|---|---|---|---|---|")
    reference = figures[full_cost]
    for name, f in figures.items():
        worst = max(f[key] / reference[key] - 1 for key in ACCURACY)
        print(f"| {name} | {f['photo_to_depth_ms']:.1f} | {f['heldout_synthetic_mm']:.2f} | "
              f"{f['heldout_real_mm']:.2f} | {f['real_mm']:.2f} | {f['real_tilt_mm']:.2f} | {f['real_failures']} | "
              f"{worst:+.1%} |")
    print(f"(held-out: at most {limit} samples of each kind; medians)")


if __name__ == "__main__":
    sys.exit(main())
