"""Face detection: a large photo, searched on a decimated copy, gives the landmarks of a small one."""

import numpy as np
import pytest
from PIL import Image

from facedepth.model import face as face_module
from facedepth.model.face import FaceDetector
from facedepth.model.imageio import load_photo
from facedepth.model.imageops import resize_area


@pytest.fixture(scope="module")
def detector() -> FaceDetector:
    return FaceDetector(cnn_fallback=False)


@pytest.fixture(scope="module")
def sample(face_photo) -> np.ndarray:
    return load_photo(face_photo)


def _scaled(rgb: np.ndarray, factor: float) -> np.ndarray:
    image = Image.fromarray(rgb)
    return np.asarray(image.resize((round(image.width * factor), round(image.height * factor)),
                                   Image.Resampling.BICUBIC))


def _inter_ocular(landmarks: np.ndarray) -> float:
    return float(np.linalg.norm(landmarks[36:42].mean(axis=0) - landmarks[42:48].mean(axis=0)))


def test_large_photo_gives_the_landmarks_of_the_small_one(detector, sample):
    small = detector.largest(sample)
    large = detector.largest(_scaled(sample, 5.0))  # 2560 px: decimated, then area-averaged to 640
    assert small is not None and large is not None
    moved = np.linalg.norm(large.landmarks / 5.0 - small.landmarks, axis=1).mean()
    assert moved < 0.03 * _inter_ocular(small.landmarks)


def test_downscaled_copy_of_a_large_photo_is_close_to_an_area_resize(sample):
    large = _scaled(sample, 8.0)
    small, scale = face_module._downscaled(large, 640)
    assert small.shape == (640, 640, 3) and scale == pytest.approx(640 / large.shape[1])
    reference = resize_area(large, 640, 640)
    assert np.abs(small.astype(int) - reference).mean() < 2.0


def test_photo_smaller_than_the_limit_is_used_as_is(sample):
    small, scale = face_module._downscaled(sample, 640)
    assert scale == 1.0 and np.array_equal(small, sample)
