"""The signals that stop the daemon cleanly, as a context manager.

Ctrl-C (SIGINT), ``kill`` (SIGTERM), a closed terminal (SIGHUP) and
Ctrl+backslash (SIGQUIT) all set one :class:`threading.Event`; the daemon then
ends every note it sounds, sends CC123/CC120 and exits 0. Windows has only the
first two. SIGKILL cannot be caught: nothing can end notes then.

:func:`closing_watchdog` makes sure the daemon exits even when closing its ports
hangs on a MIDI server that stopped answering.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import signal
import threading
from collections.abc import Iterator
from types import TracebackType

__all__ = ["CLOSE_WATCHDOG_S", "STOP_SIGNALS", "StopSignals", "closing_watchdog"]

log = logging.getLogger(__name__)

STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")
_STDERR_FD = 2
#: How long closing the ports and ending the notes may take before the process exits
#: anyway, seconds: a healthy close takes milliseconds, the one-client JACK ports give
#: up on a server that does not answer after 2 s per port (livegen/ports/jack_clients.py).
CLOSE_WATCHDOG_S = 8.0


class StopSignals:
    """While entered, every :data:`STOP_SIGNALS` the OS has sets ``stop``; the old handlers come back on exit.

    Only the main thread may set signal handlers: entered from another thread
    (an in-process test), it changes nothing.

    Args:
        stop: the event the signals set.
    """

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop
        self._previous: dict[int, object] = {}

    def _on_signal(self, signum: int, _frame: object) -> None:
        log.debug("signal %d", signum)
        self.stop.set()

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            for name in STOP_SIGNALS:
                signum = getattr(signal, name, None)
                if signum is not None:
                    self._previous[signum] = signal.signal(signum, self._on_signal)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous.clear()


@contextlib.contextmanager
def closing_watchdog(timeout_s: float | None) -> Iterator[None]:
    """Exit the process (code 1, every thread's stack on stderr) if closing outlasts ``timeout_s``.

    python-rtmidi's JACK ports wait on a server that stopped answering (SIGSTOP,
    a wedged driver) while holding the GIL, so no Python thread can act;
    faulthandler's watchdog is a C thread. There is one per process, so only
    the daemon's CLI arms it (an in-process caller keeps its own, e.g. pytest's).
    None: no watchdog.
    """
    if timeout_s is not None:  # to file descriptor 2: sys.stderr may be a wrapper without one
        faulthandler.dump_traceback_later(timeout_s, exit=True, file=_STDERR_FD)
    try:
        yield
    finally:
        if timeout_s is not None:
            faulthandler.cancel_dump_traceback_later()
