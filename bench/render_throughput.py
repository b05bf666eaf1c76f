"""Synthetic render throughput per face model: what one worker of `facedepth-train generate synthetic` does
for a sample (scene, skin texture, background, render, depth code, JPEG + PNG encode), timed in process.

Figures printed, per face model: model load time, then over ``--count`` samples the median and mean wall
seconds per sample, CPU seconds per sample (process time: less sensitive to other load on the machine) and
the samples per second one worker gives. The machine's load average is printed too.

    python bench/render_throughput.py [--count 20] [--face-models surrey,ict] [--textures DIR] [--json OUT]

Donor textures come from ``--textures`` (a data set's textures/<split> folder), else a smooth synthetic
skin; backgrounds are smooth colour fields (no photo folder needed).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np


def _donors(folder: Path | None) -> list[np.ndarray]:
    if folder:
        paths = sorted(Path(folder).glob("*.png"))[:8]
        if paths:
            return [cv2.imread(str(p))[..., ::-1].copy() for p in paths]
    ys, xs = np.mgrid[0:256, 0:256]
    skin = np.dstack([190 + 20 * np.sin(xs / 40), 140 + 15 * np.cos(ys / 50), 110 + 0 * xs])
    return [skin.astype(np.uint8)]


def bench_model(name: str, count: int, donors: list[np.ndarray]) -> dict:
    from facedepth.model import depthcode
    from facedepth.training.facemodel import FaceModel
    from facedepth.training.synthetic import SyntheticConfig, random_background, render_scene, sample_scene

    t0 = time.perf_counter()
    surrey = FaceModel()
    if name == "ict":
        from facedepth.training.ictface import IctFaceModel
        from facedepth.training.skintransfer import SkinTransfer

        model = IctFaceModel()
        skin = SkinTransfer(model, surrey)
    else:
        model, skin = surrey, None
    load_s = time.perf_counter() - t0
    cfg = SyntheticConfig()
    wall, cpu = [], []
    for i in range(count):
        w0, c0 = time.perf_counter(), time.process_time()
        rng = np.random.default_rng([0, i, 0])
        scene = sample_scene(rng, model, cfg)
        texture = donors[int(rng.integers(len(donors)))]
        texture = skin(texture) if skin else texture
        background = random_background(rng, [], 512)
        photo, code, _ = render_scene(model, scene, texture, background, rng, cfg)
        cv2.imencode(".jpg", photo[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
        cv2.imencode(".png", depthcode.to_uint16(code))
        wall.append(time.perf_counter() - w0)
        cpu.append(time.process_time() - c0)
    return {"face_model": name, "load_s": load_s, "count": count, "median_wall_s": statistics.median(wall),
            "mean_wall_s": statistics.fmean(wall), "mean_cpu_s": statistics.fmean(cpu),
            "samples_per_s": count / sum(wall)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=20)
    p.add_argument("--face-models", default="surrey,ict")
    p.add_argument("--textures", type=Path, help="a folder of donor skin textures (Surrey layout PNGs)")
    p.add_argument("--json", type=Path, help="also write the figures here")
    args = p.parse_args(argv)
    donors = _donors(args.textures)
    print(f"load average before: {' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    rows = []
    for name in args.face_models.split(","):
        row = bench_model(name.strip(), args.count, donors)
        rows.append(row)
        print(f"{row['face_model']:>7}: load {row['load_s']:.1f} s; per sample {row['median_wall_s']:.2f} s median, "
              f"{row['mean_wall_s']:.2f} s mean wall, {row['mean_cpu_s']:.2f} s CPU; "
              f"{row['samples_per_s']:.2f} samples/s per worker ({args.count} samples)")
    print(f"load average after: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    if args.json:
        args.json.write_text(json.dumps({"load_average": os.getloadavg(), "models": rows}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
