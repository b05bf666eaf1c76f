"""Photos per second of ``facedepth predict`` over a folder of photos, one at a time against parallel jobs.

Each configuration runs the real command in a subprocess (the default mesh and every output format by
default) on ``--count`` photos: copies of the sample photo, or the first photos of ``--photos DIR``. The
configurations take turns within every round, so load from other processes hits them alike. Printed per
configuration: the median wall time of the whole command (start-up and model loading included), photos
per second from it, and the steady rate between the first and the last photo's line on stdout (start-up
excluded); then the ratio of each to the first configuration.

    python bench/batch.py [--count 50] [--rounds 3] [--jobs 1,2] [--photos DIR] [-- extra predict arguments]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from facedepth.model import resources

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".tif", ".tiff", ".bmp"}


def gather_photos(folder: Path | None, count: int, into: Path) -> list[Path]:
    if folder is None:
        sources = [resources.sample_image()] * count
    else:
        sources = sorted(p for p in folder.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)[:count]
        if len(sources) < count:
            raise SystemExit(f"{folder} holds {len(sources)} photos, fewer than --count {count}")
    photos = []
    for i, source in enumerate(sources):
        photos.append(into / f"photo{i:03d}{source.suffix.lower()}")
        shutil.copy(source, photos[-1])
    return photos


def run_predict(photos: list[Path], out: Path, jobs: int, extra: list[str]) -> tuple[float, float]:
    """(wall seconds of the whole command, seconds from the first to the last photo's stdout line)."""
    command = [sys.executable, "-m", "facedepth.app.cli", "predict", *map(str, photos), "-o", str(out),
               "--overwrite", "--jobs", str(jobs), *extra]
    start = time.perf_counter()
    stamps = []
    with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                          ) as proc:
        for line in proc.stdout:
            if line.strip():
                stamps.append(time.perf_counter())
    wall = time.perf_counter() - start
    if proc.returncode != 0 or len(stamps) != len(photos):
        raise SystemExit(f"facedepth predict --jobs {jobs} failed (exit {proc.returncode}, "
                         f"{len(stamps)} of {len(photos)} photos done)")
    return wall, stamps[-1] - stamps[0]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    extra = argv[argv.index("--") + 1:] if "--" in argv else []
    argv = argv[:argv.index("--")] if "--" in argv else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50, help="photos per run (default 50)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of each configuration (default 3)")
    parser.add_argument("--jobs", default="1,2", help="comma list of --jobs values (default 1,2)")
    parser.add_argument("--photos", type=Path, help="folder of photos (default: copies of the sample)")
    args = parser.parse_args(argv)
    configs = [int(v) for v in args.jobs.split(",")]

    with tempfile.TemporaryDirectory(prefix="facedepth-batch-") as tmp:
        photos = gather_photos(args.photos, args.count, Path(tmp))
        print(f"{len(photos)} photos ({args.photos or 'copies of the sample'}); {args.rounds} rounds; "
              f"{os.cpu_count()} logical CPUs; predict {' '.join(extra) or '(defaults: default mesh, all formats)'}",
              flush=True)
        walls: dict[int, list[float]] = {jobs: [] for jobs in configs}
        steady: dict[int, list[float]] = {jobs: [] for jobs in configs}
        for round_ in range(args.rounds):
            for jobs in configs[round_ % len(configs):] + configs[:round_ % len(configs)]:
                wall, span = run_predict(photos, Path(tmp) / f"out{jobs}", jobs, extra)
                walls[jobs].append(wall)
                steady[jobs].append(span)
                print(f"  round {round_ + 1}, --jobs {jobs}: {wall:.1f} s", flush=True)
    base_rate = base_steady = None
    print(f"\n{'--jobs':>6} {'median s':>9} {'photos/s':>9} {'x':>6} {'steady photos/s':>16} {'x':>6}")
    for jobs in configs:
        rate = len(photos) / statistics.median(walls[jobs])
        steady_rate = (len(photos) - 1) / statistics.median(steady[jobs])
        base_rate, base_steady = base_rate or rate, base_steady or steady_rate
        print(f"{jobs:>6} {statistics.median(walls[jobs]):>9.1f} {rate:>9.2f} {rate / base_rate:>6.2f} "
              f"{steady_rate:>16.2f} {steady_rate / base_steady:>6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
