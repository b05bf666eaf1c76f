"""Numbers that define the model's input and output, shared by inference and training.

Depth convention
----------------
The generator sees a square crop around the face (see :mod:`facedepth.model.crop`) and predicts one channel in
[-1, 1] (tanh). Inside the face the value is an affine function of the distance from the camera along
the optical axis (z, larger = farther), measured in units of the crop's side length at the face::

    code = NEAR_CODE + GAIN * (z - z_nearest) / crop_side

so the nearest face point (usually the nose tip) has code ``NEAR_CODE`` and the relief is independent of
how large the face is in pixels. Face codes are clipped to ``FACE_MAX_CODE``; everything that is not face
(background, hair, neck) has code ``BACKGROUND_CODE``. A pixel is face when its code is below
``MASK_THRESHOLD``.

Millimetres need an assumption a single photo cannot give: we assume the crop square spans
``NOMINAL_CROP_SIDE_MM`` at the face (2.0 x the eyebrow-to-lip landmark box of the Surrey Face Model's
mean face, 113.5 mm) and that the nose tip is ``NOMINAL_NEAR_MM`` from the camera. The pinhole camera
that makes this consistent has a focal length of ``crop_side_px * NOMINAL_NEAR_MM / NOMINAL_CROP_SIDE_MM``
pixels (see :func:`facedepth.model.service.camera_for_box`).
"""

from __future__ import annotations

import numpy as np

IMAGE_SIZE = 256
INPUT_CHANNELS = 3
OUTPUT_CHANNELS = 1

INPUT_SCALE = 127.5
"""The generator's input is ``uint8 / INPUT_SCALE - 1``: RGB in [-1, 1] (the pix2pix scaling)."""


def to_network_input(rgb: np.ndarray) -> np.ndarray:
    """uint8 RGB (any leading shape) -> float32 in [-1, 1], as the generator takes it."""
    return rgb.astype(np.float32) / INPUT_SCALE - 1.0


CROP_SCALE = 2.0
"""Crop side = CROP_SCALE x the larger side of the box around iBUG landmarks 18-68 (brows to lips)."""

JITTER_SIZE = 286
"""Training resizes each 256 crop to this size and takes a random 256 window (the seed's random jitter), so
the generator only ever sees faces magnified JITTER_SIZE / IMAGE_SIZE times; inference shows them so too
(:class:`facedepth.model.inference.AtTrainingScale`)."""

GAIN = 3.0
NEAR_CODE = -0.9
FACE_MAX_CODE = 0.8
BACKGROUND_CODE = 1.0
MASK_THRESHOLD = 0.9
PREDICTION_EDGE_PX = 3
"""Predicted face masks are eroded by this many crop pixels: along the face outline the generator's code
blends face and background values, which would read as depth tens of millimetres off."""

NOMINAL_CROP_SIDE_MM = 227.0
NOMINAL_NEAR_MM = 500.0
