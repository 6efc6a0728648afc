"""The feedback guard: the echo matcher alone, and an engine whose output is looped to its input."""

from __future__ import annotations

import logging

import mido
import pytest
from fakes import FakeClock, FakeModel, FakePort, hanging_notes
from rig import PHRASE, PRESET, Rig, make_rig

from livegen.engine import Engine
from livegen.feedback import ECHO_EARLY_S, ECHO_WINDOW_S, MAX_PENDING_PER_KEY, SWEEP_EVERY, FeedbackGuard

ON = mido.Message("note_on", channel=2, note=64, velocity=90)
OFF = mido.Message("note_off", channel=2, note=64, velocity=0)


def guard_with(*sent: tuple[float, mido.Message]) -> FeedbackGuard:
    guard = FeedbackGuard()
    for due_s, msg in sent:
        guard.scheduled(due_s, due_s - 0.5, msg)
    return guard


# --- the matcher -------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [[0x92, 64, 90], bytes([0x92, 64, 90]), ON], ids=["list", "bytes", "mido"])
def test_a_note_on_echoed_within_the_window_is_an_echo(data):
    guard = guard_with((10.0, ON))
    assert guard.is_echo(10.004, data)
    assert guard.echoes == 1 and guard.last_delay_s == pytest.approx(0.004)


@pytest.mark.parametrize("data", [
    [0x92, 64, 91],  # another velocity
    [0x92, 65, 90],  # another pitch
    [0x93, 64, 90],  # another channel
    [0x82, 64, 90],  # a note_off
    [0x92, 64, 0],  # a note_on velocity 0 (a note_off)
    [0xB2, 64, 90],  # a controller
    [0x92, 64],  # truncated
    [],
    "garbage",
], ids=["velocity", "pitch", "channel", "note_off", "velocity_0", "cc", "short", "empty", "str"])
def test_anything_else_is_not_an_echo(data):
    guard = guard_with((10.0, ON))
    assert not guard.is_echo(10.004, data)
    assert guard.echoes == 0


def test_the_window_bounds_both_sides():
    guard = guard_with((10.0, ON))
    assert not guard.is_echo(10.0 - ECHO_EARLY_S - 0.001, [0x92, 64, 90])  # before it was played
    assert not guard.is_echo(10.0 + ECHO_WINDOW_S + 0.001, [0x92, 64, 90])  # too late: the performer
    guard = guard_with((10.0, ON))
    assert guard.is_echo(10.0 - ECHO_EARLY_S, [0x92, 64, 90])
    guard = guard_with((10.0, ON))
    assert guard.is_echo(10.0 + ECHO_WINDOW_S, [0x92, 64, 90])


def test_each_sent_message_excuses_one_echo():
    """The performer striking the same key at the same velocity right after the echo is heard."""
    guard = guard_with((10.0, ON))
    assert guard.is_echo(10.003, [0x92, 64, 90])
    assert not guard.is_echo(10.010, [0x92, 64, 90])
    guard = guard_with((10.0, ON), (10.0, ON))  # twice (a re-strike): two echoes
    assert guard.is_echo(10.003, [0x92, 64, 90]) and guard.is_echo(10.004, [0x92, 64, 90])


def test_a_note_off_echo_is_the_same_note_off():
    guard = guard_with((10.5, OFF), (10.5, OFF))
    assert not guard.is_echo(10.51, [0x82, 64, 64])  # a release velocity livegen never sends
    assert not guard.is_echo(10.51, [0x92, 64, 0])  # a note_on velocity 0: another message
    assert guard.is_echo(10.51, [0x82, 64, 0])
    assert guard.is_echo(10.51, OFF)


def test_what_a_cancel_dropped_excuses_no_echo():
    """A barge-in cancels the answer's queued notes: the performer's same notes are no echoes."""
    guard = guard_with((10.19, ON), (10.5, ON), (10.6, OFF))
    guard.cancelled(10.2)
    assert guard.is_echo(10.21, [0x92, 64, 90])  # sent at 10.19: its echo may still come
    assert not guard.is_echo(10.51, [0x92, 64, 90])  # never sent
    assert not guard.is_echo(10.61, [0x82, 64, 0])


def test_out_of_order_deadlines_of_one_key_still_match():
    guard = guard_with((12.0, OFF), (11.0, OFF))  # a long note's note_off queued first
    assert guard.is_echo(11.002, [0x82, 64, 0])
    assert guard.is_echo(12.002, [0x82, 64, 0])


def test_controllers_and_clock_sent_are_not_watched():
    guard = guard_with((10.0, mido.Message("control_change", channel=2, control=123, value=0)))
    assert not guard.is_echo(10.001, [0xB2, 123, 0])


def test_memory_per_key_and_in_all_is_bounded():
    guard = FeedbackGuard()
    for i in range(3 * MAX_PENDING_PER_KEY):
        guard.scheduled(10.0 + i * 1e-3, 10.0, ON)
    assert len(guard._pending[(0x90, 2, 64, 90)]) == MAX_PENDING_PER_KEY
    for i in range(SWEEP_EVERY):  # every key of a long session, long past
        guard.scheduled(100.0 + i * 0.01, 100.0 + i * 0.01,
                        mido.Message("note_on", channel=i % 16, note=i % 128, velocity=1 + i % 127))
    assert len(guard._pending) < SWEEP_EVERY // 4


def test_one_warning_names_the_loop_and_its_delay(caplog):
    guard = guard_with(*[(10.0 + i, ON) for i in range(5)])
    with caplog.at_level(logging.WARNING, logger="livegen.feedback"):
        for i in range(5):
            assert guard.is_echo(10.0 + i + 0.003, [0x92, 64, 90])
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, warnings
    assert "'livegen out' -> 'livegen in'" in warnings[0] and "3.0 ms" in warnings[0]
    assert guard.echoes == 5


def test_bad_windows_are_refused():
    with pytest.raises(ValueError, match="window_s"):
        FeedbackGuard(window_s=0.0)


# --- the engine, its output looped back to its input -------------------------------------------

ECHO_DELAY_S = 0.003  # a DAW's MIDI thru: a few ms


class LoopedPort(FakePort):
    """A fake port whose every message also comes back to the engine's input after a delay."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__(clock)
        self.engine: Engine | None = None
        self.looped = True

    def send(self, msg: mido.Message) -> None:
        super().send(msg)
        if self.looped and self.engine is not None:
            self.engine.feed(msg.bytes(), self.clock() + ECHO_DELAY_S)


def answer(looped: bool) -> tuple[list[mido.Message], Rig]:
    clock = FakeClock()
    port = LoopedPort(clock)
    port.looped = looped
    engine = Engine(FakeModel(), PRESET, port.send, now=clock, seed=3)
    port.engine = engine
    rig = Rig(clock, port, engine.model, engine)
    rig.play(PHRASE)
    rig.run_until_responding()
    rig.poll_for(PRESET.answer.max_seconds + 2.0)
    return list(port.messages), rig


def test_a_looped_output_does_not_cut_the_answer_short(caplog):
    alone, _ = answer(looped=False)
    with caplog.at_level(logging.WARNING):
        looped, rig = answer(looped=True)
    note_ons = [m for m in looped if m.type == "note_on" and m.velocity]
    assert len([m for m in alone if m.type == "note_on" and m.velocity]) >= 4
    assert looped == alone  # the echoes changed nothing: same notes, same order
    assert rig.engine.stats.barge_ins == 0
    assert not hanging_notes(looped)
    loops = [r for r in caplog.records if "feedback loop" in r.getMessage()]
    assert len(loops) == 1 and len(note_ons) >= 4


def test_after_a_barge_in_the_performer_playing_the_cut_answer_is_heard():
    """The notes a barge-in cancelled were never sent: the performer may play them at their times."""
    rig = make_rig()
    rig.play(PHRASE)
    rig.run_until_responding()
    rig.poll_for(0.1)  # the answer sounds, more of it is queued
    fed_before = rig.engine.stats.messages_in
    later = [(due, msg) for _, due, msg in rig.note_ons_scheduled() if due > rig.clock() + 0.02]
    assert later, "no queued note_on to play over"
    due_s, msg = later[0]
    channel = PRESET.channel
    rig.engine.feed([0x90 | channel, 30, 50], rig.clock())  # the performer cuts in
    rig.poll()
    assert rig.engine.stats.barge_ins == 1
    while rig.clock() < due_s:
        rig.clock.advance(min(0.005, due_s - rig.clock()))
        rig.poll()
    rig.engine.feed([0x90 | channel, msg.note, msg.velocity], rig.clock())  # the cut note, on time
    rig.poll()
    rig.engine.feed([0x80 | channel, msg.note, 0], rig.clock() + 0.1)
    rig.engine.feed([0x80 | channel, 30, 0], rig.clock() + 0.1)
    rig.poll_for(0.2)
    assert rig.engine.stats.messages_in - fed_before == 4  # none taken for an echo
    assert rig.engine._loop.feedback.echoes == 0
