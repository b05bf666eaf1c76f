"""Evaluation errors: the scale + shift fit, the tilt-forgiven variant, failures and the baseline cache."""

import numpy as np
import pytest

from training.evaluate import SampleError, _cached, scale_shift_error

_ROWS, _COLS = np.mgrid[0:256, 0:256].astype(np.float64)


@pytest.fixture
def face():
    """A dome of true depth (mm) inside a disc mask."""
    mask = (_ROWS - 128) ** 2 + (_COLS - 128) ** 2 < 90**2
    depth = 40.0 - 40.0 * np.sqrt(np.clip(1 - ((_ROWS - 128) ** 2 + (_COLS - 128) ** 2) / 100**2, 0, 1))
    return depth, mask


def test_scaled_and_shifted_truth_has_no_error(face):
    depth, mask = face
    err = scale_shift_error(0.5 * depth - 7.0, depth, mask, mask)
    assert err.rmse < 1e-9 and err.mae < 1e-9 and err.rmse_tilt < 1e-9 and err.coverage == 1.0


def test_a_tilt_counts_unless_forgiven(face):
    depth, mask = face
    tilted = depth + 0.05 * _ROWS - 0.03 * _COLS  # a head pitched and turned a little
    err = scale_shift_error(tilted, depth, mask, mask)
    assert err.rmse > 1.0
    assert err.rmse_tilt < 1e-6


def test_shape_errors_stay_when_tilt_is_forgiven(face):
    depth, mask = face
    bumpy = depth + 3.0 * np.sin(_ROWS / 9.0) * np.cos(_COLS / 11.0)
    err = scale_shift_error(bumpy, depth, mask, mask)
    assert err.rmse_tilt > 0.8 * err.rmse > 1.0


def test_no_prediction_or_too_little_overlap_is_a_failure(face):
    depth, mask = face
    assert scale_shift_error(None, depth, mask, None) is None
    sliver = mask & (_COLS < 60)
    assert scale_shift_error(depth, depth, mask, sliver) is None
    half = mask & (_COLS < 128)
    assert scale_shift_error(depth, depth, mask, half).coverage == pytest.approx(0.5, abs=0.02)


def test_baseline_cache_entries_without_the_current_fields_are_recomputed():
    current = vars(SampleError(1.0, 0.8, 0.9, 0.7))
    assert _cached({"a": {"flat": current, "mean_face": None}}, "a")
    old = {k: v for k, v in current.items() if k != "rmse_tilt"}
    assert not _cached({"a": {"flat": old, "mean_face": None}}, "a")
    assert not _cached({}, "a")
