"""The engine's MIDI output as the daemon sees it: the port open now, across server restarts.

:class:`Outlet` stands between the scheduler and the output port, which
:mod:`livegen.serve` closes when the server goes away and opens again when it
returns. It remembers the keys struck since the last connection, so that a
reconnected receiver can be told to let them go (:meth:`Outlet.renew`), and it
passes the one-client JACK output's time-stamped sending through
(:attr:`Outlet.timed`, :mod:`livegen.handoff`), so that the scheduler hands
messages over ahead of their deadlines whatever port is open: a message handed
to a port that is gone is never heard of again, and its token (the port's
generation and the port's own token) cannot be mistaken for one of the next
port's.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence

import mido

from livegen import ports
from livegen.errors import BackendError
from livegen.midi import CC_ALL_NOTES_OFF

__all__ = ["Outlet", "ServerGoneError"]

log = logging.getLogger(__name__)

Token = tuple[int, int]  # (port generation, the port's own token)
NOTE_ON = 0x90


class ServerGoneError(BackendError):
    """A note_on with no server to play it: the scheduler counts the failed send, and the
    watch's one line says why (the scheduler's own warning for it is filtered out)."""


class Outlet:
    """The engine's output: the output port open now, and what a new connection must be told.

    Thread-safe: the scheduler thread sends, the watching thread calls
    :meth:`attach`, :meth:`detach` and :meth:`renew`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.port: ports.OutputPort | None = None
        self._struck: set[tuple[int, int]] = set()  # (channel, pitch) since the last connection
        self._connections = self._seen = 0  # connections handled; seen at the last renew()
        self._generation = 0  # ports attached so far: a timed token names its port
        self._capacity = 0  # the timed port's timed_capacity (0: none attached yet)

    def attach(self, port: ports.OutputPort) -> None:
        """Send to ``port`` from now on; its connections so far need nothing."""
        with self._lock:
            self.port = port
            self._generation += 1
            if getattr(port, "timed", False):
                self._capacity = port.timed_capacity
            self._connections = self._seen = port.connections_made
            self._struck.clear()

    def detach(self) -> ports.OutputPort | None:
        """Stop sending to the port; returns it (None if there was none)."""
        with self._lock:
            port, self.port = self.port, None
            return port

    def send(self, msg: mido.Message) -> None:
        """Send ``msg`` to the port open now (the scheduler's ``send``).

        Without a port, or with its server gone, a note_on raises (the
        scheduler counts a failed send: nothing played); anything else is
        dropped, as there is nothing left to end or to tell.

        Raises:
            ServerGoneError: a note_on with no server to play it.
        """
        port = self.port
        note_on = msg.type == "note_on" and msg.velocity > 0
        if port is None or port.server_lost:
            if note_on:
                raise ServerGoneError("no MIDI output: its server went away")
            return
        if note_on:
            with self._lock:
                self._struck.add((msg.channel, msg.note))
        port.send(msg)

    def renew(self, sounding: Iterable[tuple[int, int]]) -> int:
        """After a new connection to the port: end every note the receiver may hold.

        Sends a note_off for each key struck since the previous connection
        (or since :meth:`attach`) and each key in ``sounding``, then CC123 on
        their channels. Does nothing if no connection was made since; a
        connection made since the previous call waits for the next (JACK
        carries data on it only from a later cycle), so call this regularly.

        Args:
            sounding: ``(channel, pitch)`` keys the scheduler's ledger holds.

        Returns:
            The note_offs sent.
        """
        port = self.port
        if port is None:
            return 0
        made = port.connections_made
        with self._lock:
            if made != self._seen:  # JACK carries data on a new connection from a later cycle:
                self._seen = made  # act from the next call on, once it surely does
                return 0
            if made == self._connections:
                return 0
            self._connections = made
            keys = sorted(self._struck | set(sounding))
            self._struck.clear()
        if not keys:  # nothing struck since the last connection: the receiver holds none of ours
            return 0
        messages = [mido.Message("note_off", channel=ch, note=pitch, velocity=0) for ch, pitch in keys]
        messages += [mido.Message("control_change", channel=ch, control=CC_ALL_NOTES_OFF, value=0)
                     for ch in sorted({ch for ch, _ in keys})]
        try:
            for msg in messages:
                port.send(msg)
        except Exception as err:  # a port may raise anything; the watch goes on
            log.warning("could not end the notes on the reconnected output: %s", err)
            return 0
        log.info("output %s connected again: %d note_off(s) sent, then all notes off",
                 port.name, len(keys))
        return len(keys)

    # -- time-stamped sending (livegen.handoff), passed to the port open now ----------

    @property
    def timed_clock(self):
        """The clock of :meth:`send_at`'s deadlines: the port's (``time.monotonic``)."""
        port = self.port
        return time.monotonic if port is None else port.timed_clock

    @property
    def timed(self) -> bool:
        """Whether the port open now holds time-stamped messages (the backend's, for the daemon's life)."""
        port = self.port
        return port is not None and port.timed

    @property
    def timed_capacity(self) -> int:
        """Messages the timed port can hold at once; the last one's while none is open.

        Kept while the server is away, so that the scheduler does not wait for
        room that no port will make: what it hands over then is refused as
        closed, and dropped.
        """
        return self._capacity

    @property
    def closed(self) -> bool:
        """True without a port, or with its server gone: nothing sent now can play."""
        port = self.port
        return port is None or port.closed or port.server_lost

    @property
    def timed_stopped(self) -> bool:
        """True once messages handed over can no longer play (no port, or its server gone)."""
        port = self.port
        return port is None or port.timed_stopped

    def send_at(self, data: Sequence[int], due_s: float) -> Token | None:
        """Hand one message to the port, to play at ``due_s`` (``time.monotonic()`` seconds).

        Returns:
            Its token, or None when the port is full, closed or gone.
        """
        port = self.port
        if port is None or port.server_lost:
            return None
        if len(data) == 3 and data[0] & 0xF0 == NOTE_ON and data[2] > 0:
            with self._lock:
                self._struck.add((data[0] & 0x0F, data[1]))
        token = port.send_at(data, due_s)
        return None if token is None else (self._generation, token)

    def collect(self) -> list[tuple[Token, float]]:
        """The messages the port played since the last call: ``[(token, played_s)]``, in play order."""
        port, generation = self.port, self._generation
        return [] if port is None else [((generation, token), at_s) for token, at_s in port.collect()]

    def cancel_timed(self, token: Token | None = None) -> list[Token]:
        """Drop what the port holds and has not played (or only ``token``); the tokens dropped."""
        port, generation = self.port, self._generation
        if port is None:
            return []
        if token is None:
            return [(generation, dropped) for dropped in port.cancel_timed()]
        if token[0] != generation:
            return []  # handed to a port that is gone: it will never play
        return [(generation, dropped) for dropped in port.cancel_timed(token[1])]
