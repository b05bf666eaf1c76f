"""A contact sheet of held-out real photos: photo | predicted depth | shaded relief of the prediction.

The shaded view renders the predicted depth as a heightfield mesh, turned 30 degrees about the vertical
axis and lit from the upper left, with the project's numpy rasteriser (no OpenGL needed).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from facedepth.model import depthcode, spec
from facedepth.training import storage
from facedepth.training.raster import rasterize, vertex_normals
from facedepth.training.synthetic import rotation

TILE = 192


def depth_colour(code: np.ndarray) -> np.ndarray:
    """Near = warm, far = cool; black outside the predicted face."""
    mask = depthcode.face_mask(code)
    face = code[mask]
    lo, hi = (face.min(), face.max()) if face.size else (0.0, 1.0)
    norm = np.clip((code - lo) / max(hi - lo, 1e-6), 0, 1)
    coloured = cv2.applyColorMap((255 * (1 - norm)).astype(np.uint8), cv2.COLORMAP_TURBO)[..., ::-1]
    return np.where(mask[..., None], coloured, 0).astype(np.uint8)


def shaded_relief(code: np.ndarray, yaw_deg: float = 30.0, step: int = 2) -> np.ndarray:
    """Grey Lambertian rendering of the predicted face surface seen from ``yaw_deg``."""
    n = code.shape[0]
    mask = depthcode.face_mask(code)[::step, ::step]
    ys, xs = np.mgrid[0:n:step, 0:n:step].astype(np.float64)
    z = -(code[::step, ::step] - spec.NEAR_CODE) * n / spec.GAIN  # pixels, towards the viewer = larger
    verts = np.c_[xs.ravel() - n / 2, -(ys.ravel() - n / 2), z.ravel() - z[mask].mean() if mask.any() else 0]
    h, w = mask.shape
    idx = np.arange(h * w).reshape(h, w)
    corners = np.stack([z[:-1, :-1], z[1:, :-1], z[:-1, 1:], z[1:, 1:]])
    steep = np.ptp(corners, axis=0) > 12 * step  # a depth jump, not a surface (nose sides reach ~6 step)
    quad = mask[:-1, :-1] & mask[1:, :-1] & mask[:-1, 1:] & mask[1:, 1:] & ~steep
    a, b, c, d = idx[:-1, :-1][quad], idx[:-1, 1:][quad], idx[1:, :-1][quad], idx[1:, 1:][quad]
    tris = np.r_[np.c_[a, c, b], np.c_[b, c, d]]
    if len(tris) == 0:
        return np.zeros((n, n, 3), np.uint8)
    rot = rotation(yaw_deg, 0.0, 0.0)
    cam = verts @ rot.T
    screen = np.c_[cam[:, 0] + n / 2, -cam[:, 1] + n / 2, -cam[:, 2]]
    normals = vertex_normals(cam, tris)
    normals *= np.sign(normals[:, 2:3] + 1e-9)  # face the viewer
    r = rasterize(screen, tris, n, n, normals)
    light = np.array([-0.4, 0.5, 0.77])
    shade = np.clip(r.attributes @ (light / np.linalg.norm(light)), 0, 1) * 0.8 + 0.15
    img = np.where(r.mask, shade, 0.0)
    return (np.dstack([img] * 3) * 255).astype(np.uint8)


def make_sheet(photos: list[np.ndarray], codes: list[np.ndarray], columns: int = 2) -> np.ndarray:
    tiles = []
    for photo, code in zip(photos, codes, strict=True):
        row = [cv2.resize(photo, (TILE, TILE), interpolation=cv2.INTER_AREA),
               cv2.resize(depth_colour(code), (TILE, TILE), interpolation=cv2.INTER_NEAREST),
               cv2.resize(shaded_relief(code), (TILE, TILE), interpolation=cv2.INTER_AREA)]
        tiles.append(np.hstack(row))
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack([t for pair in tiles[i: i + columns] for t in (pair, np.full((TILE, 8, 3), 255, np.uint8))])
            for i in range(0, len(tiles), columns)]
    return np.vstack(rows)


def main(argv: list[str] | None = None) -> int:
    from facedepth.model.inference import load_app_estimator

    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--data", type=Path, default=storage.DEFAULT_DATA_DIR)
    p.add_argument("--weights", type=Path)
    p.add_argument("--count", type=int, default=12)
    p.add_argument("--out", type=Path, default=Path("docs/contact_sheet.jpg"))
    args = p.parse_args(argv)
    estimator = load_app_estimator(args.weights)
    split_dir = args.data / "val"
    records = [r for r in storage.read_index(split_dir) if r["kind"] == "real"]
    # Spread the picks over the held-out set (and so over ages, skin tones and poses).
    picks = [records[i] for i in np.linspace(0, len(records) - 1, args.count).astype(int)]
    photos, codes = [], []
    for rec in picks:
        photo, _ = storage.read_sample(split_dir, rec["name"])
        photos.append(photo)
        codes.append(depthcode.trim_prediction(estimator(spec.to_network_input(photo[None]))[0, ..., 0]))
    storage.write_image(args.out, make_sheet(photos, codes), quality=90)
    print(args.out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
