"""MediaPipe's face mesh as a depth teacher: photos -> ``<stem>.npy`` depth maps on each photo's own grid.

MediaPipe 0.10.21 (the last release that ships its face-mesh model inside the wheel) needs numpy < 2 and
protobuf < 5, so it cannot share the training environment (TensorFlow 2.21). This module therefore runs in
an environment of its own and imports nothing of the project but the numpy z-buffer::

    python3 -m venv .venv-mediapipe
    .venv-mediapipe/bin/pip install "mediapipe==0.10.21" "numpy<2" && .venv-mediapipe/bin/pip install --no-deps -e .
    .venv-mediapipe/bin/python -m facedepth.training.mediapipe_teacher PHOTO_DIR OUT_DIR

Depth is the 468-vertex triangle mesh z-buffered at the photo's resolution (larger = farther, in pixels of
the photo's width, NaN off the mesh); a photo where no face is found gets no file. Its triangles are the
3-cycles of MediaPipe's tessellation edges (the wheel ships the edges, not the canonical model's faces).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps

from facedepth.model.files import atomic_write
from facedepth.model.reporting import configure_logging
from facedepth.training.raster import rasterize

logger = logging.getLogger(__name__)

MESH_VERTICES = 468
PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


def triangles_from_edges(edges: np.ndarray) -> np.ndarray:
    """(M, 3) vertex triples whose three edges are all in ``edges`` (E, 2): the triangles of a mesh given
    by its edges."""
    neighbours: dict[int, set[int]] = {}
    for a, b in edges:
        neighbours.setdefault(int(a), set()).add(int(b))
        neighbours.setdefault(int(b), set()).add(int(a))
    found = {tuple(sorted((a, b, c))) for a, b in edges for c in neighbours[int(a)] & neighbours[int(b)]}
    return np.array(sorted(found), np.int64).reshape(-1, 3)


class MediaPipeMesh:
    """MediaPipe face mesh on still photos (one face: the most confident)."""

    def __init__(self) -> None:
        from mediapipe.python.solutions import face_mesh, face_mesh_connections

        self._mesh = face_mesh.FaceMesh(static_image_mode=True, max_num_faces=1, refine_landmarks=True,
                                        min_detection_confidence=0.3)
        self.triangles = triangles_from_edges(np.array(sorted(face_mesh_connections.FACEMESH_TESSELATION)))

    def vertices(self, rgb: np.ndarray) -> np.ndarray | None:
        """(468, 3) mesh vertices in photo pixels (x right, y down, z larger = farther), or None."""
        result = self._mesh.process(rgb)
        if not result.multi_face_landmarks:
            return None
        height, width = rgb.shape[:2]
        points = result.multi_face_landmarks[0].landmark[:MESH_VERTICES]
        return np.array([(p.x * width, p.y * height, p.z * width) for p in points], np.float64)

    def depth(self, rgb: np.ndarray) -> np.ndarray | None:
        """(H, W) float32 depth of the z-buffered mesh, NaN off it; None when no face is found."""
        vertices = self.vertices(rgb)
        if vertices is None:
            return None
        height, width = rgb.shape[:2]
        raster = rasterize(vertices, self.triangles, width, height)
        return np.where(raster.mask, raster.depth, np.nan).astype(np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("photos", type=Path, help="folder of photos")
    parser.add_argument("out", type=Path, help="folder for <stem>.npy depth maps")
    parser.add_argument("--overwrite", action="store_true", help="replace existing maps")
    args = parser.parse_args(argv)
    configure_logging(logging.INFO)
    from tqdm import tqdm

    photos = sorted(p for p in args.photos.iterdir() if p.suffix.lower() in PHOTO_SUFFIXES)
    if not photos:
        print(f"error: no photos in {args.photos}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    teacher = MediaPipeMesh()
    missed = 0
    for path in tqdm(photos, desc="mediapipe depth"):
        target = args.out / f"{path.stem}.npy"
        if target.exists() and not args.overwrite:
            continue
        with Image.open(path) as image:
            rgb = np.asarray(ImageOps.exif_transpose(image).convert("RGB"))
        depth = teacher.depth(rgb)
        if depth is None:
            missed += 1
            continue
        atomic_write(target, lambda temp, depth=depth: np.save(temp, depth), overwrite=True)
    logger.info("%d photos, %d without a face", len(photos), missed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
