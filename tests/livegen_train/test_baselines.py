"""The variable-order Markov baseline."""

import math

import numpy as np

from livegen import tokens as tk
from livegen.notes import Note
from livegen_train.baselines import MarkovBaseline


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


def test_chunked_and_restricted_fits_give_the_same_probabilities():
    import pytest

    rng = np.random.default_rng(2)
    rows = [tk.encode([Note(int(p), 80, 0.25 * i, 0.2) for i, p in enumerate(rng.integers(55, 70, 24))],
                      bos=True) for _ in range(12)]
    train, test = np.stack(rows[:10]), np.stack(rows[10:])
    whole = MarkovBaseline(max_order=6).fit(train)
    chunked = MarkovBaseline(max_order=6).fit_chunks([train[:3], train[3:7], train[7:]])
    restricted = MarkovBaseline(max_order=6).fit_chunks([train[:5], train[5:]], restrict_to=test)
    assert np.array_equal(whole.nll(test), chunked.nll(test))
    assert np.array_equal(whole.nll(train), chunked.nll(train))
    assert np.array_equal(whole.nll(test), restricted.nll(test))
    assert sum(len(k) for k, _ in restricted._pair) < sum(len(k) for k, _ in whole._pair)
    with pytest.raises(ValueError, match="restrict_to"):
        restricted.nll(train)


def test_transposing_tokens_equals_rendering_transposed_pieces():
    import dataclasses

    from livegen_train.corpus import Piece
    from livegen_train.dataset import eval_windows
    from livegen_train.evaluate import transpose_tokens

    rng = np.random.default_rng(4)
    n = 80
    pieces = [Piece(f"s/{i}", "folk", rng.integers(2, 125, n).astype(np.int16),
                    np.cumsum(rng.choice([0.0, 0.5, 1.0], n)).astype(np.float32),
                    np.full(n, 0.5, np.float32), np.full(n, -1, np.int16), 100.0) for i in range(3)]
    x, _ = eval_windows(pieces, ["folk"], 16, performed=True)
    for shift in (-5, 0, 6):
        moved = [dataclasses.replace(p, pitch=np.clip(p.pitch + shift, 0, 127).astype(np.int16))
                 for p in pieces]
        expected, _ = eval_windows(moved, ["folk"], 16, performed=True)
        assert np.array_equal(transpose_tokens(x, shift), expected)
