"""Tests of livegen.sections: each preset section checks its own fields, once, when built."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from livegen.errors import PresetError
from livegen.sections import (
    MAX_TEMPERATURE,
    AnswerConfig,
    ControlConfig,
    SamplingConfig,
    StyleConfig,
    TimingConfig,
    TriggerConfig,
)


@pytest.mark.parametrize(("cls", "changes", "message"), [
    (TriggerConfig, {"trigger": "clock"}, "trigger must be one of silence, bars, continuous, cc, note "
                                          "(received 'clock')"),
    (TriggerConfig, {"silence_s": 31}, "silence_s must be in (0, 30] seconds (received 31.0)"),
    (TriggerConfig, {"trigger_bars": 65}, "trigger_bars must be an integer 1-64 (received 65)"),
    (TriggerConfig, {"trigger_cc": 64}, "trigger_cc must be an integer 0-119 other than 64"),
    (TriggerConfig, {"trigger_note": -1}, "trigger_note must be an integer 0-127 (received -1)"),
    (TriggerConfig, {"silence_adaptive": 1}, "silence_adaptive must be true or false (received 1)"),
    (TriggerConfig, {"silence_min_s": 3.0}, "silence_max_s must be in [silence_min_s, 30] seconds"),
    (TimingConfig, {"clock": "daw"}, "clock must be one of none, midi (received 'daw')"),
    (TimingConfig, {"beats_per_bar": 17}, "beats_per_bar must be an integer 1-16 (received 17)"),
    (TimingConfig, {"quantize_start": "downbeat"}, "quantize_start must be one of off, beat, bar"),
    (TimingConfig, {"quantize": "1/5"}, "quantize must be one of off, 1/1"),
    (TimingConfig, {"quantize_strength": -0.1}, "quantize_strength must be in [0, 1] (received -0.1)"),
    (TimingConfig, {"swing": 0.6}, "swing must be in [0, 0.5] (received 0.6)"),
    (TimingConfig, {"response_bars": 65}, "response_bars must be an integer 0-64 (0: off) (received 65)"),
    (AnswerConfig, {"max_notes": 0}, "max_notes must be an integer 1-10000 (received 0)"),
    (AnswerConfig, {"max_seconds": float("inf")}, "max_seconds must be in (0, 3600] seconds"),
    (AnswerConfig, {"velocity_scale": 0}, "velocity_scale must be in (0, 4] (received 0.0)"),
    (AnswerConfig, {"lookahead_s": 11}, "lookahead_s must be in (0, 10] seconds (received 11.0)"),
    (AnswerConfig, {"monophonic": "yes"}, "monophonic must be true, false or auto (received 'yes')"),
    (AnswerConfig, {"max_chord": 33}, "max_chord must be an integer number of notes in [1, 32]"),
    (AnswerConfig, {"copy_guard": None}, "copy_guard must be true or false (received None)"),
    (StyleConfig, {"style": ""}, "style must be a style name (received '')"),
    (StyleConfig, {"style_guidance": 4.5}, "style_guidance must be in [0, 4] (0: off) (received 4.5)"),
    (StyleConfig, {"style_contrast": ("classical",)}, "style_contrast must be a list of other style "
                                                      "names (empty: the mean over all styles)"),
    (ControlConfig, {"cc_map": {123: "enabled"}}, "cc_map must be a mapping of CC numbers 0-119"),
    (ControlConfig, {"program_map": {1: 2}}, "program_map must be a mapping of program numbers 0-127"),
])
def test_each_section_check_names_the_field_and_the_value(cls, changes, message):
    with pytest.raises(PresetError) as info:
        cls(**changes)
    assert message in str(info.value)


def test_sections_store_numbers_in_their_declared_types():
    trigger = TriggerConfig(silence_s=1, trigger_cc=np.int64(20))
    assert isinstance(trigger.silence_s, float) and type(trigger.trigger_cc) is int
    assert TimingConfig(swing=0).swing == 0.0 and isinstance(TimingConfig(swing=0).swing, float)
    assert isinstance(AnswerConfig(max_seconds=5).max_seconds, float)


def test_maps_and_names_are_stored_hashable():
    controls = ControlConfig(cc_map={23: "enabled", 21: "temperature"}, program_map=[(1, "b"), (0, "a")])
    assert controls.cc_map == ((21, "temperature"), (23, "enabled"))
    assert controls.program_map == ((0, "a"), (1, "b"))
    assert StyleConfig(style="folk", style_contrast="classical").style_contrast == ("classical",)
    assert hash(controls) == hash(ControlConfig(cc_map=controls.cc_map, program_map=controls.program_map))


def test_sections_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        TimingConfig().swing = 0.2  # type: ignore[misc]


# --- sampling: one limit per key (the sampler checks nothing again) ---------------------------

@pytest.mark.parametrize("temperature", [0, -1.0, float("nan"), float("inf"), "1", True,
                                         MAX_TEMPERATURE + 0.01])
def test_bad_temperature_raises_preset_error(temperature):
    with pytest.raises(PresetError, match=r"temperature must be in \(0, 5\] \(received"):
        SamplingConfig(temperature=temperature)
    assert SamplingConfig(temperature=MAX_TEMPERATURE).temperature == 5.0  # the one limit: 5


@pytest.mark.parametrize("top_p", [0, 1.5, -0.1, float("nan")])
def test_bad_top_p_raises_preset_error(top_p):
    with pytest.raises(PresetError, match="top_p"):
        SamplingConfig(top_p=top_p)


@pytest.mark.parametrize(("low", "high", "field"), [
    (-1, 60, "pitch_low"), (60, 128, "pitch_high"), (70, 60, "pitch_high"), (1.5, 60, "pitch_low")])
def test_bad_pitch_range_raises_preset_error(low, high, field):
    with pytest.raises(PresetError, match=f"{field} must be"):
        SamplingConfig(pitch_low=low, pitch_high=high)


@pytest.mark.parametrize("max_duration_s", [0, -1.0, float("nan"), 30.5])
def test_bad_max_duration_raises_preset_error(max_duration_s):
    with pytest.raises(PresetError, match="max_duration_s"):
        SamplingConfig(max_duration_s=max_duration_s)


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"repetition_penalty": -1.0}, "repetition_penalty"),
    ({"repetition_penalty": float("inf")}, "repetition_penalty"),
    ({"key_penalty": 21.0}, "key_penalty"),
    ({"repetition_ngram": 1}, "repetition_ngram"),
    ({"repetition_ngram": 17, "repetition_window": 32}, "repetition_ngram"),
    ({"repetition_ngram": 8, "repetition_window": 6}, "repetition_window"),
    ({"repetition_window": 513}, "repetition_window"),
    ({"repetition_max": 0}, "repetition_max"),
    ({"repetition_max": 65}, "repetition_max"),
    ({"key_mask": "hard"}, "key_mask"),
])
def test_bad_guard_or_key_settings_raise_preset_error(kwargs, field):
    with pytest.raises(PresetError, match=f"{field} must be"):
        SamplingConfig(**kwargs)
