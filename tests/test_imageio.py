import hashlib
import os

import numpy as np
import photo_corpus as corpus
import pytest
from PIL import Image

from facedepth.model import imageio
from facedepth.model.imageio import MIN_SIDE, ImageLoadError, load_photo


def _digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _sample_rgb(face_photo):
    return np.asarray(Image.open(face_photo).convert("RGB")).astype(np.int16)


def test_jpeg_loads_as_rgb_uint8(face_photo):
    rgb = load_photo(face_photo)
    assert rgb.shape == (512, 512, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(rgb, _sample_rgb(face_photo))


@pytest.mark.parametrize(
    ("build", "reason"),
    list(zip(corpus.UNDECODABLE.values(), ["empty file", "truncated", "not an image", "too small", "too large"],
             strict=True)),
    ids=list(corpus.UNDECODABLE),
)
def test_bad_files_give_one_line_reason_and_stay_unchanged(tmp_path, face_photo, build, reason):
    path = build(tmp_path, face_photo)
    before = _digest(path)
    with pytest.raises(ImageLoadError) as info:
        load_photo(path)
    message = str(info.value)
    assert reason in message and "\n" not in message
    assert _digest(path) == before


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ImageLoadError, match="file not found"):
        load_photo(tmp_path / "nope.jpg")
    with pytest.raises(ImageLoadError, match="folder"):
        load_photo(tmp_path)


def test_tiny_but_not_too_tiny(tmp_path):
    Image.new("RGB", (MIN_SIDE, MIN_SIDE - 1)).save(tmp_path / "thin.png")
    Image.new("RGB", (MIN_SIDE, MIN_SIDE)).save(tmp_path / "ok.png")
    with pytest.raises(ImageLoadError, match="too small"):
        load_photo(tmp_path / "thin.png")
    assert load_photo(tmp_path / "ok.png").shape == (MIN_SIDE, MIN_SIDE, 3)


def test_16_bit_grey_is_stretched_over_its_own_range(tmp_path, face_photo):
    path = corpus.png16(tmp_path, face_photo)
    rgb = load_photo(path)
    assert rgb.dtype == np.uint8 and rgb.shape == (512, 512, 3)
    assert rgb.min() == 0 and rgb.max() == 255
    grey = np.asarray(Image.open(face_photo).convert("L")).astype(int)
    expected = np.round((grey - grey.min()) * 255 / (grey.max() - grey.min()))
    assert np.abs(rgb[..., 1] - expected).max() <= 1
    np.testing.assert_array_equal(rgb[..., 0], rgb[..., 2])


def test_float_image_with_nan(tmp_path):
    values = np.linspace(-1, 1, 64 * 64, dtype=np.float32).reshape(64, 64)
    values[0, 0] = np.nan
    Image.fromarray(values).save(tmp_path / "float.tif")
    rgb = load_photo(tmp_path / "float.tif")
    assert rgb[0, 0, 0] == 0 and rgb[-1, -1, 0] == 255 and rgb[0, 1, 0] == 0


def test_rgba_is_composited_over_white(tmp_path, face_photo):
    rgb = load_photo(corpus.rgba_png(tmp_path, face_photo))
    assert (rgb[:40] == 255).all() and (rgb[:, -40:] == 255).all()
    np.testing.assert_array_equal(rgb[40:-40, 40:-40], _sample_rgb(face_photo)[40:-40, 40:-40])


def test_palette_with_transparency_is_composited_over_white(tmp_path):
    image = Image.new("P", (40, 40), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.paste(1, (0, 0, 20, 40))
    image.save(tmp_path / "p.png", transparency=0)
    rgb = load_photo(tmp_path / "p.png")
    assert (rgb[:, :20] == [255, 0, 0]).all() and (rgb[:, 20:] == 255).all()


@pytest.mark.parametrize("build", [corpus.cmyk_jpeg, corpus.palette_png, corpus.grey_jpeg],
                         ids=["cmyk", "palette", "grey"])
def test_other_modes_convert_to_similar_rgb(tmp_path, face_photo, build):
    rgb = load_photo(build(tmp_path, face_photo)).astype(np.int16)
    reference = _sample_rgb(face_photo)
    if build is corpus.grey_jpeg:
        reference = np.repeat(np.asarray(Image.open(face_photo).convert("L"))[..., None], 3, axis=2)
    assert rgb.shape == reference.shape
    assert np.abs(rgb - reference).mean() < 8


def test_exif_orientation_is_applied(tmp_path, face_photo):
    path = corpus.exif_rotated_jpeg(tmp_path, face_photo)
    assert Image.open(path).size == (512, 384)  # stored lying on its side
    rgb = load_photo(path).astype(np.int16)
    assert rgb.shape == (512, 384, 3)
    upright = _sample_rgb(face_photo)[:, 32:416]
    assert np.abs(rgb - upright).mean() < 4


def test_float32_rgb_tiff_loads(tmp_path, face_photo):
    """Issue 14.7: a valid float32 RGB TIFF was refused as "not an image file"."""
    rgb = load_photo(corpus.float_rgb_tiff(tmp_path, face_photo))
    reference = np.asarray(Image.open(face_photo).convert("RGB"))
    assert rgb.dtype == np.uint8 and rgb.shape == reference.shape
    assert np.abs(rgb.astype(int) - reference).max() <= 1


def test_float_rgba_tiff_is_composited_over_white(tmp_path):
    import tifffile

    values = np.zeros((40, 40, 4), np.float32)
    values[..., 0] = 1.0  # red where opaque
    values[:, :20, 3] = 1.0  # left half opaque, right half transparent
    path = tmp_path / "rgba.tif"
    tifffile.imwrite(path, values, photometric="rgb", extrasamples=[2])
    rgb = load_photo(path)
    assert (rgb[:, :20] == (255, 0, 0)).all() and (rgb[:, 20:] == 255).all()


def test_symlink_loop_is_a_reason_not_an_exception(tmp_path):
    """Issue 14.2: a symbolic link loop among the inputs."""
    with pytest.raises(ImageLoadError, match="^cannot read file \\(Too many levels of symbolic links\\)$"):
        load_photo(corpus.symlink_loop(tmp_path))


def test_broken_symlink(tmp_path):
    link = tmp_path / "gone.jpg"
    link.symlink_to(tmp_path / "deleted.jpg")
    with pytest.raises(ImageLoadError, match="^broken symbolic link"):
        load_photo(link)


def test_permission_denied_is_not_called_corrupt(tmp_path, face_photo, monkeypatch):
    """Issue 14.8: permission denied was reported as "corrupt or truncated image data". Root reads anything,
    so there (CI) the refusal is simulated where the loader opens the file."""
    photo = corpus.unreadable(tmp_path, face_photo)
    if os.geteuid() == 0:
        def refuse(path, *args, **kwargs):
            raise PermissionError(13, "Permission denied", str(path))

        monkeypatch.setattr(imageio, "open", refuse, raising=False)
    with pytest.raises(ImageLoadError, match="^cannot read file \\(Permission denied\\)$"):
        load_photo(photo)


def test_undecodable_tiff_without_tifffile_is_a_reason(tmp_path, face_photo, monkeypatch):
    import sys

    photo = corpus.float_rgb_tiff(tmp_path, face_photo)
    monkeypatch.setitem(sys.modules, "tifffile", None)  # an installation without the dependency
    with pytest.raises(ImageLoadError, match="needs the tifffile package"):
        load_photo(photo)
