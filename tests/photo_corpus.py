"""Builders for awkward input files (bad, odd-mode, rotated, huge, tiny), made from the sample photo."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

EXIF_ORIENTATION = 0x0112
ROTATE_90_CW = 6
"""EXIF orientation 6: the viewer turns the stored pixels 90 degrees clockwise."""


def empty(folder: Path) -> Path:
    path = folder / "empty.jpg"
    path.write_bytes(b"")
    return path


def truncated_jpeg(folder: Path, sample: Path) -> Path:
    data = sample.read_bytes()
    path = folder / "truncated.jpg"
    path.write_bytes(data[: len(data) // 3])
    return path


def text_as_jpeg(folder: Path) -> Path:
    path = folder / "notes.jpg"
    path.write_text("This is a shopping list, not a photo.\nmilk\neggs\n")
    return path


def _saved(image: Image.Image, path: Path, **options) -> Path:
    image.save(path, **options)
    return path


def png16(folder: Path, sample: Path) -> Path:
    """16-bit greyscale PNG using only part of the 16-bit range (like 12-bit sensor data)."""
    grey = np.asarray(Image.open(sample).convert("L"), np.uint16) * 16 + 1000
    return _saved(Image.fromarray(grey), folder / "grey16.png")


def cmyk_jpeg(folder: Path, sample: Path) -> Path:
    return _saved(Image.open(sample).convert("CMYK"), folder / "cmyk.jpg", quality=95)


def rgba_png(folder: Path, sample: Path) -> Path:
    """The sample with a fully transparent 40-pixel border (the hidden border pixels are black)."""
    rgb = np.asarray(Image.open(sample).convert("RGB")).copy()
    alpha = np.zeros(rgb.shape[:2], np.uint8)
    alpha[40:-40, 40:-40] = 255
    rgb[alpha == 0] = 0
    path = folder / "cutout.png"
    Image.fromarray(np.dstack([rgb, alpha])).save(path)
    return path


def palette_png(folder: Path, sample: Path) -> Path:
    return _saved(Image.open(sample).convert("RGB").quantize(colors=128), folder / "palette.png")


def grey_jpeg(folder: Path, sample: Path) -> Path:
    return _saved(Image.open(sample).convert("L"), folder / "grey.jpg", quality=95)


def exif_rotated_jpeg(folder: Path, sample: Path) -> Path:
    """A portrait crop of the sample stored lying on its side, with EXIF orientation 6 to stand it up.

    Displayed (and loaded) it is 384 wide x 512 high; the stored pixels are 512 x 384.
    """
    upright = Image.open(sample).convert("RGB").crop((32, 0, 416, 512))
    stored = upright.transpose(Image.Transpose.ROTATE_90)  # counter-clockwise; the viewer turns it back
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = ROTATE_90_CW
    path = folder / "rotated.jpg"
    stored.save(path, quality=95, exif=exif)
    return path


def one_pixel(folder: Path) -> Path:
    path = folder / "dot.png"
    Image.new("RGB", (1, 1), (200, 150, 120)).save(path)
    return path


def decompression_bomb(folder: Path) -> Path:
    """A 20000 x 20000 bilevel PNG: a few tens of kilobytes on disk, 400 megapixels when decoded."""
    path = folder / "bomb.png"
    Image.new("1", (20000, 20000)).save(path, optimize=True)
    return path


def two_faces_side_by_side(folder: Path, sample: Path) -> Path:
    """Two faces that dlib finds: the sample's head at 0.8 x size on the left, mirrored at full size on the
    right (so the largest face is the second from the left)."""
    part = Image.open(sample).convert("RGB").crop((80, 0, 400, 340))
    left = part.resize((round(part.width * 0.8), round(part.height * 0.8)), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (left.width + part.width, part.height), (90, 90, 90))
    canvas.paste(left, (0, (part.height - left.height) // 2))
    canvas.paste(part.transpose(Image.Transpose.FLIP_LEFT_RIGHT), (left.width, 0))
    path = folder / "pair.jpg"
    canvas.save(path, quality=95)
    return path


def two_faces(folder: Path, sample: Path) -> Path:
    """The sample with a half-size copy beside it: the full-size face is the largest."""
    big = Image.open(sample).convert("RGB")
    small = big.resize((big.width // 2, big.height // 2), Image.Resampling.LANCZOS)
    canvas = Image.new("RGB", (big.width + small.width, big.height), (90, 90, 90))
    canvas.paste(big, (0, 0))
    canvas.paste(small, (big.width, big.height // 4))
    path = folder / "two_faces.jpg"
    canvas.save(path, quality=95)
    return path


def float_rgb_tiff(folder: Path, sample: Path) -> Path:
    """The sample as a float32 RGB TIFF (values 0..1), which Pillow cannot decode."""
    import tifffile

    rgb = np.asarray(Image.open(sample).convert("RGB"), np.float32) / 255
    path = folder / "float_rgb.tif"
    tifffile.imwrite(path, rgb, photometric="rgb")
    return path


def strip(folder: Path, sample: Path, width: int = 4000, height: int = 32) -> Path:
    """A long thin strip (4000 x 32) cut from the sample: valid, but too narrow for dlib's CNN detector."""
    rgb = np.asarray(Image.open(sample).convert("RGB").resize((width, height)))
    path = folder / "strip.png"
    Image.fromarray(rgb).save(path)
    return path


def symlink_loop(folder: Path) -> Path:
    """``loop.jpg -> loop.jpg``: resolving it raises RuntimeError (Python 3.11), opening it ELOOP."""
    path = folder / "loop.jpg"
    path.symlink_to(path.name)
    return path


def unreadable(folder: Path, sample: Path) -> Path:
    """A copy of the sample without read permission (tests must skip when running as root)."""
    path = folder / "private.jpg"
    path.write_bytes(sample.read_bytes())
    path.chmod(0)
    return path


UNDECODABLE: dict[str, Callable[[Path, Path], Path]] = {
    "empty": lambda folder, sample: empty(folder),
    "truncated": truncated_jpeg,
    "text": lambda folder, sample: text_as_jpeg(folder),
    "1x1": lambda folder, sample: one_pixel(folder),
    "bomb": lambda folder, sample: decompression_bomb(folder),
}
"""Files no photo can be read from, by test id: each builder takes (folder, sample) and returns the path."""
