"""Copy detection: the longest run of a continuation found in a training piece."""

import numpy as np
import pytest

from livegen.notes import Note
from livegen_train.copies import CopyIndex, CopyMatch
from livegen_train.corpus import Piece


def _piece(name, n=200, seed=0, low=48, high=84, chords=True):
    rng = np.random.default_rng(seed)
    steps = rng.choice([0.0, 0.5, 1.0] if chords else [0.5, 1.0], n)
    onset = np.cumsum(steps).astype(np.float32)
    pitch = rng.integers(low, high, n).astype(np.int16)
    order = np.lexsort((pitch, onset))
    return Piece(name, "folk", pitch[order], onset[order], np.full(n, 0.5, np.float32),
                 np.full(n, -1, np.int16), 120.0)


def _notes(pitches, shift=0, step_s=0.25):
    return [Note(int(p) + shift, 80, i * step_s, 0.2) for i, p in enumerate(pitches)]


def _brute_force(pieces, notes, max_run):
    """Longest run by naive substring search over interval strings."""
    def intervals(pitch):
        return bytes((np.diff(np.asarray(pitch, np.int64)) + 128).tolist())
    text = b"\x00".join(intervals(p.pitch) for p in pieces)
    ordered = sorted(notes, key=lambda n: (n.onset_s, n.pitch))
    query = intervals([n.pitch for n in ordered])
    best = min(len(ordered), 1)
    for i in range(len(query)):
        for length in range(len(query) - i, 0, -1):
            if query[i:i + length] in text:
                best = max(best, length + 1)
                break
    return min(best, max_run)


@pytest.fixture(scope="module")
def pieces():
    return [_piece(f"folk/{i}", seed=i) for i in range(30)]


@pytest.fixture(scope="module")
def index(pieces):
    return CopyIndex.build(pieces)


@pytest.mark.parametrize("shift", [0, 7, -12])
def test_a_slice_of_a_training_piece_is_copied_over_its_whole_length(pieces, index, shift):
    piece = pieces[4]
    run = piece.notes()[50:90]
    moved = [Note(n.pitch + shift, n.velocity, n.onset_s + 3.0, n.duration_s) for n in run]
    assert index.longest_copied_run(moved) == 40
    assert index.longest_copied_run(moved[::-1]) == 40  # any input order


def test_find_copy_says_where_the_run_comes_from(pieces, index):
    query = _notes([60, 61]) + _notes(pieces[7].pitch[100:125], shift=5) + _notes([30, 100])
    for i, note in enumerate(query):
        query[i] = Note(note.pitch, 80, i * 0.25, 0.2)  # one timeline, in this order
    match = index.find_copy(query)
    assert match == CopyMatch(25, 2, "folk/7", 100, 5)


def test_random_notes_find_only_short_runs(index):
    rng = np.random.default_rng(123)
    runs = [index.longest_copied_run(_notes(rng.integers(36, 96, 64))) for _ in range(20)]
    assert max(runs) <= 4 and min(runs) >= 1


def test_a_run_never_spans_two_training_pieces():
    a, b = _piece("folk/a", n=30, seed=1, chords=False), _piece("folk/b", n=30, seed=2, chords=False)
    index = CopyIndex.build([a, b])
    query = _notes(np.r_[a.pitch[-12:], b.pitch[:8]])
    assert index.longest_copied_run(query) == 12


@pytest.mark.parametrize("seed", range(6))
def test_agrees_with_a_brute_force_search_on_a_small_alphabet(seed):
    rng = np.random.default_rng(seed)
    pieces = [_piece(f"folk/{i}", n=int(rng.integers(9, 120)), seed=100 * seed + i, low=60, high=64)
              for i in range(8)]
    index = CopyIndex.build(pieces, max_run=16)
    for _ in range(10):
        query = _notes(rng.integers(60, 64, int(rng.integers(0, 40))))
        assert index.longest_copied_run(query) == _brute_force(pieces, query, 16)


def test_runs_are_capped_at_max_run_and_tiny_queries_are_defined(pieces):
    index = CopyIndex.build(pieces, max_run=8)
    assert index.longest_copied_run(pieces[0].notes()[:30]) == 8
    assert index.longest_copied_run([]) == 0
    assert index.longest_copied_run(_notes([60])) == 1
    assert CopyIndex.build([]).longest_copied_run(_notes([60, 62, 64])) == 1


def test_max_run_below_two_raises_value_error(pieces):
    with pytest.raises(ValueError, match="received 1"):
        CopyIndex.build(pieces, max_run=1)
