"""End-to-end tests of the ``facedepth`` command with random tiny weights, in-process and as a console script."""

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import gltf_validator
import numpy as np
import open3d as o3d
import photo_corpus as corpus
import pytest
import trimesh

from facedepth.app import cli
from facedepth.model import resources

ALL_OUTPUTS = ["{s}.ply", "{s}.obj", "{s}.mtl", "{s}_texture.png", "{s}.stl", "{s}.glb", "{s}_depth.png",
               "{s}_depth.npy", "{s}_depth_color.png", "{s}_wireframe.ply"]


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _run(capsys, *args) -> tuple[int, str, str]:
    code = cli.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _error_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


def _names(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def _assert_one_error(err: str, *fragments: str) -> str:
    assert "Traceback" not in err
    lines = _error_lines(err)
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def test_end_to_end_writes_every_output(capsys, tmp_path, tiny_weights, face_photo):
    out = tmp_path / "out"
    before = _digest(face_photo)
    code, stdout, err = _run(capsys, "predict", face_photo, "-o", out, "--weights", tiny_weights,
                             "--poisson-depth", "6")
    assert code == 0, err
    assert "Traceback" not in err and not _error_lines(err)
    assert "sample_face.jpg: 10 files" in stdout
    assert _names(out) == {name.format(s="sample_face") for name in ALL_OUTPUTS}
    assert _digest(face_photo) == before

    for fmt in ("ply", "obj", "stl", "glb"):
        mesh = trimesh.load(out / f"sample_face.{fmt}", force="mesh")
        assert len(mesh.faces) > 100 and np.isfinite(mesh.vertices).all(), fmt
        if fmt in ("obj", "glb"):  # textured from the photo, at the photo's resolution (the face is small)
            material = mesh.visual.material
            image = getattr(material, "baseColorTexture", None) or getattr(material, "image", None)
            assert mesh.visual.uv is not None and image is not None and 64 < max(image.size) < 512, fmt
    issues = gltf_validator.validate(out / "sample_face.glb")
    assert issues["numErrors"] == 0 and issues["numWarnings"] == 0, gltf_validator.errors(issues)
    lines = o3d.io.read_line_set(str(out / "sample_face_wireframe.ply"))
    assert len(lines.lines) > 100

    depth = np.load(out / "sample_face_depth.npy")
    assert depth.dtype == np.float32 and depth.shape == (512, 512)
    face = np.isfinite(depth)
    assert 0 < face.sum() < depth.size and (depth[face] > 0).all()
    png16 = cv2.imread(str(out / "sample_face_depth.png"), cv2.IMREAD_UNCHANGED)
    assert png16.dtype == np.uint16 and png16.shape == (512, 512)
    np.testing.assert_array_equal(png16 == 0, ~face)
    np.testing.assert_allclose(png16[face] / 10.0, depth[face], atol=0.051)
    colour = cv2.imread(str(out / "sample_face_depth_color.png"), cv2.IMREAD_UNCHANGED)
    assert colour.shape == (512, 512, 3) and (colour[~face] == 0).all() and colour[face].any()


def test_console_script_in_a_subprocess(tmp_path, tiny_weights, face_photo):
    script = Path(sys.executable).with_name("facedepth")
    assert script.is_file(), "console script missing: run pip install -e ."
    out = tmp_path / "out"
    proc = subprocess.run([str(script), "predict", str(face_photo), "-o", str(out), "--weights", str(tiny_weights),
                           "--mesh", "grid", "--formats", "glb", "--save-depth", "npy"],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.strip() == ""  # not even LiteRT's XNNPACK notice
    assert _names(out) == {"sample_face.glb", "sample_face_depth.npy", "sample_face_wireframe.ply"}
    assert len(trimesh.load(out / "sample_face.glb", force="mesh").faces) > 100


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        *zip(corpus.UNDECODABLE.values(), ["empty file", "truncated", "not an image", "too small",
                                           "decompression bomb"], strict=True),
        (None, "no face found"),
        (lambda d, s: d / "missing.jpg", "file not found"),
    ],
    ids=[*corpus.UNDECODABLE, "no-face", "missing"],
)
def test_bad_photo_fails_alone_with_one_line(capsys, tmp_path, tiny_weights, face_photo, no_face_photo, build,
                                             reason):
    inputs = tmp_path / "in"
    inputs.mkdir()
    photo = build(inputs, face_photo) if build else no_face_photo
    before = _digest(photo) if photo.exists() else None
    out = tmp_path / "out"
    code, _, err = _run(capsys, "predict", photo, "-o", out, "--weights", tiny_weights, "--mesh", "grid")
    assert code == 1
    _assert_one_error(err, f"error: {photo}: ", reason)
    assert _names(out) == set()
    assert (_digest(photo) if photo.exists() else None) == before


@pytest.mark.parametrize(
    ("build", "shape"),
    [
        (corpus.png16, (512, 512)),
        (corpus.cmyk_jpeg, (512, 512)),
        (corpus.rgba_png, (512, 512)),
        (corpus.palette_png, (512, 512)),
        (corpus.grey_jpeg, (512, 512)),
        (corpus.exif_rotated_jpeg, (512, 384)),
    ],
    ids=["png16", "cmyk", "rgba", "palette", "grey", "exif-rotated"],
)
def test_odd_but_valid_photos(capsys, tmp_path, tiny_weights, face_photo, build, shape):
    photo = build(tmp_path, face_photo)
    before = _digest(photo)
    out = tmp_path / "out"
    code, _, err = _run(capsys, "predict", photo, "-o", out, "--weights", tiny_weights, "--mesh", "grid",
                        "--formats", "ply", "--save-depth", "npy")
    assert code == 0, err
    depth = np.load(out / f"{photo.stem}_depth.npy")
    assert depth.shape == shape and np.isfinite(depth).any()
    assert _digest(photo) == before


def test_largest_of_two_faces(capsys, tmp_path, tiny_weights, face_photo):
    photo = corpus.two_faces(tmp_path, face_photo)
    out = tmp_path / "out"
    code, _, err = _run(capsys, "predict", photo, "-o", out, "--weights", tiny_weights, "--mesh", "none",
                        "--save-depth", "npy")
    assert code == 0, err
    face = np.isfinite(np.load(out / "two_faces_depth.npy"))
    columns = np.nonzero(face.any(axis=0))[0]
    assert columns.max() < 512  # all depth on the full-size face, none on the half-size copy at x >= 512


def test_every_face_gets_a_complete_textured_set(capsys, tmp_path, tiny_weights, face_photo):
    photo = corpus.two_faces_side_by_side(tmp_path, face_photo)
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "predict", photo, "-o", out, "--weights", tiny_weights, "--mesh", "grid")
    assert code == 0 and not _error_lines(err), err
    assert "pair.jpg: 2 faces found, 2 done: 20 files" in stdout
    assert _names(out) == {name.format(s=f"pair_face{n}") for name in ALL_OUTPUTS for n in (1, 2)}
    split = 256  # the left copy is 256 pixels wide
    left, right = (np.isfinite(np.load(out / f"pair_face{n}_depth.npy")) for n in (1, 2))
    assert left.any() and right.any()
    assert np.nonzero(left.any(axis=0))[0].max() < split <= np.nonzero(right.any(axis=0))[0].min()
    for n in (1, 2):
        mesh = trimesh.load(out / f"pair_face{n}.glb", force="mesh", process=False)
        assert mesh.visual.kind == "texture" and len(mesh.faces) > 100


def test_faces_largest_writes_one_set_for_the_largest(capsys, tmp_path, tiny_weights, face_photo):
    photo = corpus.two_faces_side_by_side(tmp_path, face_photo)
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "predict", photo, "-o", out, "--weights", tiny_weights, "--mesh", "none",
                             "--save-depth", "npy", "--faces", "largest")
    assert code == 0, err
    assert "2 faces found, the largest: 1 file in" in stdout
    assert _names(out) == {"pair_depth.npy"}
    columns = np.nonzero(np.isfinite(np.load(out / "pair_depth.npy")).any(axis=0))[0]
    assert columns.min() >= 256  # the full-size face on the right


def test_a_failing_face_does_not_stop_the_other(capsys, tmp_path, tiny_weights, face_photo, monkeypatch):
    from facedepth.app.pipeline import Pipeline

    photo = corpus.two_faces_side_by_side(tmp_path, face_photo)
    out = tmp_path / "out"
    real_run = Pipeline.run

    def run(self, source, settings=None, progress=None, cancelled=None, face=None, isolate=False):
        if face is not None and face.box[0] < 256:
            raise ValueError("too few face points: 12 usable depth samples, need 100")
        return real_run(self, source, settings, progress, cancelled, face, isolate)

    monkeypatch.setattr(Pipeline, "run", run)
    code, stdout, err = _run(capsys, "predict", photo, "-o", out, "--weights", tiny_weights, "--mesh", "grid",
                             "--formats", "obj")
    assert code == 1
    _assert_one_error(err, "pair.jpg", "face 1:", "too few face points")
    assert "2 faces found, 1 done" in stdout
    assert _names(out) == {"pair_face2.obj", "pair_face2.mtl", "pair_face2_texture.png", "pair_face2_depth.png",
                           "pair_face2_depth.npy", "pair_face2_depth_color.png", "pair_face2_wireframe.ply"}


def test_an_existing_output_of_any_face_stops_the_whole_photo(capsys, tmp_path, tiny_weights, face_photo):
    photo = corpus.two_faces_side_by_side(tmp_path, face_photo)
    out = tmp_path / "out"
    out.mkdir()
    (out / "pair_face2_texture.png").write_bytes(b"old")
    code, _, err = _run(capsys, "predict", photo, "-o", out, "--weights", tiny_weights, "--mesh", "grid")
    assert code == 1
    _assert_one_error(err, "pair_face2_texture.png", "--overwrite")
    assert _names(out) == {"pair_face2_texture.png"}


def test_solid_is_a_printable_stl_of_the_asked_width(capsys, tmp_path, tiny_weights, face_photo):
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "predict", face_photo, "-o", out, "--weights", tiny_weights, "--mesh", "grid",
                             "--formats", "stl", "--solid", "--solid-width", "80", "--save-depth", "none",
                             "--no-wireframe")
    assert code == 0, err
    assert _names(out) == {"sample_face.stl", "sample_face_solid.stl"}
    solid = trimesh.load(out / "sample_face_solid.stl", force="mesh")
    assert solid.is_watertight and solid.is_winding_consistent and solid.volume > 0
    assert solid.extents[0] == pytest.approx(80.0, abs=0.01)
    open_shell = trimesh.load(out / "sample_face.stl", force="mesh")
    assert not open_shell.is_watertight  # the plain STL stays the face surface alone


def test_solid_size_outside_its_range_is_a_usage_error(capsys, tmp_path, tiny_weights, face_photo):
    code, _, err = _run(capsys, "predict", face_photo, "-o", tmp_path / "out", "--weights", tiny_weights,
                        "--formats", "stl-solid", "--solid-width", "2")
    assert code == cli.EXIT_USAGE
    _assert_one_error(err, "solid width must be between 5 and 1000 mm")
    assert not (tmp_path / "out").exists()


def test_batch_goes_on_after_a_failure(capsys, tmp_path, tiny_weights, face_photo, no_face_photo):
    bad = corpus.text_as_jpeg(tmp_path)
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "predict", bad, face_photo, no_face_photo, "-o", out, "--weights",
                             tiny_weights, "--mesh", "grid", "--formats", "stl")
    assert code == 1 and "Traceback" not in err
    lines = _error_lines(err)
    assert len(lines) == 2 and lines[0].startswith(f"error: {bad}: ") and lines[1].startswith(f"error: {no_face_photo}")
    assert _names(out) == {"sample_face.stl", "sample_face_depth.png", "sample_face_depth.npy",
                           "sample_face_depth_color.png", "sample_face_wireframe.ply"}


def test_no_detect_processes_a_faceless_image(capsys, tmp_path, tiny_weights, no_face_photo):
    out = tmp_path / "out"
    code, _, err = _run(capsys, "predict", no_face_photo, "-o", out, "--weights", tiny_weights, "--no-detect",
                        "--mesh", "grid", "--save-depth", "npy", "--formats", "ply")
    assert code == 0, err
    assert np.load(out / "gradient_depth.npy").shape == (240, 320)


def test_existing_output_is_kept_without_overwrite(capsys, tmp_path, tiny_weights, face_photo):
    out = tmp_path / "out"
    out.mkdir()
    (out / "sample_face.glb").write_bytes(b"keep me")
    args = ["predict", face_photo, "-o", out, "--weights", tiny_weights, "--mesh", "grid"]
    code, _, err = _run(capsys, *args)
    assert code == 1
    _assert_one_error(err, str(out / "sample_face.glb"), "--overwrite")
    assert _names(out) == {"sample_face.glb"} and (out / "sample_face.glb").read_bytes() == b"keep me"

    code, _, err = _run(capsys, *args, "--overwrite")
    assert code == 0, err
    assert _names(out) == {name.format(s="sample_face") for name in ALL_OUTPUTS}
    assert len(trimesh.load(out / "sample_face.glb", force="mesh").faces) > 100


def test_output_folder_under_a_file(capsys, tmp_path, tiny_weights, face_photo):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("x")
    code, _, err = _run(capsys, "predict", face_photo, "-o", blocker / "out", "--weights", tiny_weights)
    assert code == cli.EXIT_OUTPUT
    _assert_one_error(err, "cannot create output folder", str(blocker / "out"))
    assert blocker.read_text() == "x" and _names(tmp_path) == {"not_a_folder"}


def test_missing_weights(capsys, tmp_path, face_photo):
    out = tmp_path / "out"
    code, _, err = _run(capsys, "predict", face_photo, "-o", out, "--weights", tmp_path / "nope.tflite")
    assert code == cli.EXIT_WEIGHTS
    _assert_one_error(err, "weights file not found")
    assert not out.exists()  # checked before anything else happens


def test_missing_bundled_weights(capsys, tmp_path, face_photo, monkeypatch):
    monkeypatch.delenv(resources.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(resources, "weights_dir", lambda: tmp_path / "weights")
    code, _, err = _run(capsys, "predict", face_photo, "-o", tmp_path / "out")
    assert code == cli.EXIT_WEIGHTS
    _assert_one_error(err, "bundled model missing: weights/generator.tflite not found", "--weights",
                      "--quality fast")
    code, _, err = _run(capsys, "predict", face_photo, "-o", tmp_path / "out", "--quality", "fast")
    assert code == cli.EXIT_WEIGHTS
    _assert_one_error(err, "bundled model missing: weights/generator_fast.tflite not found", "--quality best")


def test_quality_picks_the_bundled_generator_and_its_passes(capsys, tmp_path, tiny_weights, face_photo,
                                                            monkeypatch):
    """Issue 16: fast runs weights/generator_fast.tflite once, best weights/generator.tflite on the photo and its
    mirror image (here both are the tiny generator, so only the passes differ)."""
    monkeypatch.delenv(resources.WEIGHTS_ENV, raising=False)
    monkeypatch.setattr(resources, "weights_dir", lambda: tiny_weights.parent)
    depth = {}
    for quality in ("fast", "best"):
        out = tmp_path / quality
        code, _, err = _run(capsys, "predict", face_photo, "-o", out, "--quality", quality, "--mesh", "none",
                            "--save-depth", "npy")
        assert code == 0, err
        depth[quality] = np.load(out / "sample_face_depth.npy")
    code, _, err = _run(capsys, "predict", face_photo, "-o", tmp_path / "default", "--mesh", "none",
                        "--save-depth", "npy")
    assert code == 0, err
    assert np.array_equal(np.load(tmp_path / "default" / "sample_face_depth.npy"), depth["best"], equal_nan=True)
    assert not np.allclose(depth["fast"], depth["best"], equal_nan=True)  # the mirror average changes it


@pytest.mark.parametrize("damage", ["truncated", "sha-mismatch"])
def test_damaged_weights(capsys, tmp_path, tiny_weights, face_photo, damage):
    folder = tmp_path / "weights"
    folder.mkdir()
    weights = folder / "generator.tflite"
    shutil.copy(tiny_weights.parent / "MODEL_CARD.md", folder / "MODEL_CARD.md")
    data = bytearray(tiny_weights.read_bytes())
    if damage == "truncated":
        data = data[:5000]
        (folder / "MODEL_CARD.md").unlink()
    else:
        data[-64] ^= 0x55
    weights.write_bytes(bytes(data))
    code, _, err = _run(capsys, "predict", face_photo, "-o", tmp_path / "out", "--weights", weights)
    assert code == cli.EXIT_WEIGHTS
    _assert_one_error(err, str(weights), "not a valid LiteRT model" if damage == "truncated" else "model card")


@pytest.mark.parametrize(
    "args",
    [["predict", "x.jpg"], ["predict", "x.jpg", "-o", "o", "--formats", "fbx"],
     ["predict", "x.jpg", "-o", "o", "--poisson-depth", "99"], ["predict", "x.jpg", "-o", "o", "--mesh", "cubes"],
     ["predict", "x.jpg", "-o", "o", "--faces", "some"], ["predict", "x.jpg", "-o", "o", "--solid-width", "-3"],
     ["predict", "x.jpg", "-o", "o", "--quality", "ultra"], ["frobnicate"], []],
    ids=["no-output", "format", "poisson-depth", "mesh", "faces", "solid-width", "quality", "command", "nothing"],
)
def test_usage_errors_exit_2(capsys, args):
    code, _, err = _run(capsys, *args)
    assert code == cli.EXIT_USAGE
    assert "usage: facedepth" in err and "Traceback" not in err


def test_unexpected_error_is_one_line_unless_verbose(capsys, tmp_path, tiny_weights, face_photo, monkeypatch):
    from facedepth.app.pipeline import Pipeline

    def broken(self, *args, **kwargs):
        raise RuntimeError("simulated bug\nsecond line")

    monkeypatch.setattr(Pipeline, "run", broken)
    args = ["predict", face_photo, "-o", tmp_path / "out", "--weights", tiny_weights]
    code, _, err = _run(capsys, *args)
    assert code == 1
    _assert_one_error(err, "unexpected RuntimeError: simulated bug second line", "-v")
    code, _, err = _run(capsys, *args, "-v")
    assert code == 1 and "Traceback" in err and "simulated bug" in err


def test_info(capsys, tiny_weights):
    code, stdout, err = _run(capsys, "info", "--weights", tiny_weights)
    assert code == 0, err
    assert f"weights: {tiny_weights}" in stdout
    assert _digest(tiny_weights) in stdout and "Test generator" in stdout


def test_foreign_model_is_refused_with_exit_3(capsys, tmp_path, foreign_weights, face_photo):
    """Issue 14.1: a foreign .tflite of the generator's shapes without a model card ran with exit 0."""
    out = tmp_path / "out"
    code, _, err = _run(capsys, "predict", face_photo, "-o", out, "--weights", foreign_weights)
    assert code == cli.EXIT_WEIGHTS
    _assert_one_error(err, str(foreign_weights), "not a FaceDepth generator")
    assert not out.exists()
    code, _, err = _run(capsys, "info", "--weights", foreign_weights)
    assert code == cli.EXIT_WEIGHTS
    _assert_one_error(err, "not a FaceDepth generator")


def test_info_names_the_model_id(capsys, tiny_weights):
    code, stdout, _ = _run(capsys, "info", "--weights", tiny_weights)
    assert code == 0 and "model id: test-generator-ngf8" in stdout and "gain 3.0" in stdout


def test_symlink_loop_fails_alone_and_names_its_file(capsys, tmp_path, tiny_weights, face_photo):
    """Issue 14.2: ``ln -s loop.jpg loop.jpg`` among the inputs raised RuntimeError before any photo ran."""
    loop = corpus.symlink_loop(tmp_path)
    out = tmp_path / "out"
    code, stdout, err = _run(capsys, "predict", loop, face_photo, "-o", out, "--weights", tiny_weights,
                             "--mesh", "none", "--save-depth", "npy")
    assert code == cli.EXIT_FAILED
    _assert_one_error(err, f"error: {loop}: ", "symbolic links")
    assert "sample_face.jpg: 1 file in" in stdout and _names(out) == {"sample_face_depth.npy"}


def test_long_legal_stem_is_written(capsys, tmp_path, tiny_weights, face_photo):
    """Issue 14.5: a 236-character stem failed after the work because the temporary names were longer."""
    photo = tmp_path / ("f" * 236 + ".jpg")
    shutil.copy(face_photo, photo)
    out = tmp_path / "out"
    code, _, err = _run(capsys, "predict", photo, "-o", out, "--weights", tiny_weights, "--mesh", "grid")
    assert code == 0, err
    assert _names(out) == {name.format(s=photo.stem) for name in ALL_OUTPUTS}


def test_too_long_names_are_refused_before_the_work(capsys, tmp_path, tiny_weights, face_photo, monkeypatch):
    from facedepth.app.pipeline import Pipeline

    photo = tmp_path / ("f" * 245 + ".jpg")  # <stem>_depth_color.png would be 261 bytes
    shutil.copy(face_photo, photo)
    monkeypatch.setattr(Pipeline, "run", lambda *a, **k: pytest.fail("the photo was processed"))
    code, _, err = _run(capsys, "predict", photo, "-o", tmp_path / "out", "--weights", tiny_weights)
    assert code == cli.EXIT_FAILED
    _assert_one_error(err, "is 261 bytes, more than the 255", "shorter name")


def test_poisson_warnings_stay_off_stderr(capfd, tmp_path, tiny_weights, face_photo):
    """Issue 14.6: --poisson-depth 4 printed about 800 lines of Open3D warnings to stderr."""
    code = cli.main(["predict", str(face_photo), "-o", str(tmp_path / "out"), "--weights", str(tiny_weights),
                     "--poisson-depth", "4", "--formats", "ply", "--save-depth", "none", "--no-wireframe"])
    _, err = capfd.readouterr()
    assert code == 0 and err.strip() == "", err[:500]


@pytest.mark.parametrize(
    ("build", "fragment"),
    [(corpus.strip, "no face found"), (corpus.float_rgb_tiff, None)],
    ids=["4000x32-strip", "float32-rgb-tiff"],
)
def test_odd_shapes_and_modes_are_handled(capsys, tmp_path, tiny_weights, face_photo, build, fragment):
    """Issue 14.7: a 4000 x 32 strip gave dlib's "unexpected RuntimeError"; a float32 RGB TIFF was refused."""
    photo = build(tmp_path, face_photo)
    out = tmp_path / "out"
    code, _, err = _run(capsys, "predict", photo, "-o", out, "--weights", tiny_weights, "--mesh", "none",
                        "--save-depth", "npy")
    if fragment is None:
        assert code == 0, err
        assert np.load(out / f"{photo.stem}_depth.npy").shape == (512, 512)
    else:
        assert code == cli.EXIT_FAILED
        _assert_one_error(err, fragment)
        assert "unexpected" not in err


def test_empty_output_folder_name_is_a_usage_error(capsys, tmp_path, tiny_weights, face_photo, monkeypatch):
    """Issue 14.8: ``-o ""`` silently wrote into the current folder."""
    monkeypatch.chdir(tmp_path)
    code, _, err = _run(capsys, "predict", face_photo, "-o", "", "--weights", tiny_weights)
    assert code == cli.EXIT_USAGE and "empty folder name" in err
    assert _names(tmp_path) == set()


def test_dangling_symlink_output_folder(capsys, tmp_path, tiny_weights, face_photo):
    """Issue 14.8: an output folder that is a dangling symbolic link was "a file with that name exists"."""
    link = tmp_path / "out"
    link.symlink_to(tmp_path / "gone")
    code, _, err = _run(capsys, "predict", face_photo, "-o", link, "--weights", tiny_weights)
    assert code == cli.EXIT_OUTPUT
    _assert_one_error(err, f"cannot use output folder {link}: it is a symbolic link to {tmp_path / 'gone'}, "
                           "which does not exist")


def test_parallel_batch_reports_and_writes_like_one_at_a_time(capsys, tmp_path, tiny_weights, face_photo):
    photos = []
    for name in ("a", "b", "c"):
        photos.append(tmp_path / f"{name}.jpg")
        shutil.copy(face_photo, photos[-1])
    photos.insert(2, corpus.text_as_jpeg(tmp_path))  # a failure between the faces
    outputs = {}
    for jobs in ("1", "2"):
        out = tmp_path / f"out{jobs}"
        code, stdout, err = _run(capsys, "predict", *photos, "-o", out, "--weights", tiny_weights, "--mesh", "grid",
                                 "--formats", "ply", "--save-depth", "npy", "--jobs", jobs)
        assert code == 1 and "Traceback" not in err
        assert [line.split(":")[0] for line in stdout.splitlines()] == [str(p) for p in photos if p.stem != "notes"]
        errors = [line for line in _error_lines(err) if line.startswith("error:")]
        assert len(errors) == 1 and errors[0].startswith(f"error: {photos[2]}: ")
        outputs[jobs] = out
    expected = {f"{n}{s}" for n in "abc" for s in (".ply", "_depth.npy", "_wireframe.ply")}
    assert _names(outputs["1"]) == _names(outputs["2"]) == expected
    for name in _names(outputs["1"]):
        if name.endswith(".npy"):
            np.testing.assert_array_equal(np.load(outputs["1"] / name), np.load(outputs["2"] / name))


def test_jobs_must_be_positive(capsys):
    code, _, err = _run(capsys, "predict", "x.jpg", "-o", "out", "--jobs", "0")
    assert code == cli.EXIT_USAGE and "--jobs" in err


def test_interrupted_parallel_batch_leaves_each_photo_whole_or_absent(tmp_path, tiny_weights, face_photo):
    import signal

    photos = []
    for i in range(8):
        photos.append(tmp_path / f"p{i}.jpg")
        shutil.copy(face_photo, photos[-1])
    out = tmp_path / "out"
    script = Path(sys.executable).with_name("facedepth")
    proc = subprocess.Popen([str(script), "predict", *map(str, photos), "-o", str(out), "--weights", str(tiny_weights),
                             "--mesh", "grid", "--jobs", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    first = proc.stdout.readline()  # one photo done: the workers are busy with the next ones
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert first.startswith(str(photos[0])) and proc.returncode == 130, err
    assert "Traceback" not in err and err.strip().splitlines()[-1] == "error: interrupted"
    names = _names(out)
    assert not [name for name in names if name.startswith(".")], names  # no temporary files left
    for photo in photos:
        written = {name for name in names if name.startswith(f"{photo.stem}.") or name.startswith(f"{photo.stem}_")}
        assert written in (set(), {name.format(s=photo.stem) for name in ALL_OUTPUTS}), written


@pytest.mark.parametrize(
    ("options", "mode", "depth"),
    [([], "grid", None), (["--poisson-depth", "9"], "poisson", 9), (["--mesh", "poisson"], "poisson", None),
     (["--mesh", "grid", "--poisson-depth", "9"], "grid", 9), (["--mesh", "none", "--poisson-depth", "9"], None, 9)],
    ids=["default", "depth-implies-poisson", "poisson", "grid-wins", "none"],
)
def test_mesh_mode_and_poisson_depth(options, mode, depth):
    from facedepth.reconstruction.settings import MeshSettings

    args = cli.build_parser().parse_args(["predict", "x.jpg", "-o", "out", *options])
    mesh = cli._mesh_settings(args.mesh, args.poisson_depth)
    if mode is None:
        assert mesh is None
    else:
        assert mesh == MeshSettings(mode=mode, poisson_depth=depth or MeshSettings.poisson_depth)
