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
TREND_TAPS = 13
"""The binomial filter the ripple is measured against: it keeps 1.6 % of a 4-pixel pattern."""
ENVELOPE_SIGMA = 2.0
"""In PERIOD-pixel cells (8 pixels): how fast the ripple's local amplitude and phase may change."""
MIN_WEIGHT = 0.05
"""Where the face covers less of a neighbourhood than this, no ripple is estimated (0 there)."""
WAVES = ((1, 0), (0, 1), (1, 1), (1, -1))
"""The ripple's directions: (rows, columns) cycles per PERIOD pixels."""


def _smoothed(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Separable convolution of the last two axes with ``kernel`` (odd length), edges padded with zeros."""
    half = len(kernel) // 2
    out = image
    for axis in (-2, -1):
        padded = np.pad(out, [(half, half) if a == out.ndim + axis else (0, 0) for a in range(out.ndim)])
        n = out.shape[axis]
        if axis == -2:
            def view(i: int, p: np.ndarray = padded, n: int = n) -> np.ndarray:
                return p[..., i:i + n, :]
        else:
            def view(i: int, p: np.ndarray = padded, n: int = n) -> np.ndarray:
                return p[..., i:i + n]
        acc = kernel[0] * view(0)
        for i in range(1, len(kernel)):
            acc += kernel[i] * view(i)
        out = acc
    return out


@functools.lru_cache(maxsize=4)
def _tables(shape: tuple[int, int]):
    """For a grid of ``shape``: the trend's binomial kernel, the envelope's Gaussian kernel, and the WAVES on
    the grid, stacked (len(WAVES), H, W)."""
    binomial = np.array([1.0])
    for _ in range(TREND_TAPS - 1):
        binomial = np.convolve(binomial, [0.5, 0.5])
    taps = np.arange(-3 * int(ENVELOPE_SIGMA), 3 * int(ENVELOPE_SIGMA) + 1)
    gaussian = np.exp(-(taps**2) / (2 * ENVELOPE_SIGMA**2))
    rows, cols = np.mgrid[: shape[0], : shape[1]]
    waves = np.stack([np.exp(2j * np.pi * (dr * rows + dc * cols) / PERIOD) for dr, dc in WAVES]).astype(np.complex64)
    return binomial.astype(np.float32), (gaussian / gaussian.sum()).astype(np.float32), waves


@functools.lru_cache(maxsize=64)
def _upsampling(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear interpolation from the n // PERIOD cells to n pixels: (lower cell, upper cell, weight)."""
    at = np.clip((np.arange(n) - (PERIOD - 1) / 2) / PERIOD, 0, n // PERIOD - 1)  # pixel -> cell coordinate
    lower = np.floor(at).astype(int)
    return lower, np.minimum(lower + 1, n // PERIOD - 1), (at - lower).astype(np.float32)


def _cells(image: np.ndarray) -> np.ndarray:
    """Sums over PERIOD x PERIOD cells of the last two axes: a 4-pixel box, which also cancels every wave but
    the one demodulated."""
    *lead, h, w = image.shape
    return image.reshape(*lead, h // PERIOD, PERIOD, w // PERIOD, PERIOD).sum(axis=(-3, -1))


def _upsampled(cells: np.ndarray, rows: tuple, cols: tuple) -> np.ndarray:
    """Bilinear interpolation of coarse grids (the last two axes; element-wise: no BLAS threads to fight the
    generator's)."""
    lower, upper, weight = rows
    out = cells[..., lower, :] * (1 - weight)[:, None] + cells[..., upper, :] * weight[:, None]
    lower, upper, weight = cols
    return out[..., lower] * (1 - weight) + out[..., upper] * weight


def _face_window(face: np.ndarray) -> tuple[slice, slice]:
    """The face's bounding box on the grid of PERIOD-pixel cells, one cell wider on every side (the cells the
    face pixels interpolate from). Outside the face the relief and the weights are 0, so the ripple found in
    this window is the one the whole grid would give."""
    def span(hits: np.ndarray, n: int) -> slice:
        first, last = np.flatnonzero(hits)[[0, -1]]
        return slice(max(0, (first // PERIOD - 1) * PERIOD), min(n, (last // PERIOD + 2) * PERIOD))

    return span(face.any(axis=1), face.shape[0]), span(face.any(axis=0), face.shape[1])


def ripple(code: np.ndarray) -> np.ndarray:
    """The ripple component of one (H, W) depth code inside its face (0 elsewhere): for each of WAVES, the
    face relief's local amplitude and phase at that wave, found by demodulation with weights over face
    pixels only (so the outline does not bias it), on a grid of PERIOD-pixel cells."""
    mask = depthcode.face_mask(code)
    total = np.zeros(code.shape, np.float32)
    if not mask.any():
        return total
    binomial, gaussian, waves = _tables(code.shape)
    rows, cols = _face_window(mask)
    code, face, waves = code[rows, cols], mask[rows, cols].astype(np.float32), waves[:, rows, cols]
    trend = _smoothed(code * face, binomial) / np.maximum(_smoothed(face, binomial), 1e-6)
    relief = (code - trend) * face
    envelope = _smoothed(_cells(face), gaussian)
    valid = envelope > MIN_WEIGHT * PERIOD**2
    amplitude = np.where(valid, _smoothed(_cells(relief * np.conj(waves)), gaussian) / np.maximum(envelope, 1e-6), 0)
    found = 2 * (_upsampled(amplitude, _upsampling(face.shape[0]), _upsampling(face.shape[1])) * waves).real
    total[rows, cols] = found.sum(axis=0) * face  # each wave and its mirror: real
    return total


class Derippled:
    """``inner``'s depth codes without the checkerboard ripple (see the module docstring); the face outline
    and the background are left as they are."""

    def __init__(self, inner: Callable[[np.ndarray], np.ndarray]) -> None:
        self.inner = inner

    def __call__(self, photos: np.ndarray) -> np.ndarray:
        codes = self.inner(photos)
        out = np.stack([c[..., 0] - ripple(c[..., 0]) for c in codes])[..., None]
        return np.where(depthcode.face_mask(codes), out, np.float32(spec.BACKGROUND_CODE)).astype(np.float32)
