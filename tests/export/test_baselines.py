"""The variable-order Markov baseline."""

import math

import numpy as np

from export.baselines import MarkovBaseline
from livegen import tokens as tk
from livegen.notes import Note


def _windows(pattern_notes, repeats, rows):
    notes = [Note(p, 80, 0.25 * i, 0.2) for i, p in enumerate(pattern_notes * repeats)]
    row = tk.encode(notes, bos=True)
    return np.stack([row] * rows)


def test_probabilities_are_normalised_over_the_allowed_kind():
    train = _windows([60, 62, 64, 65], 8, 3)
    model = MarkovBaseline(max_order=6).fit(train)
    # sum P(w | context) over every candidate w of the allowed kind is 1
    context = train[0, :10]
    kind = tk.next_kind(int(context[-1]))
    candidates = np.flatnonzero(tk.KIND_MASKS[kind])
    rows = np.stack([np.concatenate([context, [w]]) for w in candidates])
    p = np.exp(-model.nll(rows)[:, -1])
    assert math.isclose(p.sum(), 1.0, rel_tol=1e-9)


def test_a_repeated_pattern_becomes_predictable_and_unseen_is_finite():
    train = _windows([60, 62, 64, 65], 8, 3)
    model = MarkovBaseline(max_order=8).fit(train)
    seen = model.bits_per_note(_windows([60, 62, 64, 65], 4, 1))
    unseen = model.bits_per_note(_windows([61, 70, 49, 80], 4, 1))
    assert seen < 2.0 < unseen < np.inf
    uniform = sum(math.log2(tk.KIND_MASKS[k].sum()) for k in (1, 2, 3, 4))
    untrained = MarkovBaseline(max_order=4).fit(train[:, :1])  # no targets: uniform per kind
    assert math.isclose(untrained.bits_per_note(train), uniform, rel_tol=1e-9)
