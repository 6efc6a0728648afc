"""JACK ports on one JACK client: the C extension ``livegen._jackmidi``.

Every JACK client wakes once per period, 750 times a second at 64 frames, and
each costs an idle daemon about 0.5 % of a core (docs/benchmark.md); python-rtmidi
makes one client per port. ``livegen._jackmidi`` holds both ports in one client
whose process callback is C: input goes, stamped, into a lock-free ring buffer
that a reader thread drains; output comes from another, each message placed at
its frame. It is built at install time when JACK's headers are there (Debian
``libjack-jackd2-dev``, see setup.py);
:func:`livegen.ports.jack_clients.jack_shared_client` says whether it is.

Ports share a client through a :class:`~livegen.ports.jack_clients.JackClients`
registry: pass the same registry to both opens (``livegen run`` does). libjack
locks the server's shared segment in every client; it stays locked, so the
real-time path never page-faults (DESIGN.md: memory is judged on what is ours).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from livegen.errors import BackendError
from livegen.osthread import name_os_thread
from livegen.ports.backends import find_port, list_ports, quiet_stderr
from livegen.ports.base import (
    CLIENT_NAME,
    IN_PORT_NAME,
    OUT_PORT_NAME,
    READER_JOIN_TIMEOUT_S,
    InputHandler,
    InputPort,
    OutputPort,
    Port,
)
from livegen.ports.jack_clients import JackClients, JackPortHandle, close_watch, jack_watch

__all__ = [
    "JACK_READ_TIMEOUT_S",
    "JackInputPort",
    "JackOutputPort",
    "open_jack_input",
    "open_jack_output",
    "jack_server_priority",
]

log = logging.getLogger(__name__)

#: How long the one-client JACK reader waits for input before it looks at its stop flag,
#: seconds (closing wakes it at once): an idle daemon's reader wakes once a second.
JACK_READ_TIMEOUT_S = 1.0


class JackInputPort(InputPort):
    """A MIDI input on a one-client JACK client (``livegen._jackmidi``).

    JACK's process callback is C: it copies each message with its stamp into a
    lock-free ring buffer and posts a semaphore, never waiting for Python. A
    reader thread (``livegen-midi-in``) blocks on that semaphore with the GIL
    released, so an idle daemon's reader wakes about once a second
    (:data:`JACK_READ_TIMEOUT_S`), and hands each message on. JACK's stamps are
    ``time.monotonic()`` seconds (CLOCK_MONOTONIC), frame-accurate: a cycle's
    frames are spread over the time since the cycle before (at most two
    periods), and a message at frame k is stamped k frames into that span.
    Stamps never go backwards and are never later than the message could be
    read. Sysex and active sensing are ignored; timing messages kept.

    Args:
        handle: the port's share of a client (:meth:`JackClients.acquire`),
            its input port registered.
        name: the port's name.
        virtual: True for livegen's own virtual port.
        handler: receives ``(data, timestamp_s)``; may also be set later.
        now: ``None`` (default): JACK's stamps, on ``time.monotonic``'s clock.
            A clock instead (seconds): each message is stamped with it when
            the reader takes it, without frame accuracy.
    """

    def __init__(self, handle: JackPortHandle, name: str, virtual: bool,
                 handler: InputHandler | None = None, *,
                 now: Callable[[], float] | None = None) -> None:
        super().__init__(handle, "jack", name, virtual)
        self._now = now
        self._handler: InputHandler | None = None
        self._reader: threading.Thread | None = None
        self._stop = threading.Event()
        if handler is not None:
            self.set_handler(handler)

    @property
    def dropped(self) -> int:
        """Messages the process callback could not queue (ring buffer full, or over 256 bytes)."""
        handle = self._handle
        return 0 if handle is None else handle.client.dropped

    @property
    def server_lost(self) -> bool:
        """Whether the JACK server shut down (or died) under the open port."""
        handle = self._handle
        return handle is not None and handle.client.closed

    @property
    def missed_cycles(self) -> int:
        """JACK cycles the server ran without this client: their input is lost."""
        handle = self._handle
        return 0 if handle is None else handle.client.missed

    def stalls(self) -> list[tuple[float, float]]:
        """The last 1024 server stalls seen, ``(start_s, end_s)`` on CLOCK_MONOTONIC, oldest first.

        A stall: between two cycles of this client the clock ran on by over a
        period more than JACK's frame count did (two periods between cycles one
        period apart; cycles this client missed as well do not hide it). Every
        client's timeline, a MIDI clock source's included, then resumes from
        where it stopped, so the clock's phase moved and no tick was lost.
        Empty once closed.
        """
        handle = self._handle
        return [] if handle is None else list(handle.client.stalls())

    def stalled_between(self, start_s: float, end_s: float) -> bool:
        """Whether the JACK server stalled between two stamps (``time.monotonic()`` s).

        Args:
            start_s: the earlier stamp, seconds.
            end_s: the later stamp, seconds.

        Returns:
            True if one of :meth:`stalls` overlaps ``(start_s, end_s)``; False once closed.
        """
        handle = self._handle
        return handle is not None and handle.client.stalled_between(start_s, end_s)

    def set_handler(self, handler: InputHandler) -> None:
        """Send every incoming message to ``handler(data, timestamp_s)`` from now on.

        Messages that arrived before the first handler was set are dropped.
        """
        with self._lock:
            handle = self._handle
            if handle is None:
                return
            self._handler = handler
            if self._reader is None:
                handle.client.read(0.0)  # drop the backlog: nobody was listening
                self._reader = threading.Thread(target=self._read, args=(handle.client,),
                                                name="livegen-midi-in", daemon=True)
                self._reader.start()

    def _read(self, client) -> None:
        """The reader thread: wait for messages, hand each on with its stamp; until closed."""
        name_os_thread("midi-in")
        stop, read, now = self._stop, client.read, self._now
        while not stop.is_set():
            for data, stamp_s in read(JACK_READ_TIMEOUT_S):
                if stop.is_set():
                    return
                self._handler(list(data), stamp_s if now is None else now())

    def _release(self, handle: JackPortHandle) -> None:
        try:
            if self._reader is not None:
                self._stop.set()
                handle.client.wake()
                self._reader.join(READER_JOIN_TIMEOUT_S)
        finally:
            handle.release()


class JackOutputPort(OutputPort):
    """A MIDI output on a one-client JACK client (``livegen._jackmidi``).

    :meth:`send_bytes` queues the message, stamped, in a lock-free ring buffer
    that JACK's C process callback empties in the next cycle. Each message goes
    at the frame where its send time falls in the span since the cycle before,
    so it sounds a constant period (1.3 ms at 64 frames) after it was sent.
    rtmidi's JACK output puts every message at the cycle's first frame: 0 to 1
    period late, which at 1,024 frames is up to 21 ms of jitter. A message that
    does not fit (128 KiB queued) is dropped and counted in :attr:`dropped`.
    Closing waits up to :data:`JACK_FLUSH_TIMEOUT_S` for queued messages to go out.

    Args:
        handle: the port's share of a client (:meth:`JackClients.acquire`),
            its output port registered.
        name: the port's name.
        virtual: True for livegen's own virtual port.
    """

    timed = True
    timed_capacity = 256  # the extension's TIMED_SLOTS

    def __init__(self, handle: JackPortHandle, name: str, virtual: bool) -> None:
        super().__init__(handle, "jack", name, virtual)
        self._client = handle.client  # its counters outlive the port

    @property
    def server_lost(self) -> bool:
        """Whether the JACK server shut down (or died) under the open port."""
        handle = self._handle
        return handle is not None and handle.client.closed

    @property
    def connections_made(self) -> int:
        """Connections made to this output since its client opened (JACK's connect callback)."""
        handle = self._handle
        return 0 if handle is None else handle.client.out_connects

    def send_at(self, data: Sequence[int], due_s: float) -> int | None:
        """Hold one message (1-16 bytes) in the C extension until ``due_s`` (``time.monotonic()`` s).

        The process callback of the cycle whose span holds ``due_s`` puts it at
        its frame (the span is the one :class:`JackInputPort` stamps with, so a
        one-client receiver stamps it ``due_s``); one already late goes at the
        next cycle's first free frame. Up to 256 are held at once.

        Returns:
            A token for :meth:`collect` / :meth:`cancel_timed`; None when all
            256 slots are taken or the port is closed.

        Raises:
            ValueError: ``data`` is empty or over 16 bytes.
        """
        with self._lock:
            if self._handle is None:
                return None
            return self._handle.client.write_at(bytes(data), due_s)

    def collect(self) -> list[tuple[int, float]]:
        """The held messages played since the last call, in play order: ``[(token, played_s)]``."""
        with self._lock:
            if self._handle is None:
                return []
            played = self._handle.client.collect()
            self.sent += len(played)
            return played

    def cancel_timed(self, token: int | None = None) -> list[int]:
        """Drop every held message not yet played, at once (or only ``token``'s); the tokens dropped."""
        with self._lock:
            if self._handle is None:
                return []
            client = self._handle.client
            return client.cancel() if token is None else client.cancel(token)

    @property
    def timed_stopped(self) -> bool:
        """True once held messages can no longer play: closed, or the JACK server shut down."""
        handle = self._handle
        return handle is None or handle.client.closed

    @property
    def placed(self) -> int:
        """Messages the process callback wrote into JACK's buffers so far (each exactly once)."""
        handle = self._handle
        return 0 if handle is None else handle.client.placed

    @property
    def xrun_repairs(self) -> tuple[int, int]:
        """``(xruns, note_offs)``: xruns the server reported to this port's client (an xrun may lose
        its cycle's MIDI or repeat a buffer), and the note_offs placed again (or twice) after them,
        for keys whose last message came within 0.25 s before a report (livegen/_jackmidi.c)."""
        return self._client.xruns, self._client.resent

    def send_bytes(self, data: Sequence[int]) -> None:
        """Send one raw MIDI message given as byte values (1-256 bytes)."""
        with self._lock:
            if self._handle is None or not self._handle.client.write(bytes(data)):
                self.dropped += 1
                return
            self.sent += 1

    def _release(self, handle: JackPortHandle) -> None:
        handle.release()  # flushes, then removes the port


def _open(clients: JackClients, port: str | None, virtual_name: str, client_name: str,
          direction: str) -> tuple[JackPortHandle, str, bool]:
    """Open a port on a registry's client: virtual, or connected to the named one."""
    target = None
    if port is not None:
        inputs, outputs = list_ports("jack")
        ports = inputs if direction == "input" else outputs
        target = ports[find_port(ports, port, direction=direction)]
    handle = clients.acquire(client_name, direction)
    try:
        client = handle.client
        try:
            with quiet_stderr():
                if direction == "input":
                    full = client.add_input(virtual_name)
                else:
                    full = client.add_output(virtual_name)
                client.activate()
                if target is not None:
                    client.connect(*((target, full) if direction == "input" else (full, target)))
        except (OSError, ValueError) as err:
            raise BackendError(f"cannot open MIDI {direction} on jack ({err})") from err
    except BaseException:
        handle.release()
        raise
    return handle, (virtual_name if target is None else target), target is None


def open_jack_input(port: str | None = None, *, handler: InputHandler | None = None,
                    now: Callable[[], float] | None = None, client_name: str = CLIENT_NAME,
                    clients: JackClients | None = None) -> JackInputPort:
    """Open livegen's MIDI input on a one-client JACK client.

    Args:
        port: an existing source to connect to (exact name or unique
            substring); ``None`` makes the virtual port ``livegen in``.
        handler: receives ``(data, timestamp_s)`` per message.
        now: see :class:`JackInputPort` (default: JACK's frame-accurate stamps).
        client_name: the JACK client name others see.
        clients: the registry whose client the port joins; ``None``: a client
            of its own.

    Raises:
        BackendError: the extension is not built, no JACK server runs, or
            JACK refuses the port or the connection.
        PortNotFoundError: ``port`` matches no source, or several.
    """
    clients = JackClients() if clients is None else clients
    handle, name, virtual = _open(clients, port, IN_PORT_NAME, client_name, "input")
    return JackInputPort(handle, name, virtual, handler, now=now)


def open_jack_output(port: str | None = None, *, client_name: str = CLIENT_NAME,
                     clients: JackClients | None = None) -> JackOutputPort:
    """Open livegen's MIDI output on a one-client JACK client.

    Args:
        port: an existing destination to connect to (exact name or unique
            substring); ``None`` makes the virtual port ``livegen out``.
        client_name: the JACK client name others see.
        clients: the registry whose client the port joins; ``None``: a client
            of its own.

    Raises:
        BackendError: the extension is not built, no JACK server runs, or
            JACK refuses the port or the connection.
        PortNotFoundError: ``port`` matches no destination, or several.
    """
    clients = JackClients() if clients is None else clients
    handle, name, virtual = _open(clients, port, OUT_PORT_NAME, client_name, "output")
    return JackOutputPort(handle, name, virtual)


def jack_server_priority(backend: str, port: Port | None = None, *,
                         client_name: str = CLIENT_NAME) -> int | None:
    """The SCHED_FIFO priority of a real-time JACK server's client threads, or None.

    Asks the server (``jack_is_realtime``, ``jack_client_real_time_priority``)
    through ``port``'s one-client JACK client when it is one; otherwise (python-rtmidi's
    JACK ports, whose clients cannot be asked) through a client opened for the
    question and closed at once, never activated (no process callback, no cycle).

    Args:
        backend: the concrete backend; only ``jack`` has a server to ask.
        port: an open port of livegen's, or None.
        client_name: the name the question's own client is made from (``<name>-watch``).

    Returns:
        The priority (1-99) JACK gives its client threads when the server runs
        real-time (``jackd -R``; 5 at jackd's default ``-P 10``); None when it runs
        without (``--no-realtime``), for any other backend, when
        ``livegen._jackmidi`` is not built, or when no server answers. Never raises.
    """
    if backend != "jack":
        return None
    handle = port._handle if isinstance(port, (JackInputPort, JackOutputPort)) else None
    client = None if handle is None else handle.client
    probe = None
    if client is None or client.closed:
        client = probe = jack_watch(client_name)
    if client is None:
        return None
    try:
        priority = client.rt_priority if client.realtime else -1
    except (ValueError, OSError):  # closed under us: the server went away
        priority = -1
    finally:
        if probe is not None:
            close_watch(probe)
    return priority if priority >= 1 else None


def jack_process_tid(port: Port | None) -> int:
    """The OS thread id of JACK's process thread for ``port``'s one-client JACK client.

    Returns:
        The id (Linux), or 0: not a one-client JACK port, closed, or no cycle run yet.
    """
    handle = port._handle if isinstance(port, (JackInputPort, JackOutputPort)) else None
    client = None if handle is None else handle.client
    try:
        return 0 if client is None or client.closed else client.process_tid
    except (ValueError, OSError, AttributeError):  # closed under us; an extension built before it
        return 0
