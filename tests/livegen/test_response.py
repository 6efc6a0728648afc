"""Tests of livegen.response: what an answer is made of, and where its notes go.

Most run through an engine (the rig), as the daemon runs a response; the
last ones drive a Response on its own."""

from __future__ import annotations

import pytest
from fakes import FakeClock, FakeModel, FakePort, hanging_notes
from rig import (
    BEAT_S,
    CLOCKED,
    PHRASE,
    PRESET,
    STEP_S,
    Rig,
    dues_of_note_ons,
    largest_chord,
    make_rig,
    on_grid,
)

from livegen.buffer import PerformanceBuffer
from livegen.clock import MidiClock
from livegen.generation import Generator
from livegen.grid import GridSource
from livegen.midi import CLOCKS_PER_BEAT
from livegen.notes import Note
from livegen.presets import Preset
from livegen.response import SEND_FIRST_S, Response
from livegen.scheduler import Scheduler, SchedulerObserver
from livegen.tempo import OnsetTempo


def test_generation_runs_ahead_only_by_the_lookahead():
    rig = make_rig()
    rig.play(PHRASE)
    rig.run_until_responding()
    rig.poll_for(PRESET.answer.max_seconds + 1.0)
    ons = rig.note_ons_scheduled()
    lead = rig.engine.prepare_s
    assert all(due - at <= PRESET.answer.lookahead_s + lead + 1e-9 for at, due, _ in ons)


def test_response_respects_max_notes_and_max_seconds():
    preset = PRESET.replace(max_notes=5, max_seconds=1.0)
    rig = make_rig(preset)
    rig.play(PHRASE[:3])
    trigger_s = rig.run_until_responding()
    rig.poll_for(3.0)
    ons = rig.note_ons_scheduled()
    assert 1 <= len(ons) <= 5
    assert all(due <= trigger_s + 1.0 + 1e-9 for _, due, _ in rig.scheduled)
    assert hanging_notes(rig.port.messages) == {}


def test_no_generated_note_takes_a_held_pitch():
    preset = PRESET.replace(trigger="cc", pitch_low=60, pitch_high=62, max_seconds=3.0)
    rig = make_rig(preset, time_bias=6.0)
    for pitch in (60, 61):
        rig.engine.feed([0x90, pitch, 80], rig.clock())
    rig.engine.feed([0xB0, 67, 127], rig.clock())
    rig.poll_for(4.0)
    assert rig.port.note_ons() and {m.note for m in rig.port.note_ons()} == {62}
    rig.engine.feed([0x90, 62, 80], rig.clock())  # now every allowed pitch is held
    rig.engine.feed([0xB0, 67, 0], rig.clock())
    rig.engine.feed([0xB0, 67, 127], rig.clock())
    sent = len(rig.port.note_ons())
    rig.poll_for(4.0)
    assert len(rig.port.note_ons()) == sent and rig.engine.stats.collisions_avoided > 0


def test_clock_synced_response_starts_on_the_next_beat_on_the_16th_grid():
    rig = make_rig(CLOCKED)
    beat1_s = rig.add_midi_clock()
    rig.poll_for(1.0)
    rig.play(PHRASE)
    trigger_s = rig.run_until_responding()
    rig.poll_for(6.0)
    dues = dues_of_note_ons(rig)
    assert len(dues) >= 4
    assert on_grid(dues[0], beat1_s, BEAT_S)
    assert trigger_s <= dues[0] <= trigger_s + BEAT_S
    assert all(on_grid(due, beat1_s, BEAT_S / 4) for due in dues)
    last_s = max(due for _, due, _ in rig.scheduled)
    assert last_s <= dues[0] + 2 * 4 * BEAT_S + 1e-9  # response_bars: 2 bars of 4/4
    assert max(dues) < dues[0] + 2 * 4 * BEAT_S - 1e-6  # no note on the next bar line
    assert hanging_notes(rig.port.messages) == {}
    assert rig.engine.clock.tempo_bpm == pytest.approx(120.0)


def test_notes_follow_the_clock_when_it_stalls_mid_response():
    rig = make_rig(CLOCKED.replace(response_bars=4, lookahead_s=1.0))
    beat1_s = rig.add_midi_clock()
    rig.poll_for(1.0)
    rig.play(PHRASE)
    rig.run_until_responding()
    rig.poll_for(0.6)
    rig.delay_clock(0.03)  # the DAW's clock stalls 30 ms and goes on from there
    step_s = rig.clock()
    rig.poll_for(9.0)
    # the step shows after 3 more ticks (~0.1 s); every note sounding after that and the
    # 0.1 s horizon follows the clock (with lookahead_s 1.0, notes up to 1 s ahead were drawn
    # before the step: they are placed by song position and read off the latest fit)
    later = [due for _, due, m in rig.scheduled if m.type == "note_on" and due > step_s + 0.25]
    assert later and all(on_grid(due - 0.03, beat1_s, BEAT_S / 4) for due in later)
    assert hanging_notes(rig.port.messages) == {}


def _scheduled_notes(rig: Rig) -> list[tuple[float, float]]:
    """(note_on due, its note_off due) of each scheduled note, in order."""
    ons = {}
    pairs = []
    for _, due, msg in rig.scheduled:
        if msg.type == "note_on":
            ons[msg.note] = len(pairs)
            pairs.append([due, None])
        elif msg.type == "note_off" and msg.note in ons:
            pairs[ons.pop(msg.note)][1] = due
    return [(on, off) for on, off in pairs]


def _clocked_response(preset: Preset) -> Rig:
    """A rig (short shifts favoured) that played PHRASE against a 120 BPM clock and answered."""
    rig = make_rig(preset, time_bias=6.0)
    rig.add_midi_clock()
    rig.poll_for(1.0)
    rig.play(PHRASE)
    rig.run_until_responding()
    rig.poll_for(6.0)
    return rig


@pytest.mark.parametrize("monophonic", [False, True])
def test_monophonic_on_the_grid_never_stacks_or_overlaps_notes(monophonic):
    rig = _clocked_response(CLOCKED.replace(quantize="1/8", monophonic=monophonic,
                                            max_duration_s=2.0))
    notes = _scheduled_notes(rig)
    assert len(notes) >= 4
    one_line = all(a_on < b_on and a_off <= b_on + 1e-9
                   for (a_on, a_off), (b_on, _) in zip(notes, notes[1:]))
    assert one_line == monophonic  # the same music without the mode stacks or overlaps notes
    assert hanging_notes(rig.port.messages) == {}


@pytest.mark.parametrize("cap", [2, 32])
def test_max_chord_holds_on_the_grid(cap):
    rig = _clocked_response(CLOCKED.replace(quantize="1/4", max_chord=cap))
    largest = largest_chord(dues_of_note_ons(rig))
    assert largest <= 2 if cap == 2 else largest > 2  # quarter notes gather several onsets
    assert hanging_notes(rig.port.messages) == {}


def test_quantize_start_bar_and_half_strength():
    rig = make_rig(CLOCKED.replace(quantize_start="bar", quantize="1/8", quantize_strength=0.0))
    beat1_s = rig.add_midi_clock()
    rig.poll_for(0.3)
    rig.play(PHRASE[:3])
    rig.run_until_responding()
    rig.poll_for(5.0)
    dues = dues_of_note_ons(rig)
    assert on_grid(dues[0], beat1_s, 4 * BEAT_S)
    assert not all(on_grid(due, beat1_s, BEAT_S / 2) for due in dues)  # strength 0: as drawn


def test_swing_moves_the_off_beat_eighths():
    rig = make_rig(CLOCKED.replace(quantize="1/8", swing=1 / 3), time_bias=6.0)
    beat1_s = rig.add_midi_clock()
    rig.poll_for(0.3)
    rig.play(PHRASE[:3])
    rig.run_until_responding()
    rig.poll_for(5.0)
    dues = dues_of_note_ons(rig)
    swung = BEAT_S * 2 / 3
    assert all(on_grid(due, beat1_s, BEAT_S) or on_grid(due - swung, beat1_s, BEAT_S)
               for due in dues)
    assert any(on_grid(due - swung, beat1_s, BEAT_S) for due in dues)


def test_without_a_clock_the_response_starts_on_the_performers_beat():
    preset = PRESET.replace(quantize_start="beat", quantize="1/8", response_bars=1)
    rig = make_rig(preset)
    start_s = rig.clock()
    rig.play([Note(60 + i, 80, 0.5 * i, 0.3) for i in range(8)])  # quarters at 120 BPM
    assert rig.engine.tempo.grid().bpm == pytest.approx(120.0, rel=1e-3)
    rig.run_until_responding()
    rig.poll_for(3.0)
    dues = dues_of_note_ons(rig)
    assert dues and abs((dues[0] - start_s) / BEAT_S - round((dues[0] - start_s) / BEAT_S)) < 0.01
    assert max(due for _, due, _ in rig.scheduled) <= dues[0] + 4 * BEAT_S + 1e-6


def test_clock_preset_without_a_running_clock_answers_as_before():
    rig = make_rig(PRESET.replace(clock="midi"))
    rig.play(PHRASE)
    trigger_s = rig.run_until_responding()
    rig.poll_for(1.0)
    assert dues_of_note_ons(rig)[0] == pytest.approx(trigger_s)


@pytest.mark.parametrize("seed", range(6))
def test_a_clock_that_speeds_up_never_pushes_a_note_onto_the_bar_after_the_response(seed):
    # the response's end is fixed in seconds at the trigger; a clock that then runs a
    # little fast moves the bar line that ends it earlier, and a note snapped to that
    # line must still be dropped: it belongs to the next bar, by song position
    rig = make_rig(CLOCKED.replace(response_bars=1, max_notes=64), seed=seed)
    rig.add_midi_clock()
    rig.poll_for(1.0)
    rig.play(PHRASE)
    rig.run_until_responding()
    start_tick = rig.engine.clock.grid().position(dues_of_note_ons(rig)[0])
    for _ in range(40):  # 2 s: every 50 ms the next clocks come 0.4 ms earlier
        rig.delay_clock(-0.0004)
        rig.poll_for(0.05)
    grid = rig.engine.clock.grid()
    positions = [grid.position(due) - start_tick for due in dues_of_note_ons(rig)]
    assert max(positions) < 4 * CLOCKS_PER_BEAT - 0.5, positions


# -- a Response on its own ----------------------------------------------------------------


def _standalone(preset: Preset = PRESET, **model_args):
    """A response built as the engine builds it, without the engine."""
    clock = FakeClock()
    port = FakePort(clock)
    generator = Generator(FakeModel(**model_args), preset, seed=0)
    scheduler = Scheduler(port.send, now=clock)
    buffer = PerformanceBuffer()
    response = Response(generator, scheduler, GridSource(MidiClock(), OnsetTempo()), buffer)
    return clock, port, generator, scheduler, buffer, response


def test_a_response_schedules_ahead_by_the_lookahead_and_returns_the_generator():
    clock, port, generator, scheduler, _, response = _standalone()
    for note in PHRASE:
        generator.prime(note)
    before = generator.snapshot()
    start_s = clock() + 0.5
    assert not response.active and response.trigger_s is None and response.end() is None
    response.begin(start_s, start_s, start_s + 2.0, phrase_notes=9)
    assert response.active and response.generating
    assert response.trigger_s == start_s and response.end_limit_s == start_s + 2.0
    with pytest.raises(RuntimeError, match="active"):
        response.begin(start_s, start_s, start_s + 2.0, phrase_notes=1)
    queued = []  # (scheduled at, due)

    class Watch(SchedulerObserver):
        def scheduled(self, due_s, at_s, msg):
            queued.append((at_s, due_s))

    scheduler.add_observer(Watch())
    while response.generating:
        assert response.advance(clock()) == 0
        assert response.wait_s(clock()) >= 0
        scheduler.run_due()
        clock.advance(STEP_S)
    assert queued and all(due - at <= PRESET.answer.lookahead_s + 1e-9 for at, due in queued[::2])
    assert generator.history == before.history and generator.clock_s == before.clock_s
    clock.advance(response.wait_s(clock()))  # until the last note ends
    scheduler.run_due()
    assert response.last_end_s <= start_s + 2.0 + 1e-9
    outcome = response.end(cancel=False)
    assert outcome.phrase_notes == 9 and outcome.notes_played == len(port.note_ons()) > 0
    assert 0 <= outcome.latency_ms <= STEP_S * 1000 + 1e-6  # sent by run_due, a step late at most
    assert not response.active and hanging_notes(port.messages) == {}


def test_a_prepared_response_is_only_prepared_until_it_sounds():
    clock, port, generator, scheduler, _, response = _standalone()
    start_s = clock() + 0.02
    response.begin(start_s, start_s, start_s + 1.0, phrase_notes=1)
    response.advance(clock())
    assert scheduler.next_due_s() == pytest.approx(start_s)  # the first onset only, on the start
    assert response.wait_s(clock()) == pytest.approx(0.02 + SEND_FIRST_S)
    assert response.prepared_only(start_s - 0.001) and not response.prepared_only(start_s)
    clock.advance(0.02)
    scheduler.run_due()
    assert port.note_ons() and not response.prepared_only(start_s - 0.001)  # it sounded
    outcome = response.end()
    assert outcome.notes_played >= 1 and hanging_notes(port.messages) == {}


def test_with_a_timed_port_a_prepared_response_generates_on_before_its_start():
    # issue 14: the port holds the first notes already (no thread must send them first), so
    # a note due just after the start is not left to be generated after it (it came late)
    from test_scheduler import FakeTimedPort

    clock = FakeClock()
    port = FakeTimedPort(clock)
    scheduler = Scheduler(port.send, now=clock)
    response = Response(Generator(FakeModel(time_bias=40.0), PRESET, seed=0), scheduler,
                        GridSource(MidiClock(), OnsetTempo()), PerformanceBuffer())  # short shifts
    dues = []

    class Watch(SchedulerObserver):
        def scheduled(self, due_s, at_s, msg):
            dues.extend([due_s] if msg.type == "note_on" else [])

    scheduler.add_observer(Watch())
    start_s = clock() + 0.02
    response.begin(start_s, start_s, start_s + 1.0, phrase_notes=1)
    response.advance(clock())
    assert dues[0] == pytest.approx(start_s) and max(dues) > start_s  # past the first onset
    assert all(due <= clock() + PRESET.answer.lookahead_s for due in dues)  # by the horizon
    port.play(start_s + 2.0)
    response.end(cancel=False)
    assert hanging_notes(port.messages) == {}


def test_a_response_skips_notes_whose_pitch_the_performer_holds():
    preset = PRESET.replace(pitch_low=60, pitch_high=62, max_notes=12)
    clock, port, _, scheduler, buffer, response = _standalone(preset, time_bias=6.0)
    for pitch in (60, 61, 62):
        buffer.note_on(pitch, 80, clock())
    response.begin(clock(), clock(), clock() + 3.0, phrase_notes=0)
    skipped = 0
    while response.generating:
        skipped += response.advance(clock())
        clock.advance(STEP_S)
    assert skipped > 0 and scheduler.pending() == 0  # every allowed pitch was held
    response.end()


def test_advance_and_wait_without_a_response_raise_runtime_error():
    _, _, _, _, _, response = _standalone()
    with pytest.raises(RuntimeError, match="no response"):
        response.advance(0.0)
    with pytest.raises(RuntimeError, match="no response"):
        response.wait_s(0.0)


def test_abandon_forgets_the_response_without_touching_the_generator():
    clock, _, generator, _, _, response = _standalone()
    response.begin(clock(), clock(), clock() + 1.0, phrase_notes=0)
    response.advance(clock())
    clock_s = generator.clock_s
    response.abandon()
    assert not response.active and response.end() is None
    assert generator.clock_s == clock_s  # left as it was: the engine rebuilds it


@pytest.mark.parametrize("chords", [False, True])
def test_monophonic_auto_on_the_grid_answers_a_line_with_a_line(chords):
    line = [Note(60 + 2 * (i % 5), 80, 0.25 * i, 0.2) for i in range(8)]
    call = line + [Note(n.pitch - 12, 70, n.onset_s, n.duration_s) for n in line] if chords else line
    rig = make_rig(CLOCKED.replace(quantize="1/8", monophonic="auto", max_duration_s=2.0), time_bias=6.0)
    rig.add_midi_clock()
    rig.poll_for(1.0)
    rig.play(call)
    rig.run_until_responding()
    rig.poll_for(6.0)
    notes = _scheduled_notes(rig)
    assert len(notes) >= 4
    one_line = all(a_on < b_on and a_off <= b_on + 1e-9
                   for (a_on, a_off), (b_on, _) in zip(notes, notes[1:]))
    assert one_line != chords
    assert hanging_notes(rig.port.messages) == {}
