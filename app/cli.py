"""The ``facedepth`` command: face photos -> depth maps and 3D meshes, or information on the model.

Exit status: 0 all photos done; 1 some photo failed (one ``error: <file>: <reason>`` line each, the
others still run) or an unexpected error; 2 bad command line; 3 the generator weights are missing,
damaged or not a FaceDepth generator; 4 the output folder cannot be created or written; 128 + N when
stopped by signal N (SIGINT, SIGTERM, SIGHUP: cleaned up alike, see :mod:`facedepth.app.interrupts`); 141
when stdout is closed early. Tracebacks are shown only with ``-v``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from facedepth.app import interrupts
from facedepth.model.files import probe_writable
from facedepth.model.reporting import configure_logging, one_line, verbosity_level
from facedepth.reconstruction import settings

if TYPE_CHECKING:  # the command imports the pipeline only when it runs one
    from facedepth.app.pipeline import Pipeline, PipelineSettings

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_WEIGHTS, EXIT_OUTPUT = 0, 1, 2, 3, 4
EXIT_BROKEN_PIPE = 128 + 13
"""The shell's status for a process ended by SIGPIPE: what ``facedepth info | head`` gets."""
MESH_MODES = (*settings.MESH_MODES, "none")
FACE_CHOICES = ("all", "largest")

logger = logging.getLogger(__name__)


class UsageError(Exception):
    """A problem with the command as a whole (not with one photo): message and exit status."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def _format_list(allowed: Sequence[str]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        if text.strip().lower() == "none":
            return []
        items = [item.strip().lower() for item in text.split(",") if item.strip()]
        unknown = [item for item in items if item not in allowed]
        if unknown:
            raise argparse.ArgumentTypeError(f"unknown format {', '.join(unknown)} (choose from "
                                             f"{','.join(allowed)}, or none)")
        return list(dict.fromkeys(items))

    return parse


def _whole_number(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None


def _poisson_depth(text: str) -> int:
    value = _whole_number(text)
    low, high = settings.POISSON_DEPTH_RANGE
    if not low <= value <= high:
        raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
    return value


def _millimetres(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _output_folder(text: str) -> Path:
    if not text.strip():
        raise argparse.ArgumentTypeError("empty folder name (use -o . for the current folder)")
    return Path(text)


def _jobs(text: str) -> int:
    value = _whole_number(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    from facedepth.model import resources
    from facedepth.reconstruction.settings import (
        DEPTH_FORMATS,
        MESH_FORMATS,
        MESH_OUTPUTS,
        SOLID_FORMAT,
        SOLID_SUFFIX,
        MeshSettings,
        SolidSettings,
    )

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--quality", choices=resources.QUALITIES, default=resources.DEFAULT_QUALITY,
                        help="fast: the distilled generator, one pass; best: the full generator on the photo and "
                             "its mirror image, about 3x the time (default: %(default)s)")
    common.add_argument("--weights", type=Path, metavar="PATH",
                        help="generator .tflite, run as --quality says (default: the bundled one of that "
                             "quality, weights/generator_fast.tflite or generator.tflite, or $FACEDEPTH_WEIGHTS)")
    common.add_argument("-v", "--verbose", action="count", default=0,
                        help="more detail: -v progress and tracebacks, -vv debug log")

    parser = argparse.ArgumentParser(prog="facedepth", description="One face photo -> depth map -> 3D face mesh.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    predict = commands.add_parser("predict", parents=[common], help="make depth maps and meshes from photos",
                                  description="Estimate the depth of every face in each photo and build meshes.")
    predict.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="photo files (JPEG, PNG, ...)")
    predict.add_argument("-o", "--output", type=_output_folder, required=True, metavar="OUTDIR",
                         help="folder for the results (created if missing)")
    predict.add_argument("--formats", type=_format_list(MESH_OUTPUTS), default=list(MESH_FORMATS),
                         metavar="LIST",
                         help=f"mesh files to write (default {','.join(MESH_FORMATS)}; 'none' for none; "
                              f"{SOLID_FORMAT}: a printable solid, <stem>{SOLID_SUFFIX})")
    predict.add_argument("--solid", action="store_true", help=f"also write the printable solid (as {SOLID_FORMAT})")
    predict.add_argument("--solid-width", type=_millimetres, default=SolidSettings.width_mm, metavar="MM",
                         help="the solid's width across the face in mm (default %(default)g)")
    predict.add_argument("--solid-base", type=_millimetres, default=SolidSettings.base_mm, metavar="MM",
                         help="the solid's flat back: thickness behind the deepest point in mm (default %(default)g)")
    predict.add_argument("--save-depth", type=_format_list(DEPTH_FORMATS), default=list(DEPTH_FORMATS),
                         metavar="LIST",
                         help=f"depth files to write (default {','.join(DEPTH_FORMATS)}; 'none' for none)")
    predict.add_argument("--mesh", choices=MESH_MODES,
                         help=f"grid: smoothed heightfield on the depth samples; poisson: Poisson surface, closes "
                              f"holes, several times slower; none: depth files only (default {MeshSettings.mode}, "
                              "poisson with --poisson-depth)")
    predict.add_argument("--poisson-depth", type=_poisson_depth, metavar="N",
                         help="octree depth of the Poisson solver, {}-{} (default {}; higher = finer, slower); "
                              "implies --mesh poisson unless --mesh is given".format(*settings.POISSON_DEPTH_RANGE,
                                                                                     MeshSettings.poisson_depth))
    predict.add_argument("--faces", choices=FACE_CHOICES, default="all",
                         help="all: every face found, as <stem>_face1.*, <stem>_face2.*, ... numbered left to right "
                              "when there are several (default); largest: only the largest, as <stem>.*")
    predict.add_argument("--no-detect", action="store_true",
                         help="skip face detection and treat the whole image as the face crop")
    predict.add_argument("--no-wireframe", action="store_true", help="do not write <stem>_wireframe.ply")
    predict.add_argument("--overwrite", action="store_true", help="replace existing output files")
    predict.add_argument("--jobs", type=_jobs, default=0, metavar="N",
                         help="photos processed at once, each in a worker process (default: one per CPU, at most "
                              "8; 1 = all in this process)")

    commands.add_parser("info", parents=[common], help="show which weights are used and their model card")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed usage and the problem (status 2) or the help (0)
        return int(exc.code or 0)
    configure_logging(verbosity_level(args.verbose))
    try:
        with interrupts.handled():
            return _predict(args) if args.command == "predict" else _info(args)
    except UsageError as exc:
        _error(str(exc))
        return exc.status
    except KeyboardInterrupt as exc:  # SIGINT, or SIGTERM/SIGHUP (interrupts.Terminated)
        _error(str(exc) or "interrupted")
        return interrupts.exit_status(exc)
    except BrokenPipeError:  # stdout closed early (facedepth info | head): stop quietly, as SIGPIPE would
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
    except Exception as exc:
        hint = "" if args.verbose else " (run with -v for details)"
        _error(f"unexpected {type(exc).__name__}: {one_line(exc)}{hint}")
        if args.verbose:
            traceback.print_exc()
        return EXIT_FAILED


def _predict(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from facedepth.app import batch
    from facedepth.app.pipeline import PipelineSettings
    from facedepth.reconstruction.settings import SOLID_FORMAT, SolidSettings

    if args.solid and SOLID_FORMAT not in args.formats:
        args.formats.append(SOLID_FORMAT)
    try:
        args.solid_settings = SolidSettings(width_mm=args.solid_width, base_mm=args.solid_base)
    except ValueError as exc:
        raise UsageError(str(exc), EXIT_USAGE) from exc
    pipeline = _load_pipeline(args.weights, args.quality)
    out_dir = _prepare_output_dir(args.output)
    mesh = _mesh_settings(args.mesh, args.poisson_depth)
    settings = PipelineSettings(detect=not args.no_detect, mesh=mesh, quality=args.quality)
    inputs = {_resolved(image) for image in args.images}
    stems: dict[str, Path] = {}
    work: list[tuple[Path, str | None]] = []  # (photo, refusal) in the photos' order
    for image in args.images:
        refusal = None
        if image.stem in stems:
            refusal = f"outputs would be named like those of {stems[image.stem]}; rename one of them"
        stems.setdefault(image.stem, image)
        work.append((image, refusal))
    context = _Batch(args, settings, out_dir, inputs)
    workers = replace(context, settings=replace(settings, mesh=replace(mesh, n_threads=1) if mesh else None))
    jobs = args.jobs or batch.default_jobs(len(work))
    failures = 0

    with tqdm(total=len(work), unit="photo", file=sys.stderr, disable=None, dynamic_ncols=True) as bar:
        context.stage = bar.set_postfix_str
        bar.set_description(work[0][0].name)
        reports = batch.run(_photo_task, work, pipeline, context, jobs=jobs, worker_context=workers,
                            weights=args.weights, quality=args.quality)
        for position, (lines, failed) in enumerate(reports, start=1):
            if position < len(work):
                bar.set_description(work[position][0].name)
            bar.update(1)
            failures += failed
            for to_stderr, text in lines:
                tqdm.write(text, file=sys.stderr if to_stderr else sys.stdout)
    return EXIT_FAILED if failures else EXIT_OK


def _mesh_settings(mode: str | None, poisson_depth: int | None) -> settings.MeshSettings | None:
    """--mesh and --poisson-depth as settings (None: no mesh); a depth without a mode asks for Poisson."""
    defaults = settings.MeshSettings()
    if mode is None:
        mode = "poisson" if poisson_depth is not None else defaults.mode
    if mode == "none":
        return None
    return replace(defaults, mode=mode, poisson_depth=poisson_depth or defaults.poisson_depth)


@dataclass
class _Batch:
    """What every photo of one ``predict`` needs; travels to the batch workers (``stage`` stays here)."""

    args: argparse.Namespace
    settings: PipelineSettings
    out_dir: Path
    inputs: set[Path]
    stage: Callable[[str], object] | None = None

    def __getstate__(self) -> dict:
        return {**self.__dict__, "stage": None}


def _photo_task(pipeline: Pipeline, context: _Batch,
                item: tuple[Path, str | None]) -> tuple[list[tuple[bool, str]], int]:
    """One photo as a batch task: its report lines ((to stderr, text), in order) and how many of its
    faces failed."""
    image, refusal = item
    lines: list[tuple[bool, str]] = []
    stage = context.stage or (lambda _text: None)
    if context.stage is None:  # in a batch worker: -v's detail goes to stderr from here
        configure_logging(verbosity_level(context.args.verbose))
    try:
        if refusal is not None:
            raise ValueError(refusal)
        failed = _predict_photo(context.args, pipeline, context.settings, image, context.out_dir, context.inputs,
                                stage, lines)
    except Exception as exc:
        _report_failure(image, exc, context.args.verbose, lines)
        return lines, 1
    return lines, failed


def _predict_photo(args: argparse.Namespace, pipeline, settings, image: Path, out_dir: Path, inputs: set[Path],
                   stage: Callable[[str], object], lines: list[tuple[bool, str]]) -> int:
    """Every face of one photo (or the largest, with ``--faces largest``); returns how many faces failed.
    Report lines go to ``lines`` ((to stderr, text)), stage names to ``stage``.

    A problem with the photo as a whole (unreadable, no face, an output that exists) raises before anything is
    written; a face that fails later is reported on its own line and the others still run.
    """
    import time

    from facedepth.app.pipeline import face_stems, output_paths, save_outputs
    from facedepth.model.imageio import load_photo

    started = time.perf_counter()
    stage("loading")
    rgb = load_photo(image)
    stage("detecting faces")
    found = pipeline.find_faces(rgb, settings)
    faces = found if args.faces == "all" else [max(found, key=lambda face: face.area if face else 0.0)]
    stems = face_stems(image.stem, len(faces))
    with_mesh = settings.mesh is not None
    targets = {stem: output_paths(out_dir, stem, args.formats, args.save_depth, not args.no_wireframe,
                                  with_mesh=with_mesh) for stem in stems}
    _check_targets([path for paths in targets.values() for path in paths], inputs, args.overwrite)

    written: list[Path] = []
    failed = 0
    for number, (stem, face) in enumerate(zip(stems, faces, strict=True), start=1):
        label = f"face {number}: " if len(faces) > 1 else ""
        try:
            result = pipeline.run(rgb, settings, face=face, isolate=len(found) > 1,
                                  progress=lambda name, _f, label=label: stage(f"{label}{name}"))
            written += save_outputs(result, out_dir, stem, args.formats, args.save_depth, args.overwrite,
                                    wireframe=not args.no_wireframe, solid=args.solid_settings)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            if len(faces) == 1:
                raise
            failed += 1
            _report_failure(image, exc, args.verbose, lines, label)
    seconds = time.perf_counter() - started
    files = f"{len(written)} file{'s' if len(written) != 1 else ''} in {out_dir} ({seconds:.1f} s)"
    if len(found) == 1:
        summary = f"{image}: {files}"
    else:
        done = "the largest" if args.faces == "largest" else f"{len(faces) - failed} done"
        summary = f"{image}: {len(found)} faces found, {done}: {files}"
    lines.append((False, summary))
    for path in written:
        logger.info("  %s", path)
    return failed


def _report_failure(image: Path, exc: Exception, verbose: int, lines: list[tuple[bool, str]],
                    label: str = "") -> None:
    lines.append((True, f"error: {image}: {label}{_reason(exc, verbose)}"))
    if verbose and not _expected(exc):
        lines.append((True, traceback.format_exc().rstrip()))


def _info(args: argparse.Namespace) -> int:
    from facedepth.model import identity, resources
    from facedepth.model.inference import file_sha256

    path = args.weights or resources.default_weights(args.quality)
    _load_pipeline(args.weights, args.quality)  # the same checks as predict: exists, loads, matches its card
    print(f"weights: {path}")
    print(f"sha256:  {file_sha256(path)}")
    if path.suffix.lower() == ".tflite":
        found = identity.check_file(path)  # already checked by loading
        print(f"model id: {found['model_id']} (FaceDepth identity in the file's metadata)")
        print("depth convention: " + ", ".join(f"{k} {v}" for k, v in found["depth_convention"].items()))
    card = path.parent / resources.MODEL_CARD_FILE
    if card.is_file():
        print(f"model card: {card}")
        for line in card.read_text(encoding="utf-8", errors="replace").splitlines()[:12]:
            print(f"  {line}")
    else:
        print("model card: none beside the weights (sha256 not checked against a card)")
    return EXIT_OK


def _load_pipeline(weights: Path | None, quality: str):
    from facedepth.app.pipeline import Pipeline
    from facedepth.model.inference import WeightsError

    pipeline = Pipeline(weights)
    try:
        pipeline.service(quality)  # load and check the generator before touching any photo
    except WeightsError as exc:
        raise UsageError(str(exc), EXIT_WEIGHTS) from exc
    return pipeline


def _prepare_output_dir(out_dir: Path) -> Path:
    """Creates the output folder and proves it writable (a probe file, removed at once)."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        if out_dir.is_symlink() and not out_dir.exists():
            raise UsageError(f"cannot use output folder {out_dir}: it is a symbolic link to {os.readlink(out_dir)}, "
                             "which does not exist", EXIT_OUTPUT) from None
        raise UsageError(f"cannot use output folder {out_dir}: a file with that name exists", EXIT_OUTPUT) from None
    except OSError as exc:
        raise UsageError(f"cannot create output folder {out_dir}: {exc.strerror or exc}", EXIT_OUTPUT) from exc
    try:
        probe_writable(out_dir)
    except OSError as exc:
        raise UsageError(f"cannot write to output folder {out_dir}: {exc.strerror or exc}", EXIT_OUTPUT) from exc
    return out_dir


def _check_targets(targets: list[Path], inputs: set[Path], overwrite: bool) -> None:
    """Refuses before any work when a target's name is too long for its folder, exists (without --overwrite)
    or is one of the input photos."""
    from facedepth.app.pipeline import check_name_fits
    from facedepth.reconstruction.export import OutputExistsError

    for target in targets:
        check_name_fits(target)
        if _resolved(target) in inputs:
            raise ValueError(f"output {target} would replace an input photo; choose another output folder")
        if not overwrite and target.exists():
            raise OutputExistsError(target)


def _expected(exc: Exception) -> bool:
    from facedepth.model.imageio import ImageLoadError
    from facedepth.model.inference import WeightsError
    from facedepth.model.service import NoFaceError

    return isinstance(exc, ImageLoadError | NoFaceError | WeightsError | ValueError | OSError)


def _reason(exc: Exception, verbose: int) -> str:
    if not _expected(exc):
        hint = "" if verbose else " (run with -v for details)"
        return f"unexpected {type(exc).__name__}: {one_line(exc)}{hint}"
    if isinstance(exc, OSError) and exc.strerror and not isinstance(exc, FileExistsError):
        return f"cannot write {exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return one_line(exc)


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):  # RuntimeError: a symbolic link loop (Python < 3.13)
        return path.absolute()


def _error(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
