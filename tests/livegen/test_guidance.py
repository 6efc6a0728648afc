"""Tests of livegen.guidance: the model run under the preset's style, with style guidance."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import STYLES, FakeModel
from rig import PRESET

from livegen.errors import ModelError
from livegen.guidance import StyledModel, StyleStates, guide_logits


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
