"""SIGTERM and SIGHUP handled like SIGINT, and short stretches that a signal must not cut in two.

``timeout``, systemd and a desktop session's logout stop programs with SIGTERM (or SIGHUP), whose default
action ends the process on the spot: temporary files stay behind and a photo's output set is half
replaced. :func:`install` makes all three raise an exception (:class:`KeyboardInterrupt` for SIGINT,
:class:`Terminated`, a subclass, for the others), so the same ``finally``/``except BaseException`` clean-up
runs for each. Inside :func:`deferred` (the renames that publish a photo's set) a signal is held and raised
when the block ends. After the first signal, further ones are ignored while the clean-up runs.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from facedepth.model import native

HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Terminated(KeyboardInterrupt):
    """The process was asked to stop by SIGTERM or SIGHUP."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"terminated by {signal.Signals(signum).name}")
        self.signum = signum


def exit_status(exc: KeyboardInterrupt) -> int:
    """The shell's convention for a process stopped by a signal: 128 + the signal's number."""
    return 128 + (exc.signum if isinstance(exc, Terminated) else signal.SIGINT)


class _State:
    deferring = 0
    pending: int | None = None
    raised = False


_state = _State()


def _raise_for(signum: int) -> None:
    _state.raised = True
    native.restore_stderr()  # the "error: ..." line must reach the real stderr
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated(signum)


def _handler(signum: int, _frame) -> None:
    if _state.raised:
        return  # already stopping: let the clean-up finish
    if _state.deferring:
        _state.pending = _state.pending or signum
        return
    _raise_for(signum)


def install() -> None:
    """Routes SIGINT, SIGTERM and SIGHUP to the exceptions above for good (a process's main loop)."""
    _state.raised, _state.pending = False, None
    for signum in HANDLED:
        signal.signal(signum, _handler)


@contextmanager
def handled() -> Iterator[None]:
    """:func:`install` for the block, then the previous handlers again (main thread only; elsewhere, where
    Python cannot set handlers, a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.getsignal(signum) for signum in HANDLED}
    install()
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def deferred() -> Iterator[None]:
    """A signal that arrives inside the block is raised when the block has finished."""
    _state.deferring += 1
    try:
        yield
    finally:
        _state.deferring -= 1
        if not _state.deferring and _state.pending is not None and not _state.raised:
            signum, _state.pending = _state.pending, None
            _raise_for(signum)  # noqa: B012 - the stop request wins over whatever the block raised
