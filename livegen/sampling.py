"""Sampling one token from the model's logits: grammar, masks, guard, temperature, top-p.

A :class:`Sampler` runs once per generated token, so everything that does not
depend on the logits (which token ids each kind allows, after the pitch-range
and longest-duration limits; the pitch bias of each of the 24 keys) is
computed once in the constructor; :meth:`Sampler.sample` only gathers the
allowed logits, applies the temperature, the repetition guard and the key
mask, and draws from the nucleus with a seeded numpy
:class:`numpy.random.Generator`.

Nucleus (top-p) sampling is from Holtzman et al., 2020, "The Curious Case of
Neural Text Degeneration": keep the smallest set of most likely tokens whose
probability mass reaches ``top_p``, renormalise, draw.

The repetition guard follows ``no_repeat_ngram_size`` of Hugging Face
transformers (n-gram blocking, Paulus et al., 2018, "A Deep Reinforced Model
for Abstractive Summarization"), made soft like the logit repetition penalty
of Keskar et al., 2019 (CTRL), and transposition-invariant: it counts n-note
*interval* patterns and, when a pattern has been used ``repetition_max`` times
in the recent window, lowers (never removes) the pitch that would complete it
once more. Motifs, sequences and repeated notes survive; loops fade.

The key is estimated with the Krumhansl-Schmuckler algorithm (Krumhansl, 1990,
"Cognitive Foundations of Musical Pitch"): the duration-weighted pitch-class
histogram is correlated with the 24 rotations of the major and minor key
profiles of Krumhansl & Kessler, 1982, "Tracing the dynamic changes in
perceived tonal organization in a spatial representation of musical keys",
Psychological Review 89(4); the best correlation wins.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from livegen.notes import Note
from livegen.presets import KEY_MASKS, MAX_PENALTY_LOGITS, MAX_REPETITION_WINDOW, Preset
from livegen.tokens import (
    DUR_OFFSET,
    DURATION_BINS_S,
    KIND_MASKS,
    PITCH_OFFSET,
    Kind,
)

__all__ = ["Sampler", "Key", "estimate_key", "KEY_MIN_CORRELATION", "CHORD_SPAN_S"]

N_PITCHES = 128
N_PITCH_CLASSES = 12
MODES = ("major", "minor")
#: Krumhansl & Kessler (1982) probe-tone ratings, tonic first.
MAJOR_PROFILE = (6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88)
MINOR_PROFILE = (6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17)
#: Pitch classes a key mask keeps, from the tonic: the major scale; for minor the
#: natural minor plus the raised 6th and 7th of the melodic and harmonic forms.
SCALE_STEPS = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 9, 10, 11)}
#: A context whose best key correlation (Pearson r) is below this has no key to mask
#: by. Measured on 50-note windows from the middle of music21 corpus pieces: median r
#: 0.82-0.88 for baroque, classical, romantic and folk (at most 6 % below 0.6), 0.61
#: for the 4 modern pieces (half below); 50 uniformly random pitches: median 0.55.
KEY_MIN_CORRELATION = 0.6
#: ``palette`` key mask: a pitch class the context never (or hardly) holds counts as this
#: share of the commonest one, so its bias is ``key_penalty * ln(0.1)``, finite. Chosen
#: on the validation split (key distance to the prompt 1.26x real with ``soft``, 1.05x
#: with ``palette`` at key_penalty 0.5 and this floor; 1.18x at key_penalty 1.0).
PALETTE_FLOOR = 0.1
#: Seconds: answer notes starting less than this after a chord's first note belong to
#: that chord (``max_chord`` counts them); a ``monophonic`` answer's shortest time
#: shift. 40 ms is the first 10 ms shift bin past the 30 ms within which the
#: evaluation counts onsets as one chord (:data:`livegen_train.metrics.CHORD_TOLERANCE_S`).
CHORD_SPAN_S = 0.04
PITCH_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")


def _zscore_rows(rows: np.ndarray) -> np.ndarray:
    centred = rows - rows.mean(axis=-1, keepdims=True)
    return centred / centred.std(axis=-1, keepdims=True)


#: [24, 12] float64: row ``12 * mode + tonic`` is that key's profile, z-scored, so
#: that ``profiles @ zscore(histogram) / 12`` is the 24 Pearson correlations.
_KEY_PROFILES = _zscore_rows(np.array(
    [np.roll(profile, tonic) for profile in (MAJOR_PROFILE, MINOR_PROFILE)
     for tonic in range(N_PITCH_CLASSES)], dtype=np.float64))
#: [24, 12] bool: the pitch classes of each key's scale (same row order).
_KEY_SCALES = np.zeros((len(MODES) * N_PITCH_CLASSES, N_PITCH_CLASSES), dtype=bool)
for _mode_index, _mode in enumerate(MODES):
    for _tonic in range(N_PITCH_CLASSES):
        _KEY_SCALES[_mode_index * N_PITCH_CLASSES + _tonic,
                    [(_tonic + step) % N_PITCH_CLASSES for step in SCALE_STEPS[_mode]]] = True
assert _KEY_PROFILES.shape == _KEY_SCALES.shape == (24, N_PITCH_CLASSES)
assert np.allclose(_KEY_PROFILES.std(axis=1), 1.0)


@dataclass(frozen=True)
class Key:
    """A key estimated by :func:`estimate_key`.

    Attributes:
        tonic: pitch class of the tonic, 0-11 (0 = C).
        mode: ``major`` or ``minor``.
        correlation: Pearson correlation of the context's pitch-class histogram
            with this key's profile, -1 to 1 (higher = clearer).
    """

    tonic: int
    mode: str
    correlation: float

    @property
    def name(self) -> str:
        """E.g. ``"F# major"``, ``"A minor"``."""
        return f"{PITCH_NAMES[self.tonic]} {self.mode}"

    @property
    def pitch_classes(self) -> frozenset[int]:
        """The pitch classes a key mask keeps (see :data:`SCALE_STEPS`)."""
        return frozenset((self.tonic + step) % N_PITCH_CLASSES for step in SCALE_STEPS[self.mode])


def estimate_key(pitches: Sequence[int] | np.ndarray,
                 weights: Sequence[float] | np.ndarray | None = None) -> Key | None:
    """The most likely key of some notes (Krumhansl-Schmuckler, Krumhansl & Kessler 1982 profiles).

    Args:
        pitches: MIDI pitches 0-127, any int sequence or array [N].
        weights: per-note weights [N] >= 0, e.g. durations in seconds
            (default: 1 each).

    Returns:
        The key whose profile correlates best with the weighted pitch-class
        histogram (ties: major before minor, lower tonic first), or None if
        there are no notes, no weight, or every pitch class weighs the same.
    """
    if len(pitches) == 0:
        return None
    classes = np.asarray(pitches, dtype=np.int64) % N_PITCH_CLASSES
    hist = np.bincount(classes, weights=None if weights is None else np.asarray(weights, np.float64),
                       minlength=N_PITCH_CLASSES)
    spread = hist.std()
    if not spread > 0:
        return None
    scores = _KEY_PROFILES @ ((hist - hist.mean()) / spread) / N_PITCH_CLASSES
    best = int(np.argmax(scores))
    return Key(best % N_PITCH_CLASSES, MODES[best // N_PITCH_CLASSES], float(scores[best]))


class _RepetitionGuard:
    """Counts the ``ngram``-note interval patterns among the last ``window`` pitches.

    After each :meth:`push`, :attr:`penalties` lists ``(pitch, logits)``: the
    next pitches that would complete a pattern already used ``max_count`` or
    more times, and what to subtract (``penalty`` per use from ``max_count``
    on). Every operation is O(1) in the window length.
    """

    def __init__(self, ngram: int, window: int, max_count: int, penalty: float) -> None:
        self.ngram, self.max_count, self.penalty = ngram, max_count, penalty
        self._capacity = window - ngram + 1  # patterns lying wholly inside the window
        self._prefix_len = ngram - 2  # intervals known before the pitch to choose
        self.clear()

    def clear(self) -> None:
        self._last: int | None = None
        self._intervals: deque[int] = deque(maxlen=self.ngram - 1)
        self._patterns: deque[tuple[tuple[int, ...], int]] = deque()
        self._counts: dict[tuple[int, ...], dict[int, int]] = {}  # prefix -> {next interval: uses}
        self.penalties: tuple[tuple[int, float], ...] = ()

    def push(self, pitch: int) -> None:
        intervals = self._intervals
        if self._last is not None:
            intervals.append(pitch - self._last)
        self._last = pitch
        counts = self._counts
        if len(intervals) == self.ngram - 1:
            pattern = tuple(intervals)
            entry = (pattern[:-1], pattern[-1])
            if len(self._patterns) == self._capacity:
                old_prefix, old_next = self._patterns.popleft()
                nexts = counts[old_prefix]
                nexts[old_next] -= 1
                if not nexts[old_next]:
                    del nexts[old_next]
                    if not nexts:
                        del counts[old_prefix]
            self._patterns.append(entry)
            nexts = counts.setdefault(entry[0], {})
            nexts[entry[1]] = nexts.get(entry[1], 0) + 1
        if len(intervals) < self._prefix_len:
            self.penalties = ()
            return
        prefix = tuple(intervals)[len(intervals) - self._prefix_len:] if self._prefix_len else ()
        nexts = counts.get(prefix)
        if not nexts:
            self.penalties = ()
            return
        first = self.max_count - 1
        self.penalties = tuple((pitch + step, self.penalty * (uses - first))
                               for step, uses in nexts.items() if uses > first)


class Sampler:
    """Draws one token of a given kind from a logits vector.

    Besides the logits, a PITCH draw depends on what the sampler was told of
    the music: the performer's context notes (:meth:`set_context`,
    :meth:`add_context`) set the key of the key mask; those notes' pitches and
    every generated pitch (:meth:`remember`) feed the repetition guard.

    Args:
        temperature: softmax temperature, finite and > 0 (1 = the model's own
            distribution, lower = more conservative).
        top_p: nucleus mass in (0, 1]; 1 disables the nucleus cut.
        pitch_low: lowest MIDI pitch a PITCH token may take, 0-127.
        pitch_high: highest MIDI pitch a PITCH token may take, pitch_low-127.
        seed: an int for reproducible draws, an existing
            :class:`numpy.random.Generator` to share its stream, or None for
            fresh OS entropy.
        max_duration_s: if given (seconds, > 0), DUR tokens whose bin is longer
            are never drawn; if even the shortest bin (10 ms) is longer, only
            the shortest bin is allowed.
        repetition_penalty: logits, after the temperature, subtracted from a
            pitch that would complete an interval pattern of
            ``repetition_ngram`` notes used ``repetition_max`` times in the
            last ``repetition_window`` remembered notes, and as much again for
            each further use: its odds against the other pitches fall by
            ``exp(-repetition_penalty * (uses - repetition_max + 1))``. 0-20;
            0 turns the guard off (draws are then exactly as without it).
        repetition_ngram: notes per pattern, 2-16 (4: three intervals).
        repetition_window: notes remembered, repetition_ngram-512.
        repetition_max: uses of a pattern that go unpenalised, >= 1.
        key_mask: ``off``; ``soft``: out-of-key pitches lose ``key_penalty``
            logits (after the temperature); ``strict``: they are never drawn,
            unless that would leave no pitch to draw (then the mask is
            ignored for that draw). No context, or one whose best key
            correlation is below :data:`KEY_MIN_CORRELATION`, masks nothing.
            ``palette``: no key template; each pitch gets ``key_penalty`` times
            the log of its pitch class's share of the context (duration
            weighted, the commonest class = 1, floored at :data:`PALETTE_FLOOR`),
            so the answer keeps the prompt's own tonal palette, modal or
            chromatic alike.
        key_penalty: logits for ``soft``, the weight for ``palette``, 0-20.
        context_notes: performer notes the key is estimated from (the most
            recent), >= 1.

    Raises:
        ValueError: ``temperature`` is not a finite number > 0, ``top_p`` is
            not in (0, 1], the pitch range is not ``0 <= pitch_low <=
            pitch_high <= 127``, ``max_duration_s`` is not > 0, a repetition
            or key setting is out of its range, or ``context_notes`` < 1.
    """

    def __init__(
        self,
        temperature: float,
        top_p: float,
        pitch_low: int,
        pitch_high: int,
        seed: int | np.random.Generator | None = None,
        *,
        max_duration_s: float | None = None,
        repetition_penalty: float = 0.0,
        repetition_ngram: int = 4,
        repetition_window: int = 32,
        repetition_max: int = 2,
        key_mask: str = "off",
        key_penalty: float = 1.0,
        context_notes: int = 50,
    ) -> None:
        if not _finite(temperature) or temperature <= 0:
            raise ValueError(f"temperature must be a finite number > 0 (received {temperature!r})")
        if not _finite(top_p) or not 0 < top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1] (received {top_p!r})")
        if not (_integer(pitch_low) and _integer(pitch_high)
                and 0 <= pitch_low <= pitch_high <= N_PITCHES - 1):
            raise ValueError("pitch range must satisfy 0 <= pitch_low <= pitch_high <= 127 "
                             f"(received pitch_low={pitch_low!r}, pitch_high={pitch_high!r})")
        if max_duration_s is not None and (not _finite(max_duration_s) or max_duration_s <= 0):
            raise ValueError(f"max_duration_s must be > 0 seconds (received {max_duration_s!r})")
        for name, value in (("repetition_penalty", repetition_penalty), ("key_penalty", key_penalty)):
            if not _finite(value) or not 0 <= value <= MAX_PENALTY_LOGITS:
                raise ValueError(f"{name} must be in [0, {MAX_PENALTY_LOGITS:g}] logits "
                                 f"(received {value!r})")
        if not (_integer(repetition_ngram) and _integer(repetition_window) and _integer(repetition_max)
                and 2 <= repetition_ngram <= repetition_window <= MAX_REPETITION_WINDOW
                and repetition_max >= 1):
            raise ValueError("repetition guard must satisfy 2 <= repetition_ngram <= repetition_window "
                             f"<= {MAX_REPETITION_WINDOW} and repetition_max >= 1 (received "
                             f"repetition_ngram={repetition_ngram!r}, repetition_window="
                             f"{repetition_window!r}, repetition_max={repetition_max!r})")
        if key_mask not in KEY_MASKS:
            raise ValueError(f"key_mask must be one of {', '.join(KEY_MASKS)} (received {key_mask!r})")
        if not _integer(context_notes) or context_notes < 1:
            raise ValueError(f"context_notes must be an integer >= 1 (received {context_notes!r})")
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.pitch_low = int(pitch_low)
        self.pitch_high = int(pitch_high)
        self.max_duration_s = None if max_duration_s is None else float(max_duration_s)
        self.repetition_penalty = float(repetition_penalty)
        self.repetition_ngram = int(repetition_ngram)
        self.repetition_window = int(repetition_window)
        self.repetition_max = int(repetition_max)
        self.key_mask = key_mask
        self.key_penalty = float(key_penalty)
        self.rng: np.random.Generator = np.random.default_rng(seed)
        self._inv_temperature = 1.0 / self.temperature

        masks = np.array(KIND_MASKS, copy=True)  # [Kind.COUNT, VOCAB_SIZE] bool
        pitch_ok = np.zeros_like(masks[Kind.PITCH])
        pitch_ok[PITCH_OFFSET + self.pitch_low:PITCH_OFFSET + self.pitch_high + 1] = True
        masks[Kind.PITCH] &= pitch_ok
        if self.max_duration_s is not None:
            too_long = np.flatnonzero(DURATION_BINS_S > self.max_duration_s + 1e-9)
            keep_from = 1 if len(too_long) == len(DURATION_BINS_S) else 0
            masks[Kind.DUR, DUR_OFFSET + too_long[keep_from:]] = False
        #: ``allowed[kind]`` is the int64 array of token ids a draw of that kind may return.
        self.allowed: tuple[np.ndarray, ...] = tuple(
            np.flatnonzero(masks[kind]).astype(np.int64) for kind in range(Kind.COUNT))
        assert all(len(ids) > 0 for ids in self.allowed)
        pitch_ids = self.allowed[Kind.PITCH]  # contiguous: position i is pitch_low + i
        assert np.array_equal(pitch_ids - PITCH_OFFSET, np.arange(self.pitch_low, self.pitch_high + 1))

        # [24, n_pitches] float64: the logit bias of each key over the allowed pitches
        in_key = _KEY_SCALES[:, (pitch_ids - PITCH_OFFSET) % N_PITCH_CLASSES]
        outside = -math.inf if key_mask == "strict" else -self.key_penalty
        self._key_biases = np.where(in_key, 0.0, outside)
        self._key_usable = in_key.any(axis=1)  # [24] bool: False = the mask would leave nothing
        self._key_bias: np.ndarray | None = None  # the current key's row, or None
        self._context: deque[tuple[int, float]] = deque(maxlen=int(context_notes))
        self._recent: deque[int] = deque(maxlen=MAX_REPETITION_WINDOW)  # pitches, for with_preset
        self._guard = (_RepetitionGuard(self.repetition_ngram, self.repetition_window,
                                        self.repetition_max, self.repetition_penalty)
                       if self.repetition_penalty > 0 else None)
        self._pitch_kind = int(Kind.PITCH)
        self._key_soft = key_mask in ("soft", "palette")
        self._pitch_classes = (pitch_ids - PITCH_OFFSET) % N_PITCH_CLASSES  # [n_pitches]

    @classmethod
    def from_preset(cls, preset: Preset, seed: int | np.random.Generator | None = None) -> Sampler:
        """The sampler a preset asks for (temperature, top-p, ranges, repetition guard, key mask)."""
        return cls(preset.temperature, preset.top_p, preset.pitch_low, preset.pitch_high, seed,
                   max_duration_s=preset.max_duration_s,
                   repetition_penalty=preset.repetition_penalty,
                   repetition_ngram=preset.repetition_ngram,
                   repetition_window=preset.repetition_window,
                   repetition_max=preset.repetition_max,
                   key_mask=preset.key_mask, key_penalty=preset.key_penalty,
                   context_notes=preset.context_notes)

    def with_preset(self, preset: Preset) -> Sampler:
        """A sampler for ``preset`` that shares this one's random stream and memory.

        The context notes and the remembered pitches carry over, so a preset
        change in the middle of a response keeps the key and the guard's
        counts (within the new preset's window).

        Args:
            preset: the new preset.

        Returns:
            The new sampler (this one is left as it was, its stream shared).
        """
        other = Sampler.from_preset(preset, self.rng)
        other._context.extend(self._context)
        other._recent.extend(self._recent)
        if other._guard is not None:
            for pitch in list(self._recent)[-other.repetition_window:]:
                other._guard.push(pitch)
        other._update_key()
        return other

    @property
    def key(self) -> Key | None:
        """The key of the context notes (:func:`estimate_key`; None: no notes or no key).

        Estimated on each access; the mask's own estimate is made once per context change.
        """
        if not self._context:
            return None
        pitches, durations = zip(*self._context)
        return estimate_key(pitches, durations)

    def set_context(self, notes: Iterable[Note]) -> None:
        """Forget everything remembered; take ``notes`` (onset order) as the performer's context.

        Costs O(len(notes)) (~50 µs for 50 notes): call it when the context
        is replaced (reset, restore after a response), not per token.

        Args:
            notes: the performer's notes; the last ``context_notes`` set the
                key, the last ``repetition_window`` start the guard's memory.
        """
        notes = list(notes)
        self._context.clear()
        self._context.extend((note.pitch, note.duration_s) for note in notes)
        pitches = [note.pitch for note in notes]
        self._recent.clear()
        self._recent.extend(pitches)
        if self._guard is not None:
            self._guard.clear()
            for pitch in pitches[-self.repetition_window:]:
                self._guard.push(pitch)
        self._update_key()

    def add_context(self, note: Note) -> None:
        """One more performer note: remember its pitch and estimate the key again.

        Costs ~20 µs with a key mask, under 1 µs without.

        Args:
            note: the note just primed (its pitch and duration_s are used).
        """
        self._context.append((note.pitch, note.duration_s))
        self.remember(note.pitch)
        self._update_key()

    def remember(self, pitch: int) -> None:
        """One more note of the line for the repetition guard (~1.3 µs).

        Args:
            pitch: the MIDI pitch (0-127) just generated.
        """
        self._recent.append(pitch)
        if self._guard is not None:
            self._guard.push(pitch)

    def repetition_penalties(self) -> dict[int, float]:
        """What the repetition guard will take from the next PITCH draw.

        Returns:
            ``{pitch: logits}``, empty when the guard is off or nothing repeats.
            A pitch may lie outside ``[pitch_low, pitch_high]`` (even outside
            0-127); the draw ignores those.
        """
        return dict(self._guard.penalties) if self._guard is not None else {}

    def _update_key(self) -> None:
        """The key mask's bias for the current context (None: no mask)."""
        self._key_bias = None
        if self.key_mask == "off" or not self._context:
            return
        pitches, durations = zip(*self._context)
        if self.key_mask == "palette":
            share = np.bincount(np.asarray(pitches, dtype=np.int64) % N_PITCH_CLASSES,
                                weights=np.asarray(durations, dtype=np.float64),
                                minlength=N_PITCH_CLASSES)
            if share.max() > 0:
                share = np.maximum(share / share.max(), PALETTE_FLOOR)
                self._key_bias = self.key_penalty * np.log(share)[self._pitch_classes]
            return
        key = estimate_key(pitches, durations)
        if key is None or key.correlation < KEY_MIN_CORRELATION:
            return
        row = MODES.index(key.mode) * N_PITCH_CLASSES + key.tonic
        if self._key_usable[row]:
            self._key_bias = self._key_biases[row]

    def sample(self, logits: np.ndarray, kind: int) -> int:
        """Draw one token id of ``kind``.

        Only tokens of ``kind`` are candidates (:data:`livegen.tokens.KIND_MASKS`),
        narrowed for PITCH to ``[pitch_low, pitch_high]`` and for DUR to bins
        no longer than ``max_duration_s``. Their logits are divided by the
        temperature; for PITCH the repetition guard's and the key mask's
        penalties are subtracted; then they are softmaxed, cut to the top-p
        nucleus and drawn from. Should every candidate logit be non-finite
        (NaN or ±inf), the draw is uniform over the candidates rather than an
        error: the hot loop never raises on model output.

        Args:
            logits: float array [VOCAB_SIZE], the model's output for the next token.
            kind: the :class:`livegen.tokens.Kind` the grammar expects
                (:func:`livegen.tokens.next_kind`).

        Returns:
            A token id in ``[0, VOCAB_SIZE)`` of that kind.
        """
        ids = self.allowed[kind]
        scaled = logits[ids].astype(np.float64) * self._inv_temperature
        if kind == self._pitch_kind:
            guard = self._guard
            if guard is not None and guard.penalties:
                low, count = self.pitch_low, len(scaled)
                for pitch, penalty in guard.penalties:
                    if 0 <= pitch - low < count:
                        scaled[pitch - low] -= penalty
            bias = self._key_bias
            if bias is not None:
                if self._key_soft:  # finite: cannot mask every pitch
                    scaled += bias
                else:
                    biased = scaled + bias
                    if math.isfinite(biased.max()):  # never mask every pitch
                        scaled = biased
        peak = scaled.max()
        if not math.isfinite(peak):
            return int(ids[self.rng.integers(len(ids))])
        weights = np.exp(scaled - peak)  # a -inf logit becomes weight 0
        if self.top_p < 1.0:
            order = np.argsort(-weights, kind="stable")  # ties: lower token id first, like argmax
            cumulative = np.cumsum(weights[order])
            keep = int(np.searchsorted(cumulative, self.top_p * cumulative[-1])) + 1
            keep = min(keep, len(order))
            draw = self.rng.random() * cumulative[keep - 1]
            index = min(int(np.searchsorted(cumulative[:keep], draw, side="right")), keep - 1)
            return int(ids[order[index]])
        cumulative = np.cumsum(weights)
        draw = self.rng.random() * cumulative[-1]
        index = min(int(np.searchsorted(cumulative, draw, side="right")), len(ids) - 1)
        return int(ids[index])


def _finite(value: object) -> bool:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def _integer(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)
