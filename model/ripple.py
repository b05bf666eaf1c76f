"""The generator's checkerboard ripple, removed: its stride-2 transposed convolutions print a pattern of a
4-pixel period on the depth (seen in the shaded relief of real photos).

The pattern lives at a few frequencies of the generator's 256 x 256 grid: (1/4, 0), (0, 1/4) and the
diagonals (1/4, ±1/4) cycles per pixel. :class:`Derippled` subtracts the depth's component at those
frequencies inside the face, with an amplitude and phase that may vary slowly across it; everything else,
detail included, passes unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from facedepth.model import depthcode, spec

PERIOD = 4
"""Pixels per cycle of the ripple on the generator's grid (two stride-2 up-sampling stages)."""
TREND_SIGMA = 2.0
"""Pixels: the trend the ripple is measured against (a 4-pixel pattern is all but gone from it)."""
ENVELOPE_SIGMA = 8.0
"""Pixels: how fast the ripple's local amplitude and phase may change across the face."""
MIN_WEIGHT = 0.05
"""Where the face covers less of a neighbourhood than this, no ripple is estimated (0 there)."""
WAVES = ((1, 0), (0, 1), (1, 1), (1, -1))
"""The ripple's directions: (rows, columns) cycles per PERIOD pixels."""


@functools.lru_cache(maxsize=4)
def _transfers(shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, list[tuple[tuple[int, int], np.ndarray]]]:
    """For a grid of ``shape``: the Gaussian transfer functions of TREND_SIGMA and ENVELOPE_SIGMA, and for
    each of WAVES its spectral shift (bins) and the wave itself."""

    def gaussian(sigma: float) -> np.ndarray:
        f = [np.fft.fftfreq(n).astype(np.float32) for n in shape]
        return np.outer(*(np.exp(-2 * (np.pi * sigma * fi) ** 2) for fi in f)).astype(np.float32)

    rows, cols = np.mgrid[: shape[0], : shape[1]]
    waves = [((-dr * shape[0] // PERIOD, -dc * shape[1] // PERIOD),  # demodulating shifts the spectrum down
              np.exp(2j * np.pi * (dr * rows + dc * cols) / PERIOD).astype(np.complex64)) for dr, dc in WAVES]
    return gaussian(TREND_SIGMA), gaussian(ENVELOPE_SIGMA), waves


def ripple(code: np.ndarray) -> np.ndarray:
    """The ripple component of one (H, W) depth code inside its face (0 elsewhere): for each of WAVES, the
    relief's local amplitude and phase at that wave, found by demodulation with Gaussian weights over face
    pixels only (so the outline does not bias it). Demodulating is a shift of the relief's spectrum, so one
    forward transform serves every wave."""
    face = depthcode.face_mask(code).astype(np.float32)
    if not face.any():
        return np.zeros_like(code)
    trend_blur, envelope_blur, waves = _transfers(code.shape)
    face_spectrum = np.fft.fft2(face)
    weight = np.fft.ifft2(face_spectrum * trend_blur).real
    envelope = np.fft.ifft2(face_spectrum * envelope_blur).real
    trend = np.fft.ifft2(np.fft.fft2(code * face) * trend_blur).real / np.maximum(weight, 1e-6)
    relief_spectrum = np.fft.fft2((code - trend) * face)
    valid = envelope > MIN_WEIGHT
    total = np.zeros(code.shape, np.float32)
    for shift, wave in waves:
        amplitude = np.fft.ifft2(np.roll(relief_spectrum, shift, axis=(0, 1)) * envelope_blur)
        total += 2 * (amplitude * wave).real  # the wave and its mirror frequency: a real pattern
    return np.where(valid, total * face / np.where(valid, envelope, 1.0), 0.0).astype(np.float32)


class Derippled:
    """``inner``'s depth codes without the checkerboard ripple (see the module docstring); the face outline
    and the background are left as they are."""

    def __init__(self, inner: Callable[[np.ndarray], np.ndarray]) -> None:
        self.inner = inner

    def __call__(self, photos: np.ndarray) -> np.ndarray:
        codes = self.inner(photos)
        out = np.stack([c[..., 0] - ripple(c[..., 0]) for c in codes])[..., None]
        return np.where(depthcode.face_mask(codes), out, np.float32(spec.BACKGROUND_CODE)).astype(np.float32)
