"""A second JACK client for the port tests, and waiting helpers (imported by the test modules)."""

from __future__ import annotations

import os
import subprocess
import threading
import time

import rtmidi

from livegen.ports import find_port

DELIVERY_TIMEOUT_S = 2.0  # JACK delivers within a period or two; generous for a loaded machine
PING = [0xF8]  # MIDI clock: livegen's input passes it on; harmless


class Probe:
    """A second JACK client: keys sending to ``livegen in``, a synth hearing ``livegen out``.

    Its input polls rtmidi's queue from a thread, for the reason livegen's
    rtmidi JACK input does (see :mod:`livegen.ports.rtmidi`).
    """

    CLIENT = "livegen-test"
    POLL_S = 0.0005

    def __init__(self, jack) -> None:
        self.jack = jack
        self.received: list[list[int]] = []
        self._stop = threading.Event()
        self.out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, self.CLIENT)
        self.inp = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, self.CLIENT, queue_size_limit=4096)
        self.inp.ignore_types(sysex=False, timing=False, active_sense=False)
        self._reader = threading.Thread(target=self._listen, daemon=True)
        self._reader.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            event = self.inp.get_message()
            while event is not None:
                self.received.append(event[0])
                event = self.inp.get_message()
            time.sleep(self.POLL_S)

    def connect(self, to_input: str | None = None, from_output: str | None = None) -> None:
        """Connect to livegen's ports and wait until JACK has made the connections."""
        if to_input is not None:
            index = find_port(self.out.get_ports(), to_input, direction="output")
            self.out.open_port(index, "keys")
            self.jack.wait_connected(":" + to_input, self.CLIENT)
        if from_output is not None:
            index = find_port(self.inp.get_ports(), from_output, direction="input")
            self.inp.open_port(index, "synth")
            self.jack.wait_connected(":" + from_output, self.CLIENT)

    def virtual(self, keys: str, synth: str) -> None:
        """Make virtual ports for livegen to connect to."""
        self.inp.open_virtual_port(synth)
        self.out.open_virtual_port(keys)

    def close(self) -> None:
        self._stop.set()
        self._reader.join(timeout=2)
        for midi in (self.inp, self.out):
            midi.close_port()
            midi.delete()


def wait_for(condition, timeout_s: float = DELIVERY_TIMEOUT_S) -> bool:
    """Poll ``condition`` until it holds (True) or ``timeout_s`` passes (False)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def settle(send, received: list) -> None:
    """Ping until a ping arrives, then forget the pings.

    JACK makes a new connection carry messages only from a later cycle, and a
    loaded machine may take a while to run it: a test message sent too early
    goes nowhere.
    """
    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    while not received:
        if time.monotonic() > deadline:
            raise AssertionError("the JACK connection never carried a message")
        send(PING)
        time.sleep(0.01)
    time.sleep(0.05)  # pings still on their way
    received.clear()


def heard_once(received: list[list[int]], port) -> list[list[int]]:
    """``received`` without the note_offs ``port`` sent again after JACK xruns (livegen/_jackmidi.c:
    a repeat of a note_off heard before, for a key struck nowhere since), checking that there are
    no more of those than the port can account for: the ones it says it sent again and, once the
    server reported an xrun, each note_off it placed heard a second time (python-rtmidi's JACK
    input, the probe's, repeats a stale buffer after a missed cycle: docs/benchmark.md)."""
    kept: list[list[int]] = []
    sounding: set[tuple[int, int]] = set()
    offs = 0  # the note_offs kept
    for msg in received:
        kind, key = msg[0] & 0xF0, (msg[0] & 0x0F, msg[1] if len(msg) > 1 else -1)
        if kind == 0x90 and len(msg) == 3 and msg[2] > 0:
            sounding.add(key)
        elif kind in (0x80, 0x90) and len(msg) == 3:
            if key not in sounding and msg in kept:
                continue  # a repeat
            sounding.discard(key)
            offs += 1
        kept.append(msg)
    repeats = len(received) - len(kept)
    xruns, resent = getattr(port, "xrun_repairs", (0, 0))
    allowed = resent + (offs + resent if xruns else 0)  # each note_off placed, heard twice at most
    assert repeats <= allowed, (f"{repeats} note_offs repeated, {resent} sent again after {xruns} xruns: "
                                f"{received}")
    return kept


def jack_command(*command: str) -> str:
    """Run a JACK command-line tool on the server the tests use (never starting one)."""
    return subprocess.run(command, capture_output=True, text=True, timeout=10, check=True,
                          env={**os.environ, "JACK_NO_START_SERVER": "1"}).stdout


def jack_port_names(client_prefix: str) -> list[str]:
    """The JACK ports whose names start with ``client_prefix``, sorted (``jack_lsp``)."""
    return sorted(n for n in jack_command("jack_lsp").split("\n") if n.startswith(client_prefix))
