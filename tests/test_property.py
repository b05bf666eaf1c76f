"""Our own hostile probe: Hypothesis throws random bytes, random valid images of random modes and sizes (tiny
ones, and headers declaring huge ones), now and then the real sample face, and random option combinations
at ``facedepth predict``. Whatever it is given: no traceback, an exit status the README documents, one
``error: `` line per failed photo, no temporary file, every photo's output set complete or absent, inputs
unchanged.

Runs in-process (one warm pipeline for all examples) with a fixed example sequence (``derandomize``), so a
failure reproduces; raise ``FACEDEPTH_PROBE_EXAMPLES`` to probe longer.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import struct
import tempfile
import zlib
from pathlib import Path
from unittest import mock

import numpy as np
import pytest

pytest.importorskip("hypothesis", reason="the dev extra installs Hypothesis (pip install -e '.[dev]')")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from PIL import Image  # noqa: E402

from facedepth.app import cli
from facedepth.app.pipeline import Pipeline, output_paths
from facedepth.reconstruction.export import DEPTH_FORMATS, MESH_FORMATS

DOCUMENTED_EXITS = {cli.EXIT_OK, cli.EXIT_FAILED, cli.EXIT_USAGE, cli.EXIT_WEIGHTS, cli.EXIT_OUTPUT}
EXAMPLES = int(os.environ.get("FACEDEPTH_PROBE_EXAMPLES", "30"))

# Pillow modes and the formats that can store them.
MODE_FORMATS = {
    "1": ["png", "tiff", "bmp"], "L": ["png", "jpeg", "tiff", "webp"], "P": ["png", "gif", "bmp"],
    "RGB": ["png", "jpeg", "tiff", "webp", "bmp"], "RGBA": ["png", "tiff", "webp"], "LA": ["png"],
    "CMYK": ["jpeg", "tiff"], "I;16": ["png", "tiff"], "I": ["png", "tiff"], "F": ["tiff"],
}
SUFFIX = {"jpeg": ".jpg", "tiff": ".tif"}


@st.composite
def random_bytes(draw) -> tuple[str, bytes]:
    suffix = draw(st.sampled_from([".jpg", ".png", ".tif", ".webp", ".gif", ".bmp", ""]))
    magic = draw(st.sampled_from([b"", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"II*\x00", b"GIF89a", b"RIFF"]))
    return suffix, magic + draw(st.binary(max_size=3000))


@st.composite
def random_image(draw) -> tuple[str, bytes]:
    mode = draw(st.sampled_from(sorted(MODE_FORMATS)))
    fmt = draw(st.sampled_from(MODE_FORMATS[mode]))
    width, height = draw(st.integers(1, 320)), draw(st.integers(1, 320))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    rgb = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))
    if mode in ("I;16", "I", "F"):
        image = Image.fromarray(rng.integers(0, 60000, (height, width)).astype(
            {"I;16": np.uint16, "I": np.int32, "F": np.float32}[mode]))
    else:
        image = rgb.convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return SUFFIX.get(fmt, f".{fmt}"), buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


@st.composite
def huge_header(draw) -> tuple[str, bytes]:
    """A PNG that declares up to 10^5 x 10^5 pixels and holds a few bytes of pixel data."""
    width, height = draw(st.integers(1, 100_000)), draw(st.integers(1, 100_000))
    colour = draw(st.sampled_from([0, 2, 6]))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, colour, 0, 0, 0)
    data = zlib.compress(b"\x00" * draw(st.integers(0, 64)))
    return ".png", b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", ihdr) + _png_chunk(b"IDAT", data) + _png_chunk(
        b"IEND", b"")


SAMPLE = "sample"
inputs = st.lists(st.one_of(random_bytes(), random_image(), huge_header(), st.just((".jpg", SAMPLE))),
                  min_size=1, max_size=3)


@st.composite
def options(draw) -> dict:
    return {
        "formats": draw(st.lists(st.sampled_from(MESH_FORMATS), unique=True, max_size=4)),
        "depth": draw(st.lists(st.sampled_from(DEPTH_FORMATS), unique=True, max_size=3)),
        "mesh": draw(st.sampled_from(["grid", "grid", "none", "poisson"])),
        "poisson_depth": draw(st.sampled_from([4, 5, 6, 4, 5, 6, 3, 13])),  # 3 and 13: usage errors
        "no_detect": draw(st.booleans()),
        "no_wireframe": draw(st.booleans()),
        "overwrite": draw(st.booleans()),
        "existing": draw(st.booleans()),  # an older output of the first photo lies in the folder
    }


def _argv(photos: list[Path], out: Path, weights: Path, opts: dict) -> list[str]:
    argv = ["predict", *map(str, photos), "-o", str(out), "--weights", str(weights),
            "--formats", ",".join(opts["formats"]) or "none", "--save-depth", ",".join(opts["depth"]) or "none",
            "--mesh", opts["mesh"], "--poisson-depth", str(opts["poisson_depth"])]
    argv += ["--no-detect"] * opts["no_detect"] + ["--no-wireframe"] * opts["no_wireframe"]
    return argv + ["--overwrite"] * opts["overwrite"]


def _digests(paths: list[Path]) -> list[str]:
    return [hashlib.sha256(p.read_bytes()).hexdigest() for p in paths]


@pytest.fixture(scope="module")
def warm_pipeline(tiny_weights) -> Pipeline:
    pipeline = Pipeline(tiny_weights)
    pipeline.service()  # load once for all examples
    return pipeline


@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(files=inputs, opts=options())
def test_random_inputs_and_options(warm_pipeline, tiny_weights, face_photo, files, opts):
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        photos = []
        for i, (suffix, data) in enumerate(files):
            photos.append(folder / f"in{i}{suffix}")
            if data == SAMPLE:
                shutil.copy(face_photo, photos[-1])
            else:
                photos[-1].write_bytes(data)
        before = _digests(photos)
        out = folder / "out"
        with_mesh = opts["mesh"] != "none"
        sets = {p.stem: output_paths(out, p.stem, opts["formats"], opts["depth"], not opts["no_wireframe"],
                                     with_mesh=with_mesh) for p in photos}
        old = sets[photos[0].stem][:1]
        if opts["existing"] and old:
            out.mkdir()
            old[0].write_bytes(b"older output")

        stderr = io.StringIO()
        with mock.patch.object(cli, "_load_pipeline", lambda _weights, _quality: warm_pipeline), \
                contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
            code = cli.main(_argv(photos, out, tiny_weights, opts))
        err = stderr.getvalue()

        assert code in DOCUMENTED_EXITS, (code, err)
        assert "Traceback" not in err and "unexpected" not in err, err
        lines = [line for line in err.splitlines() if line.strip()]
        if code == cli.EXIT_USAGE:
            assert opts["poisson_depth"] in (3, 13) and "usage: facedepth" in err
        else:
            assert all(line.startswith("error: ") for line in lines), err
            assert (code == cli.EXIT_FAILED) == bool(lines), (code, err)
            assert len(lines) <= len(photos)
        assert _digests(photos) == before

        names = {p.name for p in out.iterdir()} if out.exists() else set()
        assert not [n for n in names if n.startswith(".") or ".tmp" in n], names
        kept_old = opts["existing"] and bool(old) and old[0].read_bytes() == b"older output"
        for stem, paths in sets.items():
            present = {p.name for p in paths} & names
            if kept_old and stem == photos[0].stem:
                present.discard(old[0].name)  # the older file alone, untouched, is not a partial set
                assert not present, "a new set was written beside an older file that was kept"
            else:
                assert present in (set(), {p.name for p in paths}), (stem, sorted(present))
