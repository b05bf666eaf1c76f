"""Reading user photos: any file Pillow understands -> an upright RGB uint8 array, or a one-line reason.

Conversions (the generator wants 8-bit RGB):

* EXIF orientation is applied, so the array is the photo as viewers show it.
* Transparency (RGBA, LA, PA, palette images with a transparent colour) is composited over white.
  Dropping the alpha channel instead would expose whatever colour the transparent pixels happen to
  hold (often black), which can draw false edges around a cut-out face.
* 16-bit, 32-bit integer and float greyscale (I;16, I, F) are stretched from their own minimum..maximum
  to 0..255 (12-bit data in 16-bit containers would otherwise look nearly black).
* Palette, CMYK, YCbCr, bilevel and greyscale images are converted with Pillow's own conversions.
* TIFFs Pillow cannot decode (float32 or 16-bit RGB, say) are read with ``tifffile``: floats within 0..1 are
  scaled by 255, other values stretched from their own minimum..maximum, alpha composited over white.

Images larger than ``MAX_PIXELS`` are refused before they are decoded (decompression bombs: a tiny PNG
can declare billions of pixels), and so are images smaller than ``MIN_SIDE`` on a side. The input file
is only ever opened for reading.
"""

from __future__ import annotations

import logging
import stat
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from facedepth.model.reporting import one_line

logger = logging.getLogger(__name__)

MAX_PIXELS = 89_478_485
"""Pillow's default decompression-bomb limit (about 0.25 GiB of RGB, e.g. 9460 x 9460)."""

MIN_SIDE = 32
"""Smallest accepted width or height in pixels; a face needs at least this much to be found."""

_WIDE_GREY_MODES = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")
_ALPHA_MODES = ("RGBA", "LA", "PA", "RGBa", "La")


class ImageLoadError(ValueError):
    """A photo that cannot be used; the message is one user-facing line (without the file name)."""


def load_photo(path: Path) -> np.ndarray:
    """The photo at ``path`` as an (H, W, 3) uint8 RGB array, EXIF orientation applied."""
    path = Path(path)
    _check_file(path)
    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that; make the warning an error too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path) as image:
                _check_size(image.width, image.height)
                image.load()
                upright = ImageOps.exif_transpose(image)
                rgb = _to_rgb(upright)
        except ImageLoadError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageLoadError(f"image too large: more than {MAX_PIXELS / 1e6:.0f} megapixels "
                                 "(possibly a decompression bomb)") from exc
        except UnidentifiedImageError as exc:
            if not _is_tiff(path):
                raise ImageLoadError("not an image file (or a format Pillow cannot read)") from exc
            rgb = _read_tiff(path)
        except MemoryError as exc:
            raise ImageLoadError("not enough memory to decode the image") from exc
        except Exception as exc:  # Pillow's decoders raise OSError, SyntaxError, ValueError, struct.error, ...
            raise ImageLoadError(f"corrupt or truncated image data ({one_line(exc)})") from exc
    _check_size(rgb.shape[1], rgb.shape[0])
    return rgb


def _check_file(path: Path) -> None:
    """Refuses what is not a readable, non-empty regular file, with the reason the system gives."""
    try:
        info = path.stat()
    except FileNotFoundError:
        raise ImageLoadError("broken symbolic link (its target does not exist)" if path.is_symlink()
                             else "file not found") from None
    except OSError as exc:  # ELOOP (a symbolic link loop), EACCES on a parent folder, ENAMETOOLONG, ...
        raise ImageLoadError(f"cannot read file ({exc.strerror or exc})") from exc
    if stat.S_ISDIR(info.st_mode):
        raise ImageLoadError("is a folder, not an image file")
    if not stat.S_ISREG(info.st_mode):
        raise ImageLoadError("not a regular file (a device, pipe or socket)")
    if info.st_size == 0:
        raise ImageLoadError("empty file")
    try:
        with open(path, "rb"):
            pass
    except OSError as exc:  # permission denied: say so, not "corrupt image data"
        raise ImageLoadError(f"cannot read file ({exc.strerror or exc})") from exc


def _is_tiff(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _read_tiff(path: Path) -> np.ndarray:
    """A TIFF Pillow cannot decode, through tifffile (first page only)."""
    try:
        import tifffile
    except ImportError as exc:  # an installation without the dependency: still one reason, not a crash
        raise ImageLoadError("a TIFF Pillow cannot decode (float or 16-bit colour); reading it needs the "
                             "tifffile package") from exc

    try:
        with tifffile.TiffFile(path) as tiff:
            page = tiff.pages[0]
            shape = page.shape
            if page.samplesperpixel > 1 and page.planarconfig == tifffile.PLANARCONFIG.SEPARATE:
                shape = (*shape[1:], shape[0])
            _check_size(shape[1], shape[0])
            values = page.asarray()
    except ImageLoadError:
        raise
    except MemoryError as exc:
        raise ImageLoadError("not enough memory to decode the image") from exc
    except Exception as exc:  # tifffile raises TiffFileError, ValueError, NotImplementedError, ...
        raise ImageLoadError(f"unsupported or corrupt TIFF ({one_line(exc)})") from exc
    if values.ndim == 3 and values.shape[0] in (3, 4) and values.shape[-1] not in (3, 4):
        values = np.moveaxis(values, 0, -1)  # planar RGB(A)
    if values.ndim == 2:
        values = values[..., None]
    if values.ndim != 3 or values.shape[2] not in (1, 2, 3, 4):
        raise ImageLoadError(f"unsupported TIFF layout {values.shape}")
    unit = _unit_range(values)
    colour, alpha = (unit[..., :-1], unit[..., -1:]) if unit.shape[2] in (2, 4) else (unit, None)
    if alpha is not None:
        colour = colour * alpha + (1.0 - alpha)  # over white
    if colour.shape[2] == 1:
        colour = np.repeat(colour, 3, axis=2)
    return np.round(colour * 255).clip(0, 255).astype(np.uint8)


def _unit_range(values: np.ndarray, keep_unit_floats: bool = True) -> np.ndarray:
    """Float64 in 0..1, non-finite values 0: floats already within 0..1 kept (``keep_unit_floats``), anything
    else stretched from its finite minimum..maximum."""
    data = values.astype(np.float64)
    finite = np.isfinite(data)
    if not finite.any():
        raise ImageLoadError("image has no finite pixel values")
    lo, hi = data[finite].min(), data[finite].max()
    if keep_unit_floats and values.dtype.kind == "f" and lo >= 0.0 and hi <= 1.0:
        return np.where(finite, data, 0.0)
    scaled = np.zeros_like(data) if hi == lo else (data - lo) / (hi - lo)
    return np.where(finite, scaled, 0.0)


def _check_size(width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise ImageLoadError(
            f"image too large: {width}x{height} pixels (limit {MAX_PIXELS / 1e6:.0f} megapixels; "
            "possibly a decompression bomb)"
        )
    if min(width, height) < MIN_SIDE:
        raise ImageLoadError(f"image too small: {width}x{height} pixels (at least {MIN_SIDE} per side needed)")


def _to_rgb(image: Image.Image) -> np.ndarray:
    mode = image.mode
    if mode in _WIDE_GREY_MODES:
        return _stretch_to_rgb(np.asarray(image))
    if mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
        mode = "RGBA"
    if mode in _ALPHA_MODES:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(white, rgba)
    if image.mode != "RGB":
        try:
            image = image.convert("RGB")
        except ValueError as exc:
            raise ImageLoadError(f"unsupported colour mode {mode}") from exc
    return np.array(image, dtype=np.uint8)


def _stretch_to_rgb(values: np.ndarray) -> np.ndarray:
    """Wide greyscale -> uint8 RGB, mapping the image's finite minimum..maximum to 0..255."""
    out = np.round(_unit_range(values, keep_unit_floats=False) * 255).clip(0, 255).astype(np.uint8)
    return np.repeat(out[..., None], 3, axis=2)

