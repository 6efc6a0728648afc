"""What the player played this session: a variable-order Markov model over musical viewpoints.

The network alone hardly adapts in context (issue 13: its state gains 0.01
bits over a stateless window, and answers reuse 0.03 of the player's motifs).
This model learns the performer's own habits as they play, in the manner of
Pachet's Continuator (F. Pachet, "The Continuator: Musical Interaction with
Style", Journal of New Music Research 32(3), 2003): a prefix tree per
viewpoint, updated per note, queried with back-off from the longest context
seen. The generator mixes it with the network token by token::

    log p(token) = log p_net(token) + follow * log p_session(token)

renormalised over the token kind's slice (DESIGN.md, "Answers that carry on
the player").

It reads the same token stream the network reads (:mod:`livegen.tokens`),
one viewpoint per token kind, each a symbol from its token:

======  ==================================================  ================================
kind    symbol                                              context (innermost first)
======  ==================================================  ================================
SHIFT   onset spacing class: 0 under 40 ms (a chord tone),  the previous notes' classes
        else 1/12-octave classes of the time (6 % wide)
PITCH   interval from the previous note, -24..+24           chord tone or not, then the
                                                            previous notes' intervals
VEL     velocity bin // 2 (16 classes)                      the previous notes' classes
DUR     1/12-octave classes of the duration                 this note's spacing class, then
                                                            the previous notes' classes
PITCH   the pitch itself, 0-127 (a second viewpoint:       chord tone or not, then the
        register and key, which intervals alone forget)     previous notes' pitches
======  ==================================================  ================================

A PITCH is drawn from the equal-weight geometric mean of its two viewpoints,
renormalised (multiple viewpoints: D. Conklin and I. H. Witten, "Multiple
viewpoint systems for music prediction", Journal of New Music Research 24(1),
1995).

Probabilities blend every order from the longest matching context down to a
uniform floor with Witten-Bell weights (a context seen ``n`` times with ``u``
distinct continuations keeps ``n / (n + u)`` of its own estimate; I. H.
Witten and T. C. Bell, "The zero-frequency problem", IEEE Trans. Inf. Theory
37(4), 1991), so an unseen token gets the floor, never -inf. A symbol's
probability is shared equally among the tokens of its class (for SHIFT, DUR,
VEL) or of its interval (the two ±24 edges collect every wider leap).

Learning costs O(orders) dictionary updates per token; a query
O(orders x symbols) plus one gather over the kind's slice. A query's answer
depends only on the longest context prefix seen (and, for PITCH, the last
pitch), so it is kept until the next performer token is learnt: during an
answer, which learns nothing, most queries are a few dictionary look-ups.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

import numpy as np

from livegen import tokens
from livegen.placement import CHORD_SPAN_S
from livegen.tokens import Kind

__all__ = ["SessionModel", "SessionContext", "MAX_ORDER", "KIND_SLICES"]

#: the longest context, in notes (the Continuator's trees reach a few notes back)
MAX_ORDER = 4
CLASSES_PER_OCTAVE = 12  # time classes 6 % wide: a played pulse jitters by a few %
MAX_INTERVAL = 24  # semitones; wider leaps share the edge symbol
VELOCITY_BINS_PER_CLASS = 2


def _time_class(seconds: np.ndarray, base_s: float) -> np.ndarray:
    return np.maximum(np.rint(CLASSES_PER_OCTAVE * np.log2(seconds / base_s)), 0).astype(np.int64)


# symbol of every token of a kind, and the symbol alphabet's size
_SHIFT_SYMBOL = np.where(tokens.SHIFT_BINS_S < CHORD_SPAN_S - 1e-9, 0,
                         1 + _time_class(np.maximum(tokens.SHIFT_BINS_S, CHORD_SPAN_S), CHORD_SPAN_S))
_DUR_SYMBOL = _time_class(tokens.DURATION_BINS_S, float(tokens.DURATION_BINS_S[0]))
_VEL_SYMBOL = np.arange(tokens.N_VELOCITIES) // VELOCITY_BINS_PER_CLASS
N_INTERVALS = 2 * MAX_INTERVAL + 1
ABSOLUTE = -1  # the second PITCH viewpoint's key (no token kind has it)
_ALPHABET = {Kind.SHIFT: int(_SHIFT_SYMBOL.max()) + 1, Kind.PITCH: N_INTERVALS,
             Kind.VEL: int(_VEL_SYMBOL.max()) + 1, Kind.DUR: int(_DUR_SYMBOL.max()) + 1,
             ABSOLUTE: tokens.N_PITCHES}
_OFFSET = {Kind.SHIFT: tokens.SHIFT_OFFSET, Kind.PITCH: tokens.PITCH_OFFSET,
           Kind.VEL: tokens.VEL_OFFSET, Kind.DUR: tokens.DUR_OFFSET}
_SYMBOL_OF = {Kind.SHIFT: _SHIFT_SYMBOL, Kind.VEL: _VEL_SYMBOL, Kind.DUR: _DUR_SYMBOL}
# log of the tokens sharing each symbol, per token (the symbol's mass is split among them)
_LOG_SHARE = {kind: np.log(np.bincount(sym)[sym]) for kind, sym in _SYMBOL_OF.items()}
assert _SHIFT_SYMBOL[0] == 0 and _ALPHABET[Kind.SHIFT] < 100 and _ALPHABET[Kind.DUR] < 120
#: the token ids of each kind, a contiguous run of the vocabulary: kind -> slice
KIND_SLICES = {kind: slice(int(np.flatnonzero(tokens.KIND_MASKS[kind])[0]),
                           int(np.flatnonzero(tokens.KIND_MASKS[kind])[-1]) + 1) for kind in _OFFSET}
assert all(tokens.KIND_MASKS[kind].sum() == run.stop - run.start == len(_SYMBOL_OF.get(kind, range(128)))
           and run.start == _OFFSET[kind] for kind, run in KIND_SLICES.items())
MAX_CACHED_QUERIES = 4096  # answers kept between two learnt tokens (each a few KB at most)


@dataclass
class _Note:
    """One note's symbols, filled token by token (None: not yet seen)."""

    shift: int | None = None
    interval: int | None = None
    velocity: int | None = None
    duration: int | None = None
    pitch: int | None = None


class SessionContext:
    """The recent notes a query is conditioned on: the session's stream, performer and answer.

    Small and copyable: the generator snapshots it with its own state.
    """

    def __init__(self, order: int = MAX_ORDER) -> None:
        self.notes: deque[_Note] = deque(maxlen=order)
        self.current = _Note()
        self.last_pitch: int | None = None

    def copy(self) -> SessionContext:
        """An independent copy (the notes are copied, not shared)."""
        out = SessionContext(self.notes.maxlen or MAX_ORDER)
        out.notes.extend(_Note(**vars(n)) for n in self.notes)
        out.current = _Note(**vars(self.current))
        out.last_pitch = self.last_pitch
        return out

    def context(self, kind: int) -> tuple:
        """The context tuple for the next token of ``kind``, innermost first."""
        past = reversed(self.notes)
        if kind == Kind.SHIFT:
            return tuple(n.shift for n in past)
        if kind == Kind.PITCH:
            return (self.current.shift == 0, *(n.interval for n in past))
        if kind == Kind.VEL:
            return tuple(n.velocity for n in past)
        if kind == ABSOLUTE:
            return (self.current.shift == 0, *(n.pitch for n in past))
        return (self.current.shift, *(n.duration for n in past))

    def push(self, token: int) -> tuple[int, int] | None:
        """Advance by one token; return ``(kind, symbol)`` for it (None for BOS or out of order)."""
        kind = tokens.token_kind(token)
        current = self.current
        if kind == Kind.SHIFT:
            symbol = int(_SHIFT_SYMBOL[token - tokens.SHIFT_OFFSET])
            current.shift = symbol
        elif kind == Kind.PITCH:
            pitch = token - tokens.PITCH_OFFSET
            if self.last_pitch is None:
                symbol = None
            else:
                symbol = min(max(int(pitch - self.last_pitch), -MAX_INTERVAL), MAX_INTERVAL) + MAX_INTERVAL
            current.interval, current.pitch, self.last_pitch = symbol, pitch, pitch
        elif kind == Kind.VEL:
            symbol = int(_VEL_SYMBOL[token - tokens.VEL_OFFSET])
            current.velocity = symbol
        elif kind == Kind.DUR:
            symbol = int(_DUR_SYMBOL[token - tokens.DUR_OFFSET])
            current.duration = symbol
            self.notes.append(current)
            self.current = _Note()
        else:
            return None
        return (kind, symbol) if symbol is not None else None


class SessionModel:
    """Counts of what the performer played, per viewpoint and context, with back-off.

    Args:
        order: the longest context in notes, >= 0 (0: symbol frequencies only).

    Raises:
        ValueError: ``order`` is negative or not an int.
    """

    def __init__(self, order: int = MAX_ORDER) -> None:
        if isinstance(order, bool) or not isinstance(order, int) or order < 0:
            raise ValueError(f"order must be an integer >= 0 (received {order!r})")
        self.order = order
        # kind -> context tuple (a prefix of the full context) -> {symbol: count}
        self._counts: dict[int, dict[tuple, dict[int, int]]] = {k: {} for k in _ALPHABET}
        # (kind, context prefix) -> (Witten-Bell weight, its own distribution); valid until
        # the next learn (an answer learns nothing, so its draws reuse what they computed)
        self._orders: dict[tuple[int, tuple], tuple[float, np.ndarray]] = {}
        # (kind, longest prefix seen, ...) -> kind_log_probs' answer; valid until the next learn
        self._queries: dict[tuple, np.ndarray] = {}
        self.notes_learnt = 0

    @property
    def entries(self) -> int:
        """(context, symbol) counts held, over every kind: the model's size."""
        return sum(len(c) for table in self._counts.values() for c in table.values())

    def reset(self) -> None:
        """Forget everything learnt."""
        for table in self._counts.values():
            table.clear()
        self._orders.clear()
        self._queries.clear()
        self.notes_learnt = 0

    def new_context(self) -> SessionContext:
        """An empty context of this model's order."""
        return SessionContext(self.order)

    def learn(self, context: SessionContext, token: int) -> None:
        """Count ``token`` (a performer's) in every order of its context, then advance ``context``."""
        kind = tokens.token_kind(token)
        full = context.context(kind) if kind in _ALPHABET else ()
        self._orders.clear()  # what is learnt changes every cached distribution
        self._queries.clear()
        if kind == Kind.PITCH:
            self._count(ABSOLUTE, context.context(ABSOLUTE), token - tokens.PITCH_OFFSET)
        step = context.push(token)
        if step is not None:
            self._count(kind, full, step[1])
        self.notes_learnt += kind == Kind.DUR

    def _count(self, kind: int, full: tuple, symbol: int) -> None:
        table = self._counts[kind]
        for k in range(len(full) + 1):  # every order, 0 (no context) to the full context
            counts = table.setdefault(full[:k], {})
            counts[symbol] = counts.get(symbol, 0) + 1

    def symbol_log_probs(self, kind: int, context: SessionContext) -> np.ndarray:
        """float64 [alphabet of ``kind``]: log p of each symbol after ``context`` (floor: uniform).

        Raises:
            KeyError: ``kind`` is not SHIFT, PITCH, VEL or DUR.
        """
        return self._symbols(kind, self._seen(kind, context.context(kind)))

    def _seen(self, kind: int, full: tuple) -> tuple | None:
        """The longest prefix of ``full`` whose every prefix was seen (None: not even the empty one)."""
        table = self._counts[kind]
        if () not in table:
            return None
        k = 0
        while k < len(full) and full[:k + 1] in table:
            k += 1
        return full[:k]

    def _symbols(self, kind: int, seen: tuple | None) -> np.ndarray:
        """:meth:`symbol_log_probs` from the longest prefix seen (:meth:`_seen`)."""
        size = _ALPHABET[kind]
        p = np.full(size, 1.0 / size)
        for k in range(len(seen) + 1 if seen is not None else 0):
            weight, own = self._order(kind, seen[:k])
            p = weight * own + (1.0 - weight) * p
        return np.log(p)

    def _order(self, kind: int, prefix: tuple) -> tuple[float, np.ndarray]:
        """``(weight, distribution)`` of one context seen (:meth:`_seen`)."""
        key = (kind, prefix)
        found = self._orders.get(key)
        if found is None:
            counts = self._counts[kind][prefix]
            n = sum(counts.values())
            own = np.zeros(_ALPHABET[kind])
            own[list(counts)] = list(counts.values())
            found = self._orders[key] = (n / (n + len(counts)), own / n)
        return found

    def log_probs(self, kind: int, context: SessionContext) -> np.ndarray:
        """float64 [VOCAB_SIZE]: log p_session of each token of ``kind``; -inf outside its slice.

        Within the slice every token has a finite value (the back-off floor at
        least), and they sum to 1 in probability (symbols that no token
        reaches, such as time classes narrower than a token bin, give up
        their share).

        Raises:
            KeyError: ``kind`` is not SHIFT, PITCH, VEL or DUR.
        """
        out = np.full(tokens.VOCAB_SIZE, -math.inf)
        out[KIND_SLICES[kind]] = self.kind_log_probs(kind, context)
        return out

    def kind_log_probs(self, kind: int, context: SessionContext) -> np.ndarray:
        """:meth:`log_probs` over the kind's own tokens only (``KIND_SLICES[kind]``).

        Kept until the next :meth:`learn` or :meth:`reset` (the answer depends only on
        the longest context prefix seen, and for PITCH on the last pitch).

        Returns:
            float64 [tokens of ``kind``], read-only: the same array is handed out again.

        Raises:
            KeyError: ``kind`` is not SHIFT, PITCH, VEL or DUR.
        """
        seen = self._seen(kind, context.context(kind))
        if kind == Kind.PITCH:
            absolute = self._seen(ABSOLUTE, context.context(ABSOLUTE))
            key: tuple = (kind, seen, context.last_pitch, absolute)
        else:
            key = (kind, seen)
        found = self._queries.get(key)
        if found is not None:
            return found
        symbols = self._symbols(kind, seen)
        if kind == Kind.PITCH:
            both = 0.5 * (_pitch_log_probs(symbols, context.last_pitch) + self._symbols(ABSOLUTE, absolute))
            found = both - np.logaddexp.reduce(both)
        else:
            part = symbols[_SYMBOL_OF[kind]] - _LOG_SHARE[kind]
            found = part - np.logaddexp.reduce(part)
        found.flags.writeable = False
        if len(self._queries) >= MAX_CACHED_QUERIES:
            self._queries.clear()
        self._queries[key] = found
        return found


def _pitch_log_probs(interval_log_probs: np.ndarray, last_pitch: int | None) -> np.ndarray:
    """float64 [128]: log p of each pitch from interval log-probs around ``last_pitch``."""
    if last_pitch is None:  # no previous note: the intervals say nothing about the pitch
        return np.full(tokens.N_PITCHES, -math.log(tokens.N_PITCHES))
    steps = np.clip(np.arange(tokens.N_PITCHES) - last_pitch, -MAX_INTERVAL, MAX_INTERVAL) + MAX_INTERVAL
    share = np.bincount(steps, minlength=N_INTERVALS)  # pitches reached by each interval symbol
    reached = share > 0
    # the mass of intervals that leave 0-127 is spread over the reachable ones
    probs = np.exp(interval_log_probs) * reached
    probs /= probs.sum()
    with np.errstate(divide="ignore"):
        return np.log(probs[steps] / share[steps])
