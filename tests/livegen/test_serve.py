"""The daemon's watch (livegen/serve.py): the output outlet, a lost server, a second livegen."""

from __future__ import annotations

import sys

import mido
import pytest

from livegen import ports, serve
from livegen.errors import BackendError
from livegen.outlet import Outlet
from livegen.scheduler import Scheduler


class FakeOutput:
    """An output port whose connections and server a test moves by hand."""

    def __init__(self, name: str = "livegen out") -> None:
        self.name, self.sent = name, []
        self.connections_made = 0
        self.server_lost = False

    def send(self, message) -> None:
        self.sent.append(message)


def on(pitch: int, channel: int = 0) -> mido.Message:
    return mido.Message("note_on", channel=channel, note=pitch, velocity=90)


def off(pitch: int, channel: int = 0) -> mido.Message:
    return mido.Message("note_off", channel=channel, note=pitch, velocity=0)


def test_a_new_connection_ends_what_the_receiver_may_hold_then_cc123():
    port, outlet = FakeOutput(), Outlet()
    port.connections_made = 1  # the connection it had when attached needs nothing
    outlet.attach(port)
    assert outlet.renew([]) == 0 and port.sent == []
    for msg in (on(60), on(64, channel=2), off(60)):  # the disconnection came meanwhile
        outlet.send(msg)
    port.sent.clear()
    assert outlet.renew([]) == 0  # no new connection: nothing
    port.connections_made = 2
    assert outlet.renew([(0, 67)]) == 0  # not yet: the new connection may not carry data yet
    assert outlet.renew([(0, 67)]) == 3  # struck since (60, 64) and sounding (67)
    kinds = [(m.type, m.channel, getattr(m, "note", None) or m.control) for m in port.sent]
    assert kinds == [("note_off", 0, 60), ("note_off", 0, 67), ("note_off", 2, 64),
                     ("control_change", 0, 123), ("control_change", 2, 123)]
    port.sent.clear()
    port.connections_made = 3  # once more: only what was struck since, and the ledger's
    outlet.send(on(72))
    port.sent.clear()
    assert outlet.renew([]) == 0 and outlet.renew([]) == 1 and [m.note for m in port.sent[:1]] == [72]


def test_no_note_is_played_into_a_lost_server():
    port, outlet = FakeOutput(), Outlet()
    outlet.attach(port)
    scheduler = Scheduler(outlet.send)
    scheduler.schedule(0.0, on(60))
    scheduler.run_due(0.0)
    assert scheduler.notes_sent == 1 and scheduler.sounding() == {(0, 60): 1}
    port.server_lost = True
    scheduler.schedule(0.0, on(62))
    scheduler.schedule(0.0, off(60))
    scheduler.run_due(0.0)
    assert scheduler.notes_sent == 1  # the note_on failed: not counted as played
    assert scheduler.send_errors == 1 and scheduler.sounding() == {}  # the note_off was dropped
    assert [m.note for m in port.sent] == [60]


def test_without_a_port_a_note_on_fails_and_the_rest_is_dropped():
    outlet = Outlet()
    with pytest.raises(BackendError, match="server went away"):
        outlet.send(on(60))
    outlet.send(off(60))
    outlet.send(mido.Message("control_change", control=123))
    port = FakeOutput()
    outlet.attach(port)
    assert outlet.detach() is port and outlet.renew([(0, 60)]) == 0


def test_a_second_livegen_is_refused_with_its_ports_named(monkeypatch):
    seen = []

    def other_livegen(backend, client_name, port_names):
        seen.append((backend, client_name, tuple(port_names)))
        return ["livegen:livegen in", "livegen:livegen out"]

    monkeypatch.setattr(ports, "other_livegen", other_livegen)
    with pytest.raises(BackendError, match=r"another livegen is running on jack \(livegen:livegen in, "
                                           r"livegen:livegen out\).*--client-name livegen2"):
        serve.check_alone("jack", "livegen")
    assert seen == [("jack", "livegen", ("livegen in", "livegen out"))]
    serve.check_alone("winmm", "livegen")  # no virtual ports there: nothing to clash with
    assert len(seen) == 1


def test_the_outlet_hands_time_stamped_messages_to_the_port_open_now():
    from fakes import FakeClock, hanging_notes
    from test_scheduler import FakeTimedPort

    class Port(FakeTimedPort):
        connections_made = 0  # moved by hand, as FakeOutput's

    clock = FakeClock()
    first, outlet = Port(clock), Outlet()
    outlet.attach(first)
    scheduler = Scheduler(outlet.send, now=clock, lookahead_s=0.05)
    assert scheduler.handoff is not None  # ahead of the deadlines, through the outlet
    scheduler.schedule(0.01, on(60))
    scheduler.schedule(0.02, off(60))
    scheduler.schedule(0.03, on(64))
    scheduler.run_due(clock())
    assert len(first.held) == 3 and first.messages == []  # held by the port, not sent yet
    first.play(0.025)
    scheduler.run_due(0.025)
    assert [m.type for m in first.messages] == ["note_on", "note_off"]
    # The server goes away with note 64 still held: it will never play, and is forgotten.
    first.gone = True
    scheduler.cancel()
    assert scheduler.pending() == 0 and not scheduler.sounding()
    outlet.detach()  # while no server is there, what the engine schedules is dropped, not held
    scheduler.schedule(0.04, on(65))
    scheduler.schedule(0.05, off(65))
    scheduler.run_due(0.05)
    assert scheduler.pending() == 0 and scheduler.notes_sent == 1
    second = Port(clock)
    outlet.attach(second)  # the server is back: a new port, whose tokens start at 1 again
    scheduler.schedule(0.1, on(67))
    scheduler.schedule(0.2, off(67))
    scheduler.run_due(0.06)
    assert outlet.cancel_timed((1, 1)) == []  # the first port's token names nothing on the second
    second.play(0.3)
    scheduler.run_due(0.3)
    assert [(m.type, m.note) for m in second.messages] == [("note_on", 67), ("note_off", 67)]
    assert hanging_notes(first.messages) == {} and hanging_notes(second.messages) == {}
    second.connections_made = 1  # reconnected: 67 was struck through the timed path
    assert outlet.renew([]) == 0 and outlet.renew([]) == 1


# --- the exit warning about missed JACK cycles -------------------------------------------------


def feed_watches(loss: serve.InputLoss, watches: list[tuple[int, int]]) -> int:
    """Give ``loss`` one watch per ``(cycles missed, messages in)`` interval; return its count."""
    missed = messages = 0
    for missed_now, messages_now in watches:
        missed, messages = missed + missed_now, messages + messages_now
        loss.update(missed, messages)
    return loss.cycles


def test_missed_cycles_with_no_input_around_them_are_not_counted():
    assert feed_watches(serve.InputLoss(), [(3, 0), (5, 0), (0, 0), (7, 0)]) == 0


@pytest.mark.parametrize("watches, counted", [
    ([(3, 4)], 3),  # input in the same interval
    ([(0, 0), (3, 0), (0, 4)], 3),  # input in the next one
    ([(0, 4), (3, 0)], 3),  # input in the one before
    ([(3, 0), (0, 0), (0, 4)], 0),  # two intervals before the input: nothing lost
    ([(0, 4), (0, 0), (3, 0)], 0),  # two intervals after it
    ([(2, 0), (3, 4), (5, 0), (7, 0)], 10),
])
def test_missed_cycles_count_when_input_arrived_in_or_next_to_their_interval(watches, counted):
    assert feed_watches(serve.InputLoss(), watches) == counted


# --- the "no backend" error ----------------------------------------------------------------------


@pytest.mark.parametrize("jackd, hint", [("/usr/bin/jackd", "jackd is installed: start it"),
                                         (None, "apt-get install jackd2")])
def test_no_backend_says_what_it_found_and_what_to_do_in_one_short_line(monkeypatch, capsys,
                                                                         tmp_path, jackd, hint):
    from livegen import cli
    from livegen.ports import backends

    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(backends, "ALSA_SEQ_DEVICE", "/absent/seq0")  # as long as /dev/snd/seq
    monkeypatch.setattr(backends, "jack_running", lambda: False)
    monkeypatch.setattr(backends.shutil, "which", lambda name: jackd if name == "jackd" else None)
    assert cli.main(["run", "--model", str(tmp_path / "unused.onnx")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and len(err[0]) < 160, err
    assert "no ALSA sequencer" in err[0] and "no JACK server running" in err[0] and hint in err[0]
