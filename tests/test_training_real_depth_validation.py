"""Per-epoch real-depth validation: a generator function scored through the app's service, faces detected once."""

import numpy as np
from real_depth_set import set_with_the_sample_face

from facedepth.model import spec
from facedepth.model.face import FaceDetector
from facedepth.training.real_depth_validation import RealDepthValidator


def _dome_generator(photos):
    """Near in the crop's centre, farther outwards: a face-shaped code over the middle of every crop."""
    size = spec.IMAGE_SIZE
    rows, cols = np.mgrid[:size, :size]
    r2 = ((rows - size / 2) ** 2 + (cols - size / 2) ** 2) / (size / 2.5) ** 2
    code = np.where(r2 < 1, spec.NEAR_CODE + 1.2 * r2, spec.BACKGROUND_CODE).astype(np.float32)
    return np.repeat(code[None, ..., None], len(photos), axis=0)


def test_validator_scores_through_the_app_service_and_detects_each_photo_once(tmp_path, face_photo, monkeypatch):
    set_with_the_sample_face(tmp_path, face_photo)
    calls = []
    detect = FaceDetector.detect
    monkeypatch.setattr(FaceDetector, "detect", lambda self, rgb: calls.append(1) or detect(self, rgb))
    validator = RealDepthValidator(tmp_path)
    first = validator(_dome_generator)
    second = validator(_dome_generator)
    assert len(calls) == 1
    assert first == second and first["failures"] == 0 and first["samples"] == 1
    assert 0 < first["median_rmse_mm"] < 10 and first["mean_coverage"] > 0.5
    inverted = validator(lambda photos: -_dome_generator(photos) + 0.1)
    assert inverted["failures"] == 1 or inverted["median_rmse_mm"] > first["median_rmse_mm"]
