"""Tests of livegen.guidance: the model run under the preset's style, with style guidance."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import STYLES, FakeModel
from rig import PRESET

from livegen.errors import ModelError, PresetError
from livegen.guidance import REGISTER_SPAN, StyledModel, StyleStates, guide_logits
from livegen.tokens import N_PITCHES, PITCH_OFFSET, VOCAB_SIZE


def test_without_guidance_a_styled_model_is_the_model_under_its_style():
    styled = StyledModel(FakeModel(), PRESET.replace(style="romantic"))
    assert not styled.guided and styled.style == STYLES.index("romantic")
    logits, state = styled.step(5, styled.initial_state())
    reference = FakeModel()
    expected, _ = reference.step(5, reference.initial_state(), STYLES.index("romantic"))
    np.testing.assert_array_equal(logits, expected)


class _Counting(FakeModel):
    """Counts the steps taken under each style."""

    def __init__(self) -> None:
        super().__init__()
        self.per_style = [0] * len(STYLES)

    def step(self, token, state, style):
        self.per_style[style] += 1
        return super().step(token, state, style)


def test_with_a_contrast_only_the_style_and_the_contrast_are_stepped():
    """Issue 14: guidance against named styles needs those rows and the style's own, no more."""
    preset = PRESET.replace(style="baroque", style_guidance=1.5, style_contrast=("folk",))
    model = _Counting()
    styled = StyledModel(model, preset)
    logits, state = styled.step(7, styled.initial_state())
    logits, state = styled.step(9, state)
    baroque, folk = STYLES.index("baroque"), STYLES.index("folk")
    assert model.per_style == [2 if k in (baroque, folk) else 0 for k in range(len(STYLES))]
    assert len(state.states) == 2
    without = StyledModel(model, preset.replace(style_contrast=()))
    assert len(without.initial_state().states) == len(STYLES)  # the mean of every style
    assert not styled.same_state(without)  # a state of 2 styles does not serve 6


def test_with_guidance_the_styles_it_needs_are_stepped_and_the_logits_guided():
    preset = PRESET.replace(style="baroque", style_guidance=1.5, style_contrast=("folk",))
    styled = StyledModel(FakeModel(), preset)
    state = styled.initial_state()
    assert styled.guided and isinstance(state, StyleStates) and len(state.states) == 2
    logits, new = styled.step(7, state)
    reference = FakeModel()
    rows = [reference.step(7, reference.initial_state(), k)[0] for k in range(len(STYLES))]
    np.testing.assert_allclose(logits, guide_logits(np.stack(rows), STYLES.index("baroque"), 1.5,
                                                    (STYLES.index("folk"),)), rtol=1e-6)
    assert new is not state and not any(s.h.any() for s in state.states)  # not modified
    copy = new.copy()
    assert copy.states[0] is not new.states[0] and np.array_equal(copy.states[0].h, new.states[0].h)


def test_a_state_serves_another_preset_with_the_same_style_and_guidance_on_or_off():
    model = FakeModel()
    plain = StyledModel(model, PRESET)
    assert plain.same_state(StyledModel(model, PRESET.replace(temperature=0.5)))
    assert not plain.same_state(StyledModel(model, PRESET.replace(style="folk")))
    guided = StyledModel(model, PRESET.replace(style_guidance=1.0))
    assert not plain.same_state(guided)
    assert guided.same_state(StyledModel(model, PRESET.replace(style_guidance=2.0)))


def test_unknown_styles_raise_model_error_naming_the_preset_key():
    with pytest.raises(ModelError, match="no style"):
        StyledModel(FakeModel(), PRESET.replace(style="jazz"))
    with pytest.raises(ModelError, match="style_contrast"):
        StyledModel(FakeModel(), PRESET.replace(style_guidance=1.0, style_contrast=("jazz",)))


def _pitch_logits(values: np.ndarray) -> np.ndarray:
    """A vocab row with ``values`` [128] on the PITCH tokens, 0 elsewhere."""
    row = np.zeros(VOCAB_SIZE, np.float32)
    row[PITCH_OFFSET:PITCH_OFFSET + N_PITCHES] = values
    return row


def _mean_pitch(logits: np.ndarray) -> float:
    values = logits[PITCH_OFFSET:PITCH_OFFSET + N_PITCHES].astype(np.float64)
    p = np.exp(values - values.max())
    return float(p @ np.arange(N_PITCHES) / p.sum())


def test_guidance_that_keeps_the_players_register_takes_out_the_tilt_and_keeps_the_rest():
    """A style that sits higher pushes every higher pitch up; with the register left to the
    player the answer's expected pitch stays near the style's own, and a push on one pitch
    class (what the style prefers among the pitches) survives."""
    pitches = np.arange(N_PITCHES)
    own = _pitch_logits(-0.5 * ((pitches - 60) / 4.0) ** 2)  # the style row, centred on C4
    degree = np.where(pitches % 12 == 7, 1.0, 0.0)  # the style likes G more than the others do
    other = _pitch_logits(-0.5 * ((pitches - 60) / 4.0) ** 2 - 0.15 * (pitches - 60) - degree)
    rows = np.stack([own, other])
    plain = guide_logits(rows, 0, 3.0, (1,))
    level = guide_logits(rows, 0, 3.0, (1,), register_span=REGISTER_SPAN)
    assert _mean_pitch(plain) > _mean_pitch(own) + 3  # the tilt moves the register
    assert abs(_mean_pitch(level) - _mean_pitch(own)) < 0.5
    push = level - own
    g, a = PITCH_OFFSET + 67, PITCH_OFFSET + 69  # G4 against A4: the degree's push is kept
    assert push[g] - push[a] == pytest.approx(3.0, abs=0.2)
    step = push[PITCH_OFFSET + 1:PITCH_OFFSET + N_PITCHES] - push[PITCH_OFFSET:PITCH_OFFSET + N_PITCHES - 1]
    near = [p for p in range(55, 65) if p % 12 not in (6, 7)]  # semitone steps within the span, off G
    far = [p for p in range(80, 90) if p % 12 not in (6, 7)]  # beyond it the correction is held
    np.testing.assert_allclose(step[near], 0.0, atol=0.05)
    np.testing.assert_allclose(step[far], 3.0 * 0.15, atol=0.05)
    np.testing.assert_array_equal(level[:PITCH_OFFSET], plain[:PITCH_OFFSET])  # other kinds untouched


def test_a_styled_model_levels_the_register_only_when_the_preset_says_player():
    preset = PRESET.replace(style="baroque", style_guidance=2.0, style_contrast=("folk",))
    styled = StyledModel(FakeModel(), preset)
    levelled = StyledModel(FakeModel(), preset.replace(guidance_register="player"))
    assert styled.register_span == 0 and levelled.register_span == REGISTER_SPAN
    reference = FakeModel()
    rows = np.stack([reference.step(7, reference.initial_state(), k)[0] for k in range(len(STYLES))])
    baroque, folk = STYLES.index("baroque"), STYLES.index("folk")
    np.testing.assert_allclose(levelled.step(7, levelled.initial_state())[0],
                               guide_logits(rows, baroque, 2.0, (folk,), REGISTER_SPAN), rtol=1e-6)
    pitch = PITCH_OFFSET + 60  # a velocity comes next: no pitch is drawn from these logits
    rows = np.stack([reference.step(pitch, reference.initial_state(), k)[0] for k in range(len(STYLES))])
    np.testing.assert_allclose(levelled.step(pitch, levelled.initial_state())[0],
                               guide_logits(rows, baroque, 2.0, (folk,)), rtol=1e-6)


def test_guidance_register_accepts_style_or_player_only():
    with pytest.raises(PresetError, match="guidance_register"):
        PRESET.replace(guidance_register="high")
