"""Tests of livegen.control: controllers mapped to settings, program changes to presets."""

from __future__ import annotations

import pytest
from fakes import FakeClock, FakeModel, FakePort, hanging_notes
from hypothesis import given, settings
from hypothesis import strategies as st
from rig import PHRASE, PRESET, Rig, make_rig

from livegen.control import Controls, apply_control, check_programs, resolve_programs
from livegen.engine import Engine
from livegen.errors import ModelError, PresetError
from livegen.presets import Preset

BASE = Preset(name="c").replace(cc_map={21: "temperature", 22: "response_length", 23: "enabled"})


def test_apply_control_scales_temperature_and_length():
    assert apply_control(BASE, "temperature", 0).sampling.temperature == 0.1
    assert apply_control(BASE, "temperature", 127).sampling.temperature == 2.0
    assert apply_control(BASE, "response_length", 127).answer.max_seconds == 30.0
    bars = BASE.replace(response_bars=4)
    assert apply_control(bars, "response_length", 0).timing.response_bars == 1
    assert apply_control(bars, "response_length", 127).timing.response_bars == 16
    assert apply_control(bars, "response_length", 0).answer.max_seconds == BASE.answer.max_seconds
    same = apply_control(BASE, "temperature", 127)
    assert apply_control(same, "temperature", 127) is same  # nothing changes


def test_a_knob_sets_how_much_the_answer_follows_the_player():
    assert apply_control(BASE, "follow", 0).conditioning.follow == 0.0
    assert apply_control(BASE, "follow", 127).conditioning.follow == 1.0
    assert apply_control(BASE, "follow", 64).conditioning.follow == pytest.approx(0.504)
    assert BASE.replace(cc_map={24: "follow"}).controls.cc_map == ((24, "follow"),)


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
    assert action == "live" and new.sampling.temperature == 2.0
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
    checked = []

    def check(program):
        checked.append(program.name)
        return model.style_id(program.conditioning.style)

    other = BASE.replace(name="d")
    assert check_programs(BASE, {1: BASE, 2: other}, check) == {1: BASE, 2: other}
    assert checked == ["c", "d"]
    with pytest.raises(ModelError):
        check_programs(BASE, {1: BASE.replace(style="jazz")}, check)


# -- live control of the engine ---------------------------------------------------------


def test_footswitch_hands_over_and_back():
    preset = PRESET.replace(trigger="cc", trigger_cc=67, max_seconds=4.0)
    rig = make_rig(preset)
    rig.play(PHRASE[:4])
    rig.poll_for(2.0)
    assert not rig.engine.responding  # no silence trigger
    rig.engine.feed([0xB0, 67, 127], rig.clock())
    rig.engine.feed([0xB0, 67, 100], rig.clock())  # still down: one press
    rig.poll_for(0.5)
    assert rig.engine.responding and rig.port.note_ons()
    rig.engine.feed([0xB0, 67, 0], rig.clock())
    rig.engine.feed([0xB0, 67, 127], rig.clock())  # pressed again: handed back
    rig.poll()
    assert not rig.engine.responding and rig.engine.stats.responses == 1
    assert hanging_notes(rig.port.messages) == {}
    rig.poll_for(2.0)
    assert rig.engine.stats.responses == 1


def test_handover_key_is_not_a_performer_note():
    preset = PRESET.replace(trigger="note", trigger_note=21)
    rig = make_rig(preset)
    rig.play(PHRASE[:3])
    primed = rig.engine.generator.primed_since_reset
    rig.engine.feed([0x90, 21, 100], rig.clock())
    rig.poll_for(0.3)
    rig.engine.feed([0x80, 21, 0], rig.clock())
    rig.poll_for(0.3)
    assert rig.engine.responding and rig.engine.stats.barge_ins == 0
    assert 21 not in {n.pitch for n in rig.engine.buffer.notes()}
    rig.poll_for(PRESET.answer.max_seconds)
    assert rig.engine.generator.primed_since_reset == primed
    assert hanging_notes(rig.port.messages) == {}


def test_cc_map_sets_temperature_length_and_enabled_live():
    preset = PRESET.replace(cc_map={21: "temperature", 22: "response_length", 23: "enabled"})
    rig = make_rig(preset)
    rig.play(PHRASE)
    rig.run_until_responding()
    rig.poll_for(0.2)
    rig.engine.feed([0xB0, 21, 127], rig.clock())
    rig.engine.feed([0xB0, 22, 0], rig.clock())
    rig.poll()
    assert rig.engine.responding  # live changes do not cut the response
    assert rig.engine.preset.sampling.temperature == 2.0 and rig.engine.generator.sampler.temperature == 2.0
    assert rig.engine.preset.answer.max_seconds == 1.0
    rig.engine.feed([0xB0, 23, 0], rig.clock())  # off: silence now
    rig.poll()
    assert not rig.engine.responding and rig.engine.scheduler.sounding() == {}
    assert hanging_notes(rig.port.messages) == {}
    rig.play(PHRASE[:2])
    rig.poll_for(2.0)
    assert rig.engine.stats.responses == 1  # disabled: no trigger
    rig.engine.feed([0xB0, 23, 127], rig.clock())
    trigger_s = rig.run_until_responding()
    rig.poll_for(3.0)
    assert max(due for _, due, _ in rig.scheduled) <= trigger_s + 1.0 + 1e-9


def test_program_change_switches_preset_mid_response_with_nothing_sounding():
    other = PRESET.replace(name="other", style="baroque", channel=5, pitch_low=70, pitch_high=72)
    clock = FakeClock()
    port = FakePort(clock)
    engine = Engine(FakeModel(), PRESET, port.send, now=clock, seed=1, programs={3: other})
    rig = Rig(clock, port, engine.model, engine)
    rig.play(PHRASE)
    rig.run_until_responding()
    rig.poll_for(0.3)
    assert port.note_ons()
    engine.feed([0xC0, 9], clock())  # not in the bank: ignored
    engine.poll()
    assert engine.responding
    engine.feed([0xC0, 3], clock())
    engine.poll()
    assert engine.preset == other and not engine.responding
    assert engine.scheduler.sounding() == {} and hanging_notes(port.messages) == {}
    before = len(port.note_ons())
    rig.play(PHRASE[:3])
    rig.run_until_responding()
    rig.poll_for(PRESET.answer.max_seconds + 1)
    after = port.note_ons()[before:]
    assert after and all(m.channel == 5 and 70 <= m.note <= 72 for m in after)
    assert hanging_notes(port.messages) == {}


def test_program_map_is_resolved_at_construction(tmp_path, monkeypatch):
    (tmp_path / "b.yaml").write_text("style: baroque\nchannel: 4\n")
    monkeypatch.setenv("LIVEGEN_PRESETS", str(tmp_path))
    engine = Engine(FakeModel(), PRESET.replace(program_map={1: "b"}), FakePort().send)
    assert engine.controls.programs[1].channel == 4
    with pytest.raises(PresetError, match="program_map 2.*'nope'"):
        Engine(FakeModel(), PRESET.replace(program_map={2: "nope"}), FakePort().send)
    with pytest.raises(ModelError):
        Engine(FakeModel(), PRESET, FakePort().send, programs={1: PRESET.replace(style="jazz")})
    with pytest.raises(PresetError, match="nope"):
        engine.set_preset(PRESET.replace(program_map={2: "nope"}))
    assert engine.controls.programs[1].channel == 4


FEATURES = PRESET.replace(clock="midi", quantize_start="beat", quantize="1/16", swing=0.2,
                          response_bars=1, trigger="cc", silence_s=0.1, max_seconds=0.5,
                          cc_map={21: "temperature", 22: "response_length", 23: "enabled"},
                          panic_cc=30)


MESSAGES = st.sampled_from([[0xF8], [0xFA], [0xFB], [0xFC], [0xF2, 4, 0], [0xC0, 1], [0xC0, 2],
                            [0xB0, 67, 127], [0xB0, 67, 0], [0xB0, 64, 127], [0xB0, 64, 0],
                            [0xB0, 21, 90], [0xB0, 22, 10], [0xB0, 23, 0], [0xB0, 23, 127],
                            [0x90, 60, 80], [0x80, 60, 0], [0x90, 62, 80], [0x80, 62, 0],
                            [0xB0, 123, 0], [0xB3, 120, 0], [0xB0, 30, 127], [0xB0, 30, 0]])


@settings(max_examples=40, deadline=None)
@given(items=st.lists(st.tuples(MESSAGES, st.floats(0, 0.2)), max_size=60))
def test_any_control_sequence_never_hangs_a_note(items):
    programs = {1: FEATURES.replace(name="p1", trigger="continuous", channel=4),
                2: FEATURES.replace(name="p2", trigger="silence", quantize="off")}
    clock = FakeClock()
    port = FakePort(clock)
    engine = Engine(FakeModel(), FEATURES, port.send, now=clock, seed=0, programs=programs)
    for data, dt in items:
        clock.advance(dt)
        engine.feed(data, clock())
        engine.poll()
    for _ in range(100):
        clock.advance(0.02)
        engine.poll()
    engine.stop()
    assert hanging_notes(port.messages) == {}
    assert engine.stats.errors == 0


# -- panic: CC123 / CC120 on the input, and the preset's panic_cc (issue 16) ------------------


def test_is_panic_is_cc123_cc120_or_a_panic_cc_press():
    panic = BASE.replace(panic_cc=30)
    assert Controls.is_panic(BASE, 123, 0) and Controls.is_panic(BASE, 120, 0)
    assert not Controls.is_panic(BASE, 30, 127) and not Controls.is_panic(BASE, 121, 0)
    assert Controls.is_panic(panic, 30, 64) and Controls.is_panic(panic, 30, 127)
    assert not Controls.is_panic(panic, 30, 63)  # a button's release


def _answering_rig(preset=PRESET) -> Rig:
    """A rig whose answer has sounded at least two notes and still plays."""
    rig = make_rig(preset.replace(max_seconds=8.0, max_notes=64))
    rig.play(PHRASE[:4])
    rig.run_until_responding()
    while len(rig.port.note_ons()) < 2:
        rig.clock.advance(0.005)
        rig.poll()
    assert rig.engine.responding and rig.engine.scheduler.pending()  # more to come
    return rig


@pytest.mark.parametrize(("status", "control", "value"), [(0xB0, 123, 0), (0xB5, 120, 0),
                                                          (0xB0, 30, 127)])
def test_panic_silences_the_answer_at_once_and_leaves_the_phrase_unanswered(status, control, value):
    rig = _answering_rig(PRESET.replace(panic_cc=30))
    port, engine = rig.port, rig.engine
    engine.feed([status, control, value], rig.clock())
    sent = len(port.messages)
    engine.poll()  # the same instant: no clock advance
    assert not engine.responding and engine.scheduler.sounding() == {}
    assert hanging_notes(port.messages) == {}
    after = port.messages[sent:]
    assert [m.control for m in after if m.type == "control_change"][-2:] == [123, 120]
    assert all(m.channel == PRESET.channel for m in after)
    ons = len(port.note_ons())
    rig.poll_for(3.0)  # longer than silence_s: the phrase before the panic gets no answer
    assert len(port.note_ons()) == ons and engine.stats.responses == 1
    rig.play(PHRASE[:3])  # the next phrase is answered as usual
    rig.run_until_responding()
    rig.poll_for(PRESET.answer.max_seconds + 1)
    assert len(port.note_ons()) > ons and hanging_notes(port.messages) == {}


def test_panic_during_the_phrase_cancels_its_answer():
    rig = make_rig()
    rig.play(PHRASE[:4])
    rig.engine.feed([0xB0, 120, 0], rig.clock())
    rig.poll_for(3.0)
    assert rig.engine.stats.responses == 0 and not rig.port.note_ons()


def test_a_panic_cc_release_or_another_control_does_not_silence():
    rig = _answering_rig(PRESET.replace(panic_cc=30))
    rig.engine.feed([0xB0, 30, 0], rig.clock())
    rig.engine.feed([0xB0, 31, 127], rig.clock())
    rig.poll()
    assert rig.engine.responding


def test_a_program_with_its_own_model_answers_with_that_model():
    other = PRESET.replace(name="other", style="baroque", model="baroque")
    models = {"": FakeModel(seed=1), "baroque": FakeModel(seed=2)}
    asked = []

    def model_of(preset):
        asked.append(preset.name)
        return models[preset.model]

    clock = FakeClock()
    port = FakePort(clock)
    engine = Engine(models[""], PRESET, port.send, now=clock, seed=1, programs={3: other},
                    models=model_of)
    assert asked == ["other"]  # the program's model is loaded with the bank, not at the change
    rig = Rig(clock, port, engine.model, engine)
    rig.play(PHRASE)
    rig.run_until_responding()
    rig.poll_for(PRESET.answer.max_seconds + 1)
    assert models[""].steps and not models["baroque"].steps
    engine.feed([0xC0, 3], clock())
    engine.poll()
    assert engine.model is models["baroque"] and engine.generator.model is models["baroque"]
    primed = models["baroque"].steps
    assert primed >= 4 * len(PHRASE)  # the performer's notes primed again into its state
    rig.play(PHRASE[:3])
    rig.run_until_responding()
    rig.poll_for(PRESET.answer.max_seconds + 1)
    assert models["baroque"].steps > primed + 4 * 3 and hanging_notes(port.messages) == {}
    engine.set_preset(PRESET)  # back: the first model again
    assert engine.generator.model is models[""]
