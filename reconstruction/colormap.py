"""The Turbo colour map (Google, 2019) without an image library.

Turbo runs from dark blue (0) through cyan, green and yellow to dark red (1). It is stored as 17 key
colours of the published 256-entry table (every 16th entry) and interpolated linearly in between, which
stays within 7 levels of the full table (OpenCV's ``COLORMAP_TURBO``).
"""

from __future__ import annotations

import numpy as np

_TURBO_KEYS = np.array([
    [48, 18, 59], [64, 64, 162], [70, 107, 227], [66, 148, 255], [40, 188, 235], [24, 221, 194],
    [50, 242, 152], [109, 254, 98], [164, 252, 60], [203, 237, 52], [236, 209, 58], [253, 174, 53],
    [251, 129, 34], [236, 83, 15], [210, 49, 5], [172, 23, 1], [122, 4, 3],
], dtype=np.float64)
_KEY_POSITIONS = np.linspace(0.0, 1.0, len(_TURBO_KEYS))


def turbo(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (clipped), any shape -> uint8 RGB with one more axis of length 3."""
    x = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)
    channels = [np.interp(x, _KEY_POSITIONS, _TURBO_KEYS[:, c]) for c in range(3)]
    return np.rint(np.stack(channels, axis=-1)).astype(np.uint8)
