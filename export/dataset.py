"""Token windows for training, with augmentation, built on the fly in numpy.

Each training example is ``BOS`` followed by ``window_notes`` consecutive
notes of one piece (4 tokens each), so the model learns to start from the
same state the runtime starts from: a reset, BOS, then the performer's notes.

Augmentation (training split only): transposition, tempo scaling, a
synthesised velocity curve where the score has no dynamics, small onset
jitter and a legato factor, because scores are quantised and flat and a
keyboard performance is not.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from livegen import tokens as tk
from livegen_train.corpus import Piece

__all__ = ["Augment", "encode_arrays", "piece_arrays", "part_pieces", "WindowSampler", "eval_windows",
           "matching_transposition"]

_SHIFT_EDGES = (tk.SHIFT_BINS_S[1:] + tk.SHIFT_BINS_S[:-1]) / 2
_DUR_EDGES = (tk.DURATION_BINS_S[1:] + tk.DURATION_BINS_S[:-1]) / 2


@dataclass(frozen=True)
class Augment:
    """Augmentation ranges. ``Augment.off()`` disables everything.

    Attributes:
        transpose: largest transposition in semitones (uniform in [-t, t]).
        tempo: (low, high) tempo scale factors, sampled log-uniformly.
        jitter_s: standard deviation of onset jitter in seconds.
        legato: (low, high) factor applied to durations.
        velocity: synthesise velocities where the source has none.
        staccato: share of windows, 0-1, played detached: their durations take
            a factor from ``detached`` instead of ``legato``, so the model hears
            a note's length apart from the gap to the next onset, as players
            and MIDI files (game music, brass stabs) play; 0 draws exactly the
            random numbers of the code without the option.
        detached: (low, high) factor applied to a detached window's durations.
    """

    transpose: int = 6
    tempo: tuple[float, float] = (0.8, 1.25)
    jitter_s: float = 0.008
    legato: tuple[float, float] = (0.8, 1.0)
    velocity: bool = True
    staccato: float = 0.0
    detached: tuple[float, float] = (0.25, 0.7)

    @classmethod
    def off(cls) -> Augment:
        return cls(0, (1.0, 1.0), 0.0, (1.0, 1.0), True)


def encode_arrays(pitch: np.ndarray, onset_s: np.ndarray, duration_s: np.ndarray,
                  velocity: np.ndarray) -> np.ndarray:
    """Vectorised :func:`livegen.tokens.encode` for training (first shift is 0).

    Each gap is quantised on its own (the runtime feeds back quantisation
    error; the difference is below one bin and irrelevant to training).

    Args:
        pitch: int [n] MIDI pitches 0-127, notes in onset order.
        onset_s, duration_s: float [n] seconds.
        velocity: int [n] MIDI velocities 1-127.

    Returns:
        int64 [4 n] token ids, no BOS.
    """
    gaps = np.diff(onset_s, prepend=onset_s[:1])
    shift = tk.SHIFT_OFFSET + np.searchsorted(_SHIFT_EDGES, gaps)
    dur = tk.DUR_OFFSET + np.searchsorted(_DUR_EDGES, duration_s)
    vel = tk.VEL_OFFSET + np.clip(velocity, 0, 127) // tk.VELOCITY_BIN_WIDTH
    out = np.empty((len(pitch), 4), dtype=np.int64)
    out[:, 0], out[:, 1], out[:, 2], out[:, 3] = shift, tk.PITCH_OFFSET + pitch, vel, dur
    return out.reshape(-1)


def _synth_velocity(onset_q: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A plausible played velocity curve: a phrase-level swell, beat accents and noise."""
    n = len(onset_q)
    base = rng.uniform(48, 96)
    phrase_len = rng.uniform(4, 16)
    swell = rng.uniform(4, 18) * np.sin(2 * np.pi * onset_q / phrase_len + rng.uniform(0, 6.3))
    on_beat = np.isclose(onset_q % 1.0, 0.0, atol=1e-3)
    accent = np.where(on_beat, rng.uniform(2, 10), 0.0)
    noise = rng.normal(0, rng.uniform(2, 7), n)
    return np.clip(np.round(base + swell + accent + noise), 1, 127).astype(np.int64)


def piece_arrays(piece: Piece, start: int, count: int, rng: np.random.Generator | None,
                 augment: Augment) -> tuple[np.ndarray, ...]:
    """Notes ``start:start+count`` of a piece as (pitch, onset_s, duration_s, velocity) arrays.

    Augmentation is applied when ``rng`` is given; without it the piece is
    rendered at its own tempo with default velocity where it has none.
    """
    sl = slice(start, start + count)
    pitch = piece.pitch[sl].astype(np.int64)
    onset_q = piece.onset_q[sl].astype(np.float64)
    dur_q = piece.duration_q[sl].astype(np.float64)
    vel = piece.velocity[sl].astype(np.int64)
    seconds_per_q = 60.0 / piece.qpm
    if rng is None:
        vel = np.where(vel > 0, vel, 80)
        return pitch, onset_q * seconds_per_q, dur_q * seconds_per_q, vel
    if augment.transpose:
        low, high = -augment.transpose, augment.transpose
        low, high = max(low, -int(pitch.min())), min(high, 127 - int(pitch.max()))
        pitch = pitch + int(rng.integers(low, high + 1))
    lo, hi = augment.tempo
    seconds_per_q /= float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    onset_s = onset_q * seconds_per_q
    legato = augment.legato
    if augment.staccato and rng.random() < augment.staccato:
        legato = augment.detached
    dur_s = dur_q * seconds_per_q * rng.uniform(*legato)
    if augment.jitter_s:
        onset_s = onset_s + rng.normal(0, augment.jitter_s, len(onset_s))
        order = np.argsort(onset_s, kind="stable")
        pitch, onset_s, dur_s, vel, onset_q = (a[order] for a in (pitch, onset_s, dur_s, vel, onset_q))
        dur_s = np.maximum(dur_s + rng.normal(0, augment.jitter_s, len(dur_s)), 0.01)
    if augment.velocity and np.any(vel <= 0):
        vel = np.where(vel > 0, vel, _synth_velocity(onset_q, rng))
    vel = np.where(vel > 0, vel, 80)
    return pitch, onset_s, dur_s, vel


_EVAL_AUGMENT = Augment(transpose=0)


def matching_transposition(pitch_a: np.ndarray, duration_a: np.ndarray, pitch_b: np.ndarray,
                           duration_b: np.ndarray) -> int:
    """Semitones (-6 to 5) that move notes ``b`` into the key of notes ``a``.

    The move whose duration-weighted pitch-class histogram of ``b`` correlates best
    (Pearson) with ``a``'s, so a major and its relative minor count as one key
    (the Krumhansl-Schmuckler idea without a profile); kept within 0-127 by
    an octave the other way, else 0.

    Args:
        pitch_a, pitch_b: int [n] MIDI pitches 0-127.
        duration_a, duration_b: float [n] seconds (weights).
    """
    hist_a = np.bincount(pitch_a % 12, weights=duration_a, minlength=12)
    hist_b = np.bincount(pitch_b % 12, weights=duration_b, minlength=12)
    if not (hist_a.std() > 0 and hist_b.std() > 0):
        return 0
    moves = np.arange(-6, 6)
    corr = [np.corrcoef(hist_a, np.roll(hist_b, int(m)))[0, 1] for m in moves]
    move = int(moves[int(np.argmax(corr))])
    for candidate in (move, move - 12 if move > 0 else move + 12):
        if 0 <= int(pitch_b.min()) + candidate and int(pitch_b.max()) + candidate <= 127:
            return candidate
    return 0


def part_pieces(piece: Piece) -> list[Piece]:
    """Each part of a piece as a piece of its own (``name@part<i>``), in score time.

    Returns:
        One :class:`Piece` per part index >= 0 with at least 2 notes, in part order (the
        notes keep their onsets, so a part's first note may start after 0); an empty list
        when ``piece.part`` is None.
    """
    if piece.part is None:
        return []
    out = []
    for index in np.unique(piece.part[piece.part >= 0]):
        keep = piece.part == index
        if np.count_nonzero(keep) >= 2:
            out.append(Piece(f"{piece.name}@part{int(index)}", piece.style, piece.pitch[keep],
                             piece.onset_q[keep], piece.duration_q[keep], piece.velocity[keep],
                             piece.qpm, piece.part[keep]))
    return out


class WindowSampler:
    """Random training windows: [batch, 1 + 4 * window_notes] token ids and style ids.

    Pieces are drawn with probability proportional to their length within a
    style, and styles with probability proportional to (style notes) ** ``style_power``
    so that small styles (romantic, modern) are seen more often than their share.

    Args:
        pieces: training pieces.
        styles: style names; a piece's style id is its index here.
        window_notes: notes per window.
        augment: augmentation ranges.
        seed: RNG seed.
        style_power: 1 = natural proportions, 0 = uniform over styles.
        splice: share of windows, 0-1, that open with another style's music
            (:meth:`batch_weighted`): the model learns to answer a phrase of
            one style in the style it is asked for.
        parts: share of windows, 0-1, of a style with part-annotated pieces
            (:attr:`Piece.part`) whose own-style notes are cut from one part of a
            score alone (:func:`part_pieces`), so that a single line is learned as a
            line; 0 draws exactly the windows (and random numbers) of a sampler
            without the option.
        style_weights: style name -> factor (> 0) on that style's draw weight
            (after ``style_power``), so a fine-tune can give most windows to one
            style while the others keep being seen; styles not named keep 1.
        opening_staccato: share, 0-1, of spliced openings played detached
            (:attr:`Augment.staccato` for the opening alone): the model hears a
            detached phrase and answers in its own style's articulation; 0 draws
            exactly the random numbers of a sampler without the option.
        keep_key: at each join of a window (a spliced opening and its answer, a short
            piece and the next), the later piece is moved into the key of the window's
            first notes (:func:`matching_transposition`), as an answer stays in the key
            of the phrase it answers; False: each piece keeps its own random
            transposition, so the model learns that the key may jump at a join.

    Raises:
        ValueError: ``splice`` or ``parts`` outside [0, 1]; a ``style_weights``
            name not in ``styles`` or a factor that is not > 0; ``opening_staccato``
            outside [0, 1].
    """

    def __init__(self, pieces: Sequence[Piece], styles: Sequence[str], window_notes: int,
                 augment: Augment = Augment(), seed: int = 0, style_power: float = 0.5,
                 splice: float = 0.0, parts: float = 0.0,
                 style_weights: dict[str, float] | None = None,
                 opening_staccato: float = 0.0, keep_key: bool = False) -> None:
        for name, factor in (style_weights or {}).items():
            if name not in styles:
                raise ValueError(f"style_weights names {name!r}, not one of {', '.join(styles)}")
            if not factor > 0:
                raise ValueError(f"style_weights[{name!r}] must be > 0 (received {factor!r})")
        for name, share in (("splice", splice), ("parts", parts), ("opening_staccato", opening_staccato)):
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"{name} must be in [0, 1] (received {share!r})")
        self.splice = float(splice)
        self.parts = float(parts)
        self.keep_key = bool(keep_key)
        self.pieces = [p for p in pieces if len(p) >= 2]
        self.styles = list(styles)
        self.window_notes = window_notes
        self.augment = augment
        self.opening_augment = replace(augment, staccato=opening_staccato) if opening_staccato else augment
        self.rng = np.random.default_rng(seed)
        by_style: dict[int, list[int]] = {}
        for i, piece in enumerate(self.pieces):
            by_style.setdefault(self.styles.index(piece.style), []).append(i)
        self.style_ids = sorted(by_style)
        notes = np.array([sum(len(self.pieces[i]) for i in by_style[s]) for s in self.style_ids],
                         dtype=np.float64)
        weights = notes ** style_power
        weights *= [(style_weights or {}).get(self.styles[s], 1.0) for s in self.style_ids]
        self.style_p = weights / weights.sum()
        self.members = [np.array(by_style[s]) for s in self.style_ids]
        self.member_p = []
        for idx in self.members:
            lengths = np.array([len(self.pieces[i]) for i in idx], dtype=np.float64)
            self.member_p.append(lengths / lengths.sum())
        # per style: (pieces with parts, their p, each one's parts, each part's p), or None
        self.part_members: list[tuple | None] = [None] * len(self.style_ids)
        if self.parts > 0:
            for k, idx in enumerate(self.members):
                split = [(i, part_pieces(self.pieces[i])) for i in idx]
                split = [(i, ps) for i, ps in split if ps]
                if not split:
                    continue
                lengths = np.array([sum(len(p) for p in ps) for _, ps in split], dtype=np.float64)
                part_p = [np.array([len(p) for p in ps], np.float64) / n
                          for (_, ps), n in zip(split, lengths)]
                self.part_members[k] = ([ps for _, ps in split], lengths / lengths.sum(), part_p)

    def batch(self, batch_size: int) -> tuple[np.ndarray, np.ndarray]:
        """One batch: tokens int64 [batch, 1 + 4 * window_notes], style int64 [batch].

        Pieces shorter than the window are taken whole and the rest of the
        row is filled by the next drawn piece of the same style, separated by
        a time shift (as a performer would). See :meth:`batch_weighted`.
        """
        tokens, style, _ = self.batch_weighted(batch_size)
        return tokens, style

    def batch_weighted(self, batch_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """One batch with the weight of each predicted token.

        With probability ``splice`` (windows of at least 24 notes, two styles
        or more) a row opens with 8 to ``window_notes - 16`` notes of a piece
        of another style (drawn as styles are), then goes on
        with the row's own style, joined by a time shift; the opening and the
        joining shift weigh 0 (they are context, not the style's music). With
        probability ``parts`` (styles with part-annotated pieces) the row's own-style
        notes come from one part of each drawn piece (pieces drawn by length, then a
        part by its length); a spliced opening is always a full score.

        Returns:
            tokens int64 [batch, 1 + 4 * window_notes], style int64 [batch],
            weight float32 [batch, 4 * window_notes] (1 or 0, for targets
            ``tokens[:, 1:]``).
        """
        length = 1 + 4 * self.window_notes
        out = np.empty((batch_size, length), dtype=np.int64)
        style_out = np.empty(batch_size, dtype=np.int64)
        weight = np.ones((batch_size, length - 1), dtype=np.float32)
        can_splice = self.splice > 0 and len(self.style_ids) > 1 and self.window_notes >= 24
        for row in range(batch_size):
            k = self.rng.choice(len(self.style_ids), p=self.style_p)
            style_out[row] = self.style_ids[k]
            parts, have, first = [np.array([tk.BOS])], 1, None
            if can_splice and self.rng.random() < self.splice:
                others = np.array([i for i in range(len(self.style_ids)) if i != k])
                p_other = self.style_p[others] / self.style_p[others].sum()
                other = int(others[self.rng.choice(len(others), p=p_other)])
                notes = int(self.rng.integers(8, self.window_notes - 16 + 1))
                piece = self.pieces[self.rng.choice(self.members[other], p=self.member_p[other])]
                start = int(self.rng.integers(0, max(len(piece) - notes, 0) + 1))
                first = piece_arrays(piece, start, notes, self.rng, self.opening_augment)
                toks = encode_arrays(*first)
                parts.append(toks)
                have += len(toks)
                weight[row, :len(toks) + 1] = 0.0  # the opening, and the shift that joins it
            by_part = self.part_members[k]
            if by_part is not None and self.rng.random() >= self.parts:
                by_part = None
            while have < length:
                if by_part is None:
                    piece = self.pieces[self.rng.choice(self.members[k], p=self.member_p[k])]
                else:
                    j = self.rng.choice(len(by_part[0]), p=by_part[1])
                    piece = by_part[0][j][self.rng.choice(len(by_part[0][j]), p=by_part[2][j])]
                need = (length - have + 3) // 4
                start = int(self.rng.integers(0, max(len(piece) - need, 0) + 1))
                arrays = piece_arrays(piece, start, need, self.rng, self.augment)
                if first is None:
                    first = arrays
                elif self.keep_key:
                    move = matching_transposition(first[0], first[2], arrays[0], arrays[2])
                    arrays = (arrays[0] + move, *arrays[1:])
                toks = encode_arrays(*arrays)
                parts.append(toks)
                have += len(toks)
            out[row] = np.concatenate(parts)[:length]
        return out, style_out, weight


def eval_windows(pieces: Sequence[Piece], styles: Sequence[str], window_notes: int,
                 max_windows_per_piece: int = 8, *, performed: bool = False
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Deterministic windows covering held-out pieces (for validation/test NLL).

    Args:
        performed: render each window as the training data is rendered
            (synthesised velocity curve, tempo change, onset jitter, legato;
            no transposition) with an RNG seeded by the piece's name, so the
            figure is repeatable; False gives the flat score (velocity 80
            where the source has none), where velocity is trivially predictable.

    Returns:
        tokens int64 [n, 1 + 4 * window_notes] and style ids int64 [n]; pieces
        shorter than the window give no window.
    """
    rows, style_rows = [], []
    for piece in pieces:
        starts = range(0, len(piece) - window_notes + 1, window_notes)
        rng = np.random.default_rng(zlib.crc32(piece.name.encode())) if performed else None
        for start in list(starts)[:max_windows_per_piece]:
            arrays = piece_arrays(piece, start, window_notes, rng, _EVAL_AUGMENT)
            rows.append(np.concatenate(([tk.BOS], encode_arrays(*arrays))))
            style_rows.append(styles.index(piece.style))
    if not rows:
        return np.zeros((0, 1 + 4 * window_notes), np.int64), np.zeros(0, np.int64)
    return np.stack(rows), np.asarray(style_rows, dtype=np.int64)
