"""The seed's pix2pix networks in Keras 3: a U-Net generator and a 70x70 PatchGAN discriminator.

Only training and export import this module (it imports Keras); the app runs the exported .tflite.
"""

from __future__ import annotations

import keras
from keras import layers

from facedepth.model import spec

_INIT = keras.initializers.RandomNormal(mean=0.0, stddev=0.02)
OUTPUT_DTYPE = "float32"
"""Both networks' last layer computes in float32 whatever the global dtype policy: training under a mixed
policy (bfloat16 compute, float32 weights) keeps the depth code and the logits, and so the losses, in full
precision. Under the default float32 policy this changes nothing."""


def downsample(filters: int, size: int = 4, apply_batchnorm: bool = True, name: str | None = None) -> keras.Sequential:
    """Conv (stride 2) -> batch-norm -> LeakyReLU(0.2): halves the resolution."""
    block = keras.Sequential(name=name)
    block.add(layers.Conv2D(filters, size, strides=2, padding="same", kernel_initializer=_INIT, use_bias=False))
    if apply_batchnorm:
        block.add(layers.BatchNormalization())
    block.add(layers.LeakyReLU(0.2))
    return block


def upsample(filters: int, size: int = 4, apply_dropout: bool = False, name: str | None = None) -> keras.Sequential:
    """Transposed conv (stride 2) -> batch-norm -> dropout(0.5, optional) -> ReLU: doubles the resolution."""
    block = keras.Sequential(name=name)
    block.add(layers.Conv2DTranspose(filters, size, strides=2, padding="same", kernel_initializer=_INIT,
                                     use_bias=False))
    block.add(layers.BatchNormalization())
    if apply_dropout:
        block.add(layers.Dropout(0.5))
    block.add(layers.ReLU())
    return block


def build_generator(ngf: int = 64, size: int = spec.IMAGE_SIZE) -> keras.Model:
    """U-Net with 8 downsampling and 7 upsampling blocks and skip connections; photo -> depth code."""
    f = ngf
    down_stack = [
        downsample(f, apply_batchnorm=False, name="down1"),  # (b, 128, 128, f)
        downsample(f * 2, name="down2"),  # (b, 64, 64, 2f)
        downsample(f * 4, name="down3"),  # (b, 32, 32, 4f)
        downsample(f * 8, name="down4"),  # (b, 16, 16, 8f)
        downsample(f * 8, name="down5"),  # (b, 8, 8, 8f)
        downsample(f * 8, name="down6"),  # (b, 4, 4, 8f)
        downsample(f * 8, name="down7"),  # (b, 2, 2, 8f)
        downsample(f * 8, name="down8"),  # (b, 1, 1, 8f)
    ]
    up_stack = [
        upsample(f * 8, apply_dropout=True, name="up1"),  # (b, 2, 2, 16f) after concat
        upsample(f * 8, apply_dropout=True, name="up2"),  # (b, 4, 4, 16f)
        upsample(f * 8, apply_dropout=True, name="up3"),  # (b, 8, 8, 16f)
        upsample(f * 8, name="up4"),  # (b, 16, 16, 16f)
        upsample(f * 4, name="up5"),  # (b, 32, 32, 8f)
        upsample(f * 2, name="up6"),  # (b, 64, 64, 4f)
        upsample(f, name="up7"),  # (b, 128, 128, 2f)
    ]
    inputs = keras.Input(shape=(size, size, spec.INPUT_CHANNELS), name="photo")
    x = inputs
    skips = []
    for down in down_stack:
        x = down(x)
        skips.append(x)
    for up, skip in zip(up_stack, reversed(skips[:-1]), strict=True):
        x = up(x)
        x = layers.Concatenate()([x, skip])
    outputs = layers.Conv2DTranspose(spec.OUTPUT_CHANNELS, 4, strides=2, padding="same", kernel_initializer=_INIT,
                                     activation="tanh", name="depth", dtype=OUTPUT_DTYPE)(x)  # (b, 256, 256, 1)
    return keras.Model(inputs=inputs, outputs=outputs, name=f"unet_generator_ngf{ngf}")


def build_discriminator(ndf: int = 64, size: int = spec.IMAGE_SIZE) -> keras.Model:
    """70x70 PatchGAN on photo (+) depth: C64-C128-C256-C512, 4x4 kernels -> (b, 30, 30, 1) logits."""
    photo = keras.Input(shape=(size, size, spec.INPUT_CHANNELS), name="photo")
    depth = keras.Input(shape=(size, size, spec.OUTPUT_CHANNELS), name="depth")
    x = layers.Concatenate()([photo, depth])  # (b, 256, 256, 4)
    x = downsample(ndf, apply_batchnorm=False, name="d_down1")(x)  # (b, 128, 128, 64)
    x = downsample(ndf * 2, name="d_down2")(x)  # (b, 64, 64, 128)
    x = downsample(ndf * 4, name="d_down3")(x)  # (b, 32, 32, 256)
    x = layers.ZeroPadding2D()(x)  # (b, 34, 34, 256)
    x = layers.Conv2D(ndf * 8, 4, strides=1, kernel_initializer=_INIT, use_bias=False)(x)  # (b, 31, 31, 512)
    x = layers.BatchNormalization()(x)
    x = layers.LeakyReLU(0.2)(x)
    x = layers.ZeroPadding2D()(x)  # (b, 33, 33, 512)
    logits = layers.Conv2D(1, 4, strides=1, kernel_initializer=_INIT, name="patch_logits",
                           dtype=OUTPUT_DTYPE)(x)  # (b, 30, 30, 1)
    return keras.Model(inputs=[photo, depth], outputs=logits, name="patchgan_discriminator")
