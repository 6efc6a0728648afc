"""The model under the preset's style: one style's steps, or style guidance over the styles it needs.

:class:`StyledModel` is how the generator (:class:`livegen.generation.Generator`)
steps a model: with ``style_guidance`` 0 it runs the model under
``preset.conditioning.style``; above 0 it runs the sequence under the styles guidance
reads at once (one batched run when the model has ``step_styles``, else one run
per style kept in :class:`StyleStates`) and pushes the preset's style away
from the others (:func:`guide_logits`). Those styles are the preset's own and its
``style_contrast`` when it names some (2 rows for the shipped classical and
romantic), else every style of the model (their mean is the reference). With
``guidance_register: player`` the push leaves the register to the player
(:func:`level_register`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from livegen.errors import ModelError
from livegen.presets import Preset
from livegen.tokens import N_PITCHES, PITCH_OFFSET, Kind, next_kind

__all__ = ["StepModel", "StyledModel", "StyleStates", "guide_logits", "level_register", "contrast_ids",
           "REGISTER_SPAN"]

#: Semitones either side of the style's expected pitch over which ``guidance_register: player``
#: takes the guidance's tilt out (:func:`level_register`); beyond, the correction stays at its
#: value there. Unbounded, it lifted pitches far from the answer's by many logits and the
#: answers leapt across the range (docs/adherence.md, twenty-first round: classical's top-line steps
#: over an octave on the dev set 0.09 unbounded, 0.07 bounded as guidance 4 alone, 0.05 at guidance 3).
REGISTER_SPAN = 12
_PITCHES = np.arange(N_PITCHES, dtype=np.float64)


class StepModel(Protocol):
    """What the engine needs of a model (:class:`livegen.model.Model` has it)."""

    styles: tuple[str, ...]

    def style_id(self, style: str) -> int: ...

    def initial_state(self) -> Any: ...

    def step(self, token: int, state: Any, style: int) -> tuple[np.ndarray, Any]: ...


@dataclass(frozen=True)
class StyleStates:
    """One sequence's recurrent states under every style of the model (style guidance).

    Attributes:
        states: the model state per style, index = style id.
    """

    states: tuple[Any, ...]

    def copy(self) -> StyleStates:
        """An independent copy (each state copied)."""
        return StyleStates(tuple(state.copy() for state in self.states))


def level_register(push: np.ndarray, own: np.ndarray, span: float = REGISTER_SPAN) -> None:
    """Take the tilt over pitch out of a guidance push, in place: the style's pitches, not its register.

    Guidance pushes a style's pitch logits away from other styles' partly as a slope over
    pitch (a style that sits higher lifts every higher pitch), which moves the answer out of
    the player's register. The slope is the least-squares line of the push against pitch,
    weighted by the style's own pitch distribution (softmax of ``own``), and is subtracted
    within ``span`` semitones of that distribution's mean pitch (beyond, the correction is
    held at its value at the edge); what is left of the push (which scale degrees, which
    steps) is kept.

    Args:
        push: float32 [vocab], the guidance push (style logits less the reference); its
            PITCH tokens are changed.
        own: float32 [vocab], the style's own logits.
        span: semitones, > 0.
    """
    pitches = slice(PITCH_OFFSET, PITCH_OFFSET + N_PITCHES)
    logits = own[pitches].astype(np.float64)
    weights = np.exp(logits - logits.max())
    weights /= weights.sum()
    centre = weights @ _PITCHES
    offsets = _PITCHES - centre
    spread = weights @ (offsets * offsets)
    if not spread > 1e-9:  # one pitch possible: no slope
        return
    values = push[pitches].astype(np.float64)
    slope = (weights * offsets) @ (values - weights @ values) / spread
    push[pitches] = values - slope * np.clip(offsets, -span, span)


def guide_logits(logits: np.ndarray, style: int, weight: float,
                 against: Sequence[int] = (), register_span: float = 0.0) -> np.ndarray:
    """Style guidance: push one style's logits away from the mean over styles.

    ``l[style] + weight * (l[style] - mean over styles of l)``, as classifier-free
    guidance (Ho & Salimans 2022, "Classifier-Free Diffusion Guidance") with the
    style mean standing in for the unconditional model. With ``against``, the
    mean is over those styles only: a negative prompt, pushing away from the
    styles named rather than from the average. A constant added to a
    style's logits (a different softmax normaliser) shifts all of that style's
    tokens alike, so the sampler's per-kind softmax is unaffected by it.

    Args:
        logits: float32 [n_styles, vocab], the next-token logits under each style.
        style: the row to guide.
        weight: guidance weight >= 0 (0 returns the style's own logits).
        against: style rows to push away from (empty: all rows).
        register_span: above 0, the push's tilt over pitch is taken out within this many
            semitones (:func:`level_register`); 0: the push as it is.

    Returns:
        float32 [vocab].
    """
    own = logits[style]
    if weight == 0:
        return own
    if len(against) == 1:  # the mean of one row is that row
        reference = logits[against[0]]
    else:  # ndarray.mean's own steps (a sum, then a division by an intp count), without its wrapper
        rows = logits[list(against)] if len(against) else logits
        reference = np.add.reduce(rows, axis=0)
        np.true_divide(reference, np.intp(len(rows)), out=reference, casting="unsafe")
    out = own - reference
    if register_span:
        level_register(out, own, register_span)
    out *= weight
    out += own
    return out.astype(np.float32, copy=False)


def contrast_ids(model: Any, preset: Preset) -> tuple[int, ...]:
    """The style ids of ``preset.conditioning.style_contrast``.

    Args:
        model: a step model (:class:`livegen.generation.StepModel`).
        preset: names the styles.

    Raises:
        ModelError: the model lacks one of them (the message names the preset key).
    """
    try:
        return tuple(model.style_id(name) for name in preset.conditioning.style_contrast)
    except ModelError as exc:
        raise ModelError(f"preset {preset.name!r}: style_contrast: {exc}") from None


class StyledModel:
    """A step model run under one preset's style, with its style guidance.

    Args:
        model: a step model (:class:`livegen.generation.StepModel`); with
            guidance, its optional ``step_styles``/``initial_style_states``
            (:class:`livegen.model.Model`) run every style in one batch.
        preset: ``style``, ``style_guidance`` and ``style_contrast``.

    Raises:
        ModelError: the model has no style ``preset.conditioning.style`` or one named in ``style_contrast``.

    Attributes:
        model: the step model.
        style: the style id of ``preset.conditioning.style``.
        against: the style ids guidance pushes away from (empty: the mean of all).
        weight: the guidance weight, >= 0.
        register_span: :data:`REGISTER_SPAN` with ``guidance_register: player``, else 0.
        guided: True when the weight is above 0 (the styles in :attr:`rows` are run).
        rows: the style ids run when guided, in batch order: ``style`` then the
            ``against`` ones, or every style of the model when ``against`` is empty.
    """

    def __init__(self, model: Any, preset: Preset) -> None:
        self.model = model
        self.style = model.style_id(preset.conditioning.style)
        self.against = contrast_ids(model, preset)
        self.weight = preset.conditioning.style_guidance
        self.register_span = REGISTER_SPAN if preset.conditioning.guidance_register == "player" else 0
        self.guided = self.weight > 0
        if self.against:
            self.rows: tuple[int, ...] = tuple(dict.fromkeys((self.style, *self.against)))
        else:
            self.rows = tuple(range(len(model.styles)))
        self._own = self.rows.index(self.style)  # guide_logits on the rows run
        self._against = tuple(self.rows.index(style) for style in self.against)
        self._batched = hasattr(model, "step_styles")

    def same_state(self, other: StyledModel) -> bool:
        """Whether a state primed under ``other`` serves this one (same style; unguided both,
        or guided both over the same styles)."""
        return (self.style == other.style and self.guided == other.guided
                and (not self.guided or self.rows == other.rows))

    def initial_state(self) -> Any:
        """A zero state: the model's own, or one per style of :attr:`rows` (:class:`StyleStates`, a batch)."""
        model = self.model
        if not self.guided:
            return model.initial_state()
        if self._batched:  # one batched run for the styles
            return model.initial_style_states(self.rows)
        return StyleStates(tuple(model.initial_state() for _ in self.rows))

    def step(self, token: int, state: Any) -> tuple[np.ndarray, Any]:
        """Feed one token.

        Args:
            token: token id.
            state: from :meth:`initial_state` or a previous step (not modified).

        Returns:
            ``(logits float32 [vocab], new_state)``: the style's logits, guided.
        """
        model = self.model
        if not self.guided:
            return model.step(token, state, self.style)
        if isinstance(state, StyleStates):
            steps = [model.step(token, one, style) for style, one in zip(self.rows, state.states)]
            state = StyleStates(tuple(one for _, one in steps))
            every = np.stack([logits for logits, _ in steps])
        else:
            every, state = model.step_styles(token, state, self.rows)
        span = self.register_span if next_kind(token) == Kind.PITCH else 0  # only a pitch draw reads it
        return guide_logits(every, self._own, self.weight, self._against, span), state
