"""Tests of livegen.triggers: trigger policies, where a response starts and ends."""

from __future__ import annotations

import pytest
from fakes import hanging_notes
from rig import BEAT_S, CLOCKED, PHRASE, PRESET, STEP_S, dues_of_note_ons, make_rig, on_grid

from livegen.buffer import PerformanceBuffer
from livegen.grid import BeatGrid
from livegen.notes import Note
from livegen.presets import Preset
from livegen.tempo import OnsetTempo
from livegen.triggers import (
    BAR_PREROLL_S,
    match_length_s,
    needs_grid,
    phrase_span_s,
    plan_response,
    silence_threshold_s,
    trigger_due,
)

GRID = BeatGrid(anchor_s=10.0, tick_s=0.5 / 24)  # 120 BPM, beat 1 at 10 s
BASE = Preset(name="t").replace(silence_s=0.5, max_seconds=6.0)


def test_the_default_preset_needs_no_grid():
    assert not needs_grid(BASE)
    assert all(needs_grid(BASE.replace(**change)) for change in (
        {"quantize_start": "beat"}, {"quantize": "1/8"}, {"response_bars": 1},
        {"trigger": "bars", "clock": "midi"}))


def test_silence_threshold_is_fixed_unless_adaptive():
    assert silence_threshold_s(BASE, 0.1) == 0.5
    adaptive = BASE.replace(silence_adaptive=True, silence_min_s=0.3, silence_max_s=1.0)
    assert silence_threshold_s(adaptive, None) == 0.5
    assert silence_threshold_s(adaptive, 0.4) == pytest.approx(0.8)
    assert silence_threshold_s(adaptive, 0.05) == 0.3
    assert silence_threshold_s(adaptive, 2.0) == 1.0


@pytest.mark.parametrize(("change", "start_s", "end_s"), [
    ({}, 10.302, 16.302),
    ({"quantize_start": "beat"}, 10.5, 16.5),
    ({"quantize_start": "bar"}, 12.0, 18.0),
    ({"quantize": "1/16"}, 10.375, 16.375),
    ({"quantize_start": "beat", "response_bars": 2}, 10.5, 14.5),
    ({"quantize_start": "bar", "beats_per_bar": 3, "response_bars": 1}, 11.5, 13.0),
])
def test_plan_response_places_start_and_end(change, start_s, end_s):
    start, end = plan_response(10.302, BASE.replace(**change), GRID)
    assert (start, end) == (pytest.approx(start_s), pytest.approx(end_s))


def test_plan_response_without_a_grid_starts_at_once():
    preset = BASE.replace(quantize_start="bar", response_bars=2)
    assert plan_response(10.302, preset, None) == (pytest.approx(10.302),
                                                        pytest.approx(16.302))


def test_plan_response_fixed_start_and_not_before():
    start, _ = plan_response(11.952, BASE, GRID, start_s=12.0)
    assert start == 12.0
    start, _ = plan_response(12.001, BASE, GRID, start_s=12.0)  # late: at once
    assert start == pytest.approx(12.001)
    start, _ = plan_response(10.302, BASE.replace(quantize_start="beat"), GRID,
                             not_before_s=11.0)
    assert start == pytest.approx(11.0)


def _due(preset, now_s=10.3, *, phrase_notes=1, requested=False, buffer=None, grid=GRID):
    if buffer is None:
        buffer = PerformanceBuffer()
        buffer.note_on(60, 80, 10.0)
        buffer.note_off(60, 10.1)
    return trigger_due(preset, now_s, 0.002, phrase_notes=phrase_notes, requested=requested,
                       buffer=buffer, tempo=OnsetTempo(), grid=grid)


def test_trigger_due_for_each_policy():
    silence = _due(BASE)  # prepared 2 ms before the silence deadline (10.1 + 0.5 s)
    assert silence.instant_s == pytest.approx(10.6) and silence.fire_s == pytest.approx(10.598)
    assert silence.start_s is None
    assert _due(BASE, phrase_notes=0) is None
    held = PerformanceBuffer()
    held.note_on(60, 80, 10.0)
    assert _due(BASE, buffer=held) is None  # a key is down: no silence yet
    bars = _due(BASE.replace(clock="midi", trigger="bars", trigger_bars=2))
    assert bars.start_s == pytest.approx(14.0) and bars.fire_s == pytest.approx(14.0 - BAR_PREROLL_S)
    assert _due(BASE.replace(clock="midi", trigger="bars"), grid=None) is None
    assert _due(BASE.replace(trigger="continuous")).fire_s == 10.3
    assert _due(BASE.replace(trigger="cc")) is None
    assert _due(BASE.replace(trigger="note"), requested=True).fire_s == 10.3


# -- the triggers in the engine ----------------------------------------------------------


def test_bars_trigger_starts_on_every_second_bar_line():
    preset = CLOCKED.replace(trigger="bars", trigger_bars=2, response_bars=1)
    rig = make_rig(preset)
    beat1_s = rig.add_midi_clock()
    rig.poll_for(5.0)
    assert rig.engine.stats.responses == 0  # nothing played: nothing to answer
    rig.play(PHRASE[:4])
    rig.poll_for(8.0)
    dues = dues_of_note_ons(rig)
    assert rig.engine.stats.responses == 1 and dues
    assert on_grid(dues[0], beat1_s, 2 * 4 * BEAT_S)
    assert hanging_notes(rig.port.messages) == {}


def test_adaptive_silence_follows_the_players_spacing():
    preset = PRESET.replace(silence_s=0.5, silence_adaptive=True, silence_min_s=0.3,
                            silence_max_s=1.5)
    slow = make_rig(preset)
    slow.play([Note(60 + i, 80, 0.7 * i, 0.2) for i in range(5)])  # 0.5 s gaps between notes
    assert not slow.engine.responding  # a fixed 0.5 s would have cut in
    end_s = slow.clock()
    assert slow.run_until_responding() >= end_s + 1.4 - STEP_S  # 2 x 0.7 s
    fast = make_rig(preset)
    fast.play([Note(60 + i, 80, 0.1 * i, 0.05) for i in range(8)])
    end_s = fast.clock()
    assert fast.run_until_responding() < end_s + 0.3 + 2 * STEP_S  # clamped to silence_min_s


# -- answer_length: match -----------------------------------------------------------------

MATCH = BASE.replace(answer_length="match", max_seconds=30.0)


def _call(bars: int, beat_s: float = BEAT_S) -> list[Note]:
    """A call of ``bars`` 4/4 bars: a note on every beat, each 0.8 beat long."""
    return [Note(60 + i % 12, 80, beat_s * i, 0.8 * beat_s) for i in range(4 * bars)]


def test_the_default_answer_length_is_fixed():
    assert Preset(name="t").answer.answer_length == "fixed"
    assert needs_grid(MATCH)
    assert plan_response(10.302, BASE, GRID, phrase_s=3.0)[1] == pytest.approx(16.302)  # ignored


@pytest.mark.parametrize("bars", [1, 2, 4])
def test_match_rounds_the_phrase_to_whole_bars_of_the_grid(bars):
    span_s = phrase_span_s(_call(bars))
    assert span_s == pytest.approx(bars * 2.0 - 0.1)  # 120 BPM: 2 s a bar
    assert match_length_s(span_s, MATCH, GRID) == pytest.approx(bars * 2.0)
    start, end = plan_response(10.302, MATCH.replace(quantize_start="bar", response_bars=1), GRID,
                               phrase_s=span_s)
    assert (start, end) == (pytest.approx(12.0), pytest.approx(12.0 + bars * 2.0))


def test_match_without_a_pulse_keeps_the_span_in_seconds_and_max_seconds_clamps():
    assert plan_response(10.0, MATCH, None, phrase_s=3.3) == (10.0, pytest.approx(13.3))
    assert match_length_s(0.9, MATCH, GRID) == pytest.approx(2.0)  # a short call: one bar
    assert match_length_s(3.0, MATCH.replace(beats_per_bar=3), GRID) == pytest.approx(3.0)
    assert match_length_s(20.0, MATCH.replace(max_seconds=5.0), GRID) == 5.0
    assert match_length_s(20.0, MATCH.replace(max_seconds=5.0), None) == 5.0
    assert phrase_span_s([]) is None


@pytest.mark.parametrize("bars", [2, 4])
def test_the_engine_answers_a_call_with_as_many_bars_on_a_midi_clock(bars):
    preset = CLOCKED.replace(answer_length="match", response_bars=1, max_notes=64)
    rig = make_rig(preset)
    rig.add_midi_clock()
    rig.poll_for(0.02)
    rig.play(_call(bars))
    trigger_s = rig.run_until_responding(limit_s=3.0)
    assert rig.engine.response.end_limit_s - trigger_s == pytest.approx(bars * 4 * BEAT_S, abs=1e-3)


@pytest.mark.parametrize("bars", [2, 4])
def test_the_engine_answers_a_call_with_as_many_bars_of_the_players_pulse(bars):
    preset = PRESET.replace(answer_length="match", max_seconds=30.0, context_notes=32)
    rig = make_rig(preset)
    rig.play(_call(bars))
    trigger_s = rig.run_until_responding()
    assert rig.engine.response.end_limit_s - trigger_s == pytest.approx(bars * 4 * BEAT_S, rel=0.02)


def test_the_engine_matches_only_the_phrase_since_the_last_answer():
    preset = PRESET.replace(answer_length="match", max_seconds=30.0, context_notes=32, max_notes=1)
    rig = make_rig(preset)
    rig.play(_call(4))
    rig.run_until_responding()
    rig.poll_for(3.0)  # the one-note answer ends
    assert not rig.engine.responding
    rig.play(_call(1))
    trigger_s = rig.run_until_responding()
    assert rig.engine.response.end_limit_s - trigger_s == pytest.approx(4 * BEAT_S, rel=0.02)
