"""Writing files safely: atomic replacement and a writability probe (standard library only).

Every file FaceDepth writes (meshes, depth maps, data sets, weights, installers) goes through
:func:`atomic_write`: the content is written to a hidden temporary name in the target's own folder (which
keeps the real suffix, since Open3D, Pillow and OpenCV pick the format from it) and then moved over the
target with ``os.replace``, so a target is either untouched or complete.
"""

from __future__ import annotations

import logging
import os
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)


class OutputExistsError(FileExistsError):
    """The target exists and the caller did not ask to overwrite it."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} already exists; pass --overwrite to replace it")
        self.path = path


def temp_path(path: Path) -> Path:
    """A hidden, unique name beside ``path`` that keeps its suffix: ``.<stem>.<8 hex>.tmp<suffix>``."""
    path = Path(path)
    return path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.tmp{path.suffix}")


def atomic_write(path: Path, writer: Callable[[Path], object], overwrite: bool = False) -> Path:
    """Calls ``writer(temp)`` with a temporary file beside ``path``, then moves it onto ``path``.

    Raises OutputExistsError if ``path`` exists and ``overwrite`` is False, FileNotFoundError if its folder
    does not exist; on any failure the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(path)
    if not path.parent.is_dir():
        raise FileNotFoundError(f"output folder {path.parent} does not exist")
    temp = temp_path(path)
    try:
        writer(temp)
        if not temp.is_file():
            raise OSError(f"could not write {path}")
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    log.info("wrote %s", path)
    return path


def atomic_write_all(writes: list[tuple[Path, Callable[[Path], None]]], overwrite: bool = False) -> list[Path]:
    """:func:`atomic_write` for several files that belong together: all are written or none is.

    Every target is checked first (OutputExistsError unless ``overwrite``); if a write fails, the files this
    call had already created are removed again (files it replaced stay replaced).
    """
    if not overwrite:
        for path, _ in writes:
            if Path(path).exists():
                raise OutputExistsError(Path(path))
    created: list[Path] = []
    try:
        for path, writer in writes:
            existed = Path(path).exists()
            atomic_write(path, writer, overwrite)
            if not existed:
                created.append(Path(path))
    except BaseException:
        for path in created:
            path.unlink(missing_ok=True)
        raise
    return [Path(path) for path, _ in writes]


def atomic_write_bytes(path: Path, data: bytes, overwrite: bool = True) -> Path:
    """Writes ``data`` to ``path`` atomically, creating missing parent folders (replaces by default)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, lambda temp: temp.write_bytes(data), overwrite)


def probe_writable(folder: Path) -> None:
    """Raises OSError unless a file can be created (and is removed again) in the existing ``folder``."""
    fd, probe = tempfile.mkstemp(dir=folder, prefix=".facedepth-probe-")
    os.close(fd)
    os.unlink(probe)
