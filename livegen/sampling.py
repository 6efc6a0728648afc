"""Sampling one token from the model's logits: grammar, masks, guard, temperature, top-p.

A :class:`Sampler` runs once per generated token, so everything that does not
depend on the logits (which token ids each kind allows, after the pitch-range
and longest-duration limits; the pitch bias of each of the 24 keys) is
computed once in the constructor; :meth:`Sampler.sample` only gathers the
allowed logits, applies the temperature, the repetition guard
(:mod:`livegen.repetition`) and the key mask (keys from :mod:`livegen.keys`),
and draws from the nucleus with a seeded numpy :class:`numpy.random.Generator`.
Its settings are one :class:`livegen.sections.SamplingConfig`, the ``sampling``
section of a preset, checked once when it is built.

Nucleus (top-p) sampling is from Holtzman et al., 2020, "The Curious Case of
Neural Text Degeneration": keep the smallest set of most likely tokens whose
probability mass reaches ``top_p``, renormalise, draw.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from livegen.keys import KEY_MIN_CORRELATION, KEY_SCALES, N_PITCH_CLASSES, Key, estimate_key, key_row
from livegen.notes import Note
from livegen.repetition import MAX_REPETITION_WINDOW, RepetitionGuard
from livegen.sections import SamplingConfig
from livegen.tokens import DUR_OFFSET, DURATION_BINS_S, KIND_MASKS, PITCH_OFFSET, Kind

if TYPE_CHECKING:
    from livegen.presets import Preset

__all__ = ["Sampler", "PALETTE_FLOOR", "REGISTER_SLOPE"]

#: ``palette`` key mask: a pitch class the context never (or hardly) holds counts as this
#: share of the commonest one, so its bias is ``key_penalty * ln(0.1)``, finite. Chosen
#: on the validation split (key distance to the prompt 1.26x real with ``soft``, 1.05x
#: with ``palette`` at key_penalty 0.5 and this floor; 1.18x at key_penalty 1.0).
PALETTE_FLOOR = 0.1
#: ``register_window``'s wall: logits (after the temperature) a pitch loses per semitone beyond
#: the performer's range widened by the window (12 beyond: -6, odds e^-6 against).
REGISTER_SLOPE = 0.5


class Sampler:
    """Draws one token of a given kind from a logits vector.

    Besides the logits, a PITCH draw depends on what the sampler was told of
    the music: the performer's context notes (:meth:`set_context`,
    :meth:`add_context`) set the key of the key mask; those notes' pitches and
    every generated pitch (:meth:`remember`) feed the repetition guard.

    Args:
        config: the settings, checked when it was built
            (:class:`livegen.sections.SamplingConfig`).
        seed: an int for reproducible draws, an existing
            :class:`numpy.random.Generator` to share its stream, or None for
            fresh OS entropy.
        context_notes: performer notes the key is estimated from (the most
            recent), a preset's ``context_notes`` (1-512, checked by
            :class:`livegen.presets.Preset`).

    Attributes:
        config: the settings.
        rng: the random stream draws come from.
        allowed: ``allowed[kind]`` is the int64 array of token ids a draw of
            that kind may return (after the pitch-range and duration limits).
    """

    def __init__(self, config: SamplingConfig, seed: int | np.random.Generator | None = None, *,
                 context_notes: int = 50) -> None:
        self.config = config
        self.rng: np.random.Generator = np.random.default_rng(seed)
        self._inv_temperature = 1.0 / config.temperature
        self._low = config.pitch_low
        self._top_p = float(config.top_p)

        masks = np.array(KIND_MASKS, copy=True)  # [Kind.COUNT, VOCAB_SIZE] bool
        pitch_ok = np.zeros_like(masks[Kind.PITCH])
        pitch_ok[PITCH_OFFSET + config.pitch_low:PITCH_OFFSET + config.pitch_high + 1] = True
        masks[Kind.PITCH] &= pitch_ok
        too_long = np.flatnonzero(DURATION_BINS_S > config.max_duration_s + 1e-9)
        keep_from = 1 if len(too_long) == len(DURATION_BINS_S) else 0
        masks[Kind.DUR, DUR_OFFSET + too_long[keep_from:]] = False
        self.allowed: tuple[np.ndarray, ...] = tuple(
            np.flatnonzero(masks[kind]).astype(np.int64) for kind in range(Kind.COUNT))
        assert all(len(ids) > 0 for ids in self.allowed)
        # each kind's allowed ids are one run of the vocabulary (the kind's, cut at both
        # ends for PITCH and at the long end for DUR): a draw reads a slice, no gather
        self._runs = tuple(slice(int(ids[0]), int(ids[-1]) + 1) for ids in self.allowed)
        assert all(run.stop - run.start == len(ids) for run, ids in zip(self._runs, self.allowed))
        pitch_ids = self.allowed[Kind.PITCH]  # contiguous: position i is pitch_low + i
        assert np.array_equal(pitch_ids - PITCH_OFFSET,
                              np.arange(config.pitch_low, config.pitch_high + 1))

        # [24, n_pitches] float64: the logit bias of each key over the allowed pitches
        in_key = KEY_SCALES[:, (pitch_ids - PITCH_OFFSET) % N_PITCH_CLASSES]
        outside = -math.inf if config.key_mask == "strict" else -config.key_penalty
        self._key_biases = np.where(in_key, 0.0, outside)
        self._key_usable = in_key.any(axis=1)  # [24] bool: False = the mask would leave nothing
        self._key_bias: np.ndarray | None = None  # the current key's row, or None
        self._context: deque[tuple[int, float]] = deque(maxlen=int(context_notes))
        self._recent: deque[int] = deque(maxlen=MAX_REPETITION_WINDOW)  # pitches, for with_preset
        self._guard = (RepetitionGuard(config.repetition_ngram, config.repetition_window,
                                       config.repetition_max, config.repetition_penalty)
                       if config.repetition_penalty > 0 else None)
        self._pitch_kind = int(Kind.PITCH)
        self._key_soft = config.key_mask in ("soft", "palette")
        self._pitch_classes = (pitch_ids - PITCH_OFFSET) % N_PITCH_CLASSES  # [n_pitches]
        self._pitch_values = pitch_ids - PITCH_OFFSET  # [n_pitches] int64, MIDI pitches

    @classmethod
    def from_preset(cls, preset: Preset, seed: int | np.random.Generator | None = None) -> Sampler:
        """The sampler a preset asks for: its ``sampling`` section and ``context_notes``.

        Args:
            preset: a validated preset.
            seed: as for :class:`Sampler`.
        """
        return cls(preset.sampling, seed, context_notes=preset.context_notes)

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
            for pitch in list(self._recent)[-other.config.repetition_window:]:
                other._guard.push(pitch)
        other._update_key()
        return other

    @property
    def temperature(self) -> float:
        """The softmax temperature draws use (``config.temperature``)."""
        return self.config.temperature

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
            for pitch in pitches[-self.config.repetition_window:]:
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
        """The pitch bias for the current context: the key mask's plus the register window's.

        ``self._key_bias``: float64 [n_pitches], or None when neither applies.
        """
        key, register = self._key_part(), self._register_part()
        self._key_bias = key if register is None else register if key is None else key + register

    def _key_part(self) -> np.ndarray | None:
        """The key mask's bias for the current context (None: no mask)."""
        mask = self.config.key_mask
        if mask == "off" or not self._context:
            return None
        pitches, durations = zip(*self._context)
        if mask == "palette":
            share = np.bincount(np.asarray(pitches, dtype=np.int64) % N_PITCH_CLASSES,
                                weights=np.asarray(durations, dtype=np.float64),
                                minlength=N_PITCH_CLASSES)
            if share.max() > 0:
                share = np.maximum(share / share.max(), PALETTE_FLOOR)
                return self.config.key_penalty * np.log(share)[self._pitch_classes]
            return None
        key = estimate_key(pitches, durations)
        if key is None or key.correlation < KEY_MIN_CORRELATION:
            return None
        row = key_row(key)
        return self._key_biases[row] if self._key_usable[row] else None

    def _register_part(self) -> np.ndarray | None:
        """The register window's bias: -REGISTER_SLOPE per semitone beyond the context's range
        widened by ``register_window`` (None: off, no context, or nothing beyond)."""
        window = self.config.register_window
        if not window or not self._context:
            return None
        pitches = [pitch for pitch, _ in self._context]
        low, high = min(pitches) - window, max(pitches) + window
        beyond = np.maximum(low - self._pitch_values, 0) + np.maximum(self._pitch_values - high, 0)
        return -REGISTER_SLOPE * beyond.astype(np.float64) if beyond.any() else None

    def sample(self, logits: np.ndarray, kind: int) -> int:
        """Draw one token id of ``kind``.

        Only tokens of ``kind`` are candidates (:data:`livegen.tokens.KIND_MASKS`),
        narrowed for PITCH to ``[pitch_low, pitch_high]`` and for DUR to bins
        no longer than ``max_duration_s``. Their logits are divided by the
        temperature; for PITCH the repetition guard's, the key mask's and the register window's
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
        run = self._runs[kind]
        scaled = logits[run].astype(np.float64)
        scaled *= self._inv_temperature
        if kind == self._pitch_kind:
            guard = self._guard
            if guard is not None and guard.penalties:
                low, count = self._low, len(scaled)
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
            return run.start + int(self.rng.integers(run.stop - run.start))
        scaled -= peak
        weights = np.exp(scaled, out=scaled)  # a -inf logit becomes weight 0
        top_p = self._top_p
        if top_p < 1.0:
            order = (-weights).argsort(kind="stable")  # ties: lower token id first, like argmax
            cumulative = weights[order]
            cumulative.cumsum(out=cumulative)
            keep = min(int(cumulative.searchsorted(top_p * cumulative[-1])) + 1, len(order))
            draw = self.rng.random() * cumulative[keep - 1]
            index = min(int(cumulative[:keep].searchsorted(draw, side="right")), keep - 1)
            return run.start + int(order[index])
        cumulative = weights.cumsum(out=weights)
        draw = self.rng.random() * cumulative[-1]
        index = min(int(cumulative.searchsorted(draw, side="right")), len(weights) - 1)
        return run.start + index
