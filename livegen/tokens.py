"""The event vocabulary shared by training and the runtime: notes <-> token ids.

Each note is four tokens, always in this order::

    SHIFT  time from the previous note's onset to this one (0 = a chord tone)
    PITCH  MIDI note number 0-127
    VEL    velocity, binned
    DUR    duration, binned

A sequence may start with ``BOS``. Time shifts make rests and rhythm part of
the language (the older LSTM generators dropped both and sounded monotonous).
Time bins are 10 ms wide up to 0.5 s, then 20 ms up to 1 s, 50 ms up to 2 s
and 100 ms up to 4 s: fine where rhythm lives, coarse where a few ms don't
matter. 10 ms is Performance RNN's time step (Oore et al., 2018, "This Time
with Feeling"); so is its 32 velocity bins.

Only numpy is used here. The vocabulary is versioned: :data:`VOCAB_VERSION`
changes whenever a token's meaning changes, and :data:`VOCAB_HASH` is a hash
of the full spec that a model's metadata must match.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence

import numpy as np

from livegen.notes import Note

__all__ = [
    "VOCAB_VERSION",
    "VOCAB_HASH",
    "VOCAB_SIZE",
    "TOKENS_PER_NOTE",
    "BOS",
    "Kind",
    "SHIFT_BINS_S",
    "DURATION_BINS_S",
    "VELOCITY_BIN_WIDTH",
    "token_kind",
    "next_kind",
    "KIND_MASKS",
    "encode",
    "encode_note",
    "decode",
    "NoteDecoder",
    "vocab_spec",
    "quantize_shift",
    "shift_seconds",
    "quantize_duration",
    "quantize_velocity",
]

VOCAB_VERSION = 1
TOKENS_PER_NOTE = 4
N_PITCHES = 128
VELOCITY_BIN_WIDTH = 4
N_VELOCITIES = 128 // VELOCITY_BIN_WIDTH  # 32 bins (Performance RNN)


def _piecewise_grid(include_zero: bool) -> np.ndarray:
    """Bin centres in seconds: 10 ms to 0.5 s, 20 ms to 1 s, 50 ms to 2 s, 100 ms to 4 s."""
    parts = [
        np.arange(1, 51) * 0.010,
        0.5 + np.arange(1, 26) * 0.020,
        1.0 + np.arange(1, 21) * 0.050,
        2.0 + np.arange(1, 21) * 0.100,
    ]
    grid = np.concatenate(([np.zeros(1)] if include_zero else []) + parts)
    return np.round(grid, 6)


SHIFT_BINS_S: np.ndarray = _piecewise_grid(include_zero=True)
DURATION_BINS_S: np.ndarray = _piecewise_grid(include_zero=False)
MAX_SHIFT_S = float(SHIFT_BINS_S[-1])
MAX_DURATION_S = float(DURATION_BINS_S[-1])

BOS = 0
SHIFT_OFFSET = 1
PITCH_OFFSET = SHIFT_OFFSET + len(SHIFT_BINS_S)
VEL_OFFSET = PITCH_OFFSET + N_PITCHES
DUR_OFFSET = VEL_OFFSET + N_VELOCITIES
VOCAB_SIZE = DUR_OFFSET + len(DURATION_BINS_S)

assert np.all(np.diff(SHIFT_BINS_S) > 0) and np.all(np.diff(DURATION_BINS_S) > 0)
assert len(SHIFT_BINS_S) == 116 and len(DURATION_BINS_S) == 115
assert VOCAB_SIZE == 1 + 116 + 128 + 32 + 115 == 392


class Kind:
    """Token classes (small ints, usable as array indices)."""

    BOS = 0
    SHIFT = 1
    PITCH = 2
    VEL = 3
    DUR = 4
    COUNT = 5


_KIND_OF = np.empty(VOCAB_SIZE, dtype=np.int8)
_KIND_OF[BOS] = Kind.BOS
_KIND_OF[SHIFT_OFFSET:PITCH_OFFSET] = Kind.SHIFT
_KIND_OF[PITCH_OFFSET:VEL_OFFSET] = Kind.PITCH
_KIND_OF[VEL_OFFSET:DUR_OFFSET] = Kind.VEL
_KIND_OF[DUR_OFFSET:VOCAB_SIZE] = Kind.DUR
_KIND_OF.setflags(write=False)

#: The kind that must follow each kind (the grammar of a note).
_NEXT = {Kind.BOS: Kind.SHIFT, Kind.SHIFT: Kind.PITCH, Kind.PITCH: Kind.VEL,
         Kind.VEL: Kind.DUR, Kind.DUR: Kind.SHIFT}

#: ``KIND_MASKS[k]`` is a bool array [VOCAB_SIZE], True where the token is of kind k.
KIND_MASKS: np.ndarray = np.stack([_KIND_OF == k for k in range(Kind.COUNT)])
KIND_MASKS.setflags(write=False)


def token_kind(token: int) -> int:
    """The :class:`Kind` of a token id.

    Raises:
        IndexError: ``token`` is outside ``[0, VOCAB_SIZE)``.
    """
    return int(_KIND_OF[token])


def next_kind(token: int) -> int:
    """The :class:`Kind` the grammar allows after ``token``."""
    return _NEXT[int(_KIND_OF[token])]


def _nearest(bins: np.ndarray, value: float) -> int:
    """Index of the bin centre nearest to ``value`` (values beyond the ends clip)."""
    index = int(np.searchsorted(bins, value))
    if index <= 0:
        return 0
    if index >= len(bins):
        return len(bins) - 1
    return index if bins[index] - value < value - bins[index - 1] else index - 1


def quantize_shift(shift_s: float) -> int:
    """Bin index (0-115) of a time shift in seconds; negative clips to 0, > 4 s to 4 s."""
    return _nearest(SHIFT_BINS_S, shift_s)


def shift_seconds(token: int) -> float:
    """Seconds of a SHIFT token id (its bin centre)."""
    return float(SHIFT_BINS_S[token - SHIFT_OFFSET])


def quantize_duration(duration_s: float) -> int:
    """Bin index (0-114) of a duration in seconds; clips to [10 ms, 4 s]."""
    return _nearest(DURATION_BINS_S, duration_s)


def quantize_velocity(velocity: int) -> int:
    """Bin index (0-31) of a MIDI velocity 0-127 (4 velocities per bin)."""
    return min(max(int(velocity), 0), 127) // VELOCITY_BIN_WIDTH


def _velocity_of_bin(index: int) -> int:
    return min(max(index * VELOCITY_BIN_WIDTH + VELOCITY_BIN_WIDTH // 2, 1), 127)


def encode_note(note: Note, shift_s: float) -> tuple[int, int, int, int]:
    """The four tokens of one note.

    Args:
        note: the note; its pitch must be 0-127.
        shift_s: seconds since the previous note's onset (as the decoder will
            see it; 0 for a chord tone).

    Returns:
        ``(shift, pitch, velocity, duration)`` token ids.
    """
    return (
        SHIFT_OFFSET + quantize_shift(shift_s),
        PITCH_OFFSET + int(note.pitch),
        VEL_OFFSET + quantize_velocity(note.velocity),
        DUR_OFFSET + quantize_duration(note.duration_s),
    )


def encode(notes: Iterable[Note], *, bos: bool = False, start_s: float | None = None) -> np.ndarray:
    """Encode notes as token ids.

    The notes are sorted by (onset, pitch). Each shift is measured from the
    previous note's *decoded* onset, so quantisation errors do not accumulate;
    a gap longer than the largest shift (4 s) is clipped to it.

    Args:
        notes: the notes; pitches 0-127.
        bos: start with the BOS token.
        start_s: the time the first shift is measured from; default the first onset.

    Returns:
        int64 array of shape [4 * len(notes) (+1 with bos)].
    """
    ordered = sorted(notes, key=lambda n: (n.onset_s, n.pitch))
    out: list[int] = [BOS] if bos else []
    if not ordered:
        return np.asarray(out, dtype=np.int64)
    clock = ordered[0].onset_s if start_s is None else start_s
    for note in ordered:
        gap_s = note.onset_s - clock
        tokens = encode_note(note, gap_s)
        # after a gap longer than the largest shift the clock jumps to the real onset,
        # so the notes of a chord after a long rest stay together
        clock = note.onset_s if gap_s > MAX_SHIFT_S else clock + float(SHIFT_BINS_S[tokens[0] - SHIFT_OFFSET])
        out.extend(tokens)
    return np.asarray(out, dtype=np.int64)


class NoteDecoder:
    """Streaming decoder: feed tokens one by one, get a :class:`Note` after each DUR.

    Args:
        start_s: onset time the first shift is added to (seconds).
        channel: MIDI channel of the decoded notes (0-15).
    """

    def __init__(self, start_s: float = 0.0, channel: int = 0) -> None:
        self.clock_s = start_s
        self.channel = channel
        self._pitch: int | None = None
        self._velocity: int | None = None

    def feed(self, token: int) -> Note | None:
        """Take one token; return the finished note after its DUR token, else None.

        Tokens out of grammar order (e.g. a DUR without a PITCH) are ignored.
        """
        kind = _KIND_OF[token]
        if kind == Kind.SHIFT:
            self.clock_s += float(SHIFT_BINS_S[token - SHIFT_OFFSET])
            self._pitch = self._velocity = None
        elif kind == Kind.PITCH:
            self._pitch = token - PITCH_OFFSET
        elif kind == Kind.VEL:
            self._velocity = _velocity_of_bin(token - VEL_OFFSET)
        elif kind == Kind.DUR and self._pitch is not None and self._velocity is not None:
            note = Note(self._pitch, self._velocity, self.clock_s,
                        float(DURATION_BINS_S[token - DUR_OFFSET]), self.channel)
            self._pitch = self._velocity = None
            return note
        return None

    def peek(self) -> tuple[float, int | None, int | None]:
        """``(onset_s, pitch, velocity)`` of the note being decoded (None where not yet known)."""
        return self.clock_s, self._pitch, self._velocity


def decode(tokens: Sequence[int] | np.ndarray, *, start_s: float = 0.0, channel: int = 0) -> list[Note]:
    """Decode token ids to notes (BOS and an unfinished trailing note are skipped).

    Args:
        tokens: token ids, each in ``[0, VOCAB_SIZE)``.
        start_s: onset the first shift is added to, in seconds.
        channel: MIDI channel given to every note.

    Returns:
        The notes in onset order.
    """
    decoder = NoteDecoder(start_s, channel)
    notes = []
    for token in tokens:
        note = decoder.feed(int(token))
        if note is not None:
            notes.append(note)
    return notes


def vocab_spec() -> dict:
    """The full vocabulary as a JSON-able dict (goes into the model's metadata)."""
    return {
        "name": "livegen-events",
        "version": VOCAB_VERSION,
        "order": ["SHIFT", "PITCH", "VEL", "DUR"],
        "size": VOCAB_SIZE,
        "offsets": {"BOS": BOS, "SHIFT": SHIFT_OFFSET, "PITCH": PITCH_OFFSET,
                    "VEL": VEL_OFFSET, "DUR": DUR_OFFSET},
        "shift_bins_s": SHIFT_BINS_S.tolist(),
        "duration_bins_s": DURATION_BINS_S.tolist(),
        "velocity_bin_width": VELOCITY_BIN_WIDTH,
    }


VOCAB_HASH = hashlib.sha256(json.dumps(vocab_spec(), sort_keys=True).encode()).hexdigest()[:16]

