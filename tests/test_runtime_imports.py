"""The CLI's whole run must not load TensorFlow/Keras (they crash next to Kivy's OpenGL), Kivy itself, or OpenCV
(the installer leaves it out)."""

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_SCRIPT = textwrap.dedent(
    """
    import sys
    from facedepth.app import cli

    code = cli.main(["predict", sys.argv[1], "-o", sys.argv[2], "--weights", sys.argv[3], "--mesh", "grid",
                     "--formats", "glb", "--save-depth", "npy"])
    forbidden = ("tensorflow", "keras", "kivy", "facedepth.training", "cv2")
    loaded = sorted(f for f in forbidden if any(name == f or name.startswith(f + ".") for name in sys.modules))
    print("exit", code, "loaded", ",".join(loaded) or "-")
    """
)


def test_cli_run_loads_no_tensorflow_keras_kivy_or_opencv(tmp_path, tiny_weights, face_photo):
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(face_photo), str(tmp_path / "out"), str(tiny_weights)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "exit 0 loaded -"
