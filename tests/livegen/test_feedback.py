"""The feedback guard: the echo matcher alone, and an engine whose output is looped to its input."""

from __future__ import annotations

import logging

import mido
import pytest
from fakes import FakeClock, FakeModel, FakePort, hanging_notes
from rig import PHRASE, PRESET, Rig

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
    [0xB2, 64, 90],  # a controller
    [0x92, 64],  # truncated
    [],
    "garbage",
], ids=["velocity", "pitch", "channel", "note_off", "cc", "short", "empty", "str"])
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


@pytest.mark.parametrize("data", [[0x82, 64, 0], [0x82, 64, 64], [0x92, 64, 0]],
                         ids=["note_off", "release_velocity", "note_on_velocity_0"])
def test_a_note_off_echo_matches_whatever_its_release_velocity(data):
    guard = guard_with((10.5, OFF))
    assert guard.is_echo(10.51, data)


def test_a_note_on_velocity_0_sent_is_a_note_off():
    guard = guard_with((10.5, mido.Message("note_on", channel=2, note=64, velocity=0)))
    assert guard.is_echo(10.51, [0x82, 64, 0])
    assert not guard.is_echo(10.51, [0x92, 64, 1])


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
