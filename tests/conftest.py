"""Shared fixtures. TensorFlow is never imported into the pytest process (the GUI tests run Kivy's OpenGL
here, and TensorFlow + Kivy in one process crash): test weights are built in a subprocess."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_FACE = ROOT / "assets" / "sample_face.jpg"

_BUILD_TINY = textwrap.dedent(
    """
    import sys
    import keras
    from facedepth.model.architecture import build_generator
    from facedepth.training.export import export_tflite, tflite_bytes

    keras.utils.set_random_seed(0)
    # Stamped by export with the FaceDepth identity, exactly as the bundled generator is.
    digest = export_tflite(build_generator(ngf=8), sys.argv[1], fp16=False, model_id=sys.argv[3])
    # Another project's image-to-image model of the generator's shapes, exported without the stamp.
    photo = keras.Input(shape=(256, 256, 3))
    mask = keras.layers.Conv2D(1, 3, padding="same", activation="tanh")(photo)
    with open(sys.argv[2], "wb") as f:
        f.write(tflite_bytes(keras.Model(photo, mask, name="segmenter"), fp16=False))
    print(digest)
    """
)
TINY_MODEL_ID = "test-generator-ngf8"


@pytest.fixture(scope="session")
def _built_weights(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tiny_weights")
    foreign = tmp_path_factory.mktemp("foreign_weights") / "segmenter.tflite"
    path = folder / "generator.tflite"
    proc = subprocess.run([sys.executable, "-c", _BUILD_TINY, str(path), str(foreign), TINY_MODEL_ID], cwd=ROOT,
                          capture_output=True, text=True, timeout=600, env=_quiet_tf_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    digest = proc.stdout.strip().splitlines()[-1]
    assert digest == hashlib.sha256(path.read_bytes()).hexdigest()
    (folder / "MODEL_CARD.md").write_text(f"# Test generator\n\nRandom weights, ngf=8.\n\nsha256: {digest}\n"
                                          f"Model id: {TINY_MODEL_ID}\n")
    shutil.copy(path, folder / "generator_fast.tflite")  # both qualities' files, as in weights/
    return path, foreign


@pytest.fixture(scope="session")
def tiny_weights(_built_weights) -> Path:
    """A random-weight generator (ngf=8) exported (and so stamped) to .tflite, with a MODEL_CARD.md holding its
    sha256 and model id; the same file lies beside it as the fast quality's ``generator_fast.tflite``."""
    return _built_weights[0]


@pytest.fixture(scope="session")
def foreign_weights(_built_weights) -> Path:
    """Another project's 256 x 256 image-to-image .tflite (same shapes as the generator, no FaceDepth stamp),
    alone in its folder (no model card)."""
    return _built_weights[1]


@pytest.fixture(scope="session")
def face_photo() -> Path:
    """A real face photo (public-domain NASA portrait shipped in assets/)."""
    assert SAMPLE_FACE.is_file(), f"missing {SAMPLE_FACE}"
    return SAMPLE_FACE


@pytest.fixture(scope="session")
def no_face_photo(tmp_path_factory) -> Path:
    """A smooth colour gradient with a little noise: an image without any face."""
    h, w = 240, 320
    y, x = np.mgrid[0:h, 0:w]
    rng = np.random.default_rng(0)
    rgb = np.stack([x * 255 / w, y * 255 / h, np.full((h, w), 128.0)], axis=2) + rng.normal(0, 4, (h, w, 3))
    path = tmp_path_factory.mktemp("no_face") / "gradient.png"
    Image.fromarray(rgb.clip(0, 255).astype(np.uint8)).save(path)
    return path


@pytest.fixture
def tmpfs(tmp_path):
    """``tmpfs(size, read_only=False)``: a folder with a tmpfs of ``size`` (e.g. "1m") mounted on it, unmounted
    after the test; skips where it cannot be mounted (not root, or a machine that does not allow it)."""
    mounted: list[Path] = []

    def mount(size: str, read_only: bool = False) -> Path:
        folder = tmp_path / f"tmpfs{len(mounted)}"
        folder.mkdir()
        if os.geteuid() != 0 or shutil.which("mount") is None:
            pytest.skip("mounting a tmpfs needs root")
        options = f"{'ro,' if read_only else ''}size={size}"
        made = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True)
        if made.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode(errors='replace').strip()}")
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", str(folder)], check=False)


def _quiet_tf_env() -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.update(TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    return env
