"""A one-sample real-depth set (the layout of ../shared/data/realdepth) built around the sample photo."""

import json

import numpy as np
from PIL import Image

from facedepth.model.face import FaceDetector

H, W = 149, 119


def set_with_the_sample_face(root, face_photo):
    """One sample: the sample photo at the set's size and a bowl of depth on a disc around its detected face."""
    for sub in ("images", "depth", "mask"):
        (root / sub).mkdir(parents=True)
    photo = Image.open(face_photo).convert("RGB").resize((W * 3, H * 3))
    photo.save(root / "images" / "s0.png")
    left, top, right, bottom = FaceDetector().largest(np.asarray(photo)).box
    rows, cols = np.mgrid[:H, :W]
    r2 = ((rows - (top + bottom) / 6) / 40.0) ** 2 + ((cols - (left + right) / 6) / 32.0) ** 2
    np.save(root / "depth" / "s0.npy", (800 + 40 * r2).astype(np.float32))
    Image.fromarray(((r2 < 0.15) * 255).astype(np.uint8)).save(root / "mask" / "s0.png")
    (root / "index.json").write_text(json.dumps({"samples": [{"stem": "s0", "subject": "p0"}]}))
