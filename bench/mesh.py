"""Mesh settings measured for time and quality on the sample photo, to choose the defaults.

Each option is a set of :class:`~facedepth.reconstruction.settings.MeshSettings` fields changed from the
defaults (``grid_smoothing=10``, ``mode=poisson poisson_depth=6``, ...), applied as the app applies them
(the stride scaled to the face by :func:`~facedepth.app.pipeline.scaled_to_face`). Per option: the reconstruction's
wall time (median of ``--runs``; the options take turns within every run, so load from other processes
hits them alike) and its CPU time (all threads: on a shared machine the steadier figure), the slowest
stage, the trimmed mesh's vertices and triangles, its holes (boundary loops besides the outline), how much
it bends between neighbouring triangles (median degrees: noise crumples a surface), and its
fidelity to the depth it was built from: the distance from every face pixel's back-projected point (all
of them, not the strided cloud the solver saw) to the mesh (median and 95th percentile, mm; the share
within 1 mm says how much of the face it covers), and the 95th percentile of the distance from the mesh's
vertices to those points (surface made up away from the data). Last, photo -> trimmed mesh (loading,
detection, the generator, the reconstruction; no exports) with the defaults and with each ``--end-to-end``
option, taking turns; ``--figure`` renders their meshes side by side (how ``docs/mesh_defaults.png`` is made).

    python bench/mesh.py [--runs 5] [--weights PATH] [--image PATH] [--end-to-end OPTION] [--figure IMAGE]
                         [OPTION ...]

An OPTION is ``field=value`` pairs joined by spaces in one argument, e.g. ``"mode=poisson stride=1"``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from dataclasses import fields, replace
from pathlib import Path

import numpy as np
import open3d as o3d

from facedepth.app.pipeline import Pipeline, PipelineSettings, camera_of, sampling_grid, scaled_to_face
from facedepth.model import resources
from facedepth.reconstruction.pointcloud import depth_to_point_cloud
from facedepth.reconstruction.surface import MeshSettings, reconstruct, vertex_components

DEFAULT_OPTIONS = (
    "", "grid_smoothing=0", "grid_smoothing=2", "grid_smoothing=10", "stride=1", "stride=1 grid_smoothing=10",
    "mode=poisson poisson_depth=5", "mode=poisson poisson_depth=6", "mode=poisson poisson_depth=7",
    "mode=poisson poisson_depth=8", "mode=poisson poisson_depth=6 stride=1", "mode=poisson poisson_depth=7 stride=3",
    "mode=poisson poisson_depth=7 normal_radius_mm=3", "mode=poisson poisson_depth=7 trim_quantile=0",
)
"""The defaults, the grid with more or less smoothing and at every sample, then Poisson at depths 5-8 at the
default density (8 samples every pixel), on a subsampled cloud, and with other normals and trimming."""


def parse_option(text: str) -> dict[str, object]:
    """``"mode=poisson stride=1"`` -> ``{"mode": "poisson", "stride": 1}``, typed as MeshSettings' fields."""
    types = {f.name: type(f.default) for f in fields(MeshSettings)}
    changes: dict[str, object] = {}
    for pair in text.split():
        name, _, value = pair.partition("=")
        if name not in types:
            raise SystemExit(f"unknown MeshSettings field {name!r} (choose from {', '.join(types)})")
        changes[name] = types[name](value)
    return changes


def fidelity(mesh: o3d.geometry.TriangleMesh, points: np.ndarray) -> tuple[float, float, float, float]:
    """(median, 95th percentile) distance in mm from ``points`` to ``mesh``, the share within 1 mm, and the
    95th percentile of the distance from the mesh's vertices to the nearest point."""
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.t.geometry.TriangleMesh.from_legacy(mesh))
    distance = scene.compute_distance(o3d.core.Tensor(points.astype(np.float32))).numpy()
    nns = o3d.core.nns.NearestNeighborSearch(o3d.core.Tensor(points.astype(np.float32)))
    nns.knn_index()
    _, d2 = nns.knn_search(o3d.core.Tensor(np.asarray(mesh.vertices, dtype=np.float32)), 1)
    return (float(np.median(distance)), float(np.percentile(distance, 95)), float((distance < 1.0).mean()),
            float(np.percentile(np.sqrt(d2.numpy()[:, 0]), 95)))


def _edges(triangles: np.ndarray) -> np.ndarray:
    """Every triangle's three edges as (smaller, larger) vertex pairs, three rows per triangle in order."""
    return np.sort(np.stack([triangles, np.roll(triangles, -1, axis=1)], axis=2).reshape(-1, 2), axis=1)


def roughness(mesh: o3d.geometry.TriangleMesh) -> float:
    """Median angle in degrees between the normals of triangles that share an edge: a smooth surface at this
    resolution bends little from one triangle to the next, noise in the depth shows as crumpled triangles."""
    triangles = np.asarray(mesh.triangles)
    vertices = np.asarray(mesh.vertices)
    normals = np.cross(vertices[triangles[:, 1]] - vertices[triangles[:, 0]],
                       vertices[triangles[:, 2]] - vertices[triangles[:, 0]])
    normals /= np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)
    edges = _edges(triangles)
    owner = np.repeat(np.arange(len(triangles)), 3)
    order = np.lexsort((edges[:, 1], edges[:, 0]))
    edges, owner = edges[order], owner[order]
    shared = np.all(edges[1:] == edges[:-1], axis=1)
    first, second = owner[:-1][shared], owner[1:][shared]
    cosine = np.clip(np.sum(normals[first] * normals[second], axis=1), -1.0, 1.0)
    return float(np.degrees(np.median(np.arccos(cosine))))


def holes(mesh: o3d.geometry.TriangleMesh) -> int:
    """Boundary loops besides the longest (the outline): edges used by one triangle, grouped by vertices."""
    triangles = np.asarray(mesh.triangles)
    edges = _edges(triangles)
    unique, counts = np.unique(edges, axis=0, return_counts=True)
    boundary = unique[counts == 1]
    if len(boundary) == 0:
        return 0
    labels = vertex_components(np.column_stack([boundary, boundary[:, 1]]), len(mesh.vertices))[boundary[:, 0]]
    return len(np.unique(labels)) - 1


def render_shaded(mesh: o3d.geometry.TriangleMesh, size: int = 480, yaw_deg: float = 30.0) -> np.ndarray:
    """The mesh (internal camera frame) shaded grey from a light above left, turned ``yaw_deg`` about the
    vertical axis, orthographic at a fixed scale (240 mm across): (size, size) uint8."""
    from facedepth.training.raster import rasterize, vertex_normals

    vertices = np.asarray(mesh.vertices) * [1.0, -1.0, -1.0]  # y up, z towards the viewer
    yaw = np.radians(yaw_deg)
    turn = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
    points = (vertices - vertices.mean(axis=0)) @ turn.T
    scale = 0.9 * size / 240.0
    screen = np.stack([size / 2 + points[:, 0] * scale, size / 2 - points[:, 1] * scale, -points[:, 2]], axis=1)
    triangles = np.asarray(mesh.triangles)
    raster = rasterize(screen, triangles, size, size, vertex_normals(points, triangles))
    normals = raster.attributes / np.maximum(np.linalg.norm(raster.attributes, axis=-1, keepdims=True), 1e-9)
    light = np.array([-0.4, 0.5, 0.77]) / np.linalg.norm([-0.4, 0.5, 0.77])
    shade = np.where(raster.mask, 0.15 + 0.85 * np.abs(normals @ light), 0.1)
    return (np.clip(shade, 0.0, 1.0) * 255 + 0.5).astype(np.uint8)


def save_figure(path: Path, panels: dict[str, o3d.geometry.TriangleMesh]) -> None:
    """The meshes rendered side by side, each labelled, as one image."""
    from PIL import Image, ImageDraw

    images = []
    for label, mesh in panels.items():
        image = Image.fromarray(render_shaded(mesh)).convert("RGB")
        ImageDraw.Draw(image).text((10, 10), f"{label}: {len(mesh.vertices):,} vertices", fill=(255, 220, 90))
        images.append(image)
    canvas = Image.new("RGB", (sum(image.width for image in images), images[0].height))
    for i, image in enumerate(images):
        canvas.paste(image, (i * image.width, 0))
    canvas.save(path)
    print(f"wrote {path}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("options", nargs="*", default=list(DEFAULT_OPTIONS),
                        help="MeshSettings changes to compare (default: a set of depths, densities and modes)")
    parser.add_argument("--runs", type=int, default=5, help="timed runs per option (default 5)")
    parser.add_argument("--weights", type=Path, help="generator .tflite (default: the bundled weights)")
    parser.add_argument("--image", type=Path, default=resources.sample_image(), help="photo (default: the sample)")
    parser.add_argument("--end-to-end", action="append", metavar="OPTION",
                        help="an option to time photo -> trimmed mesh besides the defaults (repeatable; default "
                             "mode=poisson)")
    parser.add_argument("--figure", type=Path, metavar="IMAGE",
                        help="also save the end-to-end options' meshes rendered side by side (the defaults first)")
    args = parser.parse_args(argv)

    pipeline = Pipeline(args.weights)
    prediction = pipeline.run(args.image, PipelineSettings(mesh=None)).prediction
    depth, rgb, camera, side = sampling_grid(prediction)
    photo = (prediction.image, camera_of(prediction))
    dense = np.asarray(depth_to_point_cloud(depth, rgb, camera, 1).points)
    configs = {text: scaled_to_face(replace(MeshSettings(), **parse_option(text)), side) for text in args.options}
    print(f"image: {args.image}; {args.runs} runs; {os.cpu_count()} logical CPUs; grid {depth.shape[1]} x "
          f"{depth.shape[0]} over {side:.0f} px of crop; {len(dense)} face pixels; defaults {MeshSettings()}\n")

    walls: dict[str, list[float]] = {text: [] for text in configs}
    cpus: dict[str, list[float]] = {text: [] for text in configs}
    stages: dict[str, dict[str, list[float]]] = {text: {} for text in configs}
    meshes = {}
    keys = list(configs)
    for run in range(args.runs + 1):  # run 0 is the warm-up
        for key in keys[run % len(keys):] + keys[:run % len(keys)]:
            wall, cpu = time.perf_counter(), time.process_time()
            recon = reconstruct(depth, rgb, camera, configs[key], photo=photo)
            if run:
                walls[key].append(time.perf_counter() - wall)
                cpus[key].append(time.process_time() - cpu)
                for name, seconds in recon.timings.items():
                    stages[key].setdefault(name, []).append(seconds)
            meshes[key] = recon.mesh

    print(f"{'option':<48} {'stride':>6} {'wall ms':>7} {'CPU ms':>6} {'slowest stage (ms)':<24} {'vertices':>8} "
          f"{'triangles':>9} {'holes':>5} {'bend deg':>8} {'median mm':>9} {'p95 mm':>6} {'<1 mm':>6} "
          f"{'made-up p95':>11}")
    for key in keys:
        mesh = meshes[key]
        slowest = max(stages[key], key=lambda name: statistics.median(stages[key][name]))
        median, p95, share, made_up = fidelity(mesh, dense)
        print(f"{key or '(defaults)':<48} {configs[key].stride:>6} {statistics.median(walls[key]) * 1000:>7.0f} "
              f"{statistics.median(cpus[key]) * 1000:>6.0f} "
              f"{f'{slowest} {statistics.median(stages[key][slowest]) * 1000:.0f}':<24} {len(mesh.vertices):>8} "
              f"{len(mesh.triangles):>9} {holes(mesh):>5} {roughness(mesh):>8.1f} {median:>9.3f} {p95:>6.2f} "
              f"{share:>6.1%} {made_up:>11.2f}")

    ends = {text: replace(MeshSettings(), **parse_option(text))
            for text in ("", *(args.end_to_end or ["mode=poisson"]))}
    totals: dict[str, list[float]] = {text: [] for text in ends}
    cpu_totals: dict[str, list[float]] = {text: [] for text in ends}
    order = list(ends)
    panels = {}
    for run in range(args.runs):
        for key in order[run % len(order):] + order[:run % len(order)]:
            wall, cpu = time.perf_counter(), time.process_time()
            result = pipeline.run(args.image, PipelineSettings(mesh=ends[key]))
            totals[key].append(time.perf_counter() - wall)
            cpu_totals[key].append(time.process_time() - cpu)
            panels[key or "defaults"] = result.reconstruction.mesh
    print()
    for key in order:
        print(f"photo -> trimmed mesh, {key or 'the defaults'}: median {statistics.median(totals[key]) * 1000:.0f} ms "
              f"(min {min(totals[key]) * 1000:.0f}, max {max(totals[key]) * 1000:.0f}); "
              f"CPU {statistics.median(cpu_totals[key]) * 1000:.0f} ms")
    if args.figure:
        save_figure(args.figure, {label: panels[label] for label in ["defaults", *order[1:]]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
