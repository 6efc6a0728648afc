"""Tests of livegen.phrases: a phrase's notes, span and texture (one line or chords)."""

from __future__ import annotations

import pytest
from fakes import FakeModel
from rig import PRESET

from livegen.generation import Generator
from livegen.notes import Note
from livegen.offline import continue_phrase
from livegen.phrases import (
    answer_preset,
    last_phrase,
    melody_line,
    middle_line,
    notes_per_onset,
    phrase_span_s,
    plays_one_line,
    voice_line,
)
from livegen.placement import CHORD_SPAN_S
from livegen.presets import PresetError

LINE = [Note(60 + i % 7, 80, 0.25 * i, 0.2) for i in range(12)]
CHORDS = [Note(p + 2 * i, 80, 0.5 * i + 0.01 * k, 0.4) for i in range(6) for k, p in enumerate((48, 55, 64))]


def _one_line(notes: list[Note]) -> bool:
    return all(b.onset_s - a.onset_s >= CHORD_SPAN_S - 1e-9 and a.end_s <= b.onset_s + 1e-9
               for a, b in zip(notes, notes[1:]))


def test_notes_per_onset_counts_chord_tones_as_one_onset():
    assert notes_per_onset(LINE) == 1.0 and plays_one_line(LINE)
    assert notes_per_onset(CHORDS) == 3.0 and not plays_one_line(CHORDS)
    assert notes_per_onset([]) is None and not plays_one_line([])
    grace = LINE + [Note(72, 80, 0.25 * 3 + 0.01, 0.1)]  # one double stop in 12 onsets
    assert notes_per_onset(grace) == pytest.approx(13 / 12) and plays_one_line(grace)


def test_the_last_phrase_follows_the_last_silence_and_spans_it():
    later = [Note(70, 80, 5.0 + 0.5 * i, 0.4) for i in range(4)]
    assert last_phrase(CHORDS + later, 0.5) == later
    assert phrase_span_s(later) == pytest.approx(1.9) and phrase_span_s([]) is None


def test_monophonic_auto_is_checked_and_decided_by_the_phrase():
    auto = PRESET.replace(monophonic="auto")
    assert answer_preset(auto, LINE).answer.monophonic is True
    assert answer_preset(auto, CHORDS).answer.monophonic is False
    assert answer_preset(auto, CHORDS + LINE).answer.monophonic is False  # no silence: one phrase
    assert answer_preset(auto, [*CHORDS, *(Note(n.pitch, 80, n.onset_s + 9, 0.2) for n in LINE)]
                         ).answer.monophonic is True  # the line after a silence is the phrase
    fixed = PRESET.replace(monophonic=True)
    assert answer_preset(fixed, CHORDS) is fixed
    with pytest.raises(PresetError, match="true, false or auto"):
        PRESET.replace(monophonic="sometimes")


@pytest.mark.parametrize(("prompt", "one_line"), [(LINE, True), (CHORDS, False)])
def test_monophonic_auto_answers_a_line_with_a_line_and_chords_with_chords(prompt, one_line):
    model = FakeModel(time_bias=6.0)  # favours short shifts: chords and overlaps without the mode
    preset = PRESET.replace(monophonic="auto", max_notes=60, max_seconds=30.0, max_duration_s=2.0)
    gen = Generator(model, preset, seed=3)
    for note in prompt:
        gen.prime(note)
    gen.begin_response(10.0)
    assert gen.answer_preset.answer.monophonic is one_line and gen.preset is preset
    assert _one_line([gen.next_note() for _ in range(60)]) == one_line
    answer = continue_phrase(model, preset, prompt, seed=3)
    assert len(answer.notes) >= 20 and _one_line(answer.notes) == one_line


def test_the_melody_line_is_the_top_note_of_each_chord():
    rolled = [Note(60, 80, 0.0, 0.5), Note(64, 80, 0.01, 0.5), Note(67, 80, 0.02, 0.5)]
    tune = [Note(72, 80, 0.5, 0.2), Note(48, 80, 0.5, 0.5), Note(71, 80, 0.7, 0.2)]
    assert [n.pitch for n in melody_line(rolled + tune)] == [67, 72, 71]
    assert melody_line(LINE) == sorted(LINE, key=lambda n: n.onset_s)  # a line is its own melody
    # onsets further apart than a chord's span are separate notes, however low
    apart = [Note(72, 80, 0.0, 0.2), Note(48, 80, CHORD_SPAN_S + 0.001, 0.2)]
    assert melody_line(apart) == apart
    # the same pitch twice (two channels): the first
    doubled = [Note(60, 80, 0.0, 0.2, channel=0), Note(60, 80, 0.005, 0.2, channel=1)]
    assert melody_line(doubled) == doubled[:1]
    # judged against the notes around them: a lower note whose chord's top is still sounding
    assert melody_line(rolled[:1], around=rolled) == [] and melody_line([], around=rolled) == []


def test_the_middle_line_is_the_median_note_of_each_chord():
    rolled = [Note(p, 80, 0.01 * k, 0.5) for k, p in enumerate((48, 60, 64, 67))]
    three = [Note(50, 80, 0.5, 0.2), Note(57, 80, 0.5, 0.2), Note(65, 80, 0.5, 0.2)]
    two = [Note(52, 80, 1.0, 0.2), Note(59, 80, 1.01, 0.2)]
    # of four notes the upper middle one, of three the middle, of two the top
    assert [n.pitch for n in middle_line(rolled + three + two)] == [64, 57, 59]
    assert middle_line(LINE) == sorted(LINE, key=lambda n: n.onset_s)  # a line is heard whole
    apart = [Note(72, 80, 0.0, 0.2), Note(48, 80, CHORD_SPAN_S + 0.001, 0.2)]
    assert middle_line(apart) == apart
    # judged against the notes around them: the chord's middle, even when handed on alone
    assert middle_line(rolled[2:3], around=rolled) == rolled[2:3]
    assert middle_line(rolled[3:], around=rolled) == [] and middle_line([], around=rolled) == []
    assert voice_line(rolled, "middle") == middle_line(rolled)
    assert voice_line(rolled, "top") == melody_line(rolled) != middle_line(rolled)
    with pytest.raises(ValueError, match="top or middle"):
        voice_line(rolled, "bass")


def test_chord_voice_takes_top_or_middle_and_names_the_key_otherwise():
    assert PRESET.answer.chord_voice == "top"
    assert PRESET.replace(chord_voice="middle").answer.chord_voice == "middle"
    with pytest.raises(PresetError, match="chord_voice must be one of top, middle"):
        PRESET.replace(chord_voice="bass")


def test_a_monophonic_preset_hearing_the_middle_voice_continues_it_offline():
    model = FakeModel(time_bias=6.0)
    preset = PRESET.replace(monophonic=True, chord_voice="middle", max_notes=20, max_seconds=30.0)
    chords = [Note(p + 12 * (i % 2), 80, 0.5 * i, 0.4) for i in range(8) for p in (48, 55, 64)]
    assert [n.pitch for n in middle_line(chords)][:2] == [55, 67]
    assert continue_phrase(model, preset, chords, seed=5).notes == \
        continue_phrase(model, preset, middle_line(chords), seed=5).notes
    assert continue_phrase(model, preset, chords, seed=5).notes != \
        continue_phrase(model, preset.replace(chord_voice="top"), chords, seed=5).notes


def test_a_monophonic_preset_continues_the_melody_of_chords_offline():
    model = FakeModel(time_bias=6.0)
    preset = PRESET.replace(monophonic=True, max_notes=20, max_seconds=30.0)
    chords = [Note(p + 12 * (i % 2), 80, 0.5 * i, 0.4) for i in range(8) for p in (48, 55, 64)]
    assert continue_phrase(model, preset, chords, seed=5).notes == \
        continue_phrase(model, preset, melody_line(chords), seed=5).notes
    poly = preset.replace(monophonic=False)
    assert continue_phrase(model, poly, chords, seed=5).notes != \
        continue_phrase(model, poly, melody_line(chords), seed=5).notes
