"""What every MIDI port is: the port protocol, with its optional capabilities.

On mido's model (``mido/ports.py``: ``BaseInput``, ``BaseOutput``): a port is a
context manager with an idempotent :meth:`Port.close`; an input hands each
message to a handler; an output sends. The capabilities only some backends
have are declared here with defaults that mean "none", so the daemon wires
them without asking which backend it got:

=============================  ==================  ===========================================
capability                     default ("none")    who has it
=============================  ==================  ===========================================
:attr:`InputPort.dropped`      0                   the one-client JACK input (its queue was full)
:attr:`InputPort.missed_cycles` 0                  the one-client JACK input
:meth:`InputPort.stalled_between` False            the one-client JACK input
:attr:`InputPort.keep_fast`    never               rtmidi's polled JACK input reads it
:attr:`Port.server_lost`       False               every JACK port (rtmidi's: where the extension is built)
:attr:`OutputPort.connections_made` 0              the one-client JACK output
:attr:`OutputPort.timed`       False               the one-client JACK output (``send_at``,
                                                   ``collect``, ``cancel_timed``)
=============================  ==================  ===========================================

A *timed* output holds a message until its deadline, so the sender's thread can
hand it over ahead of time and need not run (nor hold Python's GIL) at the
deadline. :class:`livegen.scheduler.Scheduler` uses it when present.
"""

from __future__ import annotations

import abc
import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

__all__ = [
    "CLIENT_NAME",
    "IN_PORT_NAME",
    "OUT_PORT_NAME",
    "READER_JOIN_TIMEOUT_S",
    "InputHandler",
    "Port",
    "InputPort",
    "OutputPort",
    "never",
    "TimedPlay",
]

log = logging.getLogger(__name__)

CLIENT_NAME = "livegen"
IN_PORT_NAME = "livegen in"
OUT_PORT_NAME = "livegen out"
#: How long closing an input waits for its reader thread to stop, seconds.
READER_JOIN_TIMEOUT_S = 1.0

#: One played time-stamped message: ``(token, played_s)``, ``played_s`` the time its frame
#: stands for (``time.monotonic()`` seconds). See :meth:`OutputPort.collect`.
TimedPlay = tuple[int, float]

InputHandler = Callable[[list[int], float], None]
"""Receives one raw MIDI message (list of byte values) and its stamp in seconds."""


def never() -> bool:
    """The default fast-input hint: nobody asks the reader to keep polling fast."""
    return False


class Port(abc.ABC):
    """What input and output ports share: a name, an idempotent close, a context manager.

    A port holds one backend handle (an rtmidi object, a share of a JACK
    client) until :meth:`close`; a subclass frees it in :meth:`_release`.

    Attributes:
        backend: ``alsa``, ``jack``, ``coremidi`` or ``winmm``.
        name: the port's name: livegen's virtual port, or the existing port
            it connected to.
        virtual: True for livegen's own virtual port.
    """

    direction = ""

    def __init__(self, handle: Any, backend: str, name: str, virtual: bool) -> None:
        self._handle = handle
        self._lock = threading.Lock()
        self.backend = backend
        self.name = name
        self.virtual = virtual

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._handle is None

    @property
    def server_lost(self) -> bool:
        """Whether the MIDI server went away under the open port (False: not, or not known)."""
        return False

    @abc.abstractmethod
    def _release(self, handle: Any) -> None:
        """Free the backend handle; called once, by :meth:`close`, outside the port's lock."""

    def close(self) -> None:
        """Close the port and free its backend resources; safe to call again."""
        with self._lock:
            handle, self._handle = self._handle, None
        if handle is None:
            return
        self._release(handle)
        log.debug("closed %s port %r", self.direction, self.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        kind = "virtual" if self.virtual else "connected"
        return f"<{type(self).__name__} {self.name!r} {kind} {self.backend} {state}>"


class InputPort(Port):
    """A MIDI input: every message goes to a handler with its stamp in seconds.

    The handler must only enqueue (STYLE.md 8), as
    :meth:`livegen.engine.Engine.feed` does: it runs on the backend's input
    thread or on the port's reader thread (``livegen-midi-in``).

    Attributes:
        polled: True when a reader thread polls the backend's queue on a
            timer (rtmidi on JACK), so :attr:`keep_fast` matters.
        keep_fast: the fast-input hint: a polling reader calls it before it
            would slow down after a quiet spell; True keeps it polling fast
            (the daemon: while a response plays, so a barge-in is heard at
            once). Default: :func:`never`. Readers that wait on the backend
            instead of polling never call it.
    """

    direction = "input"
    polled = False

    def __init__(self, handle: Any, backend: str, name: str, virtual: bool) -> None:
        super().__init__(handle, backend, name, virtual)
        self.keep_fast: Callable[[], bool] = never

    @abc.abstractmethod
    def set_handler(self, handler: InputHandler) -> None:
        """Send every incoming message to ``handler(data, timestamp_s)`` from now on.

        Messages that arrived before the first handler was set are dropped.
        After :meth:`close` this does nothing.
        """

    @property
    def dropped(self) -> int:
        """Messages the backend received but could not pass on (0: none, or not counted)."""
        return 0

    @property
    def missed_cycles(self) -> int:
        """Server cycles run without this port, whose input is lost (0: none, or not known)."""
        return 0

    def stalled_between(self, start_s: float, end_s: float) -> bool:
        """Whether the MIDI server stalled between two stamps (seconds, the stamps' clock).

        Args:
            start_s: the earlier stamp, seconds.
            end_s: the later stamp, seconds.

        Returns:
            True if a stall is known to overlap ``(start_s, end_s)``; False when
            none is, or the backend cannot tell (this default).
        """
        return False


class OutputPort(Port):
    """A MIDI output. :meth:`send` may be called from any thread.

    After :meth:`close` a send drops the message and counts it in
    :attr:`dropped`, so a late note_off from a stopping scheduler cannot crash
    the process.

    Attributes:
        sent: messages handed to the backend.
        dropped: messages not sent: the port was closed (or its queue full).
        timed: True when the port can hold time-stamped messages
            (:meth:`send_at`); default False, and the three timed methods are
            then never called.
        timed_clock: the clock of :meth:`send_at`'s deadlines, seconds
            (``time.monotonic``); a scheduler on another clock sends at deadlines.
        timed_capacity: how many messages :meth:`send_at` holds at once.
    """

    direction = "output"
    timed = False
    timed_clock: Callable[[], float] = time.monotonic
    timed_capacity = 0

    def __init__(self, handle: Any, backend: str, name: str, virtual: bool) -> None:
        super().__init__(handle, backend, name, virtual)
        self.sent = 0
        self.dropped = 0

    @property
    def connections_made(self) -> int:
        """Connections made to this port since it opened, by anyone (0: none, or not known)."""
        return 0

    def send(self, message) -> None:
        """Send a ``mido.Message`` (anything with ``.bytes()``)."""
        self.send_bytes(message.bytes())

    @abc.abstractmethod
    def send_bytes(self, data: Sequence[int]) -> None:
        """Send one raw MIDI message given as byte values (dropped and counted once closed)."""

    def send_at(self, data: Sequence[int], due_s: float) -> int | None:
        """Hold one short raw message until ``due_s`` (``time.monotonic()`` seconds).

        Only where :attr:`timed`. Each message held is later either played
        (:meth:`collect` names it) or dropped (:meth:`cancel_timed` names it),
        never both, never twice.

        Args:
            data: the message's bytes (1-16 values, 0-255).
            due_s: when it should sound, seconds.

        Returns:
            A token naming it, or None when the port holds all it can (or is
            closed): send it later.

        Raises:
            NotImplementedError: the port is not timed.
        """
        raise NotImplementedError(f"{type(self).__name__} cannot hold time-stamped messages")

    @property
    def timed_stopped(self) -> bool:
        """True once held messages can no longer play: the port closed (or its server went away)."""
        return self.closed

    def collect(self) -> list[TimedPlay]:
        """The held messages played since the last call, in the order they played.

        Returns:
            ``[(token, played_s)]``, ``played_s`` in ``time.monotonic()`` seconds;
            empty where not :attr:`timed`.
        """
        return []

    def cancel_timed(self, token: int | None = None) -> list[int]:
        """Drop every held message not yet played, at once (or only ``token``'s).

        Args:
            token: drop only this message, if it is still held.

        Returns:
            The tokens dropped (those played are left for :meth:`collect`);
            empty where not :attr:`timed`.
        """
        return []
