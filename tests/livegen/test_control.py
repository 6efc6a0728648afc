"""Tests of livegen.control: controllers mapped to settings, program changes to presets."""

from __future__ import annotations

import pytest
from fakes import FakeModel

from livegen.control import Controls, apply_control, check_programs, resolve_programs
from livegen.errors import ModelError, PresetError
from livegen.presets import Preset

BASE = Preset(name="c", cc_map={21: "temperature", 22: "response_length", 23: "enabled"})


def test_apply_control_scales_temperature_and_length():
    assert apply_control(BASE, "temperature", 0).temperature == 0.1
    assert apply_control(BASE, "temperature", 127).temperature == 2.0
    assert apply_control(BASE, "response_length", 127).max_seconds == 30.0
    bars = BASE.replace(response_bars=4)
    assert apply_control(bars, "response_length", 0).response_bars == 1
    assert apply_control(bars, "response_length", 127).response_bars == 16
    assert apply_control(bars, "response_length", 0).max_seconds == BASE.max_seconds
    same = apply_control(BASE, "temperature", 127)
    assert apply_control(same, "temperature", 127) is same  # nothing changes


def test_apply_control_unknown_target_raises_value_error():
    with pytest.raises(ValueError, match="target"):
        apply_control(BASE, "enabled", 0)


def test_controls_interpret_footswitch_enabled_and_live_settings():
    controls = Controls({})
    footswitch = BASE.replace(trigger="cc", trigger_cc=67)
    assert controls.control_change(footswitch, 67, 127)[0] == "hand_over"
    assert controls.control_change(footswitch, 67, 127)[0] == "none"  # still down
    assert controls.control_change(footswitch, 67, 0)[0] == "none"
    assert controls.control_change(footswitch, 67, 100)[0] == "hand_over"
    assert controls.control_change(BASE, 67, 127)[0] == "none"  # not the trigger here
    assert controls.control_change(BASE, 23, 0)[0] == "disable" and not controls.enabled
    assert controls.control_change(BASE, 23, 10)[0] == "none"
    assert controls.control_change(BASE, 23, 127)[0] == "none" and controls.enabled
    action, new = controls.control_change(BASE, 21, 127)
    assert action == "live" and new.temperature == 2.0
    assert controls.control_change(BASE, 50, 3) == ("none", BASE)
    assert Controls.is_handover_key(BASE.replace(trigger="note", trigger_note=21), 21)
    assert not Controls.is_handover_key(BASE, 21)


def test_resolve_programs_names_the_entry_that_fails():
    preset = BASE.replace(program_map={0: "romantic", 5: "no-such-preset"})
    with pytest.raises(PresetError, match="'c': program_map 5: 'no-such-preset'"):
        resolve_programs(preset)
    programs = resolve_programs(BASE.replace(program_map={0: "romantic", 1: "baroque"}))
    assert {k: p.name for k, p in programs.items()} == {0: "romantic", 1: "baroque"}


def test_check_programs_checks_every_style():
    model = FakeModel()
    assert check_programs(BASE, {1: BASE}, model.style_id) == {1: BASE}
    with pytest.raises(ModelError):
        check_programs(BASE, {1: BASE.replace(style="jazz")}, model.style_id)
