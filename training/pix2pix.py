"""The pix2pix conditional GAN as a Keras model with its own train and test steps."""

from __future__ import annotations

import keras
import tensorflow as tf

from facedepth.model import spec
from facedepth.model.losses import LAMBDA_L1, discriminator_loss, generator_loss


class Pix2Pix(keras.Model):
    """Generator (photo -> depth code) trained against a PatchGAN on (photo, depth) pairs."""

    def __init__(self, generator: keras.Model, discriminator: keras.Model, lambda_l1: float = LAMBDA_L1, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.lambda_l1 = lambda_l1

    def compile(self, g_optimizer: keras.optimizers.Optimizer, d_optimizer: keras.optimizers.Optimizer):
        super().compile()
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer

    def train_step(self, data):
        photo, target = data
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            generated = self.generator(photo, training=True)
            real_logits = self.discriminator([photo, target], training=True)
            fake_logits = self.discriminator([photo, generated], training=True)
            g_total, g_gan, g_l1 = generator_loss(fake_logits, generated, target, self.lambda_l1)
            d_loss = discriminator_loss(real_logits, fake_logits)
        g_grads = g_tape.gradient(g_total, self.generator.trainable_variables)
        d_grads = d_tape.gradient(d_loss, self.discriminator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(g_grads, self.generator.trainable_variables, strict=True))
        self.d_optimizer.apply_gradients(zip(d_grads, self.discriminator.trainable_variables, strict=True))
        return {"g_total": g_total, "g_gan": g_gan, "g_l1": g_l1, "d_loss": d_loss}

    def test_step(self, data):
        """Per-batch sums for masked validation errors on depth codes (face = target below the threshold)."""
        photo, target = data
        pred = self.generator(photo, training=False)
        mask = tf.cast(target < spec.MASK_THRESHOLD, tf.float32)
        pred_mask = tf.cast(pred < spec.MASK_THRESHOLD, tf.float32)
        err = tf.abs(pred - target)
        return {
            "l1_sum": tf.reduce_sum(tf.reduce_mean(err, axis=[1, 2, 3])),
            "face_abs_sum": tf.reduce_sum(err * mask),
            "face_px": tf.reduce_sum(mask),
            "mask_iou_sum": tf.reduce_sum(
                tf.reduce_sum(mask * pred_mask, axis=[1, 2, 3])
                / tf.maximum(tf.reduce_sum(tf.maximum(mask, pred_mask), axis=[1, 2, 3]), 1.0)),
            "count": tf.cast(tf.shape(photo)[0], tf.float32),
        }
