"""Tests of livegen.keys: Krumhansl-Schmuckler key estimation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livegen.keys import KEY_MIN_CORRELATION, KEY_SCALES, MODES, Key, estimate_key, key_row
from livegen.notes import Note

C, A, F_SHARP = 0, 9, 6


def _cadence(tonic_pitch: int, minor: bool) -> list[Note]:
    """I-IV-V-I (i-iv-V-i in minor) as block chords, 0.5 s each, the last one held."""
    third = 3 if minor else 4
    chords = [(0, third, 7), (5, 5 + third, 12), (7, 11, 14), (0, third, 7)]
    notes = []
    for i, chord in enumerate(chords):
        duration = 1.5 if i == len(chords) - 1 else 0.5
        notes += [Note(tonic_pitch + step, 80, 0.5 * i, duration) for step in chord]
    return notes


@pytest.mark.parametrize(("notes", "tonic", "mode"), [
    ([Note(p, 80, 0.25 * i, 0.25) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])], C, "major"),
    ([Note(p, 80, 0.25 * i, 0.25) for i, p in enumerate([57, 59, 60, 62, 64, 65, 68, 69])], A, "minor"),
    ([Note(p, 80, 0.25 * i, 0.25) for i, p in enumerate([66, 68, 70, 71, 73, 75, 77, 78])],
     F_SHARP, "major"),
    (_cadence(60, minor=False), C, "major"),
    (_cadence(57, minor=True), A, "minor"),
    (_cadence(54, minor=False), F_SHARP, "major"),
])
def test_key_estimation_finds_the_key_of_scales_and_cadences(notes, tonic, mode):
    key = estimate_key([n.pitch for n in notes], [n.duration_s for n in notes])
    assert key is not None and (key.tonic, key.mode) == (tonic, mode), key
    assert key.correlation >= KEY_MIN_CORRELATION  # clear enough for a key mask
    assert key_row(key) == 12 * MODES.index(mode) + tonic
    assert set(np.flatnonzero(KEY_SCALES[key_row(key)])) == key.pitch_classes


KK_MAJOR = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
KK_MINOR = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)


def _reference_correlations(pitches, weights=None) -> dict[tuple[int, str], float]:
    """Krumhansl-Schmuckler written out with np.corrcoef, for every key."""
    hist = np.bincount(np.asarray(pitches) % 12, weights=weights, minlength=12)
    return {(tonic, mode): float(np.corrcoef(hist, np.roll(profile, tonic))[0, 1])
            for mode, profile in (("major", KK_MAJOR), ("minor", KK_MINOR)) for tonic in range(12)}


@settings(max_examples=60, deadline=None)
@given(pitches=st.lists(st.integers(30, 90), min_size=2, max_size=40),
       shift=st.integers(-24, 24), weighted=st.booleans())
def test_key_estimation_is_the_best_correlation_and_follows_transposition(pitches, shift, weighted):
    weights = [1.0 + (p % 5) for p in pitches] if weighted else None
    key = estimate_key(pitches, weights)
    hist = np.bincount(np.array(pitches) % 12, weights, minlength=12)
    if np.all(hist == hist[0]):  # every pitch class weighs the same: no key
        assert key is None
        return
    assert key is not None
    best = max(_reference_correlations(pitches, weights).values())
    assert key.correlation == pytest.approx(best)
    moved = _reference_correlations([p + shift for p in pitches], weights)
    assert moved[((key.tonic + shift) % 12, key.mode)] == pytest.approx(best)
    assert estimate_key([p + shift for p in pitches], weights).correlation == pytest.approx(best)


def test_key_estimation_without_a_key_gives_none():
    assert estimate_key([]) is None
    assert estimate_key(list(range(60, 72))) is None  # every pitch class equally
    assert estimate_key([60, 64], [0.0, 0.0]) is None
    assert Key(6, "major", 1.0).name == "F# major"
    assert Key(9, "minor", 1.0).pitch_classes == {9, 11, 0, 2, 4, 5, 6, 7, 8}


def test_the_scales_table_is_read_only():
    with pytest.raises(ValueError):
        KEY_SCALES[0, 0] = False
