"""What `generate synthetic` reads, made small for tests: backdrop photos and a donor skin texture."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facedepth.training import storage
from facedepth.training.splits import split_of


def backdrop_photos(folder: Path, photo: Path) -> tuple[Path, str]:
    """``folder``/photos holding ``photo`` as the only backdrop, and the split its name hashes to (the split
    whose renders may use it)."""
    photos = folder / "photos"
    photos.mkdir()
    (photos / "backdrop.jpg").write_bytes(photo.read_bytes())
    return photos, split_of("backdrop.jpg")


def donor_texture(data_dir: Path, split: str) -> None:
    """One random-tone skin texture where `generate synthetic` looks for the split's donors in ``data_dir``."""
    texture = np.random.default_rng(0).integers(60, 200, (64, 64, 3)).astype(np.uint8)
    storage.write_image(data_dir / "textures" / split / "donor.png", texture)
