"""A private Xvfb server for running the window without a display: GUI tests, the installer's start-up
timing and screenshots. Standard library only (nothing here imports Kivy).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCREEN = "1400x900x24"
"""Width x height x colour depth of the virtual screen."""


class XvfbUnavailable(RuntimeError):
    """Xvfb is not installed or did not start."""


def start(screen: str = SCREEN, fbdir: Path | None = None) -> tuple[subprocess.Popen, str]:
    """Starts Xvfb on a free display number with a black root window; returns the server and its display
    string (``":N"``). With ``fbdir``, Xvfb keeps its screen in ``fbdir/Xvfb_screen0`` (an XWD image), so a
    caller can watch what is drawn. Stop it with :func:`stop`."""
    if shutil.which("Xvfb") is None:
        raise XvfbUnavailable("Xvfb is not installed (apt-get install xvfb)")
    read_end, write_end = os.pipe()
    command = ["Xvfb", "-displayfd", str(write_end), "-screen", "0", screen, "-nolisten", "tcp", "-br",
               *(["-fbdir", str(fbdir)] if fbdir else [])]
    server = subprocess.Popen(command, pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        number = pipe.readline().strip()
    if not number:
        server.kill()
        server.wait(timeout=10)
        raise XvfbUnavailable("Xvfb did not start")
    return server, f":{number}"


def stop(server: subprocess.Popen) -> None:
    server.terminate()
    server.wait(timeout=10)


@contextmanager
def running(screen: str = SCREEN, fbdir: Path | None = None) -> Iterator[str]:
    """A private Xvfb server for the duration of the ``with`` block; yields its display string."""
    server, display = start(screen, fbdir)
    try:
        yield display
    finally:
        stop(server)
