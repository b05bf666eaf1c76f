"""The seed's losses: sigmoid cross-entropy GAN loss + LAMBDA_L1 x L1 for the generator."""

from __future__ import annotations

import keras
from keras import ops

LAMBDA_L1 = 100.0

_bce = keras.losses.BinaryCrossentropy(from_logits=True)


def generator_loss(disc_fake_logits, generated, target, lambda_l1: float = LAMBDA_L1, gan_weight: float = 1.0):
    """Returns (total, gan, l1): the generator wants the discriminator to call its output real. ``gan_weight``
    1 is the seed's objective."""
    gan = _bce(ops.ones_like(disc_fake_logits), disc_fake_logits)
    l1 = ops.mean(ops.abs(target - generated))
    return gan_weight * gan + lambda_l1 * l1, gan, l1


def discriminator_loss(disc_real_logits, disc_fake_logits):
    """Real pairs labelled 1, generated pairs 0; the sum of both cross-entropies."""
    real = _bce(ops.ones_like(disc_real_logits), disc_real_logits)
    fake = _bce(ops.zeros_like(disc_fake_logits), disc_fake_logits)
    return real + fake
