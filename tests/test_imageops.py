"""The numpy/Pillow image operations agree with OpenCV, which made the training data."""

import cv2
import numpy as np
import pytest

from facedepth.model import imageops
from facedepth.model.crop import CropBox, crop_image, uncrop


@pytest.fixture
def photo() -> np.ndarray:
    rng = np.random.default_rng(0)
    smooth = cv2.GaussianBlur(rng.integers(0, 256, (120, 90, 3), dtype=np.uint8), (0, 0), 2)
    return np.ascontiguousarray(smooth)


@pytest.mark.parametrize("box", [CropBox(45, 60, 50), CropBox(10, 100, 90), CropBox(45, 60, 300)])
def test_warp_affine_reflect_matches_opencv(photo, box):
    m = box.to_crop_matrix(64)
    ours = imageops.warp_affine(photo, m, 64, 64, border="reflect")
    theirs = cv2.warpAffine(photo, m, (64, 64), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    assert ours.dtype == np.uint8
    assert np.abs(ours.astype(int) - theirs).max() <= 2  # OpenCV interpolates in 1/32-pixel steps


def test_warp_affine_constant_fill_matches_opencv():
    values = np.linspace(0, 1, 32 * 32, dtype=np.float32).reshape(32, 32)
    inverse = imageops.invert_affine(CropBox(40, 30, 20).to_crop_matrix(32))
    ours = imageops.warp_affine(values, inverse, 80, 60, border="constant", fill=np.nan)
    theirs = cv2.warpAffine(values, inverse, (80, 60), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                            borderValue=float("nan"))
    both = np.isfinite(ours) & np.isfinite(theirs)
    assert np.isnan(ours[0, 0]) and np.isnan(ours[-1, -1])
    assert both.sum() > 0.9 * np.isfinite(theirs).sum()
    np.testing.assert_allclose(ours[both], theirs[both], atol=0.02)


def test_uncrop_puts_the_crop_back_where_it_came_from(photo):
    box = CropBox(45, 60, 40)
    grey = photo[..., 0].astype(np.float32)
    crop = imageops.warp_affine(grey, box.to_crop_matrix(40), 40, 40)
    back = uncrop(crop, box, 90, 120)
    inner = (slice(45, 75), slice(30, 60))
    np.testing.assert_allclose(back[inner], grey[inner], atol=1.0)
    assert np.isnan(back[5, 5])


def test_crop_off_the_image_is_blurred_not_black(photo):
    out = crop_image(photo, CropBox(0, 0, 120), size=64)
    assert out.shape == (64, 64, 3) and out.dtype == np.uint8
    # the top-left quarter lies off the image: reflected and blurred, so smoother than the inside
    assert out[:24, :24].std(axis=(0, 1)).mean() < out[40:, 40:].std(axis=(0, 1)).mean()
    assert out[:24, :24].mean() > 20


def test_large_photos_are_area_shrunk_before_cropping():
    big = np.zeros((2000, 2000, 3), np.uint8)
    big[:, 1::2] = 255  # one-pixel stripes: aliasing would show them, area filtering averages them
    out = crop_image(big, CropBox(1000, 1000, 1200), size=256)  # shrinks by 2 first
    assert np.abs(out.astype(int) - 128).max() <= 2


def test_erode_matches_opencv():
    rng = np.random.default_rng(1)
    mask = cv2.GaussianBlur(rng.random((50, 60)).astype(np.float32), (0, 0), 3) > 0.5
    ours = imageops.erode(mask, 3)
    theirs = cv2.erode(mask.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    np.testing.assert_array_equal(ours, theirs)


def test_resize_area_averages_blocks():
    image = np.arange(16, dtype=np.uint8).reshape(4, 4).repeat(3).reshape(4, 4, 3) * 10
    small = imageops.resize_area(image, 2, 2)
    np.testing.assert_array_equal(small[..., 0], [[25, 45], [105, 125]])


@pytest.mark.parametrize("border", ["reflect", "constant"])
def test_scale_and_shift_path_equals_the_general_one_to_the_bit(border):
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
    matrix = np.array([[1.7, 0.0, -20.3], [0.0, 1.3, 4.6]])
    ours = imageops.warp_affine(image, matrix, 150, 100, border=border, fill=9.0)
    general = imageops.warp_affine(image, matrix + np.array([[0, 1e-300, 0], [0, 0, 0]]), 150, 100, border=border,
                                   fill=9.0)  # a shear too small to move anything takes the per-pixel path
    np.testing.assert_array_equal(ours, general)
