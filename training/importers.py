"""Importers that turn real RGB-D data into the generated-data layout (crop rule + depth code).

* Texas 3D Face Recognition Database (the seed paper's data): ``<id>_Portrait.png`` / ``<id>_Range.png``
  pairs, range images 8-bit with 0 = no data and larger = nearer. The subject of each image comes from an
  optional CSV (``image,subject``); without it, from the part of the id before the first "_" or "-". The
  split holds out whole subjects, as the seed did (919 train / 230 test images).
* A generic paired folder: ``<name>.jpg|png`` with ``<name>_depth.png`` (uint16 millimetres, 0 = none) or
  ``<name>_depth.npy`` (float32 millimetres, NaN = none), seen by a pinhole camera with ``--fov-deg``.
"""

from __future__ import annotations

import csv
import logging
import math
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from facedepth.model import depthcode, spec
from facedepth.model.crop import CropBox, box_from_landmarks, crop_image
from facedepth.model.face import FaceDetector
from facedepth.training import storage
from facedepth.training.splits import split_of

logger = logging.getLogger(__name__)


def crop_depth(depth_mm: np.ndarray, box: CropBox, size: int = spec.IMAGE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Depth (NaN = none) resampled into the crop: (distance, mask), nearest-neighbour to keep edges sharp."""
    m = box.to_crop_matrix(size)
    out = cv2.warpAffine(
        np.nan_to_num(depth_mm, nan=0.0).astype(np.float32),
        m,
        (size, size),
        flags=cv2.INTER_NEAREST,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )
    return out, out > 0


def import_pair(
    detector: FaceDetector,
    rgb: np.ndarray,
    depth_mm: np.ndarray,
    mm_per_px: float,
    split_dir: Path,
    name: str,
    kind: str = "real",
) -> dict | None:
    """Crops and encodes one RGB-D pair; ``mm_per_px`` is the lateral size of a pixel at the face."""
    face = detector.largest(rgb)
    if face is None:
        return None
    box = box_from_landmarks(face.landmarks)
    distance, mask = crop_depth(depth_mm, box)
    if mask.mean() < 0.05:
        return None
    crop_side_mm = box.side * mm_per_px
    storage.write_sample(split_dir, name, crop_image(rgb, box), depthcode.encode(distance, mask, crop_side_mm))
    return {"split": split_dir.name, "name": name, "kind": kind, "crop_side_mm": crop_side_mm}


def _subjects(csv_path: Path | None) -> dict[str, str]:
    if not csv_path:
        return {}
    with open(csv_path, newline="") as f:
        return {row[0]: row[1] for row in csv.reader(f) if len(row) >= 2}


def import_texas(
    root: Path, out_dir: Path, subjects_csv: Path | None, pixel_mm: float, level_mm: float, val_fraction: float = 0.2
) -> Counter:
    """Imports every Portrait/Range pair under ``root``; whole subjects go to train or val."""
    detector = FaceDetector()
    subjects = _subjects(subjects_csv)
    outcomes: Counter = Counter()
    records: dict[str, list[dict]] = {}
    portraits = sorted(root.rglob("*_Portrait.png"))
    for portrait in tqdm(portraits, desc="Texas 3DFRD"):
        image_id = portrait.name[: -len("_Portrait.png")]
        range_path = portrait.with_name(f"{image_id}_Range.png")
        if not range_path.exists():
            outcomes["no range image"] += 1
            continue
        subject = subjects.get(image_id) or image_id.replace("-", "_").split("_")[0]
        split = split_of(f"texas-subject-{subject}", val_fraction)
        rng = cv2.imread(str(range_path), cv2.IMREAD_UNCHANGED).astype(np.float32)
        if rng.ndim == 3:
            rng = rng[..., 0]
        depth_mm = np.where(rng > 0, (rng.max() - rng) * level_mm + 1000.0, np.nan)
        rec = import_pair(
            detector, storage.read_rgb(portrait), depth_mm, pixel_mm, out_dir / split, f"texas_{image_id}"
        )
        if rec is None:
            outcomes["no face or no depth"] += 1
            continue
        rec["subject"] = subject
        records.setdefault(split, []).append(rec)
        outcomes[f"imported {split}"] += 1
    for split, recs in records.items():
        storage.append_index(out_dir / split, recs)
    return outcomes


def import_paired_folder(root: Path, out_dir: Path, fov_deg: float) -> Counter:
    """Imports ``<name>.jpg|png`` + ``<name>_depth.png|npy`` pairs seen with a horizontal field of view."""
    detector = FaceDetector()
    outcomes: Counter = Counter()
    records: dict[str, list[dict]] = {}
    photos = sorted(
        p for p in root.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png") and not p.stem.endswith("_depth")
    )
    for photo in tqdm(photos, desc="paired folder"):
        png, npy = photo.with_name(f"{photo.stem}_depth.png"), photo.with_name(f"{photo.stem}_depth.npy")
        if npy.exists():
            depth_mm = np.load(npy).astype(np.float32)
        elif png.exists():
            raw = cv2.imread(str(png), cv2.IMREAD_UNCHANGED).astype(np.float32)
            depth_mm = np.where(raw > 0, raw, np.nan)
        else:
            outcomes["no depth file"] += 1
            continue
        rgb = storage.read_rgb(photo)
        focal = (rgb.shape[1] / 2) / math.tan(math.radians(fov_deg) / 2)
        valid = depth_mm[np.isfinite(depth_mm)]
        if valid.size == 0:
            outcomes["empty depth"] += 1
            continue
        split = split_of(photo.name)
        rec = import_pair(
            detector, rgb, depth_mm, float(np.median(valid)) / focal, out_dir / split, f"pair_{photo.stem}"
        )
        if rec is None:
            outcomes["no face or no depth"] += 1
            continue
        records.setdefault(split, []).append(rec)
        outcomes[f"imported {split}"] += 1
    for split, recs in records.items():
        storage.append_index(out_dir / split, recs)
    return outcomes


def add_parsers(sub) -> None:
    p = sub.add_parser("import-texas", help="import the Texas 3D Face Recognition Database")
    p.add_argument("root", type=Path, help="folder holding *_Portrait.png and *_Range.png")
    p.add_argument("--out", type=Path, default=Path("data/texas"))
    p.add_argument("--subjects", type=Path, help="CSV of image id, subject id (holds out whole subjects)")
    p.add_argument("--pixel-mm", type=float, default=0.32, help="lateral size of a pixel in mm (assumed)")
    p.add_argument("--level-mm", type=float, default=0.32, help="depth of one range grey level in mm (assumed)")
    p.set_defaults(func=lambda a: _report(import_texas(a.root, a.out, a.subjects, a.pixel_mm, a.level_mm)))
    q = sub.add_parser("import-pairs", help="import a folder of photo + depth pairs (any RGB-D source)")
    q.add_argument("root", type=Path)
    q.add_argument("--out", type=Path, default=Path("data/pairs"))
    q.add_argument("--fov-deg", type=float, default=60.0, help="horizontal field of view of the camera")
    q.set_defaults(func=lambda a: _report(import_paired_folder(a.root, a.out, a.fov_deg)))


def _report(outcomes: Counter) -> int:
    for k, v in sorted(outcomes.items()):
        logger.info("  %s: %d", k, v)
    return 0 if any(k.startswith("imported") for k in outcomes) else 1
