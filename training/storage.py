"""On-disk layout of a generated data set.

``<root>/<split>/<name>.jpg`` (the 256x256 photo crop, quality 95) and ``<name>_depth.png`` (the depth
code as 16-bit PNG, see :func:`facedepth.model.depthcode.to_uint16`); ``<root>/<split>/index.jsonl`` holds one JSON
record per sample (kind, source, pose, crop side in mm, ...). Donor skin textures for synthetic renders
go to ``<root>/textures/<split>/<name>.png``. Every file is written atomically (temp file + rename).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from facedepth.model import depthcode
from facedepth.model.files import atomic_write_bytes

UTKFACE_ENV = "FACEDEPTH_UTKFACE_DIR"
DEFAULT_DATA_DIR = Path("data/gen")
"""Where ``facedepth-train`` writes and reads the generated data set unless told otherwise."""


def default_utkface_dir() -> Path:
    env = os.environ.get(UTKFACE_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "faces" / "utkface"


def write_image(path: Path, image: np.ndarray, quality: int = 95) -> None:
    """Writes an RGB (or single-channel) image; format from the suffix."""
    arr = image[..., ::-1] if image.ndim == 3 else image
    params = [cv2.IMWRITE_JPEG_QUALITY, quality] if path.suffix.lower() in (".jpg", ".jpeg") else []
    ok, buf = cv2.imencode(path.suffix, np.ascontiguousarray(arr), params)
    if not ok:
        raise OSError(f"could not encode {path}")
    atomic_write_bytes(path, buf.tobytes())


def read_rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise OSError(f"cannot read image {path}")
    return img[..., ::-1].copy()


def write_sample(split_dir: Path, name: str, photo: np.ndarray, code: np.ndarray) -> None:
    write_image(split_dir / f"{name}.jpg", photo)
    write_image(split_dir / f"{name}_depth.png", depthcode.to_uint16(code))


def read_sample(split_dir: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    photo = read_rgb(split_dir / f"{name}.jpg")
    stored = cv2.imread(str(split_dir / f"{name}_depth.png"), cv2.IMREAD_UNCHANGED)
    return photo, depthcode.from_uint16(stored)


def append_index(split_dir: Path, records: list[dict]) -> None:
    split_dir.mkdir(parents=True, exist_ok=True)
    with open(split_dir / "index.jsonl", "a") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")


def read_index(split_dir: Path) -> list[dict]:
    path = split_dir / "index.jsonl"
    if not path.exists():
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
