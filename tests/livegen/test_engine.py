"""Tests of livegen.engine: the listen -> respond state machine, driven by poll()."""

from __future__ import annotations

import pytest
from fakes import FakeModel, FakePort, hanging_notes
from hypothesis import given, settings
from hypothesis import strategies as st
from rig import (
    CLOCKED,
    PHRASE,
    PRESET,
    STEP_S,
    make_rig,
)

from livegen.engine import Engine
from livegen.errors import ModelError
from livegen.midi import CC_ALL_NOTES_OFF, CC_ALL_SOUND_OFF
from livegen.notes import Note


def test_phrase_then_silence_gives_a_response():
    rig = make_rig()
    rig.play(PHRASE)
    last_end = rig.clock()
    rig.poll_for(PRESET.triggering.silence_s - 0.05)
    assert not rig.engine.responding and rig.port.messages == []
    trigger_s = rig.run_until_responding()
    assert trigger_s >= last_end + PRESET.triggering.silence_s
    rig.poll_for(PRESET.answer.max_seconds + 1.0)
    assert not rig.engine.responding
    ons = rig.note_ons_scheduled()
    assert len(ons) >= 8
    onsets = [due for _, due, _ in ons]
    assert onsets[0] == pytest.approx(trigger_s) and all(due >= trigger_s for due in onsets)
    assert onsets == sorted(onsets)
    assert all(m.channel == PRESET.channel for _, _, m in ons)
    assert all(PRESET.sampling.pitch_low <= m.note <= PRESET.sampling.pitch_high for _, _, m in ons)
    assert len(rig.port.note_ons()) == len(ons)
    assert hanging_notes(rig.port.messages) == {}
    assert rig.engine.scheduler.sounding() == {}
    stats = rig.engine.stats
    assert stats.responses == 1 and stats.notes_sent == len(ons)
    assert len(stats.latencies_ms) == 1 and stats.latencies_ms[0] >= 0
    assert len(stats.lateness_ms) >= len(ons)  # an overlapped re-strike absorbs a note_off
    rig.poll_for(2.0)
    assert rig.engine.stats.responses == 1  # no new phrase, no new response


def test_response_is_prepared_before_the_silence_deadline_and_sounds_on_it():
    rig = make_rig(prepare_s=0.05)
    rig.play(PHRASE)
    deadline_s = rig.clock() + PRESET.triggering.silence_s
    rig.poll_for(PRESET.triggering.silence_s - 0.05 - STEP_S)
    assert not rig.engine.responding
    rig.poll_for(STEP_S)
    assert rig.engine.responding and rig.clock() < deadline_s  # prepared ahead
    firsts = rig.note_ons_scheduled()
    assert firsts and all(due == pytest.approx(deadline_s) for _, due, _ in firsts)  # first onset only
    assert rig.port.note_ons() == []  # nothing sounds before the deadline
    rig.poll_for(deadline_s - rig.clock() + STEP_S)
    assert rig.port.note_ons()
    assert rig.engine.scheduler.first_note_on_s == pytest.approx(deadline_s, abs=STEP_S)


def test_performer_note_before_the_deadline_preempts_a_prepared_response_silently():
    rig = make_rig(prepare_s=0.05)
    rig.play(PHRASE)
    before = rig.engine.generator.snapshot()
    rig.poll_for(PRESET.triggering.silence_s - 0.02)  # prepared, not yet sounding
    assert rig.engine.responding and rig.note_ons_scheduled()
    rig.engine.feed([0x90, 72, 90], rig.clock())
    rig.poll()
    assert not rig.engine.responding and rig.engine.scheduler.pending() == 0
    assert rig.port.note_ons() == []  # it never sounded
    stats = rig.engine.stats
    assert stats.responses == 0 and stats.barge_ins == 0 and stats.latencies_ms == []
    assert rig.engine.generator.history == before.history  # the performer's context is back
    rig.poll_for(0.1)
    rig.engine.feed([0x80, 72, 0], rig.clock())
    rig.poll()
    assert rig.engine.generator.history[-1].pitch == 72  # primed as any performer note
    rig.poll_for(PRESET.triggering.silence_s + 0.05)  # the phrase, one note longer, is answered
    assert rig.engine.stats.responses == 1 and rig.port.note_ons()


def test_barge_in_cancels_and_restores_the_performer_context():
    rig = make_rig()
    rig.play(PHRASE)
    clock_before = rig.engine.generator.clock_s
    history_before = rig.engine.generator.history
    rig.run_until_responding()
    rig.poll_for(0.4)
    assert rig.port.note_ons()  # the response is playing
    rig.engine.feed([0x90, 72, 90], rig.clock())
    rig.poll()
    assert not rig.engine.responding
    assert rig.engine.scheduler.sounding() == {} and rig.engine.scheduler.pending() == 0
    assert hanging_notes(rig.port.messages) == {}
    assert rig.engine.stats.barge_ins == 1
    assert rig.engine.generator.clock_s == clock_before
    assert rig.engine.generator.history == history_before
    sent = len(rig.port.messages)
    rig.poll_for(0.3)  # the performer holds the key: nothing from livegen
    assert len(rig.port.messages) == sent
    rig.engine.feed([0x80, 72, 0], rig.clock())
    rig.poll()
    assert rig.engine.generator.history[-1].pitch == 72  # the new note is primed
    rig.run_until_responding()
    assert rig.engine.stats.responses == 2


def test_barge_in_with_the_sustain_pedal_down_leaves_nothing_sounding():
    rig = make_rig()
    rig.engine.feed([0xB0, 64, 127], rig.clock())
    rig.play(PHRASE[:4])
    rig.engine.feed([0xB0, 64, 0], rig.clock())
    rig.run_until_responding()
    rig.poll_for(0.4)
    assert rig.port.note_ons()
    rig.engine.feed([0xB0, 64, 127], rig.clock())  # pedal down: not yet a barge-in
    rig.poll()
    assert rig.engine.responding
    rig.engine.feed([0x90, 67, 90], rig.clock())
    rig.poll()
    rig.engine.feed([0x80, 67, 0], rig.clock())  # key up, held by the pedal
    rig.poll_for(PRESET.triggering.silence_s * 3)
    assert not rig.engine.responding and rig.engine.stats.barge_ins == 1
    assert rig.engine.scheduler.sounding() == {} and hanging_notes(rig.port.messages) == {}
    rig.engine.feed([0xB0, 64, 0], rig.clock())
    rig.run_until_responding()
    rig.poll_for(PRESET.answer.max_seconds + 1)
    assert hanging_notes(rig.port.messages) == {}


def test_stop_mid_response_leaves_nothing_sounding_and_sends_panic():
    rig = make_rig()
    rig.play(PHRASE)
    rig.run_until_responding()
    rig.poll_for(0.3)
    assert rig.engine.scheduler.sounding() or rig.engine.scheduler.pending()
    rig.engine.stop()
    rig.engine.stop()  # idempotent
    assert hanging_notes(rig.port.messages) == {}
    assert [m.channel for m in rig.port.controls(CC_ALL_NOTES_OFF)] == [PRESET.channel]
    assert [m.channel for m in rig.port.controls(CC_ALL_SOUND_OFF)] == [PRESET.channel]
    assert rig.engine.scheduler.pending() == 0


def test_set_preset_mid_response_cancels_and_switches():
    rig = make_rig()
    rig.play(PHRASE)
    rig.run_until_responding()
    rig.poll_for(0.3)
    new = PRESET.replace(style="romantic", channel=5)
    rig.engine.set_preset(new)
    assert rig.engine.preset == new and not rig.engine.responding
    assert hanging_notes(rig.port.messages) == {}
    rig.play(PHRASE[:2])
    rig.run_until_responding()
    rig.poll_for(PRESET.answer.max_seconds + 1)
    assert {m.channel for m in rig.port.note_ons()} == {PRESET.channel, 5}
    assert hanging_notes(rig.port.messages) == {}


def test_set_preset_unknown_style_raises_model_error_and_keeps_the_preset():
    rig = make_rig()
    with pytest.raises(ModelError):
        rig.engine.set_preset(PRESET.replace(style="jazz"))
    assert rig.engine.preset == PRESET


def test_engine_unknown_style_raises_model_error():
    with pytest.raises(ModelError):
        Engine(FakeModel(), PRESET.replace(style="jazz"), FakePort().send)


@pytest.mark.parametrize("prepare_s", [0.0, -0.01, float("nan")])
def test_engine_bad_prepare_raises_value_error(prepare_s):
    with pytest.raises(ValueError, match="prepare_s"):
        Engine(FakeModel(), PRESET, FakePort().send, prepare_s=prepare_s)


def test_garbage_input_is_counted_and_dropped():
    rig = make_rig()
    garbage = [[0x90, 60], b"\x3c\x40", [], [0x90, 200, 1], [300, 1, 2], "abc", None]
    for data in garbage:
        rig.engine.feed(data, rig.clock())
    rig.engine.feed([0xF8], rig.clock())  # MIDI clock: valid, ignored
    rig.engine.feed([0x90, 60, 80], None)  # a bad timestamp is dropped too
    rig.poll()
    stats = rig.engine.stats
    assert stats.dropped_messages == len(garbage) + 1
    assert stats.messages_in == len(garbage) + 2
    rig.play(PHRASE[:2])
    rig.run_until_responding()


@settings(max_examples=40, deadline=None)
@given(items=st.lists(st.tuples(st.lists(st.integers(0, 255), max_size=4),
                                st.floats(0, 0.3)), max_size=40))
def test_any_input_bytes_never_crash_and_never_hang_a_note(items):
    rig = make_rig(PRESET.replace(silence_s=0.1, max_seconds=0.5))
    for data, dt in items:
        rig.clock.advance(dt)
        rig.engine.feed(data, rig.clock())
        rig.poll()
    rig.poll_for(0.2)
    rig.engine.stop()
    assert hanging_notes(rig.port.messages) == {}


def test_clock_stop_ends_the_response_with_nothing_sounding():
    rig = make_rig(CLOCKED.replace(response_bars=8))
    rig.add_midi_clock()
    rig.poll_for(0.5)
    rig.play(PHRASE)
    rig.run_until_responding()
    rig.poll_for(1.5)
    assert rig.port.note_ons()
    rig.stop_clock()
    rig.engine.feed([0xFC], rig.clock())
    rig.poll()
    assert not rig.engine.responding and rig.engine.scheduler.pending() == 0
    assert hanging_notes(rig.port.messages) == {}


def test_continuous_plays_alongside_without_barge_in():
    preset = PRESET.replace(trigger="continuous", max_seconds=0.5, pitch_low=60, pitch_high=61)
    rig = make_rig(preset)
    rig.engine.feed([0x90, 60, 80], rig.clock())  # the performer holds 60 throughout
    rig.play([Note(72 + i % 3, 80, 0.2 * i, 0.1) for i in range(15)])
    during = rig.engine.stats
    assert during.responses >= 3 and during.barge_ins == 0
    sent = len(rig.port.messages)
    rig.poll_for(3.0)  # the performer stopped: one more chunk at most, then quiet
    assert rig.engine.stats.responses <= during.responses + 1
    assert not rig.engine.responding
    rig.engine.feed([0x80, 60, 0], rig.clock())
    rig.poll_for(1.0)
    assert len(rig.port.messages) >= sent
    assert {m.note for m in rig.port.note_ons()} == {61}  # never the held 60
    assert hanging_notes(rig.port.messages) == {}
    assert rig.engine.generator.history[-1].pitch in (60, 72, 73, 74)  # primed after chunks


def test_engine_wants_fast_input_while_responding_or_with_a_footswitch_or_clock():
    rig = make_rig()
    assert not rig.engine.wants_fast_input()
    rig.play(PHRASE)
    rig.run_until_responding()
    assert rig.engine.wants_fast_input()  # a barge-in must be heard at once
    for preset in (PRESET.replace(trigger="cc", trigger_cc=20), PRESET.replace(clock="midi")):
        assert make_rig(preset).engine.wants_fast_input()
