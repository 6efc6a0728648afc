"""Baselines on the same tokens: a variable-order Markov model with back-off.

Pachet's Continuator (2003) continues a phrase with a variable-order Markov
model over note events, backing off to shorter contexts when a long one was
never seen. Here the same idea runs over livegen's tokens, with Witten-Bell
interpolation between orders (Witten & Bell, 1991) so every token of the
grammar keeps a non-zero probability and the NLL is finite:

    P(w | c_k) = (n(c_k, w) + T(c_k) P(w | c_{k-1})) / (n(c_k) + T(c_k))

where ``n`` counts, ``T(c_k)`` is the number of distinct tokens seen after
``c_k``, and the order -1 model is uniform over the tokens the grammar allows.
Counts are kept in sorted numpy arrays of 64-bit context hashes, so fitting a
million notes takes seconds, not a dict per context.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from livegen import tokens as tk

__all__ = ["MarkovBaseline"]

_MULT = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant (golden ratio), for hashing


_NEXT_KIND = np.array([tk.next_kind(t) for t in range(tk.VOCAB_SIZE)], dtype=np.uint64)


def _context_hashes(x: np.ndarray, order: int) -> np.ndarray:
    """Hash of the ``order`` tokens before each position of the rows of x [N, T] -> [N, T].

    Every context, the empty one included, also holds the token kind the grammar
    expects next, so each context's distribution lies within that kind.
    """
    h = np.full(x.shape, np.uint64(order + 1), dtype=np.uint64)
    expected = np.zeros(x.shape, dtype=np.uint64)
    expected[:, 1:] = _NEXT_KIND[x[:, :-1]] + np.uint64(1)
    with np.errstate(over="ignore"):
        h = (h * _MULT) ^ expected
        for back in range(1, order + 1):
            prev = np.zeros_like(x, dtype=np.uint64)
            prev[:, back:] = x[:, :-back].astype(np.uint64) + np.uint64(1)
            h = (h * _MULT) ^ prev
    return h


class MarkovBaseline:
    """Variable-order Markov model over token ids with Witten-Bell back-off.

    Args:
        max_order: longest context in tokens (8 = two notes).
    """

    def __init__(self, max_order: int = 8) -> None:
        self.max_order = max_order
        self._ctx: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._pair: list[tuple[np.ndarray, np.ndarray]] = []

    def fit(self, windows: Sequence[np.ndarray] | np.ndarray) -> MarkovBaseline:
        """Count contexts in token windows (int64 [N, T], each row BOS first).

        A context never reaches back past the start of its row, as the
        network's never reaches back past the start of its window.
        """
        x = np.asarray(windows, dtype=np.int64)
        position = np.arange(x.shape[1])[None, :].repeat(len(x), axis=0)
        self._ctx, self._pair = [], []
        for order in range(0, self.max_order + 1):
            ok = position >= max(order, 1)  # a target with its whole context inside the row
            h = _context_hashes(x, order)[ok]
            w = x[ok].astype(np.uint64)
            ctx_keys, ctx_counts = np.unique(h, return_counts=True)
            with np.errstate(over="ignore"):
                pair = (h * _MULT) ^ (w + np.uint64(0x51ED27))
            pair_keys, pair_counts = np.unique(pair, return_counts=True)
            # distinct followers per context: unique (context, token) pairs grouped by context
            uniq_ctx_of_pairs = np.unique(np.stack([h, w], axis=1), axis=0)[:, 0]
            t_keys, t_counts = np.unique(uniq_ctx_of_pairs, return_counts=True)
            assert np.array_equal(t_keys, ctx_keys)
            self._ctx.append((ctx_keys, ctx_counts, t_counts))
            self._pair.append((pair_keys, pair_counts))
        return self

    @staticmethod
    def _lookup(keys: np.ndarray, values: np.ndarray, query: np.ndarray) -> np.ndarray:
        if len(keys) == 0:
            return np.zeros(query.shape, dtype=values.dtype)
        index = np.searchsorted(keys, query)
        index = np.minimum(index, len(keys) - 1)
        found = keys[index] == query
        return np.where(found, values[index], 0)

    def nll(self, windows: np.ndarray) -> np.ndarray:
        """NLL in nats of each token after the first, float64 [N, T-1]."""
        x = np.asarray(windows, dtype=np.int64)
        target = x[:, 1:]
        allowed_next = np.array([tk.next_kind(t) for t in range(tk.VOCAB_SIZE)])
        kind_sizes = tk.KIND_MASKS.sum(axis=1)
        prob = 1.0 / kind_sizes[allowed_next[x[:, :-1]]]  # order -1: uniform over the allowed kind
        w = target.astype(np.uint64)
        for order in range(0, self.max_order + 1):
            h = _context_hashes(x, order)[:, 1:]
            ctx_keys, ctx_counts, t_counts = self._ctx[order]
            n_ctx = self._lookup(ctx_keys, ctx_counts, h).astype(np.float64)
            t_ctx = self._lookup(ctx_keys, t_counts, h).astype(np.float64)
            with np.errstate(over="ignore"):
                pair = (h * _MULT) ^ (w + np.uint64(0x51ED27))
            pair_keys, pair_counts = self._pair[order]
            n_pair = self._lookup(pair_keys, pair_counts, pair).astype(np.float64)
            reach = np.arange(1, x.shape[1])[None, :] >= order  # the context fits in the row
            seen = (n_ctx > 0) & reach
            interpolated = (n_pair + t_ctx * prob) / np.maximum(n_ctx + t_ctx, 1.0)
            prob = np.where(seen, interpolated, prob)
        return -np.log(prob)

    def bits_per_note(self, windows: np.ndarray) -> float:
        """Mean NLL per note in bits (4 tokens per note) over the windows."""
        return float(self.nll(windows).mean() * tk.TOKENS_PER_NOTE / math.log(2.0))
