"""MIDI ports: choose a backend, open virtual ports or connect to existing ones.

python-rtmidi is used directly (not through mido's port classes) because the
input callback must get the raw bytes as early as possible: it stamps them with
``time.monotonic()`` and hands them to the engine, nothing else (STYLE.md 8).

Backends and their rtmidi APIs:

=========  ======================  =============================================
backend    rtmidi API              notes
=========  ======================  =============================================
alsa       ``API_LINUX_ALSA``      needs the sequencer device ``/dev/snd/seq``
jack       ``API_UNIX_JACK``       needs a running JACK server; both ports in one
                                   JACK client (``livegen._jackmidi``, see
                                   :class:`JackInputPort`), else rtmidi's: one
                                   client per port, input polled
                                   (:class:`InputPort`)
coremidi   ``API_MACOSX_CORE``     macOS; virtual ports appear in every app
winmm      ``API_WINDOWS_MM``      Windows; no virtual ports: use loopMIDI
=========  ======================  =============================================

``auto`` picks ALSA when ``/dev/snd/seq`` exists, else JACK when a server
answers (Linux); CoreMIDI on macOS; Windows MM on Windows.

On JACK, livegen's ports share one JACK client when the C extension
``livegen._jackmidi`` is built (it needs JACK's headers at install time, Debian
``libjack-jackd2-dev``): every JACK client wakes once per period, 750 times a
second at 64 frames, and each costs an idle daemon about 0.5 % of a core
(docs/benchmark.md). Without the extension, or with ``LIVEGEN_JACK_RTMIDI=1``,
python-rtmidi's two clients are used.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence

import rtmidi

try:  # optional C extension: one JACK client for both ports (setup.py)
    from livegen import _jackmidi
except ImportError:  # not built (no compiler or JACK headers), or no libjack at run time
    _jackmidi = None

from livegen.errors import BackendError, PortNotFoundError
from livegen.osthread import name_os_thread

__all__ = [
    "BACKENDS",
    "CLIENT_NAME",
    "IN_PORT_NAME",
    "OUT_PORT_NAME",
    "InputPort",
    "OutputPort",
    "JackInputPort",
    "JackOutputPort",
    "jack_shared_client",
    "resolve_backend",
    "jack_running",
    "list_ports",
    "find_port",
    "open_input",
    "open_output",
]

log = logging.getLogger(__name__)

CLIENT_NAME = "livegen"
IN_PORT_NAME = "livegen in"
OUT_PORT_NAME = "livegen out"
ALSA_SEQ_DEVICE = "/dev/snd/seq"
PROBE_CLIENT_NAME = "livegen-probe"
#: How often the JACK reader thread polls rtmidi's input queue while MIDI flows, seconds:
#: the most a message waits before it is stamped (1.3 ms is one period at 64 frames, 48 kHz).
JACK_POLL_INTERVAL_S = 0.001
#: After this long without input, seconds, the reader polls every
#: :data:`JACK_IDLE_POLL_INTERVAL_S` instead, unless :attr:`InputPort.keep_fast` says
#: not to: an idle daemon wakes 20 times a second, not 1000.
JACK_IDLE_AFTER_S = 5.0
#: The idle poll interval, seconds. A message found after an idle sleep is stamped from
#: rtmidi's own inter-message time (JACK's clock), so its stamp stays within about a
#: period of its arrival, not within the whole sleep; only its handling waits.
JACK_IDLE_POLL_INTERVAL_S = 0.05
READER_JOIN_TIMEOUT_S = 1.0
#: How long the one-client JACK reader waits for input before it looks at its stop flag,
#: seconds (closing wakes it at once): an idle daemon's reader wakes once a second.
JACK_READ_TIMEOUT_S = 1.0
#: How long closing a one-client JACK output waits for queued messages (the last
#: note_offs) to go out, seconds: a few periods at any usual buffer size.
JACK_FLUSH_TIMEOUT_S = 0.5
#: Set to 1 to use python-rtmidi's JACK ports (one client per port) even when the
#: one-client extension is built: for comparison in ``livegen bench``.
JACK_RTMIDI_ENV = "LIVEGEN_JACK_RTMIDI"
#: rtmidi's input queue, in messages (python-rtmidi's default is 1024); at the poll
#: interval this only fills if the process stalls for seconds under a MIDI flood.
INPUT_QUEUE_SIZE = 4096

#: backend name -> rtmidi API constant
_APIS: dict[str, int] = {
    "alsa": rtmidi.API_LINUX_ALSA,
    "jack": rtmidi.API_UNIX_JACK,
    "coremidi": rtmidi.API_MACOSX_CORE,
    "winmm": rtmidi.API_WINDOWS_MM,
}
BACKENDS = ("auto", *_APIS)
_NAME_OF_API = {api: name for name, api in _APIS.items()}

_LOOPMIDI_HINT = ("Windows has no virtual MIDI ports: create a port with loopMIDI "
                  "(https://www.tobias-erichsen.de/software/loopmidi.html) and pass its name "
                  "with --in/--out")
_JACK_START_HINT = ("start one with `jackd -d alsa` (with a sound card) or "
                    "`jackd --no-realtime -d dummy -r 48000 -p 64` (without), "
                    "or install jackd2 (apt-get install jackd2)")

InputHandler = Callable[[list[int], float], None]
"""Receives one raw MIDI message (list of byte values) and its ``time.monotonic()`` stamp."""


def _compiled() -> set[str]:
    return {_NAME_OF_API[api] for api in rtmidi.get_compiled_api() if api in _NAME_OF_API}


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence file descriptor 2 for a moment.

    libjack and alsa-lib print to the C-level stderr when a probe fails
    ("Cannot connect to server socket ..."); the user should see livegen's
    one-line error instead. Only used around probes and opens at start-up,
    before any other thread runs.
    """
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no usable fd 2 (e.g. a GUI host): nothing to hide
        yield
        return
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, 2)
        finally:
            os.close(devnull)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def jack_running() -> bool:
    """Whether a JACK server answers, found by opening (and closing) a JACK client.

    This works for JACK1, JACK2 and PipeWire's JACK alike, unlike looking for
    a server socket. rtmidi opens its JACK client with ``JackNoStartServer``,
    so the probe never starts a server.
    """
    if "jack" not in _compiled():
        return False
    with _quiet_stderr():
        try:
            probe = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, PROBE_CLIENT_NAME)
            probe.get_port_count()  # rtmidi connects lazily on some versions
        except rtmidi.RtMidiError:
            return False
        probe.delete()
    return True


def resolve_backend(backend: str = "auto") -> str:
    """The concrete backend to use for a ``--backend`` value.

    Args:
        backend: one of :data:`BACKENDS`.

    Returns:
        ``alsa``, ``jack``, ``coremidi`` or ``winmm``.

    Raises:
        BackendError: the backend is unknown, not compiled into python-rtmidi,
            or cannot run here (no ``/dev/snd/seq``, no JACK server); the
            message says what to install or start.
    """
    if backend not in BACKENDS:
        raise BackendError(f"unknown backend {backend!r} (choose from {', '.join(BACKENDS)})")
    compiled = _compiled()
    if backend == "auto":
        if sys.platform == "darwin":
            backend = "coremidi"
        elif sys.platform == "win32":
            backend = "winmm"
        elif "alsa" in compiled and os.path.exists(ALSA_SEQ_DEVICE):
            backend = "alsa"
        elif jack_running():
            backend = "jack"
        else:
            raise BackendError(
                f"no ALSA sequencer ({ALSA_SEQ_DEVICE}) and no JACK server running: "
                f"load the ALSA sequencer (`modprobe snd-seq`) or {_JACK_START_HINT}")
    if backend not in compiled:
        raise BackendError(f"backend {backend!r} is not compiled into python-rtmidi here "
                           f"(available: {', '.join(sorted(compiled)) or 'none'})")
    if backend == "alsa" and not os.path.exists(ALSA_SEQ_DEVICE):
        raise BackendError(f"no ALSA sequencer ({ALSA_SEQ_DEVICE} is missing): load it with "
                           f"`modprobe snd-seq`, or use --backend jack")
    if backend == "jack" and not jack_running():
        raise BackendError(f"no JACK server running: {_JACK_START_HINT}")
    return backend


def _new(kind: type, backend: str, client_name: str):
    """A new ``rtmidi.MidiIn``/``MidiOut`` on ``backend``, libjack/alsa-lib chatter hidden."""
    extra = {"queue_size_limit": INPUT_QUEUE_SIZE} if kind is rtmidi.MidiIn else {}
    with _quiet_stderr():
        try:
            return kind(_APIS[backend], client_name, **extra)
        except rtmidi.RtMidiError as err:
            raise BackendError(f"cannot open the {backend} MIDI backend ({err})") from err


def list_ports(backend: str = "auto") -> tuple[list[str], list[str]]:
    """The MIDI ports there are.

    Args:
        backend: one of :data:`BACKENDS`.

    Returns:
        ``(inputs, outputs)``: ``inputs`` are the sources livegen can listen to
        (``--in``: keyboards, a DAW's output); ``outputs`` the destinations it
        can play to (``--out``: synths, a DAW's input).

    Raises:
        BackendError: no backend can open (see :func:`resolve_backend`).
    """
    backend = resolve_backend(backend)
    result = []
    for kind in (rtmidi.MidiIn, rtmidi.MidiOut):
        midi = _new(kind, backend, PROBE_CLIENT_NAME)
        try:
            result.append(list(midi.get_ports()))
        finally:
            midi.delete()
    return result[0], result[1]


def find_port(ports: Sequence[str], wanted: str, *, direction: str) -> int:
    """Index of the port named ``wanted``: an exact name, or a unique substring.

    Matching is exact first, then by case-insensitive substring, so
    ``--in keystation`` finds ``Keystation 49 MK3:Keystation 49 MK3 MIDI 1 20:0``.

    Args:
        ports: the port names, as rtmidi lists them.
        wanted: the name or part of it.
        direction: ``input`` or ``output``, for the message.

    Raises:
        PortNotFoundError: no port or several ports match; the message lists
            the ports there are (or those that matched).
    """
    if wanted in ports:
        return list(ports).index(wanted)
    matches = [i for i, name in enumerate(ports) if wanted.lower() in name.lower()]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        there = ", ".join(repr(p) for p in ports) or "none"
        raise PortNotFoundError(f"no MIDI {direction} port matches {wanted!r} "
                                f"({direction} ports: {there})")
    names = ", ".join(repr(ports[i]) for i in matches)
    raise PortNotFoundError(f"{len(matches)} MIDI {direction} ports match {wanted!r}: {names}; "
                            f"give more of the name")


class _Port:
    """What input and output ports share: open, name, idempotent close, context manager."""

    direction = ""

    def __init__(self, midi, backend: str, name: str, virtual: bool) -> None:
        self._midi = midi
        self._lock = threading.Lock()
        self.backend = backend
        self.name = name
        self.virtual = virtual

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._midi is None

    def _release(self, midi) -> None:
        midi.close_port()

    def close(self) -> None:
        """Close the port and free the rtmidi client; safe to call again."""
        with self._lock:
            midi, self._midi = self._midi, None
        if midi is None:
            return
        try:
            self._release(midi)
        finally:
            midi.delete()  # never touch an rtmidi object after delete(): it segfaults
        log.debug("closed %s port %r", self.direction, self.name)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        kind = "virtual" if self.virtual else "connected"
        return f"<{type(self).__name__} {self.name!r} {kind} {self.backend} {state}>"


def _never() -> bool:
    return False


class InputPort(_Port):
    """A MIDI input whose messages go to a handler, stamped with ``time.monotonic()``.

    Build with :func:`open_input`. On ALSA, CoreMIDI and Windows MM the
    handler runs on rtmidi's input thread. With rtmidi on JACK (the fallback
    when :class:`JackInputPort`, one client for both ports, is not built) it
    runs on a small reader thread instead (``livegen-midi-in``) that polls rtmidi's queue every
    :data:`JACK_POLL_INTERVAL_S` (every :data:`JACK_IDLE_POLL_INTERVAL_S` when
    idle, see :meth:`_poll`): rtmidi calls a Python callback from JACK's
    process thread, which must then wait for the GIL; while the engine thread
    holds it (priming notes, sampling), JACK cycles pass and the MIDI events of
    a missed cycle are lost (measured: 14 of 420 events lost with one busy
    Python thread, none with polling). The rtmidi queue is filled in C++ on
    the process thread and never waits. Either way the handler must only
    enqueue, as :meth:`livegen.engine.Engine.feed` does.

    Attributes:
        polled: True when a reader thread polls rtmidi's queue (rtmidi on JACK).
        keep_fast: called by rtmidi's JACK reader before it would slow down; True keeps
            it polling every :data:`JACK_POLL_INTERVAL_S` (the daemon: while a
            response plays, so a barge-in is heard at once). Default: never.
    """

    direction = "input"

    def __init__(self, midi, backend: str, name: str, virtual: bool,
                 handler: InputHandler | None, now: Callable[[], float]) -> None:
        super().__init__(midi, backend, name, virtual)
        self._now = now
        self.polled = backend == "jack"
        self.keep_fast: Callable[[], bool] = _never
        self._reader: threading.Thread | None = None
        self._stop = threading.Event()
        if handler is not None:
            self.set_handler(handler)

    def set_handler(self, handler: InputHandler) -> None:
        """Send every incoming message to ``handler(data, timestamp_s)`` from now on.

        Messages that arrived before the first handler was set are dropped.
        """
        now = self._now
        with self._lock:
            midi = self._midi
            if midi is None:
                return
            if not self.polled:
                def on_message(event, _data=None) -> None:
                    handler(event[0], now())  # constant time: stamp and pass on (STYLE.md 8)

                midi.set_callback(on_message)
                return
            self._handler = handler
            if self._reader is None:
                while midi.get_message() is not None:
                    pass  # drop the backlog: its arrival times are unknown
                self._reader = threading.Thread(target=self._poll, args=(midi,),
                                                name="livegen-midi-in", daemon=True)
                self._reader.start()

    def _poll(self, midi) -> None:
        """The JACK reader thread: drain rtmidi's queue, stamp, hand on; sleep; until closed.

        It sleeps :data:`JACK_POLL_INTERVAL_S` between polls while input comes
        or :attr:`keep_fast` says so, :data:`JACK_IDLE_POLL_INTERVAL_S` once none
        came for :data:`JACK_IDLE_AFTER_S`.
        After an idle sleep a message's stamp is the previous message's stamp
        plus rtmidi's delta time (measured by rtmidi on JACK's clock in the
        process callback), kept between the previous poll and now.
        """
        name_os_thread("midi-in")
        now, get, stop, sleep = self._now, midi.get_message, self._stop, time.sleep
        last_stamp_s: float | None = None  # the latest message's stamp
        polled_s = last_input_s = now()
        idle = False
        while not stop.is_set():
            event = get()
            while event is not None:
                stamp_s = now()
                if idle and last_stamp_s is not None:
                    stamp_s = min(max(last_stamp_s + event[1], polled_s, last_stamp_s), stamp_s)
                self._handler(event[0], stamp_s)
                last_stamp_s = last_input_s = stamp_s
                event = get()
            polled_s = now()
            idle = polled_s - last_input_s > JACK_IDLE_AFTER_S and not self.keep_fast()
            sleep(JACK_IDLE_POLL_INTERVAL_S if idle else JACK_POLL_INTERVAL_S)

    def _release(self, midi) -> None:
        if self._reader is not None:
            self._stop.set()
            self._reader.join(READER_JOIN_TIMEOUT_S)
        else:
            midi.cancel_callback()  # no callback may run once the port starts closing
        midi.close_port()


class OutputPort(_Port):
    """A MIDI output. Build with :func:`open_output`.

    :meth:`send` may be called from any thread; after :meth:`close` it drops
    the message (counted in :attr:`dropped`), so a late note_off from a
    stopping scheduler cannot crash the process.
    """

    direction = "output"

    def __init__(self, midi, backend: str, name: str, virtual: bool) -> None:
        super().__init__(midi, backend, name, virtual)
        self.sent = 0
        self.dropped = 0

    def send(self, message) -> None:
        """Send a ``mido.Message`` (anything with ``.bytes()``)."""
        self.send_bytes(message.bytes())

    def send_bytes(self, data: Sequence[int]) -> None:
        """Send one raw MIDI message given as byte values."""
        with self._lock:
            if self._midi is None:
                self.dropped += 1
                return
            self._midi.send_message(data)
            self.sent += 1


def jack_shared_client(environ: Mapping[str, str] | None = None) -> bool:
    """Whether JACK ports open in one shared client (``livegen._jackmidi``) here.

    False when the extension is not built or :data:`JACK_RTMIDI_ENV` is ``1`` in
    ``environ`` (default: ``os.environ``).
    """
    environ = os.environ if environ is None else environ
    return _jackmidi is not None and environ.get(JACK_RTMIDI_ENV, "") != "1"


_jack_clients: dict[str, list[tuple]] = {}  # client name -> [(client, {directions in use})]
_jack_clients_lock = threading.Lock()


class _JackHandle:
    """One port's share of a shared ``_jackmidi.Client``; ``delete()`` removes the port.

    Ports of the same client name share a client, one input and one output per
    client (a second output gets a client of its own, which JACK names
    ``livegen-01``). The client closes when the last of its ports is deleted.
    It stands where an rtmidi object stands in :class:`_Port`.
    """

    def __init__(self, client_name: str, direction: str) -> None:
        with _jack_clients_lock:
            entries = _jack_clients.setdefault(client_name, [])
            entries[:] = [e for e in entries if not e[0].closed]  # its server went away
            entry = next((e for e in entries if direction not in e[1]), None)
            if entry is None:
                with _quiet_stderr():
                    try:
                        entry = (_jackmidi.Client(client_name), set())
                    except OSError as err:
                        raise BackendError(f"cannot open the jack MIDI backend ({err})") from err
                entries.append(entry)
            entry[1].add(direction)
        self.client, self._directions = entry
        self.direction = direction

    def delete(self) -> None:
        client = self.client
        with _jack_clients_lock:
            if self.direction == "input":
                client.remove_input()
            else:
                client.flush(JACK_FLUSH_TIMEOUT_S)  # the last note_offs go out first
                client.remove_output()
            self._directions.discard(self.direction)
            if not self._directions:
                for entries in _jack_clients.values():
                    entries[:] = [e for e in entries if e[0] is not client]
                client.close()


class JackInputPort(InputPort):
    """A MIDI input on livegen's one JACK client (``livegen._jackmidi``).

    JACK's process callback is C: it copies each message with its stamp into a
    lock-free ring buffer and posts a semaphore, never waiting for Python. A
    reader thread (``livegen-midi-in``) blocks on that semaphore with the GIL
    released, so an idle daemon's reader wakes about once a second
    (:data:`JACK_READ_TIMEOUT_S`), and hands each message on. Stamps are
    ``time.monotonic()`` seconds, frame-accurate: a cycle's frames are spread
    over the time since the cycle before (at most two periods), and a message at
    frame k is stamped k frames into that span. Stamps never go backwards and are
    never later than the message could be read. Sysex and active sensing are
    ignored; timing messages kept.

    Attributes:
        dropped: messages the process callback could not queue (ring buffer full,
            or longer than 256 bytes).
    """

    def __init__(self, midi: _JackHandle, name: str, virtual: bool,
                 handler: InputHandler | None, now: Callable[[], float]) -> None:
        super().__init__(midi, "jack", name, virtual, None, now)
        self.polled = False
        if handler is not None:
            self.set_handler(handler)

    @property
    def dropped(self) -> int:
        """Messages not passed on by the process callback (see the class docstring)."""
        midi = self._midi
        return 0 if midi is None else midi.client.dropped

    @property
    def missed_cycles(self) -> int:
        """JACK cycles the server ran without this client: their input is lost."""
        midi = self._midi
        return 0 if midi is None else midi.client.missed

    def stalled_between(self, start_s: float, end_s: float) -> bool:
        """Whether the JACK server stalled between two stamps (``time.monotonic()`` s).

        A stall: no cycle for over two periods, while JACK's frame count moved
        on by one period. Every client's timeline, a MIDI clock source's
        included, then resumes from where it stopped, so the clock's phase
        moved and no tick was lost. The last 16 stalls are known.
        """
        midi = self._midi
        if midi is None:
            return False
        return any(s < end_s and e > start_s for s, e in midi.client.stalls())

    def set_handler(self, handler: InputHandler) -> None:
        """Send every incoming message to ``handler(data, timestamp_s)`` from now on.

        Messages that arrived before the first handler was set are dropped.
        """
        with self._lock:
            midi = self._midi
            if midi is None:
                return
            self._handler = handler
            if self._reader is None:
                midi.client.read(0.0)  # drop the backlog: nobody was listening
                self._reader = threading.Thread(target=self._read, args=(midi.client,),
                                                name="livegen-midi-in", daemon=True)
                self._reader.start()

    def _read(self, client) -> None:
        """The reader thread: wait for messages, hand each on with its stamp; until closed."""
        name_os_thread("midi-in")
        stop, read = self._stop, client.read
        stamp_here = self._now is not time.monotonic  # a test clock: stamp on arrival
        while not stop.is_set():
            for data, stamp_s in read(JACK_READ_TIMEOUT_S):
                if stop.is_set():
                    return
                self._handler(list(data), self._now() if stamp_here else stamp_s)

    def _release(self, midi: _JackHandle) -> None:
        if self._reader is not None:
            self._stop.set()
            midi.client.wake()
            self._reader.join(READER_JOIN_TIMEOUT_S)


class JackOutputPort(OutputPort):
    """A MIDI output on livegen's one JACK client (``livegen._jackmidi``).

    :meth:`send_bytes` queues the message, stamped, in a lock-free ring buffer
    that JACK's C process callback empties in the next cycle. Each message goes
    at the frame where its send time falls in the span since the cycle before,
    so it sounds a constant period (1.3 ms at 64 frames) after it was sent.
    rtmidi's JACK output puts every message at the cycle's first frame: 0 to 1
    period late, which at 1,024 frames is up to 21 ms of jitter. A message that
    does not fit (128 KiB queued) is dropped and
    counted in :attr:`dropped`. Closing waits up to :data:`JACK_FLUSH_TIMEOUT_S`
    for queued messages to go out.
    """

    def __init__(self, midi: _JackHandle, name: str, virtual: bool) -> None:
        super().__init__(midi, "jack", name, virtual)

    def send_bytes(self, data: Sequence[int]) -> None:
        """Send one raw MIDI message given as byte values (1-256 bytes)."""
        with self._lock:
            if self._midi is None or not self._midi.client.write(bytes(data)):
                self.dropped += 1
                return
            self.sent += 1

    def _release(self, midi: _JackHandle) -> None:
        pass  # delete() flushes, then removes the port


def _open_jack(port: str | None, virtual_name: str, client_name: str, direction: str):
    """Open a port on the shared JACK client: virtual, or connected to the named one."""
    target = None
    if port is not None:
        inputs, outputs = list_ports("jack")
        ports = inputs if direction == "input" else outputs
        target = ports[find_port(ports, port, direction=direction)]
    handle = _JackHandle(client_name, direction)
    try:
        client = handle.client
        try:
            with _quiet_stderr():
                if direction == "input":
                    full = client.add_input(virtual_name)
                else:
                    full = client.add_output(virtual_name)
                client.activate()
                if target is not None:
                    client.connect(*((target, full) if direction == "input" else (full, target)))
            # libjack mlocks the server's whole 102 MiB segment in every client; the
            # server keeps it locked, this process keeps only the pages it uses
            client.release_shared_memory()
        except (OSError, ValueError) as err:
            raise BackendError(f"cannot open MIDI {direction} on jack ({err})") from err
    except BaseException:
        handle.delete()
        raise
    return handle, (virtual_name if target is None else target), target is None


def _open(kind: type, backend: str, port: str | None, virtual_name: str,
          client_name: str, direction: str):
    """Open an rtmidi port: virtual when ``port`` is None, else connect to the named one."""
    if port is None and backend == "winmm":
        flag = "--in" if direction == "input" else "--out"
        raise BackendError(f"{_LOOPMIDI_HINT} (no {flag} given)")
    midi = _new(kind, backend, client_name)
    try:
        if port is None:
            with _quiet_stderr():
                midi.open_virtual_port(virtual_name)
            return midi, virtual_name, True
        ports = midi.get_ports()
        index = find_port(ports, port, direction=direction)
        with _quiet_stderr():
            midi.open_port(index, virtual_name)
        return midi, ports[index], False
    except rtmidi.RtMidiError as err:
        midi.delete()
        raise BackendError(f"cannot open MIDI {direction} on {backend} ({err})") from err
    except BaseException:
        midi.delete()
        raise


def open_input(backend: str = "auto", port: str | None = None, *,
               handler: InputHandler | None = None,
               now: Callable[[], float] = time.monotonic,
               client_name: str = CLIENT_NAME) -> InputPort:
    """Open livegen's MIDI input.

    Sysex and active sensing are ignored; MIDI clock (0xF8) and the other
    timing messages are kept, for clock-following presets.

    Args:
        backend: one of :data:`BACKENDS`.
        port: an existing source to connect to (exact name or unique
            substring); ``None`` makes the virtual port ``livegen in``.
        handler: receives ``(data, timestamp_s)`` per message (see
            :class:`InputPort`); may also be set later with ``set_handler``.
        now: the clock stamping messages, in seconds.
        client_name: the MIDI client name others see.

    Raises:
        BackendError: the backend cannot open (see :func:`resolve_backend`),
            or a virtual port was asked for on Windows.
        PortNotFoundError: ``port`` matches no source, or several.
    """
    backend = resolve_backend(backend)
    if backend == "jack" and jack_shared_client():
        handle, name, virtual = _open_jack(port, IN_PORT_NAME, client_name, "input")
        opened = JackInputPort(handle, name, virtual, handler, now)
        log.debug("opened %r", opened)
        return opened
    midi, name, virtual = _open(rtmidi.MidiIn, backend, port, IN_PORT_NAME, client_name, "input")
    midi.ignore_types(sysex=True, timing=False, active_sense=True)
    opened = InputPort(midi, backend, name, virtual, handler, now)
    log.debug("opened %r", opened)
    return opened


def open_output(backend: str = "auto", port: str | None = None, *,
                client_name: str = CLIENT_NAME) -> OutputPort:
    """Open livegen's MIDI output.

    Args:
        backend: one of :data:`BACKENDS`.
        port: an existing destination to connect to (exact name or unique
            substring); ``None`` makes the virtual port ``livegen out``.
        client_name: the MIDI client name others see.

    Raises:
        BackendError: the backend cannot open (see :func:`resolve_backend`),
            or a virtual port was asked for on Windows.
        PortNotFoundError: ``port`` matches no destination, or several.
    """
    backend = resolve_backend(backend)
    if backend == "jack" and jack_shared_client():
        handle, name, virtual = _open_jack(port, OUT_PORT_NAME, client_name, "output")
        opened = JackOutputPort(handle, name, virtual)
        log.debug("opened %r", opened)
        return opened
    midi, name, virtual = _open(rtmidi.MidiOut, backend, port, OUT_PORT_NAME, client_name,
                                "output")
    opened = OutputPort(midi, backend, name, virtual)
    log.debug("opened %r", opened)
    return opened
