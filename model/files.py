"""Writing files safely: atomic replacement and a writability probe (standard library only).

Every file FaceDepth writes (meshes, depth maps, data sets, weights, installers) goes through
:func:`atomic_write`: the content is written to a hidden temporary name in the target's own folder (which
keeps the real suffix, since Open3D, Pillow and OpenCV pick the format from it) and then moved over the
target with ``os.replace``, so a target is either untouched or complete.
"""

from __future__ import annotations

import errno
import logging
import os
import tempfile
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path

log = logging.getLogger(__name__)


class OutputExistsError(FileExistsError):
    """The target exists and the caller did not ask to overwrite it."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} already exists; pass --overwrite to replace it")
        self.path = path


TEMP_PREFIX = ".facedepth-"


def temp_path(path: Path) -> Path:
    """A hidden, unique name beside ``path`` that keeps its suffix: ``.facedepth-<8 hex>.tmp<suffix>``.

    Short whatever the target's name, so a temporary name fits wherever the final name does (with the stem
    in it, a legal 236-character stem failed after all the work with "File name too long")."""
    path = Path(path)
    return path.with_name(f"{TEMP_PREFIX}{uuid.uuid4().hex[:8]}.tmp{path.suffix}")


def atomic_write(path: Path, writer: Callable[[Path], object], overwrite: bool = False) -> Path:
    """Calls ``writer(temp)`` with a temporary file beside ``path``, then moves it onto ``path``.

    Raises OutputExistsError if ``path`` exists and ``overwrite`` is False, FileNotFoundError if its folder
    does not exist or is removed while writing (:func:`folder_removed`); on any failure the temporary file
    is removed and ``path`` is left as it was.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(path)
    folder = _identity(path.parent)
    if folder is None:
        raise FileNotFoundError(errno.ENOENT, f"output folder {path.parent} does not exist", str(path))
    temp: Path | None = temp_path(path)
    try:
        try:
            writer(temp)
        except OSError as exc:
            raise _removed(path, folder) or _about(exc, path) from exc
        if not temp.is_file():
            raise _removed(path, folder) or OSError(f"could not write {path}")
        if getattr(_staging, "sets", None):
            _staging.sets[-1].append((temp, path))  # renamed when the staged() block ends
            temp = None
        else:
            try:
                os.replace(temp, path)
            except OSError as exc:
                raise _removed(path, folder) or _about(exc, path) from exc
    finally:
        if temp is not None:
            temp.unlink(missing_ok=True)
    log.info("wrote %s", path)
    return path


def folder_removed(target: Path) -> FileNotFoundError:
    """The error of a write to ``target`` whose folder was removed while it was written (say, by the user
    mid-run): one message wherever the write was, inside a writer that then failed in its own way or at
    the final rename, and whether or not the folder has been made again since (the next photo does)."""
    return FileNotFoundError(errno.ENOENT, f"output folder {Path(target).parent} was removed while writing",
                             str(target))


def _identity(folder: Path) -> tuple[int, int] | None:
    """(device, inode) of an existing folder, else None: a folder removed and made again is another."""
    try:
        info = os.stat(folder)
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


def _removed(target: Path, folder: tuple[int, int]) -> FileNotFoundError | None:
    """:func:`folder_removed` if ``target``'s folder is no longer the ``folder`` the write began in."""
    return folder_removed(target) if _identity(Path(target).parent) != folder else None


def _about(exc: OSError, target: Path) -> OSError:
    """``exc`` retold about ``target`` rather than the temporary file the writer was given."""
    if exc.errno is None:
        return OSError(f"cannot write {target}: {exc}")
    return OSError(exc.errno, exc.strerror or os.strerror(exc.errno), str(target))


_staging = threading.local()


@contextmanager
def staged(guard: Callable[[], AbstractContextManager] = nullcontext) -> Iterator[None]:
    """Makes every :func:`atomic_write` inside the block one set: each file stays under its temporary name
    until the block has finished without error, then all are renamed onto their targets (:func:`publish`,
    inside ``guard()``: the app holds signals there). If the block or a rename fails, the temporary files are
    removed and the targets are as they were before the block, old files included. A block inside another
    adds its files to the outer set."""
    if not hasattr(_staging, "sets"):
        _staging.sets = []
    if _staging.sets:  # inside another staged() block: its files join that set
        yield
        return
    pending: list[tuple[Path, Path]] = []
    _staging.sets.append(pending)
    try:
        try:
            yield
        finally:
            _staging.sets.remove(pending)
        with guard():
            publish(pending)
    except BaseException:
        for temp, _ in pending:
            temp.unlink(missing_ok=True)
        raise


def publish(pairs: list[tuple[Path, Path]]) -> None:
    """Renames each (temporary, target) pair's file onto its target: all of them or, on failure, none (old
    targets are moved aside first and put back)."""
    moved_aside: list[tuple[Path, Path]] = []
    placed: list[Path] = []
    try:
        for temp, target in pairs:
            if target.exists() or target.is_symlink():
                aside = temp_path(target)
                os.replace(target, aside)
                moved_aside.append((aside, target))
            try:
                os.replace(temp, target)
            except FileNotFoundError as exc:
                if temp.exists():
                    raise
                raise folder_removed(target) from exc  # the written file went with its folder
            placed.append(target)
    except BaseException:
        for target in placed:
            target.unlink(missing_ok=True)
        for aside, target in moved_aside:
            if aside.exists():  # else its folder was removed, the old file with it
                os.replace(aside, target)
        raise
    for aside, _ in moved_aside:
        aside.unlink(missing_ok=True)


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
