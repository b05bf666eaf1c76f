"""The checkerboard ripple's removal: the 4-pixel pattern goes, the face's shape and detail stay."""

import numpy as np

from facedepth.model import depthcode, spec
from facedepth.model.ripple import Derippled, ripple

Y, X = np.mgrid[: spec.IMAGE_SIZE, : spec.IMAGE_SIZE]
R2 = (X - 128.0) ** 2 + (Y - 128.0) ** 2
FACE = R2 < 90**2
INNER = R2 < 80**2
BOWL = -0.5 + 0.3 * R2 / 90**2


def _code(relief: np.ndarray) -> np.ndarray:
    return np.where(FACE, BOWL + relief, spec.BACKGROUND_CODE).astype(np.float32)


def test_a_4_pixel_pattern_of_varying_strength_is_found_and_removed():
    pattern = 0.01 * np.cos(np.pi * X / 2 + 0.3) * (1 + (Y - 128) / 200) + 0.005 * np.cos(np.pi * (X + Y) / 2)
    found = ripple(_code(pattern))
    assert np.abs(found - pattern)[INNER].max() < 0.1 * np.abs(pattern).max()
    assert np.all(found[~FACE] == 0)


def test_the_shape_and_other_detail_pass_unchanged():
    assert np.abs(ripple(_code(0 * X)))[FACE].max() < 0.002  # a smooth face: (almost) nothing to remove
    detail = 0.01 * np.cos(2 * np.pi * X / 7) + 0.01 * np.cos(2 * np.pi * Y / 11)  # 7- and 11-pixel relief
    assert np.abs(ripple(_code(detail)))[INNER].max() < 0.1 * 0.01


def test_derippled_estimator_keeps_the_background_and_the_face_outline():
    pattern = 0.01 * np.cos(np.pi * Y / 2)
    codes = np.stack([_code(pattern), _code(0 * X)])[..., None]
    out = Derippled(lambda photos: codes)(np.zeros((2, 256, 256, 3), np.float32))
    assert out.shape == codes.shape and out.dtype == np.float32
    assert np.array_equal(depthcode.face_mask(out), depthcode.face_mask(codes))
    assert np.all(out[:, ~FACE] == spec.BACKGROUND_CODE)
    assert np.abs(out[0, ..., 0] - BOWL)[INNER].max() < 0.001  # the ripple is gone from the first
    assert np.abs(out[1, ..., 0] - codes[1, ..., 0])[FACE].max() < 0.002  # the second is left as it was


def test_an_empty_prediction_has_no_ripple():
    assert not ripple(np.full((256, 256), spec.BACKGROUND_CODE, np.float32)).any()
