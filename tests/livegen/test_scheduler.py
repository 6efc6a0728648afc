"""Tests of livegen.scheduler (driven by run_due with a fake clock, plus one threaded test)."""

from __future__ import annotations

import itertools
import time

import mido
import pytest
from fakes import FakeClock, FakePort, hanging_notes
from hypothesis import given, settings
from hypothesis import strategies as st

from livegen.midi import CC_ALL_NOTES_OFF, CC_ALL_SOUND_OFF
from livegen.ports.base import OutputPort
from livegen.scheduler import Scheduler, SchedulerObserver


def on(pitch: int, channel: int = 0, velocity: int = 80) -> mido.Message:
    return mido.Message("note_on", note=pitch, velocity=velocity, channel=channel)


def off(pitch: int, channel: int = 0) -> mido.Message:
    return mido.Message("note_off", note=pitch, velocity=0, channel=channel)


@pytest.fixture
def rig():
    clock = FakeClock()
    port = FakePort(clock)
    return clock, port, Scheduler(port.send, now=clock)


def test_sends_in_deadline_order_and_only_when_due(rig):
    clock, port, sched = rig
    t0 = clock()
    sched.schedule(t0 + 0.2, on(62))
    sched.schedule(t0 + 0.1, on(60))
    sched.schedule(t0 + 0.1, off(60))  # same deadline: scheduling order
    assert sched.run_due() == 0 and sched.pending() == 3
    assert sched.next_due_s() == pytest.approx(t0 + 0.1)
    clock.advance(0.15)
    assert sched.run_due() == 2
    assert [(m.type, m.note) for m in port.messages] == [("note_on", 60), ("note_off", 60)]
    clock.advance(0.1)
    sched.run_due()
    assert port.messages[-1] == on(62)
    assert sched.sounding() == {(0, 62): 1}


def test_lateness_is_send_time_minus_due(rig):
    clock, port, sched = rig
    sched.schedule(clock() + 0.1, on(60))
    clock.advance(0.125)
    sched.run_due()
    assert sched.lateness_s == [pytest.approx(0.025)]


def test_restrike_sends_note_off_first_and_overlap_shares_one_voice(rig):
    clock, port, sched = rig
    t0 = clock()
    sched.schedule(t0, on(60))
    sched.schedule(t0 + 1.0, off(60))
    sched.schedule(t0 + 0.5, on(60, velocity=100))
    sched.schedule(t0 + 1.5, off(60))
    for _ in range(4):
        clock.advance(0.5)
        sched.run_due()
    kinds = [(m.type, port.times[i] - t0) for i, m in enumerate(port.messages)]
    # the first note_off (due 1.0) is absorbed: the re-struck note sounds until 1.5
    assert kinds == [("note_on", 0.5), ("note_off", 0.5), ("note_on", 0.5), ("note_off", 1.5)]
    assert hanging_notes(port.messages) == {} and sched.sounding() == {}


def test_note_off_for_key_not_sounding_is_not_sent(rig):
    clock, port, sched = rig
    sched.schedule(clock(), off(60))
    sched.schedule(clock(), on(61, velocity=0))  # velocity 0 is a note_off
    sched.run_due()
    assert port.messages == []


def test_other_messages_pass_through(rig):
    clock, port, sched = rig
    msg = mido.Message("control_change", control=1, value=5)
    sched.schedule(clock(), msg)
    sched.run_due()
    assert port.messages == [msg]


def test_cancel_drops_pending_and_ends_sounding_notes(rig):
    clock, port, sched = rig
    sched.schedule(clock(), on(60, channel=2))
    sched.schedule(clock() + 1, off(60, channel=2))
    sched.schedule(clock() + 0.5, on(64))
    sched.run_due()
    assert sched.cancel() == 2
    assert sched.pending() == 0 and sched.sounding() == {}
    assert port.messages[-1] == off(60, channel=2)
    assert port.controls(CC_ALL_NOTES_OFF) == []
    clock.advance(2)
    sched.run_due()
    assert hanging_notes(port.messages) == {}


def test_cancel_with_panic_sends_cc123_and_cc120_on_used_and_given_channels(rig):
    clock, port, sched = rig
    sched.schedule(clock(), on(60, channel=3))
    sched.run_due()
    sched.cancel(panic=True, channels=(5,))
    types = [(m.type, m.channel, getattr(m, "control", None)) for m in port.messages[1:]]
    assert types == [("note_off", 3, None),
                     ("control_change", 3, CC_ALL_NOTES_OFF), ("control_change", 3, CC_ALL_SOUND_OFF),
                     ("control_change", 5, CC_ALL_NOTES_OFF), ("control_change", 5, CC_ALL_SOUND_OFF)]


def test_first_note_on_is_the_send_time_of_the_first_note_on_after_arming(rig):
    clock, port, sched = rig
    sched.schedule(clock() + 0.1, mido.Message("control_change", control=1, value=5))
    sched.schedule(clock() + 0.1, on(60))
    sched.schedule(clock() + 0.2, on(62))
    sched.arm_first_note_on()
    assert sched.first_note_on_s is None
    clock.advance(0.15)
    sched.run_due()
    assert sched.first_note_on_s == clock()  # the note_on's send time, not the CC's
    clock.advance(0.1)
    sched.run_due()
    assert sched.first_note_on_s == clock() - 0.1  # one per arming: the later note_on leaves it
    sched.arm_first_note_on()
    assert sched.first_note_on_s is None


class Recorder(SchedulerObserver):
    def __init__(self):
        self.events = []

    def scheduled(self, due_s, at_s, msg):
        self.events.append(("scheduled", due_s, at_s, msg))

    def sent(self, due_s, sent_s, msg):
        self.events.append(("sent", due_s, sent_s, msg))


def test_observer_sees_each_queued_message_and_each_send_with_its_deadline(rig):
    clock, port, sched = rig
    seen = Recorder()
    sched.add_observer(seen)
    t0 = clock()
    sched.schedule(t0 + 0.1, on(60))
    sched.schedule(t0 + 0.3, off(60))
    assert seen.events == [("scheduled", t0 + 0.1, t0, on(60)), ("scheduled", t0 + 0.3, t0, off(60))]
    clock.advance(0.125)
    sched.run_due()
    assert seen.events[-1] == ("sent", t0 + 0.1, t0 + 0.125, on(60))
    clock.advance(0.25)
    sched.run_due()
    assert seen.events[-1] == ("sent", t0 + 0.3, t0 + 0.375, off(60))
    assert len(seen.events) == 4


def test_observer_is_not_told_of_what_the_scheduler_sends_of_itself(rig):
    """Re-strike note_offs, absorbed note_offs, failed sends and cancel's panic are not queued sends."""
    clock, port, sched = rig
    seen = Recorder()
    sched.add_observer(seen)
    t0 = clock()
    for due_s, msg in ((t0, on(60)), (t0 + 0.1, on(60)), (t0 + 0.2, off(60)), (t0 + 0.3, off(61))):
        sched.schedule(due_s, msg)
    clock.advance(0.25)
    sched.run_due()  # on, re-strike (off + on), the first off absorbed; off(61) not sounding
    sched.cancel(panic=True)
    sent = [(e[1], e[3]) for e in seen.events if e[0] == "sent"]
    assert sent == [(t0, on(60)), (t0 + 0.1, on(60))]
    assert port.messages.count(off(60)) == 2  # the re-strike's and cancel's, both unreported


def test_an_observer_that_raises_never_stops_a_send(rig, caplog):
    clock, port, sched = rig

    class Broken(SchedulerObserver):
        def scheduled(self, due_s, at_s, msg):
            raise RuntimeError("observer bug (scheduled)")

        def sent(self, due_s, sent_s, msg):
            raise RuntimeError("observer bug (sent)")

    sched.add_observer(Broken())
    later = Recorder()
    sched.add_observer(later)
    assert sched.schedule(clock(), on(60)) is True
    sched.schedule(clock() + 0.1, off(60))
    clock.advance(0.2)
    assert sched.run_due() == 2
    assert port.messages == [on(60), off(60)] and sched.sounding() == {}
    assert [e[0] for e in later.events] == ["scheduled", "scheduled", "sent", "sent"]
    assert "observer bug (scheduled)" in caplog.text and "observer bug (sent)" in caplog.text


def test_a_failed_send_is_not_reported_to_the_observer(rig):
    clock, port, sched = rig
    seen = Recorder()
    sched.add_observer(seen)
    port.fail = True
    sched.schedule(clock(), on(60))
    sched.run_due()
    assert sched.send_errors == 1 and [e[0] for e in seen.events] == ["scheduled"]


def test_send_that_raises_is_counted_and_key_retried_at_stop(rig):
    clock, port, sched = rig
    sched.schedule(clock(), on(60))
    sched.run_due()
    port.fail = True
    sched.schedule(clock(), off(60))
    sched.schedule(clock(), on(62))
    sched.run_due()  # must not raise
    assert sched.send_errors == 2
    assert sched.sounding() == {(0, 60): 1}  # the failed note_off is retried
    port.fail = False
    sched.stop()
    assert hanging_notes(port.messages) == {}


def test_stop_is_idempotent_and_panics_once(rig):
    clock, port, sched = rig
    sched.schedule(clock(), on(60))
    sched.run_due()
    sched.stop(channels=(0,))
    sched.stop()
    assert len(port.controls(CC_ALL_NOTES_OFF)) == 1
    assert len(port.controls(CC_ALL_SOUND_OFF)) == 1
    assert hanging_notes(port.messages) == {}
    assert sched.schedule(clock(), on(61)) is False  # dropped after stop


def test_start_after_stop_raises_runtime_error(rig):
    _, _, sched = rig
    sched.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        sched.start()


def test_thread_sends_on_deadline_and_stop_cleans_up():
    port = FakePort()
    with Scheduler(port.send) as sched:
        t0 = time.monotonic()
        sched.schedule(t0 + 0.002, on(60))
        sched.schedule(t0 + 0.004, off(60))
        sched.schedule(t0 + 0.003, on(64))
        sched.start()  # idempotent
        deadline = time.monotonic() + 5.0  # generous: the machine is shared
        while len(port.messages) < 3 and time.monotonic() < deadline:
            time.sleep(0.001)
        assert [m.note for m in port.messages[:3]] == [60, 64, 60]
        assert len(sched.lateness_s) == 3
    assert not sched.running
    assert hanging_notes(port.messages) == {}
    assert port.controls(CC_ALL_NOTES_OFF)


def test_thread_never_sends_early_while_spinning_to_a_deadline():
    """The thread wakes ``SPIN_S`` early and spins; it must still never send before the due time,
    and a message scheduled during the spin for an earlier deadline leaves first."""
    sent: list[tuple[float, int]] = []
    with Scheduler(lambda m: m.type == "note_on" and sent.append((time.monotonic(), m.note))) as sched:
        t0 = time.monotonic() + 0.01
        due = {60 + i: t0 + i * 0.004 for i in range(10)}  # 4 ms apart: each inside a spin
        for pitch, due_s in due.items():
            sched.schedule(due_s, on(pitch))
        sched.schedule(t0 + 0.0305, on(80))  # between two others, inside the spin before 68
        due[80] = t0 + 0.0305
        deadline = time.monotonic() + 5.0
        while len(sent) < len(due) and time.monotonic() < deadline:
            time.sleep(0.001)
    assert sorted(note for _, note in sent) == sorted(due)
    assert all(sent_s >= due[note] for sent_s, note in sent)
    assert [note for _, note in sent] == sorted(due, key=due.get)


def _wait_started(sched):
    deadline = time.monotonic() + 5.0
    while sched.realtime_granted is None and time.monotonic() < deadline:
        time.sleep(0.001)


@pytest.mark.parametrize("permitted", [True, False])
def test_realtime_scheduler_thread_runs_sched_fifo_when_permitted(monkeypatch, permitted):
    import os

    import livegen.osthread as osthread

    if not hasattr(os, "sched_setscheduler"):
        pytest.skip("no sched_setscheduler here")
    policies = {}

    def fake_setscheduler(pid, policy, param):
        if not permitted:
            raise PermissionError(1, "Operation not permitted")
        policies[pid] = (policy, param.sched_priority)  # recorded, not applied: tests stay fair

    monkeypatch.setattr(osthread.os, "sched_setscheduler", fake_setscheduler)
    sent: list[tuple[float, int]] = []
    with Scheduler(lambda m: m.type == "note_on" and sent.append((time.monotonic(), m.note)),
                   realtime=True) as sched:
        _wait_started(sched)
        assert sched.realtime_granted is permitted
        assert policies == ({0: (os.SCHED_FIFO, osthread.REALTIME_PRIORITY)} if permitted else {})
        t0 = time.monotonic() + 0.01
        due = {60 + i: t0 + i * 0.003 for i in range(8)}
        for pitch, due_s in due.items():
            sched.schedule(due_s, on(pitch))
        deadline = time.monotonic() + 5.0
        while len(sent) < len(due) and time.monotonic() < deadline:
            time.sleep(0.001)
    assert [note for _, note in sent] == sorted(due, key=due.get)
    assert all(sent_s >= due[note] for sent_s, note in sent)  # never early, spin or not
    assert (sched.spin_s == 0) is permitted  # granted: a plain timed wait, no spin


def test_a_scheduler_without_realtime_never_asks(monkeypatch):
    import livegen.osthread as osthread

    monkeypatch.setattr(osthread.os, "sched_setscheduler", lambda *a: pytest.fail("asked"), raising=False)
    with Scheduler(lambda m: None) as sched:
        time.sleep(0.02)
        assert sched.realtime_granted is None


_op = st.one_of(
    st.tuples(st.just("on"), st.floats(0, 1), st.integers(60, 63), st.integers(0, 1)),
    st.tuples(st.just("off"), st.floats(0, 1), st.integers(60, 63), st.integers(0, 1)),
    st.tuples(st.just("run"), st.floats(0, 0.5), st.just(0), st.just(0)),
    st.tuples(st.just("cancel"), st.floats(0, 1), st.booleans(), st.just(0)),
    st.tuples(st.just("stop"), st.just(0.0), st.just(0), st.just(0)),
)


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(_op, max_size=60))
def test_no_hanging_note_under_any_interleaving(ops):
    clock = FakeClock()
    port = FakePort(clock)
    sched = Scheduler(port.send, now=clock)
    for kind, x, a, b in ops:
        if kind == "on":
            sched.schedule(clock() + x, on(a, channel=b))
        elif kind == "off":
            sched.schedule(clock() + x, off(a, channel=b))
        elif kind == "run":
            clock.advance(x)
            sched.run_due()
        elif kind == "cancel":
            sched.cancel(panic=bool(a))
        else:
            sched.stop()
        hanging_notes(port.messages)  # asserts no double voice at any point
    sched.stop()
    assert sched.sounding() == {}
    assert hanging_notes(port.messages) == {}


# -- a timed port (livegen.handoff): messages handed over ahead, played by the port ----------


class FakeTimedPort(OutputPort):
    """A timed output on a fake clock, modelling the JACK extension's slots.

    :meth:`play` is the process callback: it plays every held message due
    before ``until_s`` in (deadline, token) order. ``messages`` is what the
    receiver got, in order (immediate sends included).
    """

    def __init__(self, clock: FakeClock, capacity: int = 256) -> None:
        super().__init__(object(), "fake", "fake out", True)
        self.timed = True
        self.timed_clock = clock
        self.timed_capacity = capacity
        self.messages: list[mido.Message] = []
        self.held: dict[int, tuple[float, bytes]] = {}
        self.played: list[tuple[int, float]] = []
        self.played_tokens: list[int] = []
        self.gone = False  # the server went away (the port itself still open)
        self._tokens = itertools.count(1)
        self._span_start_s = clock()

    def _release(self, handle) -> None:
        pass

    @property
    def timed_stopped(self) -> bool:
        return self.closed or self.gone

    def send_bytes(self, data) -> None:
        self.messages.append(mido.Message.from_bytes(list(data)))

    def send_at(self, data, due_s: float) -> int | None:
        if len(self.held) + len(self.played) >= self.timed_capacity:
            return None
        token = next(self._tokens)
        self.held[token] = (due_s, bytes(data))
        return token

    def play(self, until_s: float) -> None:
        for token in sorted(self.held, key=lambda k: (self.held[k][0], k)):
            due_s, data = self.held[token]
            if due_s < until_s:
                del self.held[token]
                self.messages.append(mido.Message.from_bytes(list(data)))
                self.played.append((token, max(due_s, self._span_start_s)))
                self.played_tokens.append(token)
        self._span_start_s = until_s

    def collect(self) -> list[tuple[int, float]]:
        played, self.played = self.played, []
        return played

    def cancel_timed(self, token: int | None = None) -> list[int]:
        if token is not None:
            return [token] if self.held.pop(token, None) is not None else []
        dropped = list(self.held)
        self.held.clear()
        return dropped


@pytest.fixture
def timed():
    clock = FakeClock()
    port = FakeTimedPort(clock)
    return clock, port, Scheduler(port.send, now=clock, lookahead_s=0.05)


def test_a_timed_port_gets_each_message_ahead_with_its_deadline(timed):
    clock, port, sched = timed
    seen = Recorder()
    sched.add_observer(seen)
    t0 = clock()
    sched.schedule(t0 + 0.2, on(60))
    assert sched.run_due() == 0 and not port.held
    clock.advance(0.16)  # within the 50 ms lookahead
    assert sched.run_due() == 1
    assert list(port.held.values()) == [(pytest.approx(t0 + 0.2), bytes(on(60).bytes()))]
    assert sched.notes_sent == 0 and sched.pending() == 1  # handed over, not played yet
    port.play(t0 + 0.21)
    assert sched.pending() == 0
    assert port.messages == [on(60)]
    assert sched.notes_sent == 1 and sched.messages_sent == 1
    assert sched.lateness_s == [pytest.approx(0.0)]
    assert seen.events[-1] == ("sent", pytest.approx(t0 + 0.2), pytest.approx(t0 + 0.2), on(60))


def test_schedule_hands_over_at_once_what_is_due_within_the_lookahead(timed):
    clock, port, sched = timed
    sched.schedule(clock() + 0.02, on(60))  # no run_due: the engine thread hands it over
    assert len(port.held) == 1


def test_a_fake_clock_scheduler_sends_at_deadlines_even_on_a_timed_port():
    clock = FakeClock()
    port = FakeTimedPort(FakeClock())  # the port's clock is another
    sched = Scheduler(port.send, now=clock)
    assert sched.handoff is None
    sched.schedule(clock(), on(60))
    sched.run_due()
    assert port.messages == [on(60)] and not port.held


def test_cancel_on_a_timed_port_ends_exactly_the_notes_that_played(timed):
    clock, port, sched = timed
    t0 = clock()
    for due, msg in ((0.01, on(60)), (0.02, on(62)), (0.03, off(60)), (0.04, on(64)), (0.045, off(62)),
                     (0.049, off(64))):
        sched.schedule(t0 + due, msg)
    assert len(port.held) == 6
    port.play(t0 + 0.035)  # on60, on62, off60 played; on64, off62, off64 still held
    assert sched.cancel() == 3
    assert port.messages == [on(60), on(62), off(60), off(62)]  # nothing for 64: it never sounded
    assert hanging_notes(port.messages) == {}
    assert sched.sounding() == {} and sched.notes_sent == 2
    port.play(t0 + 1.0)
    assert port.messages[-1] == off(62)  # nothing played after the cancel


def legato_repeats(sched, t0):
    """A pitch repeated before it ends: each note's note_on and note_off scheduled together."""
    for onset, end in ((0.0, 0.04), (0.02, 0.07), (0.05, 0.09)):
        sched.schedule(t0 + onset, on(62))
        sched.schedule(t0 + end, off(62))


def test_a_repeated_pitch_plays_as_without_a_timed_port(timed):
    """A note_on due before a handed-over note_off of its key takes that note_off back."""
    clock, port, sched = timed
    legato_repeats(sched, clock())  # most within the lookahead: handed over at once
    assert len(port.held) == 5
    clock.advance(0.2)
    sched.run_due()
    port.play(clock())
    untimed_clock = FakeClock(clock())
    untimed = FakePort(untimed_clock)
    plain = Scheduler(untimed.send, now=untimed_clock)
    legato_repeats(plain, untimed_clock())
    untimed_clock.advance(0.2)
    plain.run_due()
    assert port.messages == untimed.messages  # re-strikes, then one note_off at the end
    assert [m.type for m in port.messages] == ["note_on", "note_off", "note_on", "note_off",
                                               "note_on", "note_off"]
    assert sched.handoff.reordered == 0 and sched.sounding() == {}


def test_one_keys_messages_play_in_the_order_the_ledger_saw_them(timed):
    """What cannot be taken back (a later note_on) holds an earlier message of its key behind it."""
    clock, port, sched = timed
    t0 = clock()
    sched.schedule(t0 + 0.04, on(62))
    sched.schedule(t0 + 0.02, off(62))  # earlier than the handed-over note_on: held to 0.04
    sched.schedule(t0 + 0.06, off(62))
    port.play(t0 + 0.1)
    hanging_notes(port.messages)  # no double voice: the ledger's order held
    assert [m.type for m in port.messages] == ["note_on", "note_off"]
    assert sched.handoff.reordered == 1
    sched.stop()
    assert hanging_notes(port.messages) == {}


def test_a_full_timed_port_keeps_the_rest_for_later(timed):
    clock, _, _ = timed
    port = FakeTimedPort(clock, capacity=4)
    sched = Scheduler(port.send, now=clock, lookahead_s=0.05)
    t0 = clock()
    for i in range(6):
        sched.schedule(t0 + 0.001 * i, on(60 + i))
    assert len(port.held) == 3  # room for a re-strike pair is kept
    port.play(t0 + 0.01)
    sched.run_due()
    port.play(t0 + 0.01)
    sched.run_due()
    port.play(t0 + 0.01)
    assert [m.note for m in port.messages] == list(range(60, 66)) and sched.pending() == 0


def test_messages_held_by_a_port_that_stopped_are_not_waited_for(timed):
    """A server gone with messages held: pending() does not wait for them for ever."""
    clock, port, sched = timed
    sched.schedule(clock() + 0.01, on(60))
    sched.schedule(clock() + 0.02, off(60))
    assert sched.pending() == 2
    port.gone = True  # a JACK server that shut down: nothing held will play
    assert sched.pending() == 0 and sched.handoff.lost == 2


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(_op, max_size=60), lookahead=st.floats(0, 0.6))
def test_no_hanging_note_on_a_timed_port_under_any_interleaving(ops, lookahead):
    clock = FakeClock()
    port = FakeTimedPort(clock)
    sched = Scheduler(port.send, now=clock, lookahead_s=lookahead)
    for kind, x, a, b in ops:
        if kind == "on":
            sched.schedule(clock() + x, on(a, channel=b))
        elif kind == "off":
            sched.schedule(clock() + x, off(a, channel=b))
        elif kind == "run":
            clock.advance(x)
            sched.run_due()
            port.play(clock())
        elif kind == "cancel":
            sched.cancel(panic=bool(a))
        else:
            sched.stop()
        hanging_notes(port.messages)  # asserts no double voice at any point
    sched.stop()
    port.play(clock() + 10.0)
    assert not port.held and sched.sounding() == {}
    assert hanging_notes(port.messages) == {}
    assert len(port.played_tokens) == len(set(port.played_tokens))  # nothing played twice
