"""Latency of every stage of the photo -> depth -> mesh pipeline on the sample photo.

Stages: photo loading, face detection, crop, generator, uncrop, then for the grid mesh and for Poisson at
depths 7-10: point cloud (with outlier removal), normals, surface, trimming, wire frame, and writing each
output format. Each configuration runs ``--runs`` times after one untimed warm-up; the table shows the
median and the interquartile range (and min-max) in milliseconds, and the last lines the medians of
photo -> depth (loading to uncrop) at every quality (``--quality``, default the app's, is the one the table
details) and photo -> trimmed mesh (the same plus the reconstruction with the default mesh settings, no
exports). ``--json PATH`` also writes every individual timing.
``--generator-options`` times LiteRT's thread counts and batching against each other;
``--detect-sizes 0.5,2,12,48`` times detection on the photo scaled to those megapixels.

    python bench/latency.py [--runs 5] [--quality fast|best] [--weights PATH] [--poisson-depths 7,8,9,10]
                            [--json latency.json]
                            [--generator-options] [--detect-sizes LIST]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
from PIL import Image

from facedepth.app.pipeline import DEPTH_FILE_SUFFIX, WIREFRAME_SUFFIX, camera_of, sampling_grid, scaled_to_face
from facedepth.model import crop, resources, spec
from facedepth.model.imageio import load_photo
from facedepth.model.inference import (
    DepthEstimator,
    as_the_app_runs_it,
    file_sha256,
    load_app_estimator,
    load_estimator,
)
from facedepth.model.service import DepthService
from facedepth.reconstruction import export
from facedepth.reconstruction.surface import MeshSettings, reconstruct


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per configuration (default 5)")
    parser.add_argument("--quality", choices=resources.QUALITIES, default=resources.DEFAULT_QUALITY,
                        help="the quality the table details (default: the app's, %(default)s)")
    parser.add_argument("--weights", type=Path, help="generator .tflite for every quality (default: the bundled "
                                                     "one of each)")
    parser.add_argument("--image", type=Path, default=resources.sample_image(), help="photo (default: the sample)")
    parser.add_argument("--poisson-depths", default="7,8,9,10", help="comma list (default 7,8,9,10)")
    parser.add_argument("--json", type=Path, help="also write all timings to this JSON file")
    parser.add_argument("--detect-sizes", default="none", metavar="LIST",
                        help="also time face detection on the photo scaled to these megapixels (e.g. 0.5,2,12,48)")
    parser.add_argument("--generator-options", action="store_true",
                        help="also time the generator's LiteRT options (threads, batching) against each other")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def timed(samples: list[float], func, *args, **kwargs):
    start = time.perf_counter()
    result = func(*args, **kwargs)
    samples.append(time.perf_counter() - start)
    return result


def bench_depth(service: DepthService, image: Path, runs: int) -> tuple[dict[str, list[float]], object]:
    """Photo loading and the depth service's stages; returns the timings and the last prediction."""
    times: dict[str, list[float]] = defaultdict(list)
    service.predict(load_photo(image))  # warm-up: dlib's landmark model loads on first use
    prediction = None
    for _ in range(runs):
        rgb = timed(times["load photo"], load_photo, image)
        prediction = service.predict(rgb)
        for stage, seconds in prediction.timings.items():
            times[stage].append(seconds)
    return times, prediction


def bench_mesh(prediction, settings: MeshSettings, runs: int, out_dir: Path | None) -> dict[str, list[float]]:
    """Reconstruction stages and, with an ``out_dir``, every export for one mesh configuration, as the
    pipeline runs them (on the generator's grid for a small face, textured from the photo)."""
    times: dict[str, list[float]] = defaultdict(list)
    depth, rgb, grid_camera, side = sampling_grid(prediction)
    settings = scaled_to_face(settings, side)
    photo = (prediction.image, camera_of(prediction))
    reconstruct(depth, rgb, grid_camera, settings, photo=photo)  # warm-up
    for _ in range(runs):
        recon = reconstruct(depth, rgb, grid_camera, settings, photo=photo)
        for stage, seconds in recon.timings.items():
            times[stage].append(seconds)
        if out_dir is None:
            continue
        for fmt in export.MESH_FORMATS:
            timed(times[f"export {fmt}"], export.save_mesh, recon.mesh, out_dir / f"face.{fmt}", overwrite=True,
                  texture=recon.texture)
        timed(times["export wireframe"], export.save_wireframe, recon.wireframe, out_dir / f"face{WIREFRAME_SUFFIX}",
              overwrite=True)
        times["vertices"].append(len(recon.mesh.vertices))
        times["triangles"].append(len(recon.mesh.triangles))
        for fmt in export.MESH_FORMATS:  # an OBJ's size counts its material and texture image
            path = out_dir / f"face.{fmt}"
            times[f"bytes {fmt}"].append(sum(p.stat().st_size for p in [path, *export.mesh_companions(path)]))
    return times


def bench_depth_exports(prediction, runs: int, out_dir: Path) -> dict[str, list[float]]:
    times: dict[str, list[float]] = defaultdict(list)
    for _ in range(runs):
        for kind, suffix in DEPTH_FILE_SUFFIX.items():
            timed(times[f"export depth {kind}"], export.save_depth, prediction.depth_mm, out_dir / f"face{suffix}",
                  kind, overwrite=True)
    return times


def bench_detection_sizes(service: DepthService, image: Path, sizes: list[float], runs: int
                          ) -> list[tuple[str, str, list[float]]]:
    """Face detection (boxes and landmarks) on the photo scaled to each size in megapixels."""
    photo = Image.fromarray(load_photo(image))
    rows = []
    for megapixels in sizes:
        scale = (megapixels * 1e6 / (photo.width * photo.height)) ** 0.5
        rgb = np.asarray(photo.resize((round(photo.width * scale), round(photo.height * scale)),
                                      Image.Resampling.BICUBIC))
        service.detector.largest(rgb)  # warm-up
        samples: list[float] = []
        for _ in range(runs):
            found = timed(samples, service.detector.largest, rgb)
        print(f"detect at {megapixels:g} Mpx ({rgb.shape[1]} x {rgb.shape[0]}): median "
              f"{statistics.median(samples) * 1000:.1f} ms, face {'found' if found else 'NOT found'}", flush=True)
        rows.append(("detect", f"{megapixels:g} Mpx", samples))
    print()
    return rows


def one_at_a_time(inner: DepthEstimator) -> DepthEstimator:
    """``inner`` called once per photo: how the mirror passes ran before they were batched."""
    return lambda photos: np.concatenate([inner(photo[None]) for photo in photos])


def bench_generator_options(weights: Path | None, quality: str, prediction, runs: int
                            ) -> list[tuple[str, str, list[float]]]:
    """The app's generator call at ``quality`` under each LiteRT option, on the sample's crop. The options take
    turns within every run, so load from other processes hits them alike; the table's last column is the
    largest code difference from the first option (0 = same depth)."""
    photo = spec.to_network_input(crop.crop_image(prediction.image, prediction.box))[None]
    options: dict[str, DepthEstimator] = {}
    for threads in (os.cpu_count() or 1, 1):
        inner = load_estimator(weights, num_threads=threads, quality=quality)
        if quality == "best":  # the mirror pair, batched or not
            options[f"2 x batch 1, {threads} thr"] = as_the_app_runs_it(one_at_a_time(inner), quality)
            options[f"batch 2, {threads} thr"] = as_the_app_runs_it(inner, quality)
        else:
            options[f"batch 1, {threads} thr"] = as_the_app_runs_it(inner, quality)
    reference = next(iter(options.values()))(photo)
    times: dict[str, list[float]] = {name: [] for name in options}
    differences = {name: float(np.abs(estimator(photo) - reference).max()) for name, estimator in options.items()}
    names = list(options)
    for run in range(runs):
        for name in names[run % len(names):] + names[:run % len(names)]:  # rotate who goes first
            timed(times[name], options[name], photo)
    print("generator options (max |code difference| from the first):")
    for name in names:
        print(f"  {name:<20} median {statistics.median(times[name]) * 1000:7.1f} ms   max diff {differences[name]:.2g}")
    print()
    return [("generator", name, samples) for name, samples in times.items()]


def photo_to_depth(times: dict[str, list[float]], runs: int) -> list[float]:
    """Each run's seconds from loading the photo to the depth on the photo's grid."""
    return [sum(samples[i] for samples in times.values()) for i in range(runs)]


def summary(samples: list[float]) -> dict[str, float]:
    values = np.asarray(samples, dtype=np.float64)
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {"median": float(median), "q1": float(q1), "q3": float(q3), "min": float(values.min()),
            "max": float(values.max())}


def print_table(rows: list[tuple[str, str, list[float]]]) -> None:
    print(f"{'configuration':<14} {'stage':<22} {'median ms':>10} {'IQR ms':>17} {'min-max ms':>19}")
    for config, stage, samples in rows:
        s = {k: v * 1000 for k, v in summary(samples).items()}
        print(f"{config:<14} {stage:<22} {s['median']:>10.1f} {s['q1']:>8.1f}-{s['q3']:<8.1f} "
              f"{s['min']:>9.1f}-{s['max']:<9.1f}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    depths = [int(d) for d in args.poisson_depths.split(",") if d.strip()]
    weights = args.weights or resources.default_weights(args.quality)

    start = time.perf_counter()
    estimator = load_app_estimator(args.weights, quality=args.quality)
    model_load = time.perf_counter() - start
    service = DepthService(estimator)
    print(f"weights: {weights} (sha256 {file_sha256(weights)[:16]}...), quality {args.quality}")
    print(f"image:   {args.image}; {args.runs} timed runs per configuration after one warm-up")
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
          f"Python {platform.python_version()}; model load {model_load * 1000:.0f} ms\n")

    rows: list[tuple[str, str, list[float]]] = []
    sizes: dict[str, dict[str, float]] = {}
    depth_times, prediction = bench_depth(service, args.image, args.runs)
    rows += [("depth", stage, samples) for stage, samples in depth_times.items()]
    if args.detect_sizes != "none":
        megapixels = [float(v) for v in args.detect_sizes.split(",") if v.strip()]
        rows += bench_detection_sizes(service, args.image, megapixels, args.runs)
    if args.generator_options:
        rows += bench_generator_options(args.weights, args.quality, prediction, args.runs)
    others = {quality: bench_depth(DepthService(load_app_estimator(args.weights, quality=quality), service.detector),
                                   args.image, args.runs)[0]
              for quality in resources.QUALITIES if quality != args.quality}
    with tempfile.TemporaryDirectory(prefix="facedepth-bench-") as tmp:
        out_dir = Path(tmp)
        rows += [("depth", stage, samples) for stage, samples in bench_depth_exports(prediction, args.runs,
                                                                                      out_dir).items()]
        configs = [("grid", MeshSettings(mode="grid"))]
        configs += [(f"poisson d{d}", MeshSettings(mode="poisson", poisson_depth=d)) for d in depths]
        for name, settings in configs:
            times = bench_mesh(prediction, settings, args.runs, out_dir)
            sizes[name] = {key: statistics.median(times.pop(key)) for key in list(times)
                           if key in ("vertices", "triangles") or key.startswith("bytes ")}
            rows += [(name, stage, samples) for stage, samples in times.items()]
            files = ", ".join(f"{key[6:]} {value / 1e6:.2f} MB" for key, value in sizes[name].items()
                              if key.startswith("bytes "))
            print(f"{name}: {sizes[name]['vertices']:.0f} vertices, {sizes[name]['triangles']:.0f} triangles; "
                  f"files {files}", flush=True)
    print()
    print_table(rows)
    depth_total = photo_to_depth(depth_times, args.runs)
    recon = bench_mesh(prediction, MeshSettings(), args.runs, None)
    mesh_total = [depth_total[i] + sum(recon[stage][i] for stage in recon) for i in range(args.runs)]
    print(f"\nphoto -> depth ({args.quality}): median {statistics.median(depth_total) * 1000:.1f} ms; photo -> "
          f"trimmed mesh ({MeshSettings().mode} mesh): median {statistics.median(mesh_total) * 1000:.1f} ms")
    for quality, times in others.items():
        print(f"photo -> depth ({quality}): median {statistics.median(photo_to_depth(times, args.runs)) * 1000:.1f} ms")

    if args.json:
        record = {
            "weights": str(weights), "weights_sha256": file_sha256(weights), "image": str(args.image),
            "quality": args.quality, "runs": args.runs, "cpus": os.cpu_count(), "python": platform.python_version(),
            "model_load_s": model_load, "face_pixels": int(prediction.mask.sum()), "mesh_sizes": sizes,
            "stages": [{"configuration": c, "stage": s, "seconds": v, **{f"{k}_s": x for k, x in summary(v).items()}}
                       for c, s, v in rows],
        }
        args.json.write_text(json.dumps(record, indent=1))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
