"""The pix2pix conditional GAN as a Keras model with its own train and test steps, driven by ``fit``."""

from __future__ import annotations

import keras
import tensorflow as tf

from facedepth.model import spec
from facedepth.model.losses import LAMBDA_L1, depth_loss, discriminator_loss, generator_loss

TRAIN_LOSSES = ("g_total", "g_gan", "g_l1", "g_grad", "d_loss")
"""What a train step reports: epoch means of the generator's total, GAN, L1 and gradient (shape) losses and the
discriminator's."""
VALIDATION_METRICS = ("l1", "face_mae", "mask_iou")
"""What a test step reports (``fit`` prefixes them with ``val_``): the mean L1 per image, the mean absolute error
on the true face pixels (code units) and the intersection over union of the true and predicted face masks."""


class Pix2Pix(keras.Model):
    """Generator (photo -> depth code) trained against a PatchGAN on (photo, depth) pairs."""

    def __init__(self, generator: keras.Model, discriminator: keras.Model, lambda_l1: float = LAMBDA_L1,
                 gan_weight: float = 1.0, gradient_weight: float = 0.0, **kwargs):
        super().__init__(**kwargs)
        self.generator = generator
        self.discriminator = discriminator
        self.lambda_l1 = lambda_l1
        self.gan_weight = gan_weight
        self.gradient_weight = gradient_weight
        self.train_means = [keras.metrics.Mean(name=name) for name in TRAIN_LOSSES]
        self.validation_means = [keras.metrics.Mean(name=name) for name in VALIDATION_METRICS]

    def compile(self, g_optimizer: keras.optimizers.Optimizer, d_optimizer: keras.optimizers.Optimizer,
                jit_compile: bool = False):
        """XLA (``jit_compile``) is off by default: on CPUs it replaces oneDNN's convolutions by slower ones
        (bench/train_throughput.py measures it)."""
        super().compile(optimizer=None, jit_compile=jit_compile)  # the two optimizers are ours
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        # Listed so that fit and evaluate reset them at each epoch's and each evaluation's start.
        return [*self.train_means, *self.validation_means]

    def train_step(self, data):
        photo, target = data
        if self.gan_weight == 0:
            return self._l1_step(photo, target)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            generated = self.generator(photo, training=True)
            real_logits = self.discriminator([photo, target], training=True)
            fake_logits = self.discriminator([photo, generated], training=True)
            g_total, g_gan, g_l1, g_grad = generator_loss(fake_logits, generated, target, self.lambda_l1,
                                                          self.gan_weight, self.gradient_weight)
            d_loss = discriminator_loss(real_logits, fake_logits)
        g_grads = g_tape.gradient(g_total, self.generator.trainable_variables)
        d_grads = d_tape.gradient(d_loss, self.discriminator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(g_grads, self.generator.trainable_variables, strict=True))
        self.d_optimizer.apply_gradients(zip(d_grads, self.discriminator.trainable_variables, strict=True))
        return self._reported(g_total, g_gan, g_l1, g_grad, d_loss)

    def _l1_step(self, photo, target):
        """The generator on L1 alone (``gan_weight`` 0, e.g. a student learning a teacher's depth): the
        discriminator is neither run nor trained, and its losses are reported as 0."""
        with tf.GradientTape() as tape:
            generated = self.generator(photo, training=True)
            g_total, l1, g_grad = depth_loss(generated, target, self.lambda_l1, self.gradient_weight)
        grads = tape.gradient(g_total, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables, strict=True))
        zero = tf.zeros_like(l1)
        return self._reported(g_total, zero, l1, g_grad, zero)

    def _reported(self, *losses) -> dict:
        """The epoch means of TRAIN_LOSSES after this step's values."""
        for mean, value in zip(self.train_means, losses, strict=True):
            mean.update_state(value)
        return {mean.name: mean.result() for mean in self.train_means}

    def test_step(self, data):
        """Masked validation errors on depth codes (face = target below the mask threshold)."""
        photo, target = data
        pred = tf.cast(self.generator(photo, training=False), tf.float32)
        mask = tf.cast(target < spec.MASK_THRESHOLD, tf.float32)
        pred_mask = tf.cast(pred < spec.MASK_THRESHOLD, tf.float32)
        err = tf.abs(pred - target)
        iou = (tf.reduce_sum(mask * pred_mask, axis=[1, 2, 3])
               / tf.maximum(tf.reduce_sum(tf.maximum(mask, pred_mask), axis=[1, 2, 3]), 1.0))
        l1_mean, face_mean, iou_mean = self.validation_means
        l1_mean.update_state(tf.reduce_mean(err, axis=[1, 2, 3]))
        face_mean.update_state(err, sample_weight=mask)
        iou_mean.update_state(iou)
        return {mean.name: mean.result() for mean in self.validation_means}
