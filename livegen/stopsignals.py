"""The signals that stop the daemon cleanly, as a context manager.

Ctrl-C (SIGINT), ``kill`` (SIGTERM), a closed terminal (SIGHUP) and
Ctrl+backslash (SIGQUIT) all set one :class:`threading.Event`; the daemon then
ends every note it sounds, sends CC123/CC120 and exits 0. Windows has only the
first two. SIGKILL cannot be caught: nothing can end notes then.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import TracebackType

__all__ = ["STOP_SIGNALS", "StopSignals"]

log = logging.getLogger(__name__)

STOP_SIGNALS = ("SIGINT", "SIGTERM", "SIGHUP", "SIGQUIT")


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
