"""Sampling one token from the model's logits: grammar, range masks, temperature, top-p.

A :class:`Sampler` runs once per generated token, so everything that does not
depend on the logits (which token ids each kind allows, after the pitch-range
and longest-duration limits) is computed once in the constructor; :meth:`sample`
only gathers the allowed logits, applies the temperature and draws from the
nucleus with a seeded numpy :class:`numpy.random.Generator`.

Nucleus (top-p) sampling is from Holtzman et al., 2020, "The Curious Case of
Neural Text Degeneration": keep the smallest set of most likely tokens whose
probability mass reaches ``top_p``, renormalise, draw.
"""

from __future__ import annotations

import math

import numpy as np

from livegen.presets import Preset
from livegen.tokens import (
    DUR_OFFSET,
    DURATION_BINS_S,
    KIND_MASKS,
    PITCH_OFFSET,
    Kind,
)

__all__ = ["Sampler"]

N_PITCHES = 128


class Sampler:
    """Draws one token of a given kind from a logits vector.

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

    Raises:
        ValueError: ``temperature`` is not a finite number > 0, ``top_p`` is
            not in (0, 1], the pitch range is not ``0 <= pitch_low <=
            pitch_high <= 127``, or ``max_duration_s`` is not > 0.
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
        self.temperature = float(temperature)
        self.top_p = float(top_p)
        self.pitch_low = int(pitch_low)
        self.pitch_high = int(pitch_high)
        self.max_duration_s = None if max_duration_s is None else float(max_duration_s)
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

    @classmethod
    def from_preset(cls, preset: Preset, seed: int | np.random.Generator | None = None) -> Sampler:
        """The sampler a preset asks for (temperature, top-p, pitch range, longest note)."""
        return cls(preset.temperature, preset.top_p, preset.pitch_low, preset.pitch_high, seed,
                   max_duration_s=preset.max_duration_s)

    def sample(self, logits: np.ndarray, kind: int) -> int:
        """Draw one token id of ``kind``.

        Only tokens of ``kind`` are candidates (:data:`livegen.tokens.KIND_MASKS`),
        narrowed for PITCH to ``[pitch_low, pitch_high]`` and for DUR to bins
        no longer than ``max_duration_s``. Their logits are divided by the
        temperature, softmaxed, cut to the top-p nucleus and drawn from.
        Should every candidate logit be non-finite (NaN or ±inf), the draw is
        uniform over the candidates rather than an error: the hot loop never
        raises on model output.

        Args:
            logits: float array [VOCAB_SIZE], the model's output for the next token.
            kind: the :class:`livegen.tokens.Kind` the grammar expects
                (:func:`livegen.tokens.next_kind`).

        Returns:
            A token id in ``[0, VOCAB_SIZE)`` of that kind.
        """
        ids = self.allowed[kind]
        scaled = logits[ids].astype(np.float64) * self._inv_temperature
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
