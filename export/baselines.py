"""Baselines on the same tokens: a variable-order Markov model, and the stateless window design.

(a) The variable-order Markov model with back-off.

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

(b) The older tools' design: a network that keeps no state between notes but
re-reads the last 50 notes for every new one and takes the argmax.
:class:`StatelessWindowModel` runs livegen's own network that way, so the
only differences from the model are the truncated context and the decoding;
:func:`window_nll` is its NLL (the model's, with each note seeing at most the
last 50 notes), :func:`argmax_preset` its decoding. The scorers
(:class:`StepScorer` for any step model such as the ONNX one,
:class:`TorchScorer` for the PyTorch network, batched) give the per-token
NLL under the note grammar that all columns of the evaluation use.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from livegen import tokens as tk
from livegen.guidance import StepModel
from livegen.presets import Preset

__all__ = ["MarkovBaseline", "StatelessWindowModel", "WINDOW_NOTES", "ARGMAX_TOP_P", "argmax_preset",
           "TokenScorer", "StepScorer", "TorchScorer", "window_nll"]

#: Notes the stateless design re-reads for every new note (the older tools' window).
WINDOW_NOTES = 50
#: A nucleus this small keeps only the most likely token: top-p sampling becomes argmax
#: (:class:`livegen.sampling.Sampler` breaks ties towards the lower token id, as argmax does).
ARGMAX_TOP_P = 1e-9

_MULT = np.uint64(0x9E3779B97F4A7C15)  # odd 64-bit constant (golden ratio), for hashing
_PAIR_SALT = np.uint64(0x51ED27)  # keeps a (context, token) pair hash apart from context hashes


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


def _pair_hash(h: np.ndarray, w: np.ndarray) -> np.ndarray:
    """Hash of (context hash, next token) pairs, uint64 of the same shape."""
    with np.errstate(over="ignore"):
        return (h * _MULT) ^ (w.astype(np.uint64) + _PAIR_SALT)


def _fingerprint(x: np.ndarray) -> str:
    """A digest of an int64 array's shape and contents."""
    return hashlib.sha1(repr(x.shape).encode() + np.ascontiguousarray(x).tobytes()).hexdigest()


def _isin_sorted(values: np.ndarray, sorted_keys: np.ndarray) -> np.ndarray:
    """Boolean mask: which ``values`` occur in the sorted unique array ``sorted_keys``."""
    if len(sorted_keys) == 0:
        return np.zeros(values.shape, dtype=bool)
    index = np.minimum(np.searchsorted(sorted_keys, values), len(sorted_keys) - 1)
    return sorted_keys[index] == values


def _merge(parts: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Union of pair tables (sorted pair hashes, counts, context hash of each pair), counts summed."""
    if not parts:
        return np.zeros(0, np.uint64), np.zeros(0, np.int64), np.zeros(0, np.uint64)
    if len(parts) == 1:
        return parts[0][0], parts[0][1].astype(np.int64), parts[0][2]
    keys = np.concatenate([p[0] for p in parts])
    merged, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    counts = np.bincount(inverse.reshape(-1), weights=np.concatenate([p[1] for p in parts]),
                         minlength=len(merged)).astype(np.int64)
    return merged, counts, np.concatenate([p[2] for p in parts])[first]


def _pair_hashes(x: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """(pair hash, context hash) of every target of windows x [N, T] whose context fits in its row."""
    position = np.broadcast_to(np.arange(x.shape[1])[None, :], x.shape)
    ok = position >= max(order, 1)
    h = _context_hashes(x, order)[ok]
    return _pair_hash(h, x[ok]), h


class MarkovBaseline:
    """Variable-order Markov model over token ids with Witten-Bell back-off.

    Args:
        max_order: longest context in tokens (8 = two notes).
    """

    def __init__(self, max_order: int = 8) -> None:
        self.max_order = max_order
        self._ctx: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self._pair: list[tuple[np.ndarray, np.ndarray]] = []
        self._restricted_to: str | None = None

    def fit(self, windows: Sequence[np.ndarray] | np.ndarray) -> MarkovBaseline:
        """Count contexts in token windows (int64 [N, T], each row BOS first).

        A context never reaches back past the start of its row, as the
        network's never reaches back past the start of its window.

        Returns:
            self, fitted.
        """
        return self.fit_chunks([np.asarray(windows, dtype=np.int64)])

    def fit_chunks(self, chunks: Iterable[np.ndarray], *,
                   restrict_to: np.ndarray | None = None) -> MarkovBaseline:
        """Count contexts over several arrays of windows (e.g. one per transposition).

        Args:
            chunks: int64 arrays [N_i, T_i] of windows, each row BOS first; the
                result equals :meth:`fit` on all their rows.
            restrict_to: the only windows (int64 [M, T]) :meth:`nll` will be
                asked about. Contexts that never occur in them are not kept
                (measured on the music21 corpus, 12 transpositions: 9.3 GB
                process peak unrestricted, 0.75 GB traced when restricted to
                509 test windows; the NLL is the same to the bit);
                :meth:`nll` then refuses other windows.

        Returns:
            self, fitted.
        """
        wanted = None
        if restrict_to is not None:
            query = np.asarray(restrict_to, dtype=np.int64)
            self._restricted_to = _fingerprint(query)
            wanted = [np.unique(_context_hashes(query, order)[:, 1:]) for order in range(self.max_order + 1)]
        else:
            self._restricted_to = None
        tables: list[list[tuple[np.ndarray, ...]]] = [[] for _ in range(self.max_order + 1)]
        for chunk in chunks:
            x = np.asarray(chunk, dtype=np.int64)
            if x.ndim != 2 or x.size == 0:
                continue
            for order in range(self.max_order + 1):
                pairs, contexts = _pair_hashes(x, order)
                if wanted is not None:
                    keep = _isin_sorted(contexts, wanted[order])
                    pairs, contexts = pairs[keep], contexts[keep]
                keys, first, counts = np.unique(pairs, return_index=True, return_counts=True)
                tables[order].append((keys, counts, contexts[first]))
        self._ctx, self._pair = [], []
        for parts in tables:
            pair_keys, pair_counts, pair_ctx = _merge(parts)
            # n(c) sums the pair counts of a context; T(c) counts its distinct followers
            ctx_keys, inverse, t_counts = np.unique(pair_ctx, return_inverse=True, return_counts=True)
            ctx_counts = np.bincount(inverse.reshape(-1), weights=pair_counts,
                                     minlength=len(ctx_keys)).astype(np.int64)
            self._ctx.append((ctx_keys, ctx_counts, t_counts.astype(np.int64)))
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
        """NLL in nats of each token after the first, float64 [N, T-1].

        Raises:
            ValueError: the model was fitted with ``restrict_to`` other windows.
        """
        x = np.asarray(windows, dtype=np.int64)
        if self._restricted_to is not None and _fingerprint(x) != self._restricted_to:
            raise ValueError("this Markov model kept only the contexts of the windows given as "
                             "restrict_to; fit it again for other windows")
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
            pair = _pair_hash(h, w)
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


class TokenScorer(Protocol):
    """Anything that scores token windows under the note grammar."""

    def nll(self, tokens: np.ndarray, style: np.ndarray) -> np.ndarray:
        """NLL in nats of each token after the first: [N, T] int64, [N] int64 -> [N, T-1] float64."""
        ...


def _grammar_log_softmax(logits: np.ndarray, previous: np.ndarray) -> np.ndarray:
    """Log-probabilities over the token kind the grammar allows after ``previous``.

    Args:
        logits: float [..., VOCAB_SIZE].
        previous: int [...] the token before each prediction.

    Returns:
        float64 [..., VOCAB_SIZE]; -inf outside the allowed kind.
    """
    allowed = tk.KIND_MASKS[_NEXT_KIND[previous].astype(np.int64)]
    masked = np.where(allowed, logits.astype(np.float64), -np.inf)
    peak = masked.max(axis=-1, keepdims=True)
    return masked - peak - np.log(np.exp(masked - peak).sum(axis=-1, keepdims=True))


class StepScorer:
    """Scores windows with a step model (e.g. :class:`livegen.model.Model`), one token at a time.

    Args:
        model: the step model; every row starts from its initial state.
    """

    def __init__(self, model: StepModel) -> None:
        self.model = model

    def nll(self, tokens: np.ndarray, style: np.ndarray) -> np.ndarray:
        """NLL in nats of each token after the first: [N, T] int64, [N] int64 -> [N, T-1] float64."""
        x = np.asarray(tokens, dtype=np.int64)
        out = np.empty((len(x), x.shape[1] - 1), dtype=np.float64)
        for row, (seq, sid) in enumerate(zip(x, np.asarray(style))):
            state = self.model.initial_state()
            logits = np.empty((x.shape[1] - 1, tk.VOCAB_SIZE), dtype=np.float32)
            for t, token in enumerate(seq[:-1]):
                logits[t], state = self.model.step(int(token), state, int(sid))
            logp = _grammar_log_softmax(logits, seq[:-1])
            out[row] = -logp[np.arange(len(seq) - 1), seq[1:]]
        return out


class TorchScorer:
    """Scores windows with the PyTorch network (:class:`livegen_train.network.EventLSTM`), batched.

    Args:
        net: the network (put in eval mode here).
        batch: rows per forward pass.
    """

    def __init__(self, net: Any, batch: int = 64) -> None:
        self.net = net.eval()
        self.batch = batch

    def nll(self, tokens: np.ndarray, style: np.ndarray) -> np.ndarray:
        """NLL in nats of each token after the first: [N, T] int64, [N] int64 -> [N, T-1] float64."""
        import torch

        from livegen_train.network import grammar_mask
        from livegen_train.train import masked_nll

        mask = grammar_mask()
        x_all = np.asarray(tokens, dtype=np.int64)
        out = np.empty((len(x_all), x_all.shape[1] - 1), dtype=np.float64)
        with torch.no_grad():
            for i in range(0, len(x_all), self.batch):
                x = torch.as_tensor(x_all[i:i + self.batch])
                s = torch.as_tensor(np.asarray(style[i:i + self.batch], dtype=np.int64))
                logits, _ = self.net(x[:, :-1], s)
                out[i:i + len(x)] = masked_nll(logits, x[:, :-1], x[:, 1:], mask).double().numpy()
        return out


def window_nll(scorer: TokenScorer, tokens: np.ndarray, style: np.ndarray,
               window_notes: int = WINDOW_NOTES) -> np.ndarray:
    """Per-token NLL when every note sees at most the ``window_notes`` notes before it.

    This is the stateless design's likelihood: for each note past the first
    ``window_notes`` of a row the network restarts from BOS, re-reads the last
    ``window_notes`` notes, then predicts the note's four tokens. Earlier notes
    see the whole row, exactly as the stateful model does.

    Args:
        scorer: the network's scorer.
        tokens: int64 [N, 1 + 4 n] windows, BOS first, whole notes.
        style: int64 [N] style ids.
        window_notes: the window, notes >= 1.

    Returns:
        float64 [N, 4 n] NLL in nats, aligned with ``tokens[:, 1:]``.

    Raises:
        ValueError: ``window_notes`` < 1, or a row is not BOS plus whole notes.
    """
    x = np.asarray(tokens, dtype=np.int64)
    if window_notes < 1:
        raise ValueError(f"window_notes must be >= 1 (received {window_notes})")
    if x.ndim != 2 or (x.shape[1] - 1) % tk.TOKENS_PER_NOTE or np.any(x[:, 0] != tk.BOS):
        raise ValueError(f"tokens must be [N, 1 + 4 n] rows starting with BOS (received shape {x.shape})")
    out = scorer.nll(x, style)
    per = tk.TOKENS_PER_NOTE
    bos = np.full((len(x), 1), tk.BOS, dtype=np.int64)
    for note in range(window_notes + 1, (x.shape[1] - 1) // per):
        first = 1 + per * (note - window_notes)
        rows = np.concatenate([bos, x[:, first:1 + per * (note + 1)]], axis=1)
        out[:, per * note:per * (note + 1)] = scorer.nll(rows, style)[:, -per:]
    return out


def argmax_preset(preset: Preset) -> Preset:
    """``preset`` decoded as the older tools decoded: argmax, with no repetition guard, no
    key mask, no style guidance and no copy guard (the grammar, pitch range and longest
    duration are kept)."""
    return preset.replace(top_p=ARGMAX_TOP_P, repetition_penalty=0.0, key_mask="off",
                          style_guidance=0.0, copy_guard=False)


@dataclass(frozen=True)
class _WindowState:
    """The stateless model's "state": the tokens since BOS (at most the window) and the
    inner model's state after reading them."""

    tokens: tuple[int, ...]
    inner: Any

    def copy(self) -> _WindowState:
        inner = self.inner.copy() if hasattr(self.inner, "copy") else self.inner
        return _WindowState(self.tokens, inner)


class StatelessWindowModel:
    """A step model run the older tools' way: no state kept from one note to the next.

    After each note ends (its DUR token) the inner model is reset and re-reads
    BOS plus the last ``window_notes`` notes, then continues through the next
    note's tokens. That gives, for every token, exactly the logits of "reset,
    re-read the last ``window_notes`` notes and the current note so far"
    (the older per-token re-read) at a quarter of its cost. While fewer than
    ``window_notes + 1`` notes have been read the window has not slid, so no
    re-read is needed.

    Use with :func:`livegen.generation.continue_notes` and an
    :func:`argmax_preset` to generate as the older tools did.

    Args:
        model: the step model to wrap (e.g. :class:`livegen.model.Model`).
        window_notes: notes re-read for each new note, >= 1.

    Raises:
        ValueError: ``window_notes`` < 1.
    """

    def __init__(self, model: StepModel, window_notes: int = WINDOW_NOTES) -> None:
        if window_notes < 1:
            raise ValueError(f"window_notes must be >= 1 (received {window_notes})")
        self.model = model
        self.window_notes = window_notes
        self.rereads = 0  # how many times the window was re-read (for tests and reports)

    @property
    def styles(self) -> tuple[str, ...]:
        """The wrapped model's style names."""
        return self.model.styles

    def style_id(self, style: str) -> int:
        """The wrapped model's index of ``style`` (raises as it does)."""
        return self.model.style_id(style)

    def initial_state(self) -> _WindowState:
        """Nothing read yet."""
        return _WindowState((), self.model.initial_state())

    def step(self, token: int, state: _WindowState, style: int) -> tuple[np.ndarray, _WindowState]:
        """Feed one token; after a note's last token, reset and re-read the window.

        Returns:
            ``(logits, new_state)``: logits float32 [VOCAB_SIZE] for the next token.
        """
        if token == tk.BOS:
            logits, inner = self.model.step(tk.BOS, self.model.initial_state(), style)
            return logits, _WindowState((), inner)
        history = (*state.tokens, int(token))
        limit = self.window_notes * tk.TOKENS_PER_NOTE
        if tk.token_kind(token) != tk.Kind.DUR or len(history) <= limit:
            logits, inner = self.model.step(int(token), state.inner, style)
            return logits, _WindowState(history, inner)
        history = history[-limit:]
        self.rereads += 1
        logits, inner = self.model.step(tk.BOS, self.model.initial_state(), style)
        for previous in history:
            logits, inner = self.model.step(previous, inner, style)
        return logits, _WindowState(history, inner)
