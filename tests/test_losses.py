"""The generator's loss terms on cases with known answers: the seed's L1 and the optional shape term."""

from __future__ import annotations

import numpy as np
import pytest

tf = pytest.importorskip("tensorflow")
import keras  # noqa: E402

from facedepth.model import spec  # noqa: E402
from facedepth.model.losses import GRADIENT_STEPS, generator_loss, gradient_loss  # noqa: E402


def _face_code(rng: np.random.Generator) -> np.ndarray:
    """(1, 64, 64, 1): a bumpy face in the middle, background around it."""
    code = np.full((1, 64, 64, 1), spec.BACKGROUND_CODE, np.float32)
    code[0, 8:56, 8:56, 0] = rng.uniform(-0.9, 0.2, (48, 48))
    return code


def _value(x) -> float:
    return float(keras.ops.convert_to_numpy(x))


def test_gradient_loss_is_zero_for_the_target_and_blind_to_an_offset():
    target = _face_code(np.random.default_rng(0))
    shifted = np.where(target < spec.MASK_THRESHOLD, target + 0.3, target)
    assert _value(gradient_loss(target, target)) == 0.0
    assert _value(gradient_loss(shifted, target)) == pytest.approx(0.0, abs=1e-6)
    _, _, l1, _ = generator_loss(np.zeros((1, 4, 4, 1), np.float32), shifted, target, gradient_weight=1.0)
    assert _value(l1) > 0.1  # L1 does see the offset


def test_gradient_loss_of_a_tilt_is_the_slope_times_the_mean_spacing():
    """A ramp of slope a across: every across-difference at spacing s errs by a*s, every down-difference by 0."""
    target = _face_code(np.random.default_rng(1))
    columns = np.arange(64, dtype=np.float32)[None, None, :, None]
    slope = 1e-3
    tilted = np.where(target < spec.MASK_THRESHOLD, target + slope * columns, target)
    expected = slope * sum(GRADIENT_STEPS) / (2 * len(GRADIENT_STEPS))
    assert _value(gradient_loss(tilted, target)) == pytest.approx(expected, rel=1e-4)


def test_gradient_loss_leaves_out_pairs_across_the_outline():
    """Where either code is background the pair does not count: a prediction whose face is smaller but right
    where it is face scores 0, however far its background lies from the target's face values."""
    target = _face_code(np.random.default_rng(2))
    smaller = target.copy()
    smaller[0, 8:20] = spec.BACKGROUND_CODE
    assert _value(gradient_loss(smaller, target)) == 0.0
    assert _value(gradient_loss(target, smaller)) == 0.0
    nothing = np.full_like(target, spec.BACKGROUND_CODE)
    assert _value(gradient_loss(nothing, target)) == 0.0  # no face pair at all: 0, not NaN


def test_generator_loss_adds_the_shape_term_weighed_like_l1():
    rng = np.random.default_rng(3)
    target = _face_code(rng)
    generated = np.where(target < spec.MASK_THRESHOLD, target + rng.normal(0, 0.05, target.shape), target)
    generated = generated.astype(np.float32)
    logits = np.zeros((1, 4, 4, 1), np.float32)
    seed_total, gan, l1, zero = generator_loss(logits, generated, target)
    assert _value(zero) == 0.0 and _value(seed_total) == pytest.approx(_value(gan) + 100 * _value(l1), rel=1e-5)
    total, gan, l1, grad = generator_loss(logits, generated, target, gradient_weight=0.5)
    assert _value(grad) > 0
    assert _value(total) == pytest.approx(_value(gan) + 100 * (_value(l1) + 0.5 * _value(grad)), rel=1e-5)
