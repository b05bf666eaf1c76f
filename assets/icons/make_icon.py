"""Draws assets/icons/facedepth.png (256 x 256): a face profile over depth contour bands.

Our own drawing, made with Pillow and numpy; run ``python assets/icons/make_icon.py`` to redraw it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

SIZE = 256
SUPER = 4  # draw at 4x and downsample for smooth edges

# Profile facing right: forehead, brow, nose, lips, chin, jaw, neck (x, y in a 0..1 box).
PROFILE = [
    (0.30, 0.08), (0.46, 0.10), (0.56, 0.16), (0.61, 0.26), (0.62, 0.34), (0.66, 0.38), (0.63, 0.42),
    (0.70, 0.52), (0.74, 0.58), (0.67, 0.61), (0.68, 0.65), (0.64, 0.67), (0.67, 0.71), (0.64, 0.75),
    (0.62, 0.80), (0.54, 0.84), (0.46, 0.83), (0.44, 0.92), (0.44, 1.00), (0.16, 1.00), (0.16, 0.60),
    (0.12, 0.42), (0.15, 0.22),
]


def draw_icon() -> Image.Image:
    n = SIZE * SUPER
    y, x = np.mgrid[0:n, 0:n] / n
    # Background: deep blue to teal diagonal gradient.
    t = (x + y) / 2
    top, bottom = np.array([22, 42, 84]), np.array([18, 120, 150])
    rgb = (top[None, None] * (1 - t[..., None]) + bottom[None, None] * t[..., None]).astype(np.uint8)
    image = Image.fromarray(rgb, "RGB").convert("RGBA")

    # Rounded-square mask.
    mask = Image.new("L", (n, n), 0)
    ImageDraw.Draw(mask).rounded_rectangle((0, 0, n - 1, n - 1), radius=int(0.22 * n), fill=255)

    # Face: warm-to-cool depth bands clipped to the profile (nearest = warm, at the nose side).
    face_mask = Image.new("L", (n, n), 0)
    ImageDraw.Draw(face_mask).polygon([(px * n, py * n) for px, py in PROFILE], fill=255)
    closeness = np.clip((x - 0.12) / 0.62, 0, 1)
    bands = np.floor(closeness * 6) / 5
    warm, cool = np.array([255, 170, 70]), np.array([90, 200, 255])
    face_rgb = (cool[None, None] * (1 - bands[..., None]) + warm[None, None] * bands[..., None]).astype(np.uint8)
    face = Image.fromarray(face_rgb, "RGB").convert("RGBA")
    shadow = face_mask.filter(ImageFilter.GaussianBlur(n * 0.02))
    image.paste((8, 16, 32, 255), (int(0.015 * n), int(0.02 * n)), shadow)
    image.paste(face, (0, 0), face_mask)

    # Thin light outline of the profile.
    ImageDraw.Draw(image).line([(px * n, py * n) for px, py in PROFILE[:19]], fill=(245, 250, 255, 255),
                               width=int(0.018 * n), joint="curve")
    image.putalpha(mask)
    return image.resize((SIZE, SIZE), Image.LANCZOS)


if __name__ == "__main__":
    out = Path(__file__).with_name("facedepth.png")
    draw_icon().save(out)
    print(out)
