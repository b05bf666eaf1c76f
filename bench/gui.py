"""Responsiveness of the FaceDepth window: start-up, photo -> mesh, 3D frame rate, main-thread stalls.

Figures printed:

* cold start: process start (as the kernel records it, so interpreter start-up is included) to the first
  frame on screen (the first buffer flip);
* photo -> mesh shown: ``open_photo`` to the first flip after the 3D view holds the mesh, for the first
  photo (models loading in the background since start-up) and then ``--runs`` warm photos (median);
* main-thread stall: the longest gap between ticks of a ``Clock.schedule_interval(probe, 0)`` while a photo
  is processed (includes the upload of textures and vertex buffers when the result arrives);
* 3D frame rate while rotating: frames flipped per second while the view turns a little every frame, for
  the sample's mesh and for a synthetic ``--triangles`` heightfield (Kivy caps at its maxfps, 60 by default),
  and this process's CPU time per frame (all threads, llvmpipe's included), which other load on the machine
  disturbs less than the rate.

Run under a display or Xvfb, with weights from ``--weights`` or $FACEDEPTH_WEIGHTS:

    xvfb-run -a -s "-screen 0 1400x900x24" python bench/gui.py [--weights PATH] [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path


def process_age() -> float:
    """Seconds since this process started (Linux: /proc), else since this module was imported."""
    try:
        start_ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        return uptime - start_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return time.perf_counter() - _IMPORTED


_IMPORTED = time.perf_counter()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, help="generator .tflite (default $FACEDEPTH_WEIGHTS or bundled)")
    parser.add_argument("--runs", type=int, default=3, help="warm photo -> mesh runs (default 3)")
    parser.add_argument("--rotate-seconds", type=float, default=4.0, help="length of each frame-rate run")
    parser.add_argument("--triangles", type=int, default=100_000, help="size of the synthetic mesh")
    args = parser.parse_args(argv)

    from facedepth.app.main import configure_kivy

    configure_kivy()
    from kivy.base import EventLoop, runTouchApp, stopTouchApp
    from kivy.clock import Clock
    from kivy.core.window import Window

    from facedepth.app.gui import FaceDepthApp
    from facedepth.model import resources

    flips: list[float] = []
    Window.bind(on_flip=lambda *_a: flips.append(time.perf_counter()))
    app = FaceDepthApp(weights=args.weights)
    app._run_prepare()
    runTouchApp(embedded=True)

    def pump_until(condition, timeout: float = 600.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise SystemExit("timed out")
            EventLoop.idle()

    pump_until(lambda: flips)
    print(f"cold start to first frame: {process_age() - (time.perf_counter() - flips[0]):.2f} s")

    sample = resources.sample_image()
    gaps: list[float] = []
    last = [time.perf_counter()]

    def probe(_dt) -> None:
        now = time.perf_counter()
        gaps.append(now - last[0])
        last[0] = now

    def photo_to_mesh() -> tuple[float, float]:
        """(seconds from open_photo to the first flip showing the mesh, longest main-thread gap)."""
        gaps.clear()
        last[0] = time.perf_counter()
        Clock.schedule_interval(probe, 0)
        shown: list[int] = []
        watch = app.root.fbind("has_result", lambda _w, value: shown.append(len(flips)) if value else None)
        start = time.perf_counter()
        app.open_photo(sample)
        pump_until(lambda: not app.busy)
        if app.result is None:
            raise SystemExit(f"processing failed: {app.root.status_text}")
        pump_until(lambda: len(flips) > shown[0])
        Clock.unschedule(probe)
        app.root.unbind_uid("has_result", watch)
        return flips[shown[0]] - start, max(gaps)

    first, first_stall = photo_to_mesh()
    print(f"first photo -> mesh shown (models loading since start): {first:.2f} s, "
          f"longest main-thread stall {first_stall * 1000:.0f} ms")
    runs = [photo_to_mesh() for _ in range(args.runs)]
    triangles = app.result.triangles
    print(f"warm photo -> mesh shown ({triangles:,} triangles, median of {args.runs}): "
          f"{statistics.median(r[0] for r in runs):.2f} s; longest main-thread stall "
          f"{max(r[1] for r in runs) * 1000:.0f} ms (per run: {', '.join(f'{r[1] * 1000:.0f}' for r in runs)} ms)")

    view = app.root.ids.mesh_view

    def frame_rate() -> str:
        """Frames flipped per second while turning, and this process's CPU time per frame (all threads,
        llvmpipe's included; less sensitive than the rate to other load on the machine)."""
        def turn(_dt) -> None:
            view.yaw = (view.yaw + 1.5) % 360

        Clock.schedule_interval(turn, 0)
        pump_until(lambda: len(flips) > 0)
        start, cpu, count = time.perf_counter(), time.process_time(), len(flips)
        pump_until(lambda: time.perf_counter() - start > args.rotate_seconds)
        Clock.unschedule(turn)
        frames = max(1, len(flips) - count)
        return (f"{frames / (time.perf_counter() - start):.1f} frames/s, "
                f"{(time.process_time() - cpu) / frames * 1000:.0f} ms CPU per frame")

    print(f"3D view rotating, sample mesh ({view.triangle_count:,} triangles, {view.width:.0f}x{view.height:.0f} px):"
          f" {frame_rate()}")
    view.set_scene(synthetic_scene(args.triangles))
    print(f"3D view rotating, synthetic mesh ({view.triangle_count:,} triangles): {frame_rate()}")

    app.stop()
    stopTouchApp()
    return 0


def synthetic_scene(triangles: int):
    """A bumpy coloured heightfield with about ``triangles`` triangles, as the view's buffers."""
    import numpy as np
    import open3d as o3d

    from facedepth.app.meshbuffers import scene_buffers

    side = int((triangles / 2) ** 0.5) + 1
    v, u = np.mgrid[0:side, 0:side]
    points = np.stack([u.ravel(), v.ravel(), 500 + 8 * np.sin(u.ravel() / 9) * np.cos(v.ravel() / 11)], 1) * 1.0
    index = np.arange(side * side).reshape(side, side)
    a, b, c, d = (index[:-1, :-1].ravel(), index[:-1, 1:].ravel(), index[1:, :-1].ravel(), index[1:, 1:].ravel())
    mesh = o3d.geometry.TriangleMesh(o3d.utility.Vector3dVector(points),
                                     o3d.utility.Vector3iVector(np.concatenate([np.stack([a, c, b], 1),
                                                                                np.stack([b, c, d], 1)])))
    mesh.vertex_colors = o3d.utility.Vector3dVector(np.random.default_rng(0).random((len(points), 3)))
    mesh.compute_vertex_normals()
    return scene_buffers(mesh)


if __name__ == "__main__":
    sys.exit(main())
