"""Tests of livegen.engine: Generator, continue_notes and the Engine driven by poll()."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import mido
import numpy as np
import pytest
from fakes import FakeClock, FakeModel, FakePort, hanging_notes
from hypothesis import given, settings
from hypothesis import strategies as st

from livegen.engine import Engine, Generator, continue_notes
from livegen.errors import ModelError
from livegen.notes import Note
from livegen.presets import Preset
from livegen.scheduler import CC_ALL_NOTES_OFF, CC_ALL_SOUND_OFF

PRESET = Preset(name="test", style="classical", temperature=1.0, top_p=0.95, context_notes=16,
                silence_s=0.5, max_notes=16, max_seconds=8.0, pitch_low=36, pitch_high=96,
                channel=2, lookahead_s=0.5, max_duration_s=1.0)
PHRASE = [Note(60 + 2 * i, 80, 0.25 * i, 0.2) for i in range(8)] + [Note(48, 70, 0.0, 1.9)]
STEP_S = 0.005


@dataclass
class Rig:
    clock: FakeClock
    port: FakePort
    model: FakeModel
    engine: Engine
    scheduled: list[tuple[float, float, mido.Message]] = field(default_factory=list)

    def poll_for(self, seconds: float) -> None:
        end = self.clock() + seconds
        while self.clock() < end:
            self.clock.advance(STEP_S)
            self.engine.poll()

    def play(self, notes: list[Note]) -> None:
        """Feed the notes' note_on/note_off bytes at their times (relative to now)."""
        t0 = self.clock()
        events = []
        for n in notes:
            events.append((n.onset_s, 1, [0x90 | n.channel, n.pitch, n.velocity]))
            events.append((n.end_s, 0, [0x80 | n.channel, n.pitch, 0]))
        for t, _, data in sorted(events, key=lambda e: (e[0], e[1])):
            while self.clock() < t0 + t:
                self.clock.advance(min(STEP_S, t0 + t - self.clock()))
                self.engine.poll()
            self.engine.feed(data, self.clock())
            self.engine.poll()

    def run_until_responding(self, limit_s: float = 5.0) -> float:
        """Poll until a response starts; return the trigger time."""
        end = self.clock() + limit_s
        while not self.engine.responding:
            assert self.clock() < end, "no response"
            self.clock.advance(STEP_S)
            self.engine.poll()
        return self.clock()

    def note_ons_scheduled(self) -> list[tuple[float, float, mido.Message]]:
        return [s for s in self.scheduled if s[2].type == "note_on"]


def make_rig(preset: Preset = PRESET, seed: int = 1, **model_args) -> Rig:
    clock = FakeClock()
    port = FakePort(clock)
    model = FakeModel(**model_args)
    engine = Engine(model, preset, port.send, now=clock, seed=seed)
    rig = Rig(clock, port, model, engine)
    schedule = engine.scheduler.schedule

    def recording_schedule(due_s, msg):
        rig.scheduled.append((clock(), due_s, msg))
        return schedule(due_s, msg)

    engine.scheduler.schedule = recording_schedule
    return rig


# -- Generator ------------------------------------------------------------------------


def test_generator_primes_four_steps_per_note_and_responds_in_three():
    model = FakeModel()
    gen = Generator(model, PRESET, seed=0)
    assert model.steps == 1  # BOS
    for note in PHRASE[:4]:
        gen.prime(note)
    assert model.steps == 1 + 4 * 4 and gen.primed_since_reset == 4
    before = model.steps
    gen.begin_response(5.0)
    note = gen.next_note()
    assert model.steps - before == 3  # SHIFT, PITCH, VEL (DUR is fed lazily)
    assert note.onset_s == 5.0 and note.channel == PRESET.channel
    assert PRESET.pitch_low <= note.pitch <= PRESET.pitch_high
    assert 0 < note.duration_s <= PRESET.max_duration_s


def test_generator_snapshot_restore_returns_to_the_performer_context():
    gen = Generator(FakeModel(), PRESET, seed=0)
    for note in PHRASE:
        gen.prime(note)
    snap = gen.snapshot()
    gen.begin_response(3.0)
    notes = [gen.next_note() for _ in range(5)]
    onsets = [n.onset_s for n in notes]
    assert onsets == sorted(onsets)
    gen.restore(snap)
    assert gen.clock_s == snap.clock_s and gen.history == snap.history
    assert np.array_equal(gen.snapshot().state.h, snap.state.h)
    gen.begin_response(3.0)  # allowed again: grammar back at a note boundary
    gen.restore(snap)
    gen.prime(Note(70, 80, 2.5, 0.1))
    assert gen.primed_since_reset == len(PHRASE) + 1


def test_generator_rebuild_equals_fresh_priming_of_the_window():
    preset = PRESET.replace(context_notes=3)
    long_run = Generator(FakeModel(), preset, seed=0)
    for note in PHRASE[:8]:
        long_run.prime(note)
    long_run.rebuild()
    fresh = Generator(FakeModel(), preset, seed=0)
    for note in PHRASE[5:8]:
        fresh.prime(note)
    assert long_run.primed_since_reset == 3
    assert np.allclose(long_run.snapshot().state.h, fresh.snapshot().state.h)


def test_generator_velocity_scale_and_max_duration():
    preset = PRESET.replace(velocity_scale=0.25, max_duration_s=0.3)
    gen = Generator(FakeModel(time_bias=0.0), preset, seed=0)
    gen.begin_response(0.0)
    notes = [gen.next_note() for _ in range(40)]
    assert all(1 <= n.velocity <= 32 for n in notes)
    assert all(n.duration_s <= 0.3 for n in notes)


def test_generator_set_preset_changes_style_and_sampler():
    model = FakeModel()
    gen = Generator(model, PRESET, seed=0)
    for note in PHRASE[:3]:
        gen.prime(note)
    steps = model.steps
    gen.set_preset(PRESET.replace(style="romantic", pitch_low=70, pitch_high=72))
    assert model.steps == steps + 1 + 3 * 4  # rebuilt under the new style
    gen.begin_response(2.0)
    assert all(70 <= gen.next_note().pitch <= 72 for _ in range(10))


def test_generator_unknown_style_raises_model_error():
    with pytest.raises(ModelError, match="no style"):
        Generator(FakeModel(), PRESET.replace(style="jazz"))
    gen = Generator(FakeModel(), PRESET)
    with pytest.raises(ModelError, match="no style"):
        gen.set_preset(PRESET.replace(style="jazz"))
    assert gen.preset == PRESET


def test_generator_prime_right_after_begin_response_raises_runtime_error():
    gen = Generator(FakeModel(), PRESET)
    gen.begin_response(1.0)
    with pytest.raises(RuntimeError, match="begin_response"):
        gen.prime(PHRASE[0])


def test_generator_begin_response_twice_raises_runtime_error():
    gen = Generator(FakeModel(), PRESET)
    gen.begin_response(1.0)
    with pytest.raises(RuntimeError, match="twice"):
        gen.begin_response(1.0)


# -- continue_notes -------------------------------------------------------------------


def test_continue_notes_is_deterministic_and_starts_where_the_prompt_ends():
    first = continue_notes(FakeModel(), PRESET, PHRASE, n_notes=12, seed=5, gap_s=0.1)
    again = continue_notes(FakeModel(), PRESET, PHRASE, n_notes=12, seed=5, gap_s=0.1)
    other = continue_notes(FakeModel(), PRESET, PHRASE, n_notes=12, seed=6, gap_s=0.1)
    assert first == again and first != other
    assert 1 <= len(first) <= 12
    prompt_end = max(n.end_s for n in PHRASE)
    assert first[0].onset_s == pytest.approx(prompt_end + 0.1)
    onsets = [n.onset_s for n in first]
    assert onsets == sorted(onsets)
    assert all(n.end_s <= first[0].onset_s + PRESET.max_seconds + 1e-9 for n in first)


def test_continue_notes_respects_max_seconds_and_default_count():
    preset = PRESET.replace(max_seconds=0.5, max_notes=1000)
    notes = continue_notes(FakeModel(time_bias=0.0), preset, PHRASE, seed=0)
    start = max(n.end_s for n in PHRASE)
    assert notes and all(start <= n.onset_s and n.end_s <= start + 0.5 + 1e-9 for n in notes)
    assert len(continue_notes(FakeModel(), PRESET.replace(max_seconds=600), [], seed=0)) == 16


def test_continue_notes_uses_only_the_context_window():
    preset = PRESET.replace(context_notes=2)
    long_prompt = [Note(40 + i, 80, 0.1 * i, 0.05) for i in range(20)] + PHRASE[-2:]
    a = continue_notes(FakeModel(), preset, long_prompt, n_notes=6, seed=1)
    b = continue_notes(FakeModel(), preset, sorted(PHRASE[-2:], key=lambda n: n.onset_s) +
                       [Note(59, 80, 1.7, 0.1)], n_notes=6, seed=1)
    window = sorted(long_prompt, key=lambda n: (n.onset_s, n.pitch))[-2:]
    c = continue_notes(FakeModel(), preset, window, n_notes=6, seed=1)
    assert a == c
    assert b != a


@pytest.mark.parametrize("kwargs", [{"n_notes": 0}, {"gap_s": -1.0}, {"gap_s": float("nan")}])
def test_continue_notes_bad_arguments_raise_value_error(kwargs):
    with pytest.raises(ValueError):
        continue_notes(FakeModel(), PRESET, PHRASE, **kwargs)


def test_continue_notes_unknown_style_raises_model_error():
    with pytest.raises(ModelError):
        continue_notes(FakeModel(), PRESET.replace(style="jazz"), PHRASE)


# -- Engine -----------------------------------------------------------------------------


def test_phrase_then_silence_gives_a_response():
    rig = make_rig()
    rig.play(PHRASE)
    last_end = rig.clock()
    rig.poll_for(PRESET.silence_s - 0.05)
    assert not rig.engine.responding and rig.port.messages == []
    trigger_s = rig.run_until_responding()
    assert trigger_s >= last_end + PRESET.silence_s
    rig.poll_for(PRESET.max_seconds + 1.0)
    assert not rig.engine.responding
    ons = rig.note_ons_scheduled()
    assert len(ons) >= 8
    onsets = [due for _, due, _ in ons]
    assert all(due > trigger_s for due in onsets)
    assert onsets == sorted(onsets)
    assert all(m.channel == PRESET.channel for _, _, m in ons)
    assert all(PRESET.pitch_low <= m.note <= PRESET.pitch_high for _, _, m in ons)
    assert len(rig.port.note_ons()) == len(ons)
    assert hanging_notes(rig.port.messages) == {}
    assert rig.engine.scheduler.sounding() == {}
    stats = rig.engine.stats
    assert stats.responses == 1 and stats.notes_sent == len(ons)
    assert len(stats.latencies_ms) == 1 and stats.latencies_ms[0] >= 0
    assert len(stats.lateness_ms) >= len(ons)  # an overlapped re-strike absorbs a note_off
    rig.poll_for(2.0)
    assert rig.engine.stats.responses == 1  # no new phrase, no new response


def test_generation_runs_ahead_only_by_the_lookahead():
    rig = make_rig()
    rig.play(PHRASE)
    rig.run_until_responding()
    rig.poll_for(PRESET.max_seconds + 1.0)
    ons = rig.note_ons_scheduled()
    lead = rig.engine._lead_s
    assert all(due - at <= PRESET.lookahead_s + lead + 1e-9 for at, due, _ in ons)


def test_response_respects_max_notes_and_max_seconds():
    preset = PRESET.replace(max_notes=5, max_seconds=1.0)
    rig = make_rig(preset)
    rig.play(PHRASE[:3])
    trigger_s = rig.run_until_responding()
    rig.poll_for(3.0)
    ons = rig.note_ons_scheduled()
    assert 1 <= len(ons) <= 5
    assert all(due <= trigger_s + rig.engine._lead_s + 1.0 + 1e-9 for _, due, _ in rig.scheduled)
    assert hanging_notes(rig.port.messages) == {}


def test_barge_in_cancels_and_restores_the_performer_context():
    rig = make_rig()
    rig.play(PHRASE)
    clock_before = rig.engine.generator.clock_s
    history_before = rig.engine.generator.history
    rig.run_until_responding()
    rig.poll_for(0.4)
    assert rig.port.note_ons()  # the response is playing
    rig.engine.feed([0x90, 72, 90], rig.clock())
    rig.engine.poll()
    assert not rig.engine.responding
    assert rig.engine.scheduler.sounding() == {} and rig.engine.scheduler.pending() == 0
    assert hanging_notes(rig.port.messages) == {}
    assert rig.engine.stats.barge_ins == 1
    assert rig.engine.generator.clock_s == clock_before
    assert rig.engine.generator.history == history_before
    sent = len(rig.port.messages)
    rig.poll_for(0.3)  # the performer holds the key: nothing from livegen
    assert len(rig.port.messages) == sent
    rig.engine.feed([0x80, 72, 0], rig.clock())
    rig.engine.poll()
    assert rig.engine.generator.history[-1].pitch == 72  # the new note is primed
    rig.run_until_responding()
    assert rig.engine.stats.responses == 2


def test_stop_mid_response_leaves_nothing_sounding_and_sends_panic():
    rig = make_rig()
    rig.play(PHRASE)
    rig.run_until_responding()
    rig.poll_for(0.3)
    assert rig.engine.scheduler.sounding() or rig.engine.scheduler.pending()
    rig.engine.stop()
    rig.engine.stop()  # idempotent
    assert hanging_notes(rig.port.messages) == {}
    assert [m.channel for m in rig.port.controls(CC_ALL_NOTES_OFF)] == [PRESET.channel]
    assert [m.channel for m in rig.port.controls(CC_ALL_SOUND_OFF)] == [PRESET.channel]
    assert rig.engine.scheduler.pending() == 0


def test_set_preset_mid_response_cancels_and_switches():
    rig = make_rig()
    rig.play(PHRASE)
    rig.run_until_responding()
    rig.poll_for(0.3)
    new = PRESET.replace(style="romantic", channel=5)
    rig.engine.set_preset(new)
    assert rig.engine.preset == new and not rig.engine.responding
    assert hanging_notes(rig.port.messages) == {}
    rig.play(PHRASE[:2])
    rig.run_until_responding()
    rig.poll_for(PRESET.max_seconds + 1)
    assert {m.channel for m in rig.port.note_ons()} == {PRESET.channel, 5}
    assert hanging_notes(rig.port.messages) == {}


def test_set_preset_unknown_style_raises_model_error_and_keeps_the_preset():
    rig = make_rig()
    with pytest.raises(ModelError):
        rig.engine.set_preset(PRESET.replace(style="jazz"))
    assert rig.engine.preset == PRESET


def test_engine_unknown_style_raises_model_error():
    with pytest.raises(ModelError):
        Engine(FakeModel(), PRESET.replace(style="jazz"), FakePort().send)


@pytest.mark.parametrize("lead_s", [0.0, -0.01, float("nan")])
def test_engine_bad_response_lead_raises_value_error(lead_s):
    with pytest.raises(ValueError, match="response_lead_s"):
        Engine(FakeModel(), PRESET, FakePort().send, response_lead_s=lead_s)


def test_sustain_pedal_delays_the_trigger_until_lift():
    rig = make_rig()
    rig.engine.feed([0xB0, 64, 127], rig.clock())
    rig.play(PHRASE[:3])
    rig.poll_for(PRESET.silence_s * 3)
    assert not rig.engine.responding and rig.engine.generator.primed_since_reset == 0
    rig.engine.feed(mido.Message("control_change", control=64, value=0), rig.clock())
    lift_s = rig.clock()
    rig.engine.poll()
    assert rig.engine.generator.primed_since_reset == 3
    assert rig.run_until_responding() >= lift_s + PRESET.silence_s


def test_garbage_input_is_counted_and_dropped():
    rig = make_rig()
    garbage = [[0x90, 60], b"\x3c\x40", [], [0x90, 200, 1], [300, 1, 2], "abc", None]
    for data in garbage:
        rig.engine.feed(data, rig.clock())
    rig.engine.feed([0xF8], rig.clock())  # MIDI clock: valid, ignored
    rig.engine.feed([0x90, 60, 80], None)  # a bad timestamp is dropped too
    rig.engine.poll()
    stats = rig.engine.stats
    assert stats.dropped_messages == len(garbage) + 1
    assert stats.messages_in == len(garbage) + 2
    rig.play(PHRASE[:2])
    rig.run_until_responding()


@settings(max_examples=40, deadline=None)
@given(items=st.lists(st.tuples(st.lists(st.integers(0, 255), max_size=4),
                                st.floats(0, 0.3)), max_size=40))
def test_any_input_bytes_never_crash_and_never_hang_a_note(items):
    rig = make_rig(PRESET.replace(silence_s=0.1, max_seconds=0.5))
    for data, dt in items:
        rig.clock.advance(dt)
        rig.engine.feed(data, rig.clock())
        rig.engine.poll()
    rig.poll_for(0.2)
    rig.engine.stop()
    assert hanging_notes(rig.port.messages) == {}


def test_long_performance_rebuilds_the_state_while_idle():
    preset = PRESET.replace(context_notes=4, silence_s=2.0)
    rig = make_rig(preset)
    rig.play([Note(60 + i % 12, 80, 0.2 * i, 0.1) for i in range(20)])
    assert rig.engine.stats.rebuilds >= 1
    assert rig.engine.generator.primed_since_reset <= 2 * preset.context_notes
    assert rig.engine.stats.responses == 0


def test_start_after_stop_raises_runtime_error():
    rig = make_rig()
    rig.engine.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        rig.engine.start()


def wait_for(condition, limit_s: float = 5.0) -> bool:
    end = time.monotonic() + limit_s  # generous: the machine is shared and noisy
    while not condition() and time.monotonic() < end:
        time.sleep(0.002)
    return condition()


def test_threaded_engine_answers_and_stops_cleanly():
    port = FakePort()
    preset = PRESET.replace(silence_s=0.05, max_notes=3, max_seconds=0.3, lookahead_s=0.1)
    with Engine(FakeModel(), preset, port.send, seed=0) as engine:
        engine.start()  # idempotent
        for i, pitch in enumerate((60, 64, 67)):
            engine.feed([0x90, pitch, 80], time.monotonic())
            engine.feed([0x80, pitch, 0], time.monotonic() + 0.001 * i)
        assert wait_for(lambda: engine.stats.responses >= 1 and port.note_ons())
    assert hanging_notes(port.messages) == {}
    assert port.controls(CC_ALL_NOTES_OFF) and port.controls(CC_ALL_SOUND_OFF)
    assert not engine.scheduler.running


def test_engine_survives_a_failing_model_and_recovers():
    rig = make_rig(fail_at_step=3)  # BOS is step 1; priming the first note fails
    rig.play(PHRASE[:2])
    assert rig.engine.stats.errors >= 1
    rig.model.fail_at_step = None  # the model works again
    rig.play(PHRASE[2:5])
    rig.run_until_responding()
    rig.poll_for(PRESET.max_seconds + 1)
    assert rig.port.note_ons() and hanging_notes(rig.port.messages) == {}


def test_engine_failing_mid_response_panics_and_carries_on():
    rig = make_rig()
    rig.play(PHRASE)
    rig.run_until_responding()
    rig.poll_for(0.2)
    rig.model.fail_at_step = rig.model.steps + 1
    rig.poll_for(PRESET.max_seconds)
    assert rig.engine.stats.errors >= 1 and not rig.engine.responding
    assert hanging_notes(rig.port.messages) == {}
    assert rig.port.controls(CC_ALL_NOTES_OFF)
