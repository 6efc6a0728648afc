"""Tests of livegen.repetition: the interval-pattern repetition guard on its own."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livegen.repetition import RepetitionGuard


def _brute_force(pitches, ngram, window, max_uses, penalty):
    """Count every interval pattern in the last ``window`` pitches, from scratch."""
    recent = list(pitches)[-window:]
    if len(recent) < ngram - 1:
        return {}
    steps = [b - a for a, b in zip(recent, recent[1:])]
    patterns = Counter(tuple(steps[i:i + ngram - 1]) for i in range(len(steps) - ngram + 2))
    prefix = tuple(steps[len(steps) - (ngram - 2):]) if ngram > 2 else ()
    return {recent[-1] + pattern[-1]: penalty * (uses - max_uses + 1)
            for pattern, uses in patterns.items() if pattern[:-1] == prefix and uses >= max_uses}


@settings(max_examples=150, deadline=None)
@given(pitches=st.lists(st.integers(55, 65), max_size=90), ngram=st.integers(2, 6),
       window=st.integers(6, 30), max_uses=st.integers(1, 4))
def test_penalties_match_a_brute_force_count(pitches, ngram, window, max_uses):
    guard = RepetitionGuard(ngram, window, max_uses, 0.5)
    for i, pitch in enumerate(pitches):
        guard.push(pitch)
        assert dict(guard.penalties) == pytest.approx(
            _brute_force(pitches[:i + 1], ngram, window, max_uses, 0.5))


def test_a_loop_is_penalised_once_more_per_use_and_clear_forgets_it():
    guard = RepetitionGuard(ngram=3, window=12, max_count=2, penalty=1.0)
    for pitch in (60, 62, 64) * 3 + (60, 62):  # (+2, +2), (+2, -4), (-4, +2): 3 uses each
        guard.push(pitch)
    assert dict(guard.penalties) == {64: 2.0, 58: 2.0}  # after +2: 3 - 2 + 1 logits each
    guard.clear()
    assert guard.penalties == ()
    guard.push(60)
    guard.push(62)
    assert guard.penalties == ()  # nothing counted any more


def test_patterns_leave_with_the_window():
    guard = RepetitionGuard(ngram=2, window=4, max_count=1, penalty=1.0)
    for pitch in (60, 61, 70, 50, 40):  # (+1) left the 4-note window: only (+9, -20, -10) remain
        guard.push(pitch)
    assert dict(guard.penalties) == {49: 1.0, 20: 1.0, 30: 1.0}
