"""Keeping native libraries' chatter off the process's stderr, which the CLI keeps for one line per failure.

LiteRT prints "INFO: Created TensorFlow Lite XNNPACK delegate for CPU." when tensors are allocated, and
Open3D's Poisson solver prints hundreds of "[WARNING] ... getValue assumes leaf node" lines at low octree
depths, both straight to file descriptor 2 with no setting to turn them off. :func:`stderr_to_log` sends
what is written there meanwhile to the debug log instead (``-vv`` shows it).
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

MAX_LOGGED_LINES = 20
"""At most this many captured lines are logged, then a count of the rest (the Poisson flood repeats itself)."""


_saved: list[int] = []
"""Duplicates of the real stderr, outermost first, while :func:`stderr_to_log` blocks are active."""


def restore_stderr() -> None:
    """Points file descriptor 2 at the real stderr again (idempotent). A signal handler that raises calls it
    first, so its message is seen even when the signal lands while a block is swapping descriptors."""
    if _saved:
        os.dup2(_saved[0], 2)


@contextmanager
def stderr_to_log(logger: logging.Logger, source: str) -> Iterator[None]:
    """Redirects file descriptor 2 to a temporary file for the block, then logs its lines at debug level.

    Process-wide while it lasts (Python's own stderr writes are captured too), so keep blocks to native calls.
    """
    sys.stderr.flush()
    with tempfile.TemporaryFile() as sink:
        _saved.append(os.dup(2))
        try:
            os.dup2(sink.fileno(), 2)
            yield
        finally:
            saved = _saved.pop()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            lines = [line for line in sink.read().decode("utf-8", errors="replace").splitlines() if line.strip()]
            for line in lines[:MAX_LOGGED_LINES]:
                logger.debug("%s: %s", source, line)
            if len(lines) > MAX_LOGGED_LINES:
                logger.debug("%s: %d more lines", source, len(lines) - MAX_LOGGED_LINES)
