"""Tests of livegen.placement: chords, one melodic line, the grid, the response's end."""

from __future__ import annotations

import pytest

from livegen import tokens
from livegen.grid import BeatGrid
from livegen.notes import Note
from livegen.placement import (
    CHORD_SPAN_S,
    DENSITY_GRACE_NOTES,
    LEGATO_REACH,
    LEGATO_SHARE,
    LEGATO_SPAN,
    SHORT_SHIFTS,
    SHORTEST_DURATION_S,
    Articulation,
    Chord,
    DensityLimit,
    Placement,
    chord_limit,
    end_by_next,
    fit_window,
    notes_per_second,
    snap_onset,
)
from livegen.presets import Preset

GRID = BeatGrid(anchor_s=10.0, tick_s=0.5 / 24)  # 120 BPM, beat 1 at 10 s
BASE = Preset(name="t").replace(silence_s=0.5, max_seconds=6.0)


def test_snap_onset_strength_and_off():
    preset = BASE.replace(quantize="1/8")
    assert snap_onset(10.3, preset, GRID) == pytest.approx(10.25)
    assert snap_onset(10.3, preset.replace(quantize_strength=0.5), GRID) == pytest.approx(10.275)
    assert snap_onset(10.3, BASE, GRID) == 10.3
    assert snap_onset(10.3, preset, None) == 10.3


def test_a_chord_is_the_notes_within_its_span_of_the_first():
    chord = Chord()
    assert not chord.joins(1.0) and not chord.full(1)
    chord.add(1.0)
    chord.add(1.0 + 0.03)
    assert chord.start_s == 1.0 and chord.size == 2 and chord.full(2) and not chord.full(3)
    assert chord.joins(1.0 + 0.01 + 0.01 + 0.01)  # sums of 10 ms bins: still inside
    assert not chord.joins(1.0 + CHORD_SPAN_S)  # exactly the span: the next chord
    assert not chord.joins(1.0 + 0.01 + 0.01 + 0.01 + 0.01)  # ... in floating point too
    chord.pitches.add(60)
    chord.add(1.05)  # a new chord starts
    assert chord.start_s == 1.05 and chord.size == 1
    chord.clear()
    assert chord.start_s is None and chord.size == 0 and chord.pitches == set()


def test_chord_limit_and_the_short_shifts_a_full_chord_may_not_draw():
    assert chord_limit(BASE.replace(max_chord=3)) == 3
    assert chord_limit(BASE.replace(max_chord=3, monophonic=True)) == 1
    short = tokens.SHIFT_BINS_S[SHORT_SHIFTS - tokens.SHIFT_OFFSET]
    assert len(short) == 4 and max(short) < CHORD_SPAN_S  # 0, 10, 20, 30 ms
    assert CHORD_SPAN_S in tokens.SHIFT_BINS_S  # the shortest shift left is the span itself


def test_end_by_next_cuts_to_the_next_onset_only_when_it_is_later():
    assert end_by_next(0.5, 0.2) == 0.2
    assert end_by_next(0.1, 0.2) == 0.1
    assert end_by_next(0.5, 0.0) == 0.5  # a chord tone: no cut
    assert end_by_next(0.5, -0.1) == 0.5


def test_fit_window_cuts_at_the_end_and_drops_what_starts_there():
    note = Note(60, 80, 1.0, 0.5)
    assert fit_window(note, 2.0) is note
    assert fit_window(note, 1.2) == Note(60, 80, 1.0, pytest.approx(0.2))
    assert fit_window(note, 1.0) is None
    assert fit_window(note, 0.5) is None


def test_placement_without_quantize_only_fits_the_window_and_counts_chords():
    placement = Placement(BASE.replace(max_chord=1), 10.0, 12.0)
    placed, over = placement.place(Note(60, 80, 10.3, 0.2), None, GRID)
    assert placed == Note(60, 80, 10.3, 0.2) and not over  # as drawn: no quantize
    placed, over = placement.place(Note(62, 80, 10.3, 0.2), None, GRID)
    assert placed is not None and not over  # the generator caps chords before snapping
    assert placement.chord.size == 2
    assert placement.place(Note(64, 80, 12.0, 0.2), None, GRID) == (None, True)


def test_placement_snaps_caps_chords_on_a_grid_line_and_keeps_the_start():
    preset = BASE.replace(quantize="1/4", max_chord=2)
    placement = Placement(preset, 10.2, 14.0)
    first, _ = placement.place(Note(60, 80, 10.2, 0.2), None, GRID)
    assert first.onset_s == pytest.approx(10.2)  # snapped to 10.0, kept at the start
    second, _ = placement.place(Note(62, 80, 10.45, 0.2), None, GRID)
    assert second.onset_s == pytest.approx(10.5)
    third, _ = placement.place(Note(64, 80, 10.55, 0.2), None, GRID)
    assert third.onset_s == pytest.approx(10.5)  # the chord on 10.5 holds two
    assert placement.place(Note(65, 80, 10.6, 0.2), None, GRID) == (None, False)  # full: skipped
    late, over = placement.place(Note(67, 80, 13.9, 0.5), None, GRID)
    assert over and late is None  # snapped onto the end (14.0): past it


def test_two_notes_of_one_pitch_snapped_onto_one_grid_line_play_once():
    # drawn 70 ms apart (two chords to the generator), both nearest 10.5 on a 1/8 grid:
    # the second would strike the same key at the same instant (heard as a doubled note_on)
    preset = BASE.replace(quantize="1/8", max_chord=4)
    placement = Placement(preset, 10.0, 14.0)
    first, _ = placement.place(Note(60, 80, 10.46, 0.2), None, GRID)
    assert first.onset_s == pytest.approx(10.5)
    assert placement.place(Note(60, 90, 10.53, 0.2), None, GRID) == (None, False)
    other, _ = placement.place(Note(64, 80, 10.54, 0.2), None, GRID)
    assert other.onset_s == pytest.approx(10.5)  # another pitch joins the chord
    again, _ = placement.place(Note(60, 80, 10.74, 0.2), None, GRID)
    assert again.onset_s == pytest.approx(10.75)  # the next line: a new chord, a new strike


def test_placement_of_a_monophonic_line_ends_each_note_by_the_next_snapped_onset():
    preset = BASE.replace(quantize="1/8", monophonic=True)
    placement = Placement(preset, 10.0, 14.0)
    note, _ = placement.place(Note(60, 80, 10.02, 0.9), 10.27, GRID)
    assert note.onset_s == pytest.approx(10.0) and note.duration_s == pytest.approx(0.25)
    assert placement.place(Note(62, 80, 10.05, 0.1), None, GRID) == (None, False)  # one line
    free, _ = placement.place(Note(64, 80, 10.5, 0.9), None, GRID)
    assert free.duration_s == 0.9  # no next onset drawn yet: as drawn


def test_a_note_held_into_the_next_onset_is_held_into_its_snapped_onset():
    """Legato stays legato on the grid: snapping must not open a gap the line did not have."""
    placement = Placement(BASE.replace(quantize="1/8"), 10.0, 14.0)
    held, _ = placement.place(Note(60, 80, 10.02, 0.21), 10.23, GRID)  # drawn to the next onset
    assert held.onset_s == pytest.approx(10.0) and held.end_s == pytest.approx(10.25)  # both snapped
    detached, _ = placement.place(Note(62, 80, 10.23, 0.2), 10.46, GRID)  # ends 30 ms before the next
    assert detached.onset_s == pytest.approx(10.25) and detached.duration_s == 0.2  # its rest stays
    chord_tone, _ = placement.place(Note(67, 80, 10.55, 0.3), 10.56, GRID)
    assert chord_tone.duration_s == 0.3  # its chord's next note: no gap to hold through


# -- the pace: density_limit ---------------------------------------------------------------------

def test_the_players_pace_counts_a_pause_as_at_most_the_longest_shift():
    line = [Note(60 + i, 80, i * 0.5, 0.25) for i in range(4)]  # 4 notes from 0 to 1.75 s
    assert notes_per_second(line) == pytest.approx(4 / 1.75)
    chord = [Note(p, 80, 0.0, 1.0) for p in (60, 64, 67)] + [Note(72, 80, 0.5, 1.0)]
    assert notes_per_second(chord) == pytest.approx(4 / 1.5)  # overlaps count once
    paused = line + [Note(70, 80, 61.75, 0.25)]  # a minute's pause: counted as 4 s
    assert notes_per_second(paused) == pytest.approx(5 / (1.75 + tokens.MAX_SHIFT_S + 0.25))
    assert notes_per_second(line[:1]) == 0.0 and notes_per_second([]) == 0.0


def test_the_density_limit_holds_the_answer_to_its_multiple_of_the_pace():
    answered = [Note(60, 80, i * 0.5, 0.5) for i in range(8)]  # 2 notes per second
    limit = DensityLimit(1.5)
    limit.begin(answered, 10.0)
    for _ in range(DENSITY_GRACE_NOTES - 1):
        limit.add()
    assert limit.too_soon(10.1) is None  # the grace: its own pace for the first notes
    limit.add()  # 8 notes in 0.1 s
    barred = limit.too_soon(10.1)
    earliest_s = 10.0 + (DENSITY_GRACE_NOTES + 1) / (1.5 * 2.0)  # 9 notes at 3 per second
    shifts = tokens.SHIFT_BINS_S[barred - tokens.SHIFT_OFFSET]
    assert shifts.max() < earliest_s - 10.1 <= tokens.SHIFT_BINS_S[len(barred)] + 1e-9
    assert limit.too_soon(earliest_s) is None  # caught up: any shift
    far = limit.too_soon(-100.0)  # so far behind that the longest shift is the only one left
    assert len(far) == len(tokens.SHIFT_BINS_S) - 1
    off = DensityLimit(0.0)
    off.begin(answered, 10.0)
    for _ in range(40):
        off.add()
    assert off.too_soon(10.0) is None
    off.limit = 1.5  # a program change to a preset with a limit, mid-answer: it holds from now
    assert off.too_soon(10.0) is not None


def _played(spacing_s: float, share: float, notes: int = 6, chord: int = 1) -> list[Note]:
    """``notes`` onsets ``spacing_s`` apart, ``chord`` notes each, each sounding ``share`` of the spacing."""
    return [Note(60 + 4 * k, 80, i * spacing_s, share * spacing_s)
            for i in range(notes) for k in range(chord)]


def test_articulation_holds_a_note_through_a_gap_the_player_plays_legato():
    art = Articulation()
    assert art.length(0.1, 0.5) == 0.1  # nothing heard yet: as drawn
    art.begin(_played(0.5, 1.0))
    assert art.length(0.1, 0.5) == pytest.approx(0.5)  # the player's gap: held to the next onset
    assert art.length(0.1, 0.5 * LEGATO_SPAN * 0.99) == pytest.approx(0.5 * LEGATO_SPAN * 0.99)
    assert art.length(0.1, 0.5 * LEGATO_REACH * 1.01) == 0.1  # a gap unlike the player's: as drawn
    assert art.length(0.1, 0.5 / LEGATO_REACH / 1.01) == 0.1
    assert art.length(0.8, 0.5) == 0.8  # never shorter than drawn
    assert art.length(0.1, 0.0) == 0.1  # a chord tone: its chord's last note carries the gap


def test_articulation_leaves_a_detached_players_rests_and_needs_more_than_one_note():
    art = Articulation()
    art.begin(_played(0.5, LEGATO_SHARE - 0.05))  # detached: the rests between notes stay
    assert art.length(0.1, 0.5) == 0.1
    art.begin(_played(0.5, 1.0, notes=2))  # one gap heard (the last note has no next onset)
    assert art.length(0.1, 0.5) == 0.1
    art.begin(_played(0.5, 1.0, notes=2, chord=3))  # a chord's notes each span the gap
    assert art.length(0.1, 0.5) == pytest.approx(0.5)
    art.begin(_played(0.5, 2.0))  # a pedalled note counts as the whole gap, no more
    assert art.length(0.1, 0.5) == pytest.approx(0.5)


def test_articulation_player_also_detaches_where_the_player_does():
    art = Articulation()
    art.begin(_played(0.5, 0.5))  # each note half its gap
    assert art.length(0.4, 0.5) == 0.4  # legato: only ever lengthened
    assert art.length(0.4, 0.5, detach=True) == pytest.approx(0.25)
    assert art.length(0.2, 0.5, detach=True) == 0.2  # never lengthened past the player's share
    assert art.length(0.4, 2.5, detach=True) == 0.4  # a gap unlike the player's: as drawn
    art.begin(_played(0.5, 1.0))
    assert art.length(0.8, 0.5, detach=True) == 0.8  # a legato player's notes are never cut
    art.begin([Note(60, 80, 0.0, 0.001), Note(62, 80, 1.0, 0.001), Note(64, 80, 2.0, 0.001)])
    assert art.length(0.5, 1.0, detach=True) == SHORTEST_DURATION_S  # no shorter than a DUR bin


def test_articulation_takes_the_players_nearest_gaps_within_its_reach():
    """A line moving faster or slower than the player plays as the player's nearest spacings do."""
    art = Articulation()
    art.begin(_played(1.0, 1.0))  # legato chords a second apart
    assert art.length(0.1, 0.3) == pytest.approx(0.3)  # 3.3x faster: held all the same
    assert art.length(0.1, 3.0) == pytest.approx(3.0)  # 3x slower
    assert art.length(0.1, 1.0 / LEGATO_REACH / 1.01) == 0.1  # beyond the reach: as drawn
    # legato at 1 s, detached (a quarter of the gap) at 0.125 s: the nearer spacing decides
    art.begin(_played(1.0, 1.0) + [Note(90, 80, 10.0 + i * 0.125, 0.03125) for i in range(6)])
    assert art.length(0.1, 0.4) == pytest.approx(0.4)  # 2.5x from 1 s, 3.2x from 0.125 s
    assert art.length(0.1, 0.2, detach=True) == pytest.approx(0.05)  # 1.6x from 0.125 s
    assert art.length(0.1, 0.2) == 0.1  # legato alone never cuts


def test_articulation_holds_a_chords_top_note_and_cuts_every_note():
    """Legato joins the line (the top note) and leaves the other voices as drawn; detached cuts them all."""
    chord = [Note(60, 80, 1.0, 0.1), Note(64, 80, 1.01, 0.1), Note(67, 80, 1.02, 0.3)]
    art = Articulation()
    assert art.hold(chord, 1.5) == chord and art.hold(chord, None) == chord  # nothing heard yet
    art.begin(_played(0.5, 1.0, chord=3))
    held = art.hold(chord, 1.5)
    assert [n.duration_s for n in held[:2]] == [0.1, 0.1]
    assert held[2].end_s == pytest.approx(1.5)
    art.begin(_played(0.5, 0.4, chord=3))
    assert art.hold(chord, 1.5) == chord  # legato alone never cuts
    cut = art.hold(chord, 1.5, detach=True)
    assert [n.duration_s for n in cut] == pytest.approx([0.1, 0.1, 0.4 * 0.48])
    assert [(n.pitch, n.onset_s) for n in cut] == [(n.pitch, n.onset_s) for n in chord]
