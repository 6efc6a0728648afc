"""Never a copy: a guard that stops a response replaying a run of a training piece.

A model trained on a few thousand pieces can finish a phrase it learned note for
note. :class:`CopyGuard` holds a hash of every run of :data:`GUARD_NOTES`
consecutive notes of the training pieces, by their pitch intervals (so a
transposed copy is a copy, as training augments by transposition). While a
response is generated, the pitches that would complete such a run from the
response's own last ``GUARD_NOTES - 1`` notes are masked, so no run of
:data:`GUARD_NOTES` notes of a response is ever a training piece's: the longest
copied run stays at most ``GUARD_NOTES - 1`` = 12 notes, the limit of issue 3's
acceptance, measured by :class:`livegen_train.copies.CopyIndex` in the same terms
(notes in onset order, ties by pitch; timing and velocity ignored).

The guard ships next to its model: ``default.onnx`` -> ``default.copies.npz``
(:func:`guard_path`), written by ``livegen train --export`` or ``livegen
copy-guard``. A model without one runs unguarded.
"""

from __future__ import annotations

import os
import zipfile
import zlib
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from livegen.errors import ModelError

__all__ = ["GUARD_NOTES", "CopyGuard", "guard_path", "interval_keys"]

#: Notes in a guarded run: a response never holds a run of this many notes copied from
#: a training piece, so its longest copied run is at most GUARD_NOTES - 1 = 12 notes.
GUARD_NOTES = 13
_INTERVAL_OFFSET = 128  # interval -127..127 -> symbol 1..255 (0 never occurs)
_MULTIPLIER = 0x100000001B3  # the 64-bit FNV prime: a polynomial hash mod 2**64
_MASK = (1 << 64) - 1
_KEY_SHIFT = np.uint64(32)  # keys are the mixed hash's upper 32 bits
_SUFFIX = ".copies.npz"
#: The float32 twin of a shipped int8 graph (``x.fp32.onnx``) shares its guard (``x.copies.npz``).
_FLOAT_TWIN = ".fp32"


def guard_path(model_path: str | os.PathLike) -> Path:
    """Where the guard of the model at ``model_path`` lives (``x.onnx`` -> ``x.copies.npz``).

    ``x.fp32.onnx`` (the float32 graph the shipped int8 ``x.onnx`` is quantized
    from) uses ``x.copies.npz`` when it has no ``x.fp32.copies.npz`` of its own.
    """
    path = Path(model_path)
    own = path.with_name(path.stem + _SUFFIX)
    if path.stem.endswith(_FLOAT_TWIN) and not own.is_file():
        return path.with_name(path.stem[:-len(_FLOAT_TWIN)] + _SUFFIX)
    return own


def _keys(hashes: np.ndarray) -> np.ndarray:
    """uint32 keys of uint64 hashes: splitmix64's finalizer, then the upper 32 bits.

    The polynomial hash's last symbol only touches its low bits; the finalizer
    spreads every bit over the whole word first.
    """
    x = hashes ^ (hashes >> np.uint64(30))
    x = x * np.uint64(0xBF58476D1CE4E5B9)
    x = x ^ (x >> np.uint64(27))
    x = x * np.uint64(0x94D049BB133111EB)
    x = x ^ (x >> np.uint64(31))
    return (x >> _KEY_SHIFT).astype(np.uint32)


def interval_keys(pitch: np.ndarray, notes: int = GUARD_NOTES) -> np.ndarray:
    """Keys of every run of ``notes`` consecutive pitches, by their intervals.

    Args:
        pitch: int [n] MIDI note numbers in onset order (ties by pitch).
        notes: notes per run (>= 2).

    Returns:
        uint32 [max(n - notes + 1, 0)]: a 32-bit key of each run's polynomial hash of
        its ``notes - 1`` interval symbols (two different runs share a key with
        probability about 2**-32).
    """
    symbols = (np.diff(np.asarray(pitch, np.int64)) + _INTERVAL_OFFSET).astype(np.uint64)
    width = notes - 1
    count = len(symbols) - width + 1
    if count <= 0:
        return np.zeros(0, np.uint32)
    hashes = np.zeros(count, np.uint64)
    multiplier = np.uint64(_MULTIPLIER)
    for j in range(width):  # uint64 arithmetic wraps: the hash is mod 2**64
        hashes = hashes * multiplier + symbols[j:j + count]
    return _keys(hashes)


class CopyGuard:
    """The runs of training notes a response must not complete (see the module).

    Args:
        keys: uint32 [m] sorted unique run keys (:func:`interval_keys`).
        notes: notes per guarded run.

    Raises:
        ValueError: ``notes`` < 2.
    """

    def __init__(self, keys: np.ndarray, notes: int = GUARD_NOTES) -> None:
        if notes < 2:
            raise ValueError(f"a guarded run needs at least 2 notes (received {notes})")
        self.keys = np.asarray(keys, np.uint32)
        self.notes = int(notes)

    def __len__(self) -> int:
        """Number of distinct guarded runs."""
        return len(self.keys)

    @classmethod
    def build(cls, pitch_sequences: Iterable[np.ndarray], notes: int = GUARD_NOTES) -> CopyGuard:
        """Index every run of ``notes`` notes of each piece.

        Args:
            pitch_sequences: per piece, int [n] MIDI pitches in onset order (ties by pitch).
            notes: notes per guarded run.
        """
        parts = [interval_keys(p, notes) for p in pitch_sequences]
        keys = np.unique(np.concatenate(parts)) if parts else np.zeros(0, np.uint32)
        return cls(keys, notes)

    @classmethod
    def load(cls, path: str | os.PathLike) -> CopyGuard:
        """Read a guard written by :meth:`save`.

        Raises:
            ModelError: the file is unreadable or not a guard.
        """
        try:
            with np.load(path) as data:
                keys, notes = data["keys"], int(data["notes"])
        except (OSError, EOFError, KeyError, ValueError, TypeError, zipfile.BadZipFile, zlib.error) as err:
            raise ModelError(f"{path}: not a livegen copy guard ({err or type(err).__name__})") from err
        if keys.dtype != np.uint32 or keys.ndim != 1 or notes < 2:
            raise ModelError(f"{path}: not a livegen copy guard (keys {keys.dtype} "
                             f"{keys.shape}, notes {notes})")
        return cls(keys, notes)

    def save(self, path: str | os.PathLike) -> Path:
        """Write the guard (compressed ``.npz``); returns the path."""
        path = Path(path)
        with path.open("wb") as f:
            np.savez_compressed(f, keys=self.keys, notes=np.int64(self.notes))
        return path

    def blocked(self, recent: Sequence[int], low: int = 0, high: int = 127) -> list[int]:
        """Pitches in ``[low, high]`` that would make the last notes a copied run.

        Args:
            recent: the response's pitches so far, oldest first (only the last
                ``notes - 1`` count; fewer and nothing is blocked).
            low, high: the candidate pitch range, MIDI 0-127.

        Returns:
            The blocked pitches, ascending (usually none, seldom more than one).
        """
        width = self.notes - 1
        if len(recent) < width or not len(self.keys):
            return []
        last = [int(pitch) for pitch in recent[-width:]]
        prefix = 0
        for a, b in zip(last[:-1], last[1:]):
            prefix = (prefix * _MULTIPLIER + (b - a + _INTERVAL_OFFSET)) & _MASK
        candidates = np.arange(low, high + 1, dtype=np.int64)
        symbols = (candidates - last[-1] + _INTERVAL_OFFSET).astype(np.uint64)
        keys = _keys(np.uint64((prefix * _MULTIPLIER) & _MASK) + symbols)
        where = np.minimum(np.searchsorted(self.keys, keys), len(self.keys) - 1)
        return candidates[self.keys[where] == keys].tolist()
