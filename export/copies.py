"""What is a copy of what: near-duplicate pieces, and runs of notes copied from training.

Both compare notes in onset order (ties by pitch, the order of the token stream)
by the intervals between consecutive notes, so a transposed copy is a copy:
training augments by transposition, so a transposed phrase was seen in training.

* :func:`similar_pairs` finds near-duplicate pieces (editions, transposed copies,
  variants of a tune) by the Jaccard similarity of their sets of 9-note shingles;
  :func:`livegen_train.corpus.split_pieces` uses it to deduplicate and split the corpus.
* :class:`CopyIndex` answers, for a generated continuation, the longest run of
  consecutive notes whose interval sequence occurs as consecutive notes of one
  training piece (a nearest-neighbour search by longest common substring).
"""

from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from livegen.copyguard import GUARD_NOTES, CopyGuard, guard_path
from livegen.notes import Note

if TYPE_CHECKING:
    from livegen_train.corpus import Piece

__all__ = [
    "SHINGLE_NOTES",
    "MAX_INTERVAL",
    "MAX_SHINGLE_PIECES",
    "DEFAULT_MAX_RUN",
    "interval_tokens",
    "shingles",
    "similar_pairs",
    "CopyMatch",
    "CopyIndex",
    "write_copy_guard",
]

# --- near-duplicate pieces ------------------------------------------------------------------

#: Notes per shingle (so SHINGLE_NOTES - 1 interval tokens) in the near-duplicate test.
SHINGLE_NOTES = 9
#: Intervals wider than this many semitones are clipped (they are voice leaps in a chord).
MAX_INTERVAL = 24
#: A shingle found in more pieces than this is a stock figure (a scale run, a cadence);
#: it does not propose candidate pairs (their Jaccard is still computed on all shingles).
MAX_SHINGLE_PIECES = 50
#: Candidate pairs must share at least this many uncommon shingles.
MIN_SHARED_SHINGLES = 2
_HASH_MULTIPLIER = np.uint64(0x100000001B3)  # the 64-bit FNV prime


def interval_tokens(pitch: np.ndarray, onset: np.ndarray) -> np.ndarray:
    """Transposition-invariant tokens of a note sequence, one per consecutive pair of notes.

    Notes are put in onset order (ties by pitch, as the token stream orders them); token
    ``i`` encodes the interval from note ``i`` to ``i + 1`` (clipped to
    ±:data:`MAX_INTERVAL` semitones) and whether both start together (a chord).

    Args:
        pitch: int [n] MIDI note numbers.
        onset: float [n] onsets in any unit.

    Returns:
        int64 [max(n - 1, 0)] tokens in ``[0, 4 * MAX_INTERVAL + 2)``.
    """
    order = np.lexsort((pitch, onset))
    p = np.asarray(pitch, np.int64)[order]
    o = np.asarray(onset, np.float64)[order]
    interval = np.clip(np.diff(p), -MAX_INTERVAL, MAX_INTERVAL) + MAX_INTERVAL
    return interval * 2 + (np.diff(o) == 0)


def shingles(piece: Piece, notes: int = SHINGLE_NOTES) -> np.ndarray:
    """The set of 64-bit hashes of every run of ``notes`` consecutive notes' interval tokens.

    A piece shorter than ``notes`` is one shingle (its whole token sequence). Two
    different runs share a hash with probability about 2**-64 (polynomial hash mod 2**64).

    Returns:
        uint64 [m] sorted unique hashes.
    """
    tokens = interval_tokens(piece.pitch, piece.onset_q).astype(np.uint64) + np.uint64(1)
    width = min(notes - 1, len(tokens))
    count = len(tokens) - width + 1
    hashes = np.zeros(count, np.uint64)
    for j in range(width):
        hashes = hashes * _HASH_MULTIPLIER + tokens[j:j + count]
    return np.unique(hashes)


def similar_pairs(pieces: Sequence[Piece], min_jaccard: float) -> list[tuple[int, int, float]]:
    """Pairs of pieces of the same style whose shingle sets have Jaccard >= ``min_jaccard``.

    Candidates come from an inverted index (exact buckets of shared shingles, skipping
    shingles in more than :data:`MAX_SHINGLE_PIECES` pieces); each candidate's Jaccard
    is then computed exactly on the full sets. Transposed copies share every shingle.

    Args:
        pieces: the pieces to compare.
        min_jaccard: the similarity threshold, in (0, 1].

    Returns:
        ``[(i, j, jaccard)]`` with ``i < j`` indices into ``pieces``, sorted.
    """
    sets = [shingles(p) for p in pieces]
    if len(sets) < 2:
        return []
    owner = np.concatenate([np.full(len(s), i, np.int64) for i, s in enumerate(sets)])
    hashes = np.concatenate(sets)
    order = np.argsort(hashes, kind="stable")
    hashes, owner = hashes[order], owner[order]
    starts = np.flatnonzero(np.r_[True, hashes[1:] != hashes[:-1]])
    ends = np.r_[starts[1:], len(hashes)]
    keep = (ends - starts > 1) & (ends - starts <= MAX_SHINGLE_PIECES)
    shared: Counter = Counter()
    for a, b in zip(starts[keep].tolist(), ends[keep].tolist()):
        group = owner[a:b].tolist()
        shared.update((x, y) for k, x in enumerate(group) for y in group[k + 1:])
    pairs = []
    for (i, j), n_shared in shared.items():
        if n_shared < MIN_SHARED_SHINGLES or pieces[i].style != pieces[j].style:
            continue
        both = len(np.intersect1d(sets[i], sets[j], assume_unique=True))
        jaccard = both / (len(sets[i]) + len(sets[j]) - both)
        if jaccard >= min_jaccard:
            pairs.append((i, j, jaccard))
    return sorted(pairs)


# --- runs copied from training --------------------------------------------------------------

#: Runs are measured up to this many notes (longer ones report this value).
DEFAULT_MAX_RUN = 64
_SEPARATOR = 0  # between pieces; no interval symbol takes this value, so no run spans two pieces
_QUERY_PAD = -1  # after a query's end: below every symbol, so a run stops there
_MIDI_PITCHES = 128
_INTERVAL_OFFSET = _MIDI_PITCHES  # interval -127..127 -> symbol 1..255


@dataclass(frozen=True)
class CopyMatch:
    """The longest run of a continuation found in a training piece.

    Attributes:
        length: notes in the run (0 for no notes; a single note is a run of 1).
        start: index of the run's first note in the continuation, in onset order.
        piece: name of a training piece holding the run ("" when ``length`` < 2).
        piece_start: index of the run's first note in that piece, in onset order.
        transposition: semitones to add to the piece's notes to get the run's.
    """

    length: int
    start: int = 0
    piece: str = ""
    piece_start: int = 0
    transposition: int = 0


def _symbols(pitch: np.ndarray) -> np.ndarray:
    """Interval symbols (int16 [n - 1], 1..255) of pitches already in onset order."""
    return (np.diff(np.asarray(pitch, np.int16)) + _INTERVAL_OFFSET).astype(np.int16)


class CopyIndex:
    """An index over training pieces answering "how long a run of these notes is copied?".

    A run of ``k`` notes matches when its ``k - 1`` consecutive pitch intervals occur,
    in order, between ``k`` consecutive notes of one training piece (notes in onset
    order, ties by pitch; transposition-invariant, timing and velocity ignored).

    The index is a suffix array over the pieces' interval symbols, sorted on the first
    ``max_run - 1`` symbols by prefix doubling (``ceil(log2(max_run - 1))`` numpy sorts).
    A query binary-searches every suffix of the continuation at once and takes the
    longest common prefix with the two neighbours of its insertion point: exact
    comparisons of symbols, no hashing, so no collisions.

    Build with :meth:`build`.
    """

    def __init__(self, symbols: np.ndarray, suffixes: np.ndarray, starts: np.ndarray,
                 names: Sequence[str], first_pitch: np.ndarray, max_run: int) -> None:
        """Use :meth:`build`. Arrays: int16 symbols, int64 sorted suffixes and piece starts."""
        self._symbols = symbols
        self._suffixes = suffixes
        self._starts = starts
        self._names = list(names)
        self._first_pitch = first_pitch
        self.max_run = max_run

    @classmethod
    def build(cls, pieces: Iterable[Piece], max_run: int = DEFAULT_MAX_RUN) -> CopyIndex:
        """Index every note of ``pieces`` (the training split).

        Args:
            pieces: :class:`livegen_train.corpus.Piece` objects (pitches in any order of onsets).
            max_run: the longest run measured, in notes (>= 2).

        Returns:
            The index; about 1 s and 30 MB per million notes for ``max_run`` = 64.

        Raises:
            ValueError: if ``max_run`` < 2.
        """
        if max_run < 2:
            raise ValueError(f"max_run must be at least 2 notes (received {max_run})")
        depth = max_run - 1
        parts, starts, names, first = [], [], [], []
        offset = 0
        for piece in pieces:
            if len(piece) == 0:
                continue
            order = np.lexsort((piece.pitch, piece.onset_q))
            pitch = np.asarray(piece.pitch)[order]
            starts.append(offset)
            names.append(piece.name)
            first.append(int(pitch[0]) if len(pitch) else 0)
            parts += [_symbols(pitch), np.array([_SEPARATOR], np.int16)]
            offset += len(pitch)  # n - 1 symbols + 1 separator
        parts.append(np.full(depth, _SEPARATOR, np.int16))  # every window of `depth` fits
        symbols = np.concatenate(parts)
        rank = symbols.astype(np.int64)
        span = 1
        while span < depth:  # after this, rank orders suffixes by their first 2*span symbols
            later = np.full(len(rank), -1, np.int64)
            later[:-span] = rank[span:]
            order = np.lexsort((later, rank))
            changed = (np.diff(rank[order]) != 0) | (np.diff(later[order]) != 0)
            rank[order] = np.r_[0, np.cumsum(changed)]
            span *= 2
        suffixes = np.argsort(rank, kind="stable")
        suffixes = suffixes[symbols[suffixes] != _SEPARATOR]  # they never match anything
        return cls(symbols, suffixes, np.asarray(starts, np.int64), names,
                   np.asarray(first, np.int64), max_run)

    def __len__(self) -> int:
        """Number of indexed interval symbols (notes minus pieces)."""
        return len(self._suffixes)

    def find_copy(self, notes: Iterable[Note]) -> CopyMatch:
        """The longest run of ``notes`` found in one training piece, and where.

        Args:
            notes: a continuation as :class:`livegen.notes.Note` in any order.

        Returns:
            The match; ``length`` is at most :attr:`max_run`.
        """
        ordered = sorted(notes, key=lambda n: (n.onset_s, n.pitch))
        if len(ordered) < 2 or len(self._suffixes) == 0:
            return CopyMatch(min(len(ordered), 1))
        pitch = np.array([n.pitch for n in ordered], np.int64)
        lengths, where = self._matching_statistics(_symbols(pitch))
        best = int(np.argmax(lengths))
        if lengths[best] == 0:
            return CopyMatch(1)
        position = int(where[best])
        piece = int(np.searchsorted(self._starts, position, side="right")) - 1
        piece_start = position - int(self._starts[piece])
        piece_pitch = int(self._first_pitch[piece]) + int(
            np.sum(self._symbols[self._starts[piece]:position].astype(np.int64) - _INTERVAL_OFFSET))
        return CopyMatch(int(lengths[best]) + 1, best, self._names[piece], piece_start,
                         int(pitch[best]) - piece_pitch)

    def longest_copied_run(self, notes: Iterable[Note]) -> int:
        """Notes in the longest run of ``notes`` that a training piece holds (see the class).

        Args:
            notes: a continuation as :class:`livegen.notes.Note` in any order.

        Returns:
            0 for no notes, else 1 to :attr:`max_run`.
        """
        return self.find_copy(notes).length

    def _matching_statistics(self, query: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For each start in ``query`` (int16 [m]): the longest prefix found, and where.

        Returns:
            ``(lengths, positions)``: int64 [m] symbols matched (<= max_run - 1) and a
            position in the symbol array where that prefix starts.
        """
        depth = self.max_run - 1
        m = len(query)
        padded = np.full(m + depth, _QUERY_PAD, np.int64)
        padded[:m] = query
        windows = padded[np.arange(m)[:, None] + np.arange(depth)]  # [m, depth]
        lo = np.zeros(m, np.int64)
        hi = np.full(m, len(self._suffixes), np.int64)
        for _ in range(math.ceil(math.log2(len(self._suffixes) + 1))):  # lower bound
            active = lo < hi
            mid = (lo + hi) // 2
            text = self._window(self._suffixes[np.minimum(mid, len(self._suffixes) - 1)])
            differ = text != windows
            first = np.argmax(differ, axis=1)
            rows = np.arange(m)
            less = differ[rows, first] & (text[rows, first] < windows[rows, first])
            lo = np.where(active & less, mid + 1, lo)
            hi = np.where(active & ~less, mid, hi)
        best_len = np.zeros(m, np.int64)
        best_pos = np.zeros(m, np.int64)
        for neighbour in (lo - 1, lo):
            valid = (neighbour >= 0) & (neighbour < len(self._suffixes))
            position = self._suffixes[np.clip(neighbour, 0, len(self._suffixes) - 1)]
            same = np.cumprod(self._window(position) == windows, axis=1).sum(axis=1)
            same = np.where(valid, same, 0)
            better = same > best_len
            best_len = np.where(better, same, best_len)
            best_pos = np.where(better, position, best_pos)
        return best_len, best_pos

    def _window(self, positions: np.ndarray) -> np.ndarray:
        """The first ``max_run - 1`` symbols of each suffix, int64 [len(positions), depth]."""
        depth = self.max_run - 1
        return self._symbols[positions[:, None] + np.arange(depth)].astype(np.int64)


# --- the copy guard shipped with a model ----------------------------------------------------


def write_copy_guard(pieces: Iterable[Piece], model_path: str | os.PathLike,
                     notes: int = GUARD_NOTES) -> tuple[Path, int]:
    """Write the copy guard (:mod:`livegen.copyguard`) of a model trained on ``pieces``.

    Args:
        pieces: the model's training pieces (its training split).
        model_path: the model's ``.onnx``; the guard goes next to it
            (:func:`livegen.copyguard.guard_path`).
        notes: notes per guarded run.

    Returns:
        ``(path, runs)``: the file written and the distinct runs it holds.
    """
    sequences = [np.asarray(p.pitch)[np.lexsort((p.pitch, p.onset_q))] for p in pieces if len(p)]
    guard = CopyGuard.build(sequences, notes)
    return guard.save(guard_path(model_path)), len(guard)


def main(argv: list[str] | None = None) -> int:
    """``livegen copy-guard``: (re)build a model's copy guard from its training split."""
    import argparse
    import logging

    from livegen.model import Model, default_model_path
    from livegen_train.corpus import DEFAULT_CAPS, load_midi_dir, load_music21_corpus, split_pieces

    parser = argparse.ArgumentParser(
        prog="livegen copy-guard",
        description="Write MODEL.copies.npz next to MODEL.onnx: every run of 13 notes of the "
                    "training split, so the model's answers never copy one (livegen/copyguard.py). "
                    "`livegen train --export` writes it already; this is for models exported before.")
    parser.add_argument("--model", help="the .onnx model (default: the shipped one)")
    parser.add_argument("--midi-dir", help="the model was trained on this folder of MIDI files")
    parser.add_argument("--style", help="with --midi-dir: the style name it was trained as")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if bool(args.midi_dir) != bool(args.style):
        raise SystemExit("livegen copy-guard: error: --midi-dir and --style go together")
    model_path = Path(args.model) if args.model else default_model_path()
    if args.midi_dir:
        pieces, _ = load_midi_dir(args.midi_dir, args.style)
    else:
        styles = Model.load(model_path).styles
        pieces, _ = load_music21_corpus(styles, progress=False, folder_caps=DEFAULT_CAPS)
    train = split_pieces(pieces)["train"]
    path, runs = write_copy_guard(train, model_path)
    print(f"wrote {path}: {runs:,} runs of {GUARD_NOTES} notes from {len(train):,} training pieces "
          f"({path.stat().st_size / 1e6:.1f} MB)")
    return 0
