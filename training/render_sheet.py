"""A contact sheet of generated training pairs: photo | depth target, for samples of one face model.

    python -m facedepth.training.render_sheet --data data/gen --split val --face-model ict --out docs/ict_renders.jpg
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from facedepth.training import storage
from facedepth.training.contact_sheet import depth_colour


def render_sheet(data_dir: Path, split: str, face_model: str, count: int = 12, columns: int = 3) -> np.ndarray:
    """RGB grid of the first ``count`` samples of ``face_model`` in the split's index (photo | depth)."""
    records = [r for r in storage.read_index(Path(data_dir) / split)
               if r.get("kind") == "synthetic" and r.get("face_model", "surrey") == face_model][:count]
    if not records:
        raise FileNotFoundError(f"no {face_model} renders in {Path(data_dir) / split}")
    tiles = []
    for rec in records:
        photo, code = storage.read_sample(Path(data_dir) / split, rec["name"])
        tiles.append(np.concatenate([photo, depth_colour(code)], axis=1))
    blank = np.zeros_like(tiles[0])
    tiles += [blank] * (-len(tiles) % columns)
    rows = [np.concatenate(tiles[i: i + columns], axis=1) for i in range(0, len(tiles), columns)]
    return np.concatenate(rows, axis=0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--data", type=Path, required=True)
    p.add_argument("--split", default="val")
    p.add_argument("--face-model", default="ict")
    p.add_argument("--count", type=int, default=12)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--quality", type=int, default=88)
    args = p.parse_args(argv)
    try:
        sheet = render_sheet(args.data, args.split, args.face_model, args.count)
    except (FileNotFoundError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    storage.write_image(args.out, sheet, quality=args.quality)
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
