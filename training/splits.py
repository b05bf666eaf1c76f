"""Deterministic train/validation split of source photos by a hash of the file name."""

from __future__ import annotations

import hashlib

VAL_FRACTION = 0.1


def split_of(name: str, val_fraction: float = VAL_FRACTION) -> str:
    digest = hashlib.sha1(name.encode()).digest()
    return "val" if int.from_bytes(digest[:4], "big") / 2**32 < val_fraction else "train"
