"""How FaceDepth's commands report: one-line error text and the logging set-up they share."""

from __future__ import annotations

import logging

LOG_FORMAT = "%(levelname)s: %(name)s: %(message)s"


def one_line(exc: BaseException) -> str:
    """``exc``'s message on one line (its lines joined by spaces); the type's name when it has none."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return " ".join(lines) if lines else type(exc).__name__


def verbosity_level(verbosity: int) -> int:
    """``-v`` count -> logging level: 0 WARNING, 1 INFO, 2 or more DEBUG."""
    return logging.WARNING if verbosity <= 0 else logging.INFO if verbosity == 1 else logging.DEBUG


def configure_logging(level: int = logging.WARNING, timestamps: bool = False) -> None:
    """Sends log records of ``level`` and above to stderr as ``LEVEL: logger: message`` (``timestamps``
    prefixes the time, for hours-long training runs): adds a handler to the root logger when it has none
    (an embedding program's or pytest's handlers are kept) and always sets the root's level."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(f"%(asctime)s {LOG_FORMAT}" if timestamps else LOG_FORMAT))
        root.addHandler(handler)
    root.setLevel(level)
