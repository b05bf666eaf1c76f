"""The seed's losses: sigmoid cross-entropy GAN loss + LAMBDA_L1 x L1 for the generator, and an optional
shape term (:func:`gradient_loss`) beside them."""

from __future__ import annotations

import keras
from keras import ops

from facedepth.model import spec

LAMBDA_L1 = 100.0
GRADIENT_STEPS = (1, 2, 4, 8)
"""Pixel spacings of the finite differences :func:`gradient_loss` compares: from fine detail (1) to the
size of a nose's flank (8 pixels are 7 mm of a 230 mm crop)."""

_bce = keras.losses.BinaryCrossentropy(from_logits=True)


def gradient_loss(generated, target, steps: tuple[int, ...] = GRADIENT_STEPS):
    """Mean absolute difference between the generated and the target code's finite differences, across and
    down at each spacing in ``steps``, over the pixel pairs that are face in both codes.

    A difference is blind to the code's offset, so this term weighs the face's relief alone, where L1 weighs
    a millimetre of misplaced depth the same whether it is relief or offset. Pairs that straddle the face's
    outline (a jump to the background code) are left out; the outline itself is L1's."""
    target = ops.cast(target, "float32")
    generated = ops.cast(generated, "float32")
    face = ops.cast(target < spec.MASK_THRESHOLD, "float32") * ops.cast(generated < spec.MASK_THRESHOLD, "float32")
    total = 0.0
    for step in steps:
        for diff in (_across, _down):
            both = diff(face, step, ops.minimum)
            error = ops.abs(diff(generated, step, ops.subtract) - diff(target, step, ops.subtract))
            total = total + ops.sum(error * both) / ops.maximum(ops.sum(both), 1.0)
    return total / (2 * len(steps))


def _across(x, step: int, combine):
    return combine(x[:, :, step:, :], x[:, :, :-step, :])


def _down(x, step: int, combine):
    return combine(x[:, step:, :, :], x[:, :-step, :, :])


def depth_loss(generated, target, lambda_l1: float = LAMBDA_L1, gradient_weight: float = 0.0):
    """Returns (weighted, l1, gradient): ``lambda_l1 * (l1 + gradient_weight * gradient)``, the part of the
    generator's loss that compares its depth with the target's (the gradient term weighed like L1; not
    computed, and 0, at ``gradient_weight`` 0)."""
    generated = ops.cast(generated, target.dtype)
    l1 = ops.mean(ops.abs(target - generated))
    gradient = gradient_loss(generated, target) if gradient_weight else ops.zeros_like(l1)
    return lambda_l1 * (l1 + gradient_weight * gradient), l1, gradient


def generator_loss(disc_fake_logits, generated, target, lambda_l1: float = LAMBDA_L1, gan_weight: float = 1.0,
                   gradient_weight: float = 0.0):
    """Returns (total, gan, l1, gradient): the generator wants the discriminator to call its output real.
    ``gan_weight`` 1 and ``gradient_weight`` 0 is the seed's objective (:func:`depth_loss`)."""
    gan = _bce(ops.ones_like(disc_fake_logits), disc_fake_logits)
    weighted, l1, gradient = depth_loss(generated, target, lambda_l1, gradient_weight)
    return gan_weight * gan + weighted, gan, l1, gradient


def discriminator_loss(disc_real_logits, disc_fake_logits):
    """Real pairs labelled 1, generated pairs 0; the sum of both cross-entropies."""
    real = _bce(ops.ones_like(disc_real_logits), disc_real_logits)
    fake = _bce(ops.zeros_like(disc_fake_logits), disc_fake_logits)
    return real + fake
