"""Makes ``assets/two_faces.jpg``, the README's two-face example, from two public-domain photos in a PyPI package,
and ``docs/two_faces.jpg``, the figure of what ``facedepth predict`` makes of it.

The photos are the official portraits of Barack Obama and Joe Biden (White House photographs, works of the
U.S. federal government, public domain) that the ``face_recognition`` package ships in its source
distribution (``face_recognition-1.3.0.tar.gz``, ``tests/test_images/obama.jpg`` and ``biden.jpg``). Get it
with ``pip download face_recognition==1.3.0 --no-deps --no-binary :all:`` and run::

    python assets/make_two_faces.py face_recognition-1.3.0.tar.gz

The two heads and shoulders are cut out, scaled to the same height and set side by side (Obama on the left).
Then ``facedepth predict assets/two_faces.jpg -o OUT`` and ``python assets/make_two_faces.py --figure OUT``
draw the photo beside each face's textured GLB, reloaded and rendered from 25 degrees to the side (a numpy
z-buffer, the texture sampled at the interpolated UVs, Lambert-lit).
"""

from __future__ import annotations

import argparse
import io
import math
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

OUT = Path(__file__).with_name("two_faces.jpg")
FIGURE = Path(__file__).resolve().parent.parent / "docs" / "two_faces.jpg"
MEMBERS = {"obama": "face_recognition-1.3.0/tests/test_images/obama.jpg",
           "biden": "face_recognition-1.3.0/tests/test_images/biden.jpg"}
CROPS = {"obama": (190, 0, 790, 640), "biden": (170, 0, 930, 810)}
"""(left, top, right, bottom) of each head and shoulders in its photo."""
HEIGHT = 560


def make_photo(sdist: Path, out: Path) -> None:
    parts = []
    with tarfile.open(sdist) as archive:
        for name in ("obama", "biden"):
            data = archive.extractfile(MEMBERS[name]).read()
            part = Image.open(io.BytesIO(data)).convert("RGB").crop(CROPS[name])
            parts.append(part.resize((round(part.width * HEIGHT / part.height), HEIGHT), Image.Resampling.LANCZOS))
    canvas = Image.new("RGB", (sum(p.width for p in parts), HEIGHT))
    x = 0
    for part in parts:
        canvas.paste(part, (x, 0))
        x += part.width
    canvas.save(out, quality=90)
    print(f"wrote {out} ({canvas.width}x{canvas.height})")


def render_textured(path: Path, size: int = HEIGHT, yaw_deg: float = 25.0) -> np.ndarray:
    """A textured mesh file (GLB/OBJ, export frame) seen from ``yaw_deg`` to the side, orthographic, (size, size, 3)."""
    import trimesh

    from facedepth.training.raster import rasterize, vertex_normals

    mesh = trimesh.load(path, force="mesh", process=False)
    image = mesh.visual.material.baseColorTexture.convert("RGB")
    texture = np.asarray(image, dtype=np.float64) / 255.0
    yaw = math.radians(yaw_deg)
    turn = np.array([[math.cos(yaw), 0, math.sin(yaw)], [0, 1, 0], [-math.sin(yaw), 0, math.cos(yaw)]])
    points = (mesh.vertices - mesh.vertices.mean(axis=0)) @ turn.T
    scale = 0.9 * size / float(np.ptp(points[:, :2], axis=0).max())
    screen = np.stack([size / 2 + points[:, 0] * scale, size / 2 - points[:, 1] * scale, -points[:, 2]], axis=1)
    normals = vertex_normals(points, mesh.faces)
    raster = rasterize(screen, mesh.faces, size, size, np.hstack([mesh.visual.uv, normals]))
    uv, normal = raster.attributes[..., :2], raster.attributes[..., 2:]
    height, width = texture.shape[:2]
    cols = np.clip((uv[..., 0] * width).astype(int), 0, width - 1)
    rows = np.clip(((1.0 - uv[..., 1]) * height).astype(int), 0, height - 1)
    length = np.maximum(np.linalg.norm(normal, axis=-1), 1e-9)
    light = 0.45 + 0.55 * np.abs(normal[..., 2]) / length
    colour = texture[rows, cols] * light[..., None]
    out = np.where(raster.mask[..., None], colour, 0.12)
    return (np.clip(out, 0, 1) * 255 + 0.5).astype(np.uint8)


def make_figure(outputs: Path, photo: Path, out: Path) -> None:
    picture = Image.open(photo).convert("RGB")
    panels = [picture] + [Image.fromarray(render_textured(path)) for path in sorted(outputs.glob("*_face*.glb"))]
    panels = [p.resize((round(p.width * HEIGHT / p.height), HEIGHT)) for p in panels]
    canvas = Image.new("RGB", (sum(p.width for p in panels) + 8 * (len(panels) - 1), HEIGHT), (30, 31, 36))
    x = 0
    for panel in panels:
        canvas.paste(panel, (x, 0))
        x += panel.width + 8
    canvas.resize((canvas.width // 2, canvas.height // 2), Image.Resampling.LANCZOS).save(out, quality=88)
    print(f"wrote {out} ({canvas.width // 2}x{canvas.height // 2})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sdist", type=Path, nargs="?", help="face_recognition-1.3.0.tar.gz")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--figure", type=Path, metavar="OUTDIR",
                        help="draw docs/two_faces.jpg from facedepth predict's results in OUTDIR instead")
    args = parser.parse_args()
    if args.figure is not None:
        make_figure(args.figure, args.out, FIGURE)
    elif args.sdist is not None:
        make_photo(args.sdist, args.out)
    else:
        parser.error("give the face_recognition sdist, or --figure OUTDIR")


if __name__ == "__main__":
    main()
