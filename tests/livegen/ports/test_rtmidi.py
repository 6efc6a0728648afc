"""python-rtmidi's ports: livegen/ports/rtmidi.py.

Most tests drive the port classes over a fake rtmidi object and a fake clock;
the one marked ``jack`` opens rtmidi's own JACK ports (one client per port).
"""

from __future__ import annotations

import logging
import threading
import time

import mido
import pytest
from jackprobe import jack_port_names, wait_for

from livegen import ports
from livegen.ports import jack_clients
from livegen.ports.rtmidi import (
    JACK_IDLE_AFTER_S,
    JACK_IDLE_POLL_INTERVAL_S,
    JACK_POLL_INTERVAL_S,
    RtMidiInputPort,
    RtMidiOutputPort,
)

SCRIPT_TIMEOUT_S = 10.0  # real seconds for a scripted poll loop to run through its fake time


class ScriptedQueue:
    """rtmidi's input queue as a script, with a fake clock and a fake sleep.

    ``arrivals`` are ``(time_s, data)``. ``get_message`` hands out what has
    arrived by the fake time, with rtmidi's delta time (seconds since the
    previous message's arrival); ``sleep`` advances the fake time and records
    the interval until ``until_s``, then sets :attr:`finished` and only naps
    (real time) until the port closes.
    """

    def __init__(self, arrivals, until_s: float) -> None:
        self.arrivals, self.until_s = list(arrivals), until_s
        self.t, self.previous_s, self.sleeps = 0.0, None, []
        self.finished = threading.Event()

    def now(self) -> float:
        return self.t

    def get_message(self):
        if not self.arrivals or self.arrivals[0][0] > self.t:
            return None
        arrived_s, data = self.arrivals.pop(0)
        delta = 0.0 if self.previous_s is None else arrived_s - self.previous_s
        self.previous_s = arrived_s
        return data, delta

    def sleep(self, seconds: float) -> None:
        if self.finished.is_set():
            time.sleep(0.001)
            return
        self.sleeps.append(seconds)
        self.t += seconds
        if self.t >= self.until_s:
            self.finished.set()

    def close_port(self) -> None:
        pass

    def delete(self) -> None:
        pass


def poll_scripted(arrivals, until_s, keep_fast=None):
    """Run a polled (JACK) rtmidi input over a script; ``(messages with stamps, sleeps)``."""
    got: list[tuple[list[int], float]] = []
    fake = ScriptedQueue(arrivals, until_s)
    port = RtMidiInputPort(fake, "jack", "fake", True, now=fake.now, sleep=fake.sleep)
    assert port.polled
    if keep_fast is not None:
        port.keep_fast = lambda: keep_fast(fake)
    port.set_handler(lambda data, t: got.append((data, t)))
    try:
        assert fake.finished.wait(SCRIPT_TIMEOUT_S), "the reader never ran through the script"
    finally:
        port.close()
    return got, fake.sleeps


def test_reader_polls_slowly_when_idle_and_stamps_from_rtmidi_deltas():
    idle_at_s = JACK_IDLE_AFTER_S
    late_s = idle_at_s + 2.0 + 0.0031  # between two idle polls
    got, sleeps = poll_scripted([(0.0005, [0x90, 60, 90]), (0.2, [0x80, 60, 0]),
                                 (late_s, [0x90, 62, 90]), (late_s, [0x90, 65, 90])],
                                until_s=late_s + 1.0)
    # fast while input flows, slow once idle, fast again after the new notes
    assert sleeps[0] == JACK_POLL_INTERVAL_S
    assert JACK_IDLE_POLL_INTERVAL_S in sleeps
    assert sleeps[-1] == JACK_POLL_INTERVAL_S
    idle_sleeps = sleeps.count(JACK_IDLE_POLL_INTERVAL_S)
    assert idle_sleeps * JACK_IDLE_POLL_INTERVAL_S == pytest.approx(
        late_s - idle_at_s - 0.2, abs=JACK_IDLE_POLL_INTERVAL_S + 0.002)
    assert [d for d, _ in got] == [[0x90, 60, 90], [0x80, 60, 0], [0x90, 62, 90], [0x90, 65, 90]]
    stamps = [t for _, t in got]
    # while active: stamped when polled, at most one fast interval late
    assert 0 <= stamps[1] - 0.2 <= JACK_POLL_INTERVAL_S + 1e-9
    # after an idle sleep: from the deltas, much closer than the idle interval
    assert abs(stamps[2] - late_s) < JACK_POLL_INTERVAL_S + 1e-9
    assert stamps == sorted(stamps)


def test_reader_keeps_polling_fast_while_told_to():
    until_s = JACK_IDLE_AFTER_S + 1.0
    _, sleeps = poll_scripted([(0.0005, [0x90, 60, 90])], until_s,
                              keep_fast=lambda fake: fake.t < JACK_IDLE_AFTER_S + 0.5)
    slow = [s for s in sleeps if s == JACK_IDLE_POLL_INTERVAL_S]
    # every slow poll came after the hint let go (a response playing until then)
    assert slow and sum(sleeps) - len(slow) * JACK_IDLE_POLL_INTERVAL_S >= (
        JACK_IDLE_AFTER_S + 0.5 - 1e-6)


def test_reader_stamps_never_run_ahead_of_the_clock():
    # a delta that would put the message in the future is cut to the poll time
    got, _ = poll_scripted([(0.0005, [0x90, 60, 90]), (9.0, [0x90, 61, 90])], until_s=9.5)
    assert got[0][1] <= JACK_POLL_INTERVAL_S + 1e-9
    assert 9.0 <= got[1][1] <= 9.0 + JACK_IDLE_POLL_INTERVAL_S


class FakeRtMidi:
    """Records calls the way a python-rtmidi MidiIn/MidiOut would receive them."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.callback = None
        self.queue: list[tuple[list[int], float]] = []
        self.sent: list[list[int]] = []
        self.deleted = False

    def set_callback(self, callback) -> None:
        self.calls.append("set_callback")
        self.callback = callback

    def cancel_callback(self) -> None:
        self.calls.append("cancel_callback")
        self.callback = None

    def get_message(self):
        assert not self.deleted, "touched after delete(): rtmidi would segfault"
        return self.queue.pop(0) if self.queue else None

    def send_message(self, data) -> None:
        assert not self.deleted, "touched after delete(): rtmidi would segfault"
        self.sent.append(list(data))

    def close_port(self) -> None:
        self.calls.append("close_port")

    def delete(self) -> None:
        self.calls.append("delete")
        self.deleted = True


def test_callback_input_stamps_with_the_given_clock():
    midi, got = FakeRtMidi(), []
    port = RtMidiInputPort(midi, "alsa", "livegen in", True, lambda d, t: got.append((d, t)),
                           now=lambda: 42.5)
    assert not port.polled
    midi.callback(([0x90, 60, 100], 0.0))
    assert got == [([0x90, 60, 100], 42.5)]
    port.close()
    port.close()
    assert midi.calls == ["set_callback", "cancel_callback", "close_port", "delete"]


def test_polled_input_drops_the_backlog_then_delivers():
    midi, got = FakeRtMidi(), []
    midi.queue.append(([0x90, 1, 1], 0.0))  # arrived before anyone listened
    port = RtMidiInputPort(midi, "jack", "livegen in", True)
    assert port.polled
    port.set_handler(lambda d, t: got.append(d))
    midi.queue.extend([([0x90, 60, 100], 0.0), ([0xF8], 0.001)])
    assert wait_for(lambda: len(got) == 2)
    port.close()
    assert got == [[0x90, 60, 100], [0xF8]]
    assert midi.calls == ["close_port", "delete"]  # the reader stopped before the close


def test_output_port_sends_then_drops_after_close():
    midi = FakeRtMidi()
    with RtMidiOutputPort(midi, "coremidi", "livegen out", True) as port:
        port.send(mido.Message("note_on", note=60, velocity=99, channel=2))
    port.send(mido.Message("note_off", note=60, velocity=0, channel=2))
    assert midi.sent == [[0x92, 60, 99]]
    assert (port.sent, port.dropped, port.closed) == (1, 1, True)
    assert "closed" in repr(port)
    assert midi.calls == ["close_port", "delete"]


class StuckWatch:
    """A watch client whose server stopped answering: ``close`` blocks until ``answer`` is set."""

    def __init__(self) -> None:
        self.answer = threading.Event()
        self.closed = False

    def close(self) -> None:
        self.answer.wait()
        self.closed = True


@pytest.mark.parametrize("kind", ["input", "output"])
def test_closing_a_port_does_not_wait_on_a_server_that_stopped_answering(kind, monkeypatch, caplog):
    """A CI run hung until its time limit in the watch client's close: the close now gives up."""
    monkeypatch.setattr(jack_clients, "JACK_CLOSE_TIMEOUT_S", 0.05)
    midi, watch = FakeRtMidi(), StuckWatch()
    if kind == "input":
        port = RtMidiInputPort(midi, "coremidi", "livegen in", True, watch=watch)
    else:
        port = RtMidiOutputPort(midi, "coremidi", "livegen out", True, watch=watch)
    try:
        with caplog.at_level(logging.WARNING, logger="livegen.ports.jack_clients"):
            closing = threading.Thread(target=port.close, daemon=True)
            closing.start()
            closing.join(10.0)
        assert not closing.is_alive(), "closing waited on a server that does not answer"
        assert port.closed and midi.calls[-2:] == ["close_port", "delete"]
        assert [r.getMessage() for r in caplog.records] == [
            "the JACK server did not answer for 0.05 s: livegen's watch client is left to it"]
    finally:
        watch.answer.set()
    assert wait_for(lambda: watch.closed)


@pytest.mark.jack
def test_rtmidi_clients_when_asked(jack_server):
    with ports.open_input("jack", client_name="lgsplit", jack_client="rtmidi") as inp, \
            ports.open_output("jack", client_name="lgsplit", jack_client="rtmidi") as out:
        assert isinstance(inp, RtMidiInputPort) and isinstance(out, RtMidiOutputPort)
        assert inp.polled  # a reader polls rtmidi's queue: no Python on JACK's thread
        clients = {n.split(":")[0] for n in jack_port_names("lgsplit")}
        assert len(clients) == 2  # rtmidi: one JACK client per port
