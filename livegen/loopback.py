"""The loop-back probe: does what livegen plays on ``livegen out`` come back on ``livegen in``?

:func:`check_loop` opens livegen's own ports, waits up to ``wait_s`` for both
to be connected, ``livegen out`` to something and something to ``livegen in``
(on JACK it sees the connections and stops waiting; elsewhere it waits it
out), then sends probes: a note_on of pitch :data:`PROBE_PITCH` at velocity
:data:`PROBE_VELOCITY`, the top MIDI key at the softest velocity (above every
instrument's range, far from the keyswitches sample libraries keep at the
bottom), and its note_off at once. Each probe's round trip is its arrival
stamp on ``livegen in`` minus the time it was sent (``timebase.now()``
seconds; the one-client JACK input stamps from its frame). The ports are
closed, and the probe note ended, whatever happens.
``livegen doctor`` reads the result (:mod:`livegen.doctor`).
"""

from __future__ import annotations

import queue
import time
from dataclasses import dataclass

import mido

from livegen import timebase
from livegen.errors import LivegenError
from livegen.ports import IN_PORT_NAME, OUT_PORT_NAME, JackClients, open_input, open_output
from livegen.ports.jackquery import JackQuery

__all__ = ["LoopCheck", "check_loop", "is_probe", "PROBE_PITCH", "PROBE_VELOCITY", "PROBE_TIMEOUT_S",
           "LOOPBACK_PROBES"]

PROBE_PITCH = 127  # G9, the top MIDI key
PROBE_VELOCITY = 1
PROBE_TIMEOUT_S = 0.25  # a probe not back within this is taken as not coming back, seconds
LOOPBACK_PROBES = 10  # round trips timed when the user routed the loop on purpose
CONNECT_SETTLE_S = 0.1  # JACK carries data on a new connection from a later cycle, seconds
CONNECT_POLL_S = 0.05
_NOTE_ON, _NOTE_OFF = 0x90, 0x80


@dataclass(frozen=True)
class LoopCheck:
    """What the probe found.

    Attributes:
        connected: whether both ports were connected to something (JACK):
            ``livegen out`` to a destination, a source to ``livegen in``; None
            where it cannot be seen (other backends).
        route: ``livegen out -> ...; ... -> livegen in`` on JACK, else ``""``.
        trips_s: the round trips of the probes that came back, seconds (the
            first probe not back ends the check).
        error: why livegen's ports could not open (then nothing else is known).
    """

    connected: bool | None
    route: str = ""
    trips_s: tuple[float, ...] = ()
    error: str = ""


def check_loop(backend: str, *, client_name: str, jack_client: str = "shared", wait_s: float = 1.0,
               probes: int = 1, query: JackQuery | None = None) -> LoopCheck:
    """Open livegen's ports, probe ``probes`` times, close them.

    Args:
        backend: a concrete backend.
        client_name: the MIDI client name of the ports (``livegen``).
        jack_client: ``shared`` or ``rtmidi`` (see :func:`livegen.ports.open_input`).
        wait_s: longest wait for ``livegen out`` to be connected, seconds.
        probes: probes to send (the first that does not come back ends it).
        query: a JACK client to see connections with (JACK only).

    Returns:
        The result; a port that cannot open is in ``error``, never raised.
    """
    received: queue.SimpleQueue = queue.SimpleQueue()
    options = {"client_name": client_name, "jack_client": jack_client, "jack_clients": JackClients()}
    try:
        inport = open_input(backend, handler=lambda data, t: received.put((t, list(data))), **options)
    except LivegenError as err:
        return LoopCheck(None, error=f"{IN_PORT_NAME}: {err}")
    try:
        try:
            outport = open_output(backend, **options)
        except LivegenError as err:
            return LoopCheck(None, error=f"{OUT_PORT_NAME}: {err}")
        try:
            return _probe(outport, received, client_name, wait_s, probes, query)
        finally:
            outport.send(mido.Message("note_off", note=PROBE_PITCH, velocity=0))
            time.sleep(CONNECT_SETTLE_S)  # the note_off leaves in the next cycles
            outport.close()
    finally:
        inport.close()


def _probe(outport, received: queue.SimpleQueue, client_name: str, wait_s: float, probes: int,
           query: JackQuery | None) -> LoopCheck:
    deadline = timebase.now() + wait_s
    route, connected = _route(query, client_name)
    while connected is False and timebase.now() < deadline:
        time.sleep(CONNECT_POLL_S)
        route, connected = _route(query, client_name)
    if connected is None:
        time.sleep(max(0.0, deadline - timebase.now()))  # no way to see connections: wait it out
    elif not connected:
        return LoopCheck(False, route)
    time.sleep(CONNECT_SETTLE_S)
    trips_s = []
    for _ in range(probes):
        sent_s = timebase.now()
        outport.send(mido.Message("note_on", note=PROBE_PITCH, velocity=PROBE_VELOCITY))
        back_s = _wait_for(received, _NOTE_ON, PROBE_TIMEOUT_S)
        outport.send(mido.Message("note_off", note=PROBE_PITCH, velocity=0))
        if back_s is None:
            break
        trips_s.append(back_s - sent_s)
        _wait_for(received, _NOTE_OFF, PROBE_TIMEOUT_S)
    return LoopCheck(connected, route, tuple(trips_s))


def _route(query: JackQuery | None, client_name: str) -> tuple[str, bool | None]:
    """How livegen's ports are connected (JACK), and whether both are (None: unknown).

    A loop needs both: ``livegen out`` connected to something, something to ``livegen in``.
    """
    if query is None:
        return "", None
    out_to = query.connections(f"{client_name}:{OUT_PORT_NAME}") or []
    in_from = query.connections(f"{client_name}:{IN_PORT_NAME}") or []
    route = (f"{OUT_PORT_NAME} -> {', '.join(out_to) or '(nothing)'}; "
             f"{', '.join(in_from) or '(nothing)'} -> {IN_PORT_NAME}")
    return route, bool(out_to) and bool(in_from)


def is_probe(data: list[int], kind: int) -> bool:
    """Whether ``data`` is the probe's note_on (``kind`` 0x90) or its note_off (0x80), any channel."""
    if len(data) != 3 or data[1] != PROBE_PITCH:
        return False
    if kind == _NOTE_ON:
        return data[0] & 0xF0 == _NOTE_ON and data[2] == PROBE_VELOCITY
    return data[0] & 0xF0 == _NOTE_OFF or (data[0] & 0xF0 == _NOTE_ON and data[2] == 0)


def _wait_for(received: queue.SimpleQueue, kind: int, timeout_s: float) -> float | None:
    """The arrival stamp of the next probe message of ``kind``, or None after ``timeout_s``."""
    deadline = timebase.now() + timeout_s
    while True:
        left = deadline - timebase.now()
        if left <= 0:
            return None
        try:
            stamp_s, data = received.get(timeout=left)
        except queue.Empty:
            return None
        if is_probe(data, kind):
            return stamp_s
