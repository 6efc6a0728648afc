"""Tests of livegen.copyguard and the generator's use of it."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import FakeModel
from hypothesis import given, settings
from hypothesis import strategies as st

from livegen.copyguard import GUARD_NOTES, CopyGuard, guard_path, interval_keys
from livegen.errors import ModelError
from livegen.notes import Note
from livegen.offline import continue_notes
from livegen.presets import Preset, PresetError


def _phrase(n: int = 24) -> list[Note]:
    return [Note(60 + (i * 7) % 12, 80, 0.25 * i, 0.2) for i in range(n)]


def _longest_shared_run(pitches: list[int], piece: list[int]) -> int:
    """Brute force: notes in the longest run of ``pitches`` whose intervals occur in ``piece``."""
    a, b = np.diff(pitches).tolist(), np.diff(piece).tolist()
    best = 0
    for i in range(len(a)):
        for j in range(len(b)):
            k = 0
            while i + k < len(a) and j + k < len(b) and a[i + k] == b[j + k]:
                k += 1
            best = max(best, k)
    return best + 1 if pitches else 0


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(30, 90), min_size=GUARD_NOTES, max_size=60), st.integers(-12, 12))
def test_every_training_run_is_blocked_at_its_last_note_in_any_transposition(piece, shift):
    guard = CopyGuard.build([np.array(piece)])
    windows = [piece[i:i + GUARD_NOTES] for i in range(len(piece) - GUARD_NOTES + 1)]
    for window in windows:
        run = [p + shift for p in window]
        prefix = np.diff(run[:-1]).tolist()
        expected = {run[-2] + w[-1] - w[-2] for w in windows if np.diff(w[:-1]).tolist() == prefix}
        assert guard.blocked(run[:-1]) == sorted(p for p in expected if 0 <= p <= 127)


def test_nothing_is_blocked_before_a_full_run_or_off_the_training_runs():
    piece = [60, 62, 64, 65, 67, 69, 71, 72, 74, 76, 77, 79, 81, 83, 84, 86]  # C major
    guard = CopyGuard.build([np.array(piece)])
    assert guard.blocked(piece[:GUARD_NOTES - 2]) == []  # one note short of a prefix
    assert guard.blocked(piece[:GUARD_NOTES - 1]) == [piece[GUARD_NOTES - 1]]
    assert guard.blocked(piece[:GUARD_NOTES - 1], low=0, high=60) == []  # outside the range
    assert guard.blocked([60, 62] * 6) == []  # never in the piece
    assert len(guard) == len(piece) - GUARD_NOTES + 1  # distinct runs
    assert len(CopyGuard.build([np.arange(60, 90)])) == 1  # a chromatic scale: one run
    assert len(interval_keys(np.array(piece[:GUARD_NOTES - 1]))) == 0


def test_save_load_round_trip_and_a_bad_file_is_a_one_line_model_error(tmp_path):
    guard = CopyGuard.build([np.arange(40, 70), np.arange(70, 40, -2)])
    path = guard.save(guard_path(tmp_path / "m.onnx"))
    assert path.name == "m.copies.npz"
    again = CopyGuard.load(path)
    assert again.notes == guard.notes and np.array_equal(again.keys, guard.keys)
    bad = tmp_path / "bad.copies.npz"
    bad.write_bytes(b"not numpy")
    with pytest.raises(ModelError, match="bad.copies.npz: not a livegen copy guard"):
        CopyGuard.load(bad)


def test_preset_copy_guard_must_be_a_boolean():
    assert Preset(name="p").answer.copy_guard is True
    with pytest.raises(PresetError, match="copy_guard must be true or false"):
        Preset(name="p").replace(copy_guard="yes")


def test_the_generator_never_completes_a_guarded_run_and_off_lets_it_copy():
    plain = Preset(name="p").replace(temperature=0.3, top_p=0.9)
    # the "training piece": what this model answers without a guard
    piece = [n.pitch for n in continue_notes(FakeModel(seed=3), plain, _phrase(), n_notes=48, seed=9)]
    assert len(piece) > 2 * GUARD_NOTES and _longest_shared_run(piece, piece) == len(piece)
    model = FakeModel(seed=3)
    model.copy_guard = CopyGuard.build([np.array(piece)])
    guarded = [n.pitch for n in continue_notes(model, plain, _phrase(), n_notes=48, seed=9)]
    assert _longest_shared_run(guarded, piece) <= GUARD_NOTES - 1
    assert guarded[:GUARD_NOTES - 1] == piece[:GUARD_NOTES - 1]  # untouched until a run completes
    model = FakeModel(seed=3)
    model.copy_guard = CopyGuard.build([np.array(piece)])
    unguarded = continue_notes(model, plain.replace(copy_guard=False), _phrase(), n_notes=48, seed=9)
    assert [n.pitch for n in unguarded] == piece
