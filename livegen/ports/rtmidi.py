"""python-rtmidi's ports: every backend, one MIDI client per port.

python-rtmidi is used directly (not through mido's port classes) because the
input must get the raw bytes as early as possible: it stamps them and hands
them to the engine, nothing else (STYLE.md 8).

On ALSA, CoreMIDI and Windows MM the handler runs on rtmidi's input thread.
On JACK it runs on a small reader thread instead (``livegen-midi-in``) that
polls rtmidi's queue every :data:`JACK_POLL_INTERVAL_S` (every
:data:`JACK_IDLE_POLL_INTERVAL_S` when idle): rtmidi calls a Python callback
from JACK's process thread, which must then wait for the GIL; while the engine
thread holds it (priming notes, sampling), JACK cycles pass and the MIDI
events of a missed cycle are lost (measured: 14 of 420 events lost with one
busy Python thread, none with polling). The rtmidi queue is filled in C++ on
the process thread and never waits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import rtmidi

from livegen import timebase
from livegen.errors import BackendError
from livegen.osthread import name_os_thread
from livegen.ports.backends import find_port, new_rtmidi, quiet_stderr
from livegen.ports.base import (
    CLIENT_NAME,
    IN_PORT_NAME,
    OUT_PORT_NAME,
    READER_JOIN_TIMEOUT_S,
    InputHandler,
    InputPort,
    OutputPort,
)
from livegen.ports.jack_clients import close_watch, jack_watch

__all__ = [
    "JACK_IDLE_AFTER_S",
    "JACK_IDLE_POLL_INTERVAL_S",
    "JACK_POLL_INTERVAL_S",
    "RtMidiInputPort",
    "RtMidiOutputPort",
    "open_rtmidi_input",
    "open_rtmidi_output",
]

log = logging.getLogger(__name__)

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

_LOOPMIDI_HINT = ("Windows has no virtual MIDI ports: create a port with loopMIDI "
                  "(https://www.tobias-erichsen.de/software/loopmidi.html) and pass its name "
                  "with --in/--out")
_SINGLE_CLIENT_HINT = ("a Windows MIDI port takes one program at a time and another (your DAW?) "
                       "holds it: untick it in the DAW's MIDI settings, or let the DAW send the "
                       "keyboard to livegen through a loopMIDI port")


class RtMidiInputPort(InputPort):
    """A MIDI input on a python-rtmidi ``MidiIn``, stamped with the clock ``now``.

    Build with :func:`open_rtmidi_input` (or :func:`livegen.ports.open_input`).

    Args:
        midi: an open ``rtmidi.MidiIn`` (or anything with its methods); the
            port owns it and deletes it on close.
        backend: the backend it was opened on; on ``jack`` a reader thread polls.
        name: the port's name.
        virtual: True for livegen's own virtual port.
        handler: receives ``(data, timestamp_s)``; may also be set later.
        now: the clock stamping messages, seconds.
        sleep: how the polling reader waits, seconds (``time.sleep``).
        watch: on JACK, a client that tells when the server went away
            (:func:`~livegen.ports.jack_clients.jack_watch`); the port closes it.
    """

    def __init__(self, midi, backend: str, name: str, virtual: bool,
                 handler: InputHandler | None = None, *,
                 now: Callable[[], float] = timebase.now,
                 sleep: Callable[[float], None] = time.sleep, watch=None) -> None:
        super().__init__(midi, backend, name, virtual)
        self._watch = watch
        self.polled = backend == "jack"
        self._now = now
        self._sleep = sleep
        self._handler: InputHandler | None = None
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
            midi = self._handle
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

    @property
    def server_lost(self) -> bool:
        """Whether the JACK server went away (known only with a watch client)."""
        return _lost(self._watch, self._handle)

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
        now, get, stop, sleep = self._now, midi.get_message, self._stop, self._sleep
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
        try:
            if self._reader is not None:
                self._stop.set()
                self._reader.join(READER_JOIN_TIMEOUT_S)
            else:
                midi.cancel_callback()  # no callback may run once the port starts closing
            midi.close_port()
        finally:
            midi.delete()  # never touch an rtmidi object after delete(): it segfaults
            close_watch(self._watch)


class RtMidiOutputPort(OutputPort):
    """A MIDI output on a python-rtmidi ``MidiOut``.

    Build with :func:`open_rtmidi_output` (or :func:`livegen.ports.open_output`).
    On JACK rtmidi writes every message at its cycle's first frame: 0 to 1
    period late.

    Args:
        midi: an open ``rtmidi.MidiOut`` (or anything with its methods); the
            port owns it and deletes it on close.
        backend: the backend it was opened on.
        name: the port's name.
        virtual: True for livegen's own virtual port.
        watch: on JACK, a client that tells when the server went away
            (:func:`~livegen.ports.jack_clients.jack_watch`); the port closes it.
    """

    def __init__(self, midi, backend: str, name: str, virtual: bool, *, watch=None) -> None:
        super().__init__(midi, backend, name, virtual)
        self._watch = watch

    @property
    def server_lost(self) -> bool:
        """Whether the JACK server went away (known only with a watch client)."""
        return _lost(self._watch, self._handle)

    def send_bytes(self, data: Sequence[int]) -> None:
        """Send one raw MIDI message given as byte values (dropped and counted once closed)."""
        with self._lock:
            if self._handle is None:
                self.dropped += 1
                return
            self._handle.send_message(data)
            self.sent += 1

    def _release(self, midi) -> None:
        try:
            midi.close_port()
        finally:
            midi.delete()
            close_watch(self._watch)


def _lost(watch, handle) -> bool:
    return watch is not None and handle is not None and watch.closed


def _watch_for(backend: str, client_name: str):
    """On JACK, a watch client for the server's going away (None elsewhere, or where none opens)."""
    return jack_watch(client_name) if backend == "jack" else None


def _open(kind: type, backend: str, port: str | None, virtual_name: str,
          client_name: str, direction: str):
    """Open an rtmidi port: virtual when ``port`` is None, else connect to the named one."""
    if port is None and backend == "winmm":
        flag = "--in" if direction == "input" else "--out"
        raise BackendError(f"{_LOOPMIDI_HINT} (no {flag} given)")
    midi = new_rtmidi(kind, backend, client_name)
    try:
        if port is None:
            with quiet_stderr():
                midi.open_virtual_port(virtual_name)
            return midi, virtual_name, True
        ports = midi.get_ports()
        index = find_port(ports, port, direction=direction)
        port = ports[index]
        with quiet_stderr():
            midi.open_port(index, virtual_name)
        return midi, port, False
    except rtmidi.RtMidiError as err:
        midi.delete()
        if backend == "winmm":  # issue 16: the usual reason on Windows, in words
            raise BackendError(f"cannot open MIDI {direction} {port!r}: {_SINGLE_CLIENT_HINT} "
                               f"({err})") from err
        raise BackendError(f"cannot open MIDI {direction} on {backend} ({err})") from err
    except BaseException:
        midi.delete()
        raise


def open_rtmidi_input(backend: str, port: str | None = None, *,
                      handler: InputHandler | None = None,
                      now: Callable[[], float] = timebase.now,
                      client_name: str = CLIENT_NAME) -> RtMidiInputPort:
    """Open livegen's MIDI input with python-rtmidi (its own MIDI client).

    Sysex and active sensing are ignored; MIDI clock (0xF8) and the other
    timing messages are kept, for clock-following presets.

    Args:
        backend: a concrete backend (see :func:`livegen.ports.resolve_backend`).
        port: an existing source to connect to (exact name or unique
            substring); ``None`` makes the virtual port ``livegen in``.
        handler: receives ``(data, timestamp_s)`` per message.
        now: the clock stamping messages, seconds.
        client_name: the MIDI client name others see.

    Returns:
        The open port.

    Raises:
        BackendError: rtmidi cannot open the backend or the port, or a
            virtual port was asked for on Windows.
        PortNotFoundError: ``port`` matches no source, or several.
    """
    midi, name, virtual = _open(rtmidi.MidiIn, backend, port, IN_PORT_NAME, client_name, "input")
    midi.ignore_types(sysex=True, timing=False, active_sense=True)
    return RtMidiInputPort(midi, backend, name, virtual, handler, now=now,
                           watch=_watch_for(backend, client_name))


def open_rtmidi_output(backend: str, port: str | None = None, *,
                       client_name: str = CLIENT_NAME) -> RtMidiOutputPort:
    """Open livegen's MIDI output with python-rtmidi (its own MIDI client).

    Args:
        backend: a concrete backend (see :func:`livegen.ports.resolve_backend`).
        port: an existing destination to connect to (exact name or unique
            substring); ``None`` makes the virtual port ``livegen out``.
        client_name: the MIDI client name others see.

    Returns:
        The open port.

    Raises:
        BackendError: rtmidi cannot open the backend or the port, or a
            virtual port was asked for on Windows.
        PortNotFoundError: ``port`` matches no destination, or several.
    """
    midi, name, virtual = _open(rtmidi.MidiOut, backend, port, OUT_PORT_NAME, client_name,
                                "output")
    return RtMidiOutputPort(midi, backend, name, virtual, watch=_watch_for(backend, client_name))
