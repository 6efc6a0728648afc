"""The style classifier's input: one feature row per note, free of rendering artefacts.

The corpus is scores rendered as played; the model's continuations are sampled
tokens. A feature that tells the two apart, rather than one style from another,
would let the classifier (:mod:`livegen_train.classifier`) cheat, so:

- **no velocity**: most of the corpus has no dynamics, its velocities are a
  synthesised curve (:mod:`livegen_train.dataset`), and the model learnt to
  imitate that curve.
- **no absolute tempo**: a score without a metronome mark is rendered at its
  style's default tempo (:data:`livegen_train.corpus.DEFAULT_QPM`: folk 120,
  renaissance 80), a constant that would name the style by itself. Time is
  measured in units of the window's own median spacing between chords, so the
  rhythm (long-short, dotted, triplet, rests, articulation) stays and the
  tempo goes.
- **the model's time grid**: windows are put through the token vocabulary
  (:func:`quantize_like_tokens`) before their features are taken, as every
  continuation was, so bin rounding cannot tell them apart.
- **pitch relative to the key**: pitch classes relative to the window's
  Krumhansl-Schmuckler tonic (and its mode), melodic intervals and the spread
  around the window's mean pitch; the register itself is one coarse column
  (training windows are transposed by up to 6 semitones).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from livegen import tokens as tk
from livegen.keys import estimate_key
from livegen.notes import Note

__all__ = ["FEATURES", "N_FEATURES", "CHORD_TOLERANCE_S", "quantize_like_tokens", "note_features",
           "notes_features"]

#: One row per note; pitch classes pc0..pc11 are relative to the window's tonic.
FEATURES: tuple[str, ...] = ("interval", "pitch_centred", "register", "chord", "log_ioi", "log_duration",
                             "rest_before", "minor", *(f"pc{k}" for k in range(12)))
N_FEATURES = len(FEATURES)
CHORD_TOLERANCE_S = 0.03  # onsets this close are one chord (livegen_train.metrics)
INTERVAL_CLIP = 24  # semitones
LOG_CLIP = 4.0  # log2 of a time ratio, so 1/16 to 16 times the median spacing
DEFAULT_SPACING_S = 0.25  # the median spacing of a window with a single onset
DEFAULT_VELOCITY = 80  # velocity is not a feature; the token round trip needs one


def quantize_like_tokens(pitch: np.ndarray, onset_s: np.ndarray, duration_s: np.ndarray
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Notes as the model renders them: encoded to tokens and decoded (:mod:`livegen.tokens`).

    Onset gaps snap to the time-shift bins (each measured from the previous
    decoded onset, as the runtime does), durations to the duration bins; notes
    come back sorted by onset, then pitch.

    Args:
        pitch: int [n] MIDI pitches 0-127.
        onset_s: float [n] seconds.
        duration_s: float [n] seconds.

    Returns:
        ``(pitch int64 [n], onset_s float64 [n], duration_s float64 [n])``, the first
        onset unchanged.
    """
    notes = [Note(int(p), DEFAULT_VELOCITY, float(o), float(d))
             for p, o, d in zip(pitch, onset_s, duration_s)]
    if not notes:
        return np.zeros(0, np.int64), np.zeros(0), np.zeros(0)
    decoded = tk.decode(tk.encode(notes), start_s=min(n.onset_s for n in notes))
    return (np.array([n.pitch for n in decoded], dtype=np.int64), np.array([n.onset_s for n in decoded]),
            np.array([n.duration_s for n in decoded]))


def note_features(pitch: np.ndarray, onset_s: np.ndarray, duration_s: np.ndarray) -> np.ndarray:
    """The classifier's input for one window of notes.

    Time features are in units of the window's median spacing between chords,
    so they do not change with tempo; pitch features other than ``register`` do
    not change with transposition.

    Args:
        pitch: int [n] MIDI pitches 0-127.
        onset_s: float [n] seconds; notes sorted by onset, then pitch.
        duration_s: float [n] seconds.

    Returns:
        float32 [n, :data:`N_FEATURES`], columns as :data:`FEATURES`.
    """
    pitch = np.asarray(pitch, dtype=np.float64)
    onset_s = np.asarray(onset_s, dtype=np.float64)
    duration_s = np.asarray(duration_s, dtype=np.float64)
    n = len(pitch)
    out = np.zeros((n, N_FEATURES), dtype=np.float32)
    if n == 0:
        return out
    gaps, chord = _chord_gaps(onset_s)
    spacing = gaps[~chord][1:]  # between chords: the first note has no gap
    unit = float(np.median(spacing)) if len(spacing) else DEFAULT_SPACING_S
    ends = np.maximum.accumulate(onset_s + duration_s)
    rest = np.zeros(n)
    rest[1:] = np.maximum(onset_s[1:] - ends[:-1], 0.0) / unit
    tonic, mode = _key(pitch.astype(int))
    out[1:, 0] = np.clip(np.diff(pitch), -INTERVAL_CLIP, INTERVAL_CLIP) / 12.0
    out[:, 1] = (pitch - pitch.mean()) / 12.0
    out[:, 2] = (pitch - 60.0) / 24.0
    out[:, 3] = chord
    log_gap = np.clip(np.log2(np.maximum(gaps[1:], 1e-3) / unit), -LOG_CLIP, LOG_CLIP)
    out[1:, 4] = np.where(chord[1:], 0.0, log_gap)
    out[:, 5] = np.clip(np.log2(np.maximum(duration_s, 1e-3) / unit), -LOG_CLIP, LOG_CLIP)
    out[:, 6] = np.minimum(rest, LOG_CLIP)
    out[:, 7] = mode == "minor"
    out[np.arange(n), 8 + (pitch.astype(int) - tonic) % 12] = 1.0
    return out


def _chord_gaps(onset_s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each note's gap (s) from the first onset of the chord before it, and whether it joins
    that chord (within :data:`CHORD_TOLERANCE_S` of its first onset, as
    :func:`livegen_train.metrics.onset_groups` groups)."""
    gaps = np.zeros(len(onset_s))
    chord = np.zeros(len(onset_s), dtype=bool)
    start = onset_s[0]
    for i in range(1, len(onset_s)):
        gaps[i] = onset_s[i] - start
        chord[i] = gaps[i] <= CHORD_TOLERANCE_S
        if not chord[i]:
            start = onset_s[i]
    return gaps, chord


def _key(pitch: np.ndarray) -> tuple[int, str]:
    """The window's key (the sampler's Krumhansl-Schmuckler finder); C major when undecided."""
    key = estimate_key(pitch)
    return (0, "major") if key is None else (key.tonic, key.mode)


def notes_features(notes: Sequence[Note]) -> np.ndarray:
    """:func:`note_features` of :class:`~livegen.notes.Note`s (sorted by onset, then pitch, here)."""
    ordered = sorted(notes, key=lambda n: (n.onset_s, n.pitch))
    return note_features(np.array([n.pitch for n in ordered], dtype=np.int64),
                         np.array([n.onset_s for n in ordered]), np.array([n.duration_s for n in ordered]))
