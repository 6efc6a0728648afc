"""Adherence figures on phrases whose answers are known by construction."""

from __future__ import annotations

import math

import numpy as np
import pytest

from livegen.notes import Note
from livegen_train.adherence import (
    adherence,
    histogram_distances,
    iid_baseline,
    interval_patterns,
    key_correlation,
    metronome_baseline,
    motif_reuse,
    on_grid_share,
    part_prompts,
    pitch_repetition,
    register_drift,
    top_line,
    wide_leaps,
)

MOTIF = (60, 62, 64, 60)  # C D E C


def line(pitches, start_s=0.0, step_s=0.25, length_s=0.2):
    return [Note(p, 80, start_s + i * step_s, length_s) for i, p in enumerate(pitches)]


def test_the_top_line_takes_the_highest_note_of_each_chord():
    chord = [Note(60, 80, 0.0, 0.5), Note(67, 80, 0.01, 0.5), Note(64, 80, 0.02, 0.5)]
    assert [n.pitch for n in top_line([*chord, Note(62, 80, 0.5, 0.5)])] == [67, 62]


def test_a_transposed_motif_is_reused_and_a_new_one_is_not():
    prompt = line(MOTIF * 4)
    assert motif_reuse(prompt, line([p + 5 for p in MOTIF * 2], start_s=4.0)) == 1.0
    assert motif_reuse(prompt, line([60, 67, 59, 72, 48, 71], start_s=4.0)) == 0.0
    assert math.isnan(motif_reuse(prompt, line([60, 62], start_s=4.0)))
    assert interval_patterns(line(MOTIF)) == [(2, 2, -4)]


def test_wide_leaps_count_the_top_lines_steps_over_an_octave():
    assert wide_leaps(line([60, 73, 72, 60, 48])) == 0.25  # 13 up; then 1, 12, 12 down: an octave is no leap
    bass = line([40, 41, 40, 41])
    melody = line([60, 88, 60, 88])  # a chord's notes within 30 ms are one onset, not a leap
    assert wide_leaps(bass + melody) == 1.0 and wide_leaps(bass) == 0.0
    assert math.isnan(wide_leaps(line([60])))


def test_the_register_drift_is_the_distance_of_the_mean_pitches():
    assert register_drift(line([60, 64]), line([84, 88], start_s=1.0)) == 24.0


def test_onsets_on_the_prompts_sixteenth_grid_count_and_offbeat_ones_do_not():
    prompt = line([60, 62, 64, 65] * 4, step_s=0.5)  # 120 BPM quarter notes
    on = line([60] * 8, start_s=8.0, step_s=0.125)  # sixteenths on the same grid
    off = line([60] * 8, start_s=8.0 + 0.0625, step_s=0.125)  # halfway between sixteenths
    assert on_grid_share(prompt, on) == 1.0
    assert on_grid_share(prompt, off) == 0.0


def test_repetition_counts_repeated_pitch_grams():
    assert pitch_repetition(line(MOTIF * 3)) == pytest.approx(5 / 9)
    assert pitch_repetition(line(range(60, 72))) == 0.0


def test_the_real_continuation_of_a_steady_part_beats_both_baselines():
    rng = np.random.default_rng(1)
    pitches = [60, 62, 64, 65, 67, 65, 64, 62] * 8
    rhythm = [0.25, 0.25, 0.5, 0.25, 0.25, 0.5, 0.75, 0.25]
    onsets = np.cumsum([0.0] + [rhythm[i % 8] for i in range(len(pitches) - 1)])
    notes = [Note(p, 80, float(t), 0.2) for p, t in zip(pitches, onsets)]
    prompt, real = notes[:32], notes[32:]
    own = histogram_distances(notes[8:40], real)  # the same music, another stretch
    iid = histogram_distances(iid_baseline(prompt, len(real), rng), real)
    metronome = histogram_distances(metronome_baseline(prompt, len(real)), real)
    assert own["interval"] < iid["interval"] and own["ioi"] < metronome["ioi"]
    figures = adherence(prompt, real)
    assert figures["motif_reuse"] == 1.0 and figures["density_ratio"] == pytest.approx(1.0, abs=0.1)


def test_prompts_are_cut_from_long_enough_parts_only():
    parts = {"song/ch 1": line(range(120)), "song/ch 2": line(range(40)),
             "other/ch 1": line(range(200))}
    prompts = part_prompts(parts, prompt_notes=50, cont_notes=64)
    assert [name for name, _, _ in prompts] == ["other/ch 1", "song/ch 1"]
    name, prompt, real = prompts[1]
    assert len(prompt) == 50 and len(real) == 64 and prompt[-1].onset_s < real[0].onset_s


def test_key_correlation_is_high_in_the_prompts_key_and_low_a_tritone_away():
    c_major = line([60, 62, 64, 65, 67, 69, 71, 72, 67, 64, 60, 67] * 3)
    in_key = line([64, 67, 72, 71, 69, 67, 65, 64, 62, 60, 67, 60], start_s=10.0)
    tritone = line([p + 6 for p in (64, 67, 72, 71, 69, 67, 65, 64, 62, 60, 67, 60)], start_s=10.0)
    assert key_correlation(c_major, in_key) > 0.7
    assert key_correlation(c_major, tritone) < 0.0
    assert math.isnan(key_correlation([], in_key))
    assert math.isnan(key_correlation(c_major, []))


def test_block_chords_answering_a_single_line_have_a_polyphony_ratio_of_three():
    melody = line([60, 62, 64, 65] * 4)
    chords = [Note(p + k, 80, i * 0.5, 0.4) for i, p in enumerate([60, 62, 64, 65]) for k in (0, 4, 7)]
    assert adherence(melody, chords)["polyphony_ratio"] == pytest.approx(3.0)
    assert adherence(melody, line([67, 65, 64], start_s=5.0))["polyphony_ratio"] == pytest.approx(1.0)


def test_the_command_line_overrides_the_per_kind_follow_and_the_longest_note():
    from argparse import Namespace

    from livegen_train.adherence import preset_changes

    args = Namespace(follow=0.75, follow_duration=0.0, follow_pitch=None, max_duration=1.5, quantize=None,
                     key_mask="off", pitch_range="24-100")
    assert preset_changes(args) == {"follow": 0.75, "follow_duration": 0.0, "max_duration_s": 1.5,
                                    "key_mask": "off", "pitch_low": 24, "pitch_high": 100}


def test_a_sweep_variant_lays_its_keys_over_the_presets_it_names():
    from livegen.presets import load_preset
    from livegen_train.adherence_sweep import mean_adherence, variant_presets

    presets = {name: load_preset(name) for name in ("classical", "folk")}
    only = variant_presets(presets, {"presets": ["classical"], "keys": {"follow": 0.5, "follow_duration": 0}})
    assert list(only) == ["classical"] and only["classical"].conditioning.follow_duration == 0.0
    assert only["classical"].conditioning.follow == 0.5 and presets["classical"].conditioning.follow != 0.5
    assert set(variant_presets(presets, {"keys": {"temperature": 0.7}})) == {"classical", "folk"}
    line = [Note(60 + i % 5, 80, 0.25 * i, 0.2) for i in range(16)]
    figures = mean_adherence([line], [line], [line, line[::2]], 2)  # two continuations of one prompt
    assert figures["motif_reuse"] == 0.5  # the prompt itself reuses all its motifs, its every other note none
    assert figures["interval_distance"] > 0.0


def test_the_texture_split_keeps_line_and_chordal_prompts_apart():
    from livegen_train.adherence_sweep import by_texture

    melody = [Note(72 + i % 5, 80, 0.25 * i, 0.2) for i in range(16)]
    chords = [Note(p + i % 3, 80, 0.5 * i, 0.4) for i in range(8) for p in (48, 55, 72)]
    answer = [Note(76, 80, 0.25 * i, 0.2) for i in range(8)]  # one line, high
    groups = by_texture([melody, chords], [melody, chords], [answer, answer, answer, answer], 2)
    assert set(groups) == {"line", "chords"}  # nothing in between
    assert groups["line"]["prompts"] == groups["chords"]["prompts"] == 1
    melody_mean, chords_mean = 72 + 30 / 16, (48 + 55 + 72) / 3 + 7 / 8
    # the same answer drifts 2.1 semitones from the line's mean, 16.5 from the chords'
    assert groups["line"]["answers"]["register_drift"] == pytest.approx(76 - melody_mean)
    assert groups["chords"]["answers"]["register_drift"] == pytest.approx(76 - chords_mean)
    # the real chords do not drift from themselves; their top line alone sits 13.7 above them
    assert groups["chords"]["real"]["register_drift"] == pytest.approx(0.0, abs=1e-9)
    assert groups["chords"]["real top line"]["register_drift"] == pytest.approx(72 + 7 / 8 - chords_mean)


def test_the_command_line_overrides_the_answer_length_and_the_span_ratio_compares_lengths():
    from argparse import Namespace

    from livegen_train.adherence import preset_changes, span_ratio

    args = Namespace(follow=None, follow_duration=None, follow_pitch=None, max_duration=None, quantize=None,
                     key_mask=None, pitch_range=None, answer_length="match", monophonic="auto")
    assert preset_changes(args) == {"answer_length": "match", "monophonic": "auto"}
    args.monophonic = "false"
    assert preset_changes(args)["monophonic"] is False
    line = [Note(60 + i % 5, 80, 0.25 * i, 0.2) for i in range(16)]  # 3.95 s
    assert span_ratio(line[:8], line) == pytest.approx(1.95 / 3.95)
    assert math.isnan(span_ratio([], line))


def test_a_sweep_of_one_preset_draws_the_shared_corpus_pool_of_every_tonal_style():
    from livegen.presets import load_preset
    from livegen_train.adherence_sweep import pool_presets
    from livegen_train.classifier_report import TONAL_PRESETS

    swept = {"classical": load_preset("classical").replace(style_guidance=4)}
    pool = pool_presets(swept, TONAL_PRESETS)
    assert list(pool) == list(TONAL_PRESETS)  # not the classical prompts alone
    assert pool["classical"] is swept["classical"]
    assert pool["folk"].conditioning.style == "folk"
    assert list(pool_presets({"modern": load_preset("modern")}, TONAL_PRESETS)) == [*TONAL_PRESETS, "modern"]


def test_a_margin_interval_prints_both_bounds_or_nan_when_there_is_none():
    from livegen_train.adherence_sweep import interval_text

    assert interval_text({"margin_interval": (-0.22, -0.08)}) == "(90 %: -0.22..-0.08)"
    assert interval_text({"margin_interval": None}) == "(90 %: +nan..+nan)"
