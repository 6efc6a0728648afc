"""Tests of livegen.tempo: the performer's tempo and beat grid from their onsets."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livegen.tempo import OnsetTempo, estimate_grid_from_onsets, estimate_tempo_from_onsets


def test_tempo_from_onsets_merges_chords_and_folds_the_octave():
    quarters = [0.5 * i for i in range(8)]
    assert estimate_tempo_from_onsets(quarters) == pytest.approx(120.0)
    chords = sorted(quarters + [t + 0.01 for t in quarters])  # chord tones 10 ms apart
    assert estimate_tempo_from_onsets(chords) == pytest.approx(120.0, rel=1e-3)
    assert estimate_tempo_from_onsets([1.0 * i for i in range(6)]) == pytest.approx(120.0)
    assert estimate_tempo_from_onsets([0.4 * i for i in range(6)]) == pytest.approx(150.0)
    sixteenths = [0.125 * i for i in range(12)]
    assert estimate_tempo_from_onsets(sixteenths) == pytest.approx(120.0)


def test_tempo_from_onsets_needs_three_intervals():
    assert estimate_tempo_from_onsets([]) is None
    assert estimate_tempo_from_onsets([0.0, 0.5, 1.0]) is None
    assert estimate_tempo_from_onsets([0.0, 0.5, 5.0, 9.0]) is None  # pauses are not rhythm
    assert estimate_tempo_from_onsets([0.0, 0.5, 1.0, 1.5]) == pytest.approx(120.0)


NOTE_VALUES_BEATS = (0.25, 0.5, 1.0, 2.0)  # binary rhythms: sixteenths to halves


@settings(max_examples=200, deadline=None)
@given(values=st.lists(st.sampled_from(NOTE_VALUES_BEATS), min_size=8, max_size=40),
       seed=st.integers(0, 2**32 - 1), start_s=st.floats(0, 1000))
def test_tempo_from_onsets_within_one_percent_under_one_ms_of_jitter(values, seed, start_s):
    beat_s = 0.5  # 120 BPM
    onsets = start_s + beat_s * np.concatenate(([0.0], np.cumsum(values)))
    onsets += np.random.default_rng(seed).uniform(-0.001, 0.001, len(onsets))
    assert estimate_tempo_from_onsets(list(onsets)) == pytest.approx(120.0, rel=0.01)


def test_grid_from_onsets_finds_the_phase_of_the_beat():
    # quarters at 120 BPM on 3.1 + k/2, with eighth-note pickups in between
    onsets = [3.1, 3.6, 4.1, 4.35, 4.6, 5.1, 5.35, 5.6, 6.1]
    grid = estimate_grid_from_onsets(onsets)
    assert grid.bpm == pytest.approx(120.0, rel=1e-3)
    assert grid.time_of(0) == pytest.approx(3.1, abs=1e-3)  # the phrase's first beat
    assert grid.next_beat_s(6.2) == pytest.approx(6.6, abs=1e-3)
    assert grid.next_bar_s(6.2, 4) == pytest.approx(7.1, abs=1e-3)  # 8 beats after 3.1


def test_grid_from_onsets_uses_the_last_phrase_for_the_phase():
    old = [0.0, 0.5, 1.0, 1.5, 2.0]
    new = [10.2, 10.7, 11.2, 11.7]  # after a 8 s pause, off the old phase
    grid = estimate_grid_from_onsets(old + new)
    assert grid.time_of(0) == pytest.approx(10.2, abs=1e-3)


def test_onset_tempo_tracks_spacing_and_caches_the_grid():
    tempo = OnsetTempo(capacity=8)
    assert tempo.median_ioi_s() is None and tempo.grid() is None
    for i in range(6):
        tempo.add(1.0 + 0.5 * i)
        tempo.add(1.0 + 0.5 * i + 0.01)  # a chord tone: ignored
    assert tempo.median_ioi_s() == pytest.approx(0.5)
    grid = tempo.grid()
    assert grid.bpm == pytest.approx(120.0) and tempo.grid() is grid
    tempo.add(3.9)  # slightly before the last onset: kept in order
    tempo.add(3.8)
    assert tempo.grid() is not grid
    tempo.clear()
    assert tempo.median_ioi_s() is None and tempo.grid() is None
