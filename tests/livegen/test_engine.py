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

from livegen.buffer import STUCK_KEY_S
from livegen.engine import PREPARE_S, Engine
from livegen.errors import ModelError, PresetError
from livegen.generation import Generator
from livegen.midi import CLOCKS_PER_BEAT
from livegen.notes import Note
from livegen.offline import continue_notes
from livegen.placement import CHORD_SPAN_S
from livegen.presets import Preset
from livegen.rebuild import REBUILD_MARGIN_S
from livegen.scheduler import CC_ALL_NOTES_OFF, CC_ALL_SOUND_OFF
from livegen.tokens import SHIFT_OFFSET

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
        """Poll until a response is triggered; return when its first note should sound.

        That is the trigger instant (the silence deadline; the engine prepares
        the response up to ``PREPARE_S`` before it) or the grid line after it.
        """
        end = self.clock() + limit_s
        while not self.engine.responding:
            assert self.clock() < end, "no response"
            self.clock.advance(STEP_S)
            self.engine.poll()
        return self.engine.response.trigger_s

    def note_ons_scheduled(self) -> list[tuple[float, float, mido.Message]]:
        return [s for s in self.scheduled if s[2].type == "note_on"]


def make_rig(preset: Preset = PRESET, seed: int = 1, prepare_s: float = PREPARE_S,
             **model_args) -> Rig:
    clock = FakeClock()
    port = FakePort(clock)
    model = FakeModel(**model_args)
    engine = Engine(model, preset, port.send, now=clock, seed=seed, prepare_s=prepare_s)
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


@pytest.mark.parametrize("guidance", [0.0, 1.0])
def test_a_rebuild_in_slices_equals_a_rebuild_then_the_notes_primed_meanwhile(guidance):
    preset = PRESET.replace(context_notes=6, style_guidance=guidance)
    sliced, whole = (Generator(FakeModel(), preset, seed=0) for _ in range(2))
    for note in PHRASE[:8]:
        sliced.prime(note)
        whole.prime(note)
    sliced.start_rebuild()
    assert sliced.rebuilding and not sliced.rebuild_step(4)  # 2 of the 6 notes left
    before = sliced.snapshot()
    assert np.array_equal(before.logits, whole.snapshot().logits)  # the live state is untouched
    late = Note(70, 90, PHRASE[7].onset_s + 0.3, 0.2)
    sliced.prime(late)  # primed while the rebuild runs: it goes into both
    assert sliced.rebuild_step(4) and not sliced.rebuilding
    whole.rebuild()
    whole.prime(late)
    np.testing.assert_allclose(sliced.snapshot().logits, whole.snapshot().logits, rtol=1e-6)
    assert sliced.primed_since_reset == whole.primed_since_reset == 7
    assert sliced.clock_s == whole.clock_s and sliced.history == whole.history
    # a rebuild waits through a response and carries on after its restore ...
    for note in PHRASE[:3]:
        sliced.prime(Note(note.pitch, 80, sliced.clock_s + 0.25, 0.2))
        whole.prime(Note(note.pitch, 80, whole.clock_s + 0.25, 0.2))
    sliced.start_rebuild()
    live = sliced.snapshot()
    sliced.begin_response(sliced.clock_s + 0.5)
    with pytest.raises(RuntimeError, match="during a response"):
        sliced.rebuild_step(6)  # never under the response
    assert sliced.rebuilding
    sliced.next_note()
    sliced.restore(live)
    np.testing.assert_allclose(sliced.snapshot().logits, live.logits)
    assert sliced.rebuild_step(6)
    whole.rebuild()
    np.testing.assert_allclose(sliced.snapshot().logits, whole.snapshot().logits, rtol=1e-6)
    # ... but not after a restore to another window
    sliced.prime(Note(60, 80, sliced.clock_s + 0.25, 0.2))
    sliced.start_rebuild()
    sliced.restore(live)
    assert not sliced.rebuilding


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


def _one_line(notes: list[Note]) -> bool:
    """True if no two notes start within 40 ms and each ends by the next onset."""
    return all(b.onset_s - a.onset_s >= CHORD_SPAN_S - 1e-9 and a.end_s <= b.onset_s + 1e-9
               for a, b in zip(notes, notes[1:]))


def test_monophonic_generator_plays_one_line():
    model = FakeModel(time_bias=6.0)  # favours short shifts: chords and overlaps without the mode
    poly, mono = (Generator(model, PRESET.replace(monophonic=flag), seed=3) for flag in (False, True))
    lines = []
    for gen in (poly, mono):
        for note in PHRASE[:4]:
            gen.prime(note)
        gen.begin_response(2.0)
        lines.append([gen.next_note() for _ in range(60)])
        upcoming_s = gen.next_onset_s  # drawn early in the mode only
        assert (upcoming_s is None) == (gen is poly)
        assert gen is poly or gen.next_note().onset_s == upcoming_s
    assert not _one_line(lines[0])
    assert _one_line(lines[1])
    assert lines[1][0].onset_s == 2.0


def _chords(onsets: list[float]) -> list[list[int]]:
    """Indices of ``onsets`` (sorted) grouped into chords: within CHORD_SPAN_S of the first."""
    chords: list[list[int]] = []
    start = None
    for i, t in enumerate(onsets):
        if start is None or t - start > CHORD_SPAN_S - 1e-6:
            start = t
            chords.append([])
        chords[-1].append(i)
    return chords


def _largest_chord(onsets: list[float]) -> int:
    return max(len(c) for c in _chords(sorted(onsets)))


def test_max_chord_makes_the_next_onset_wait():
    model = FakeModel(time_bias=60.0)  # a shift of 0 is e**0.6 as likely as 10 ms: chords pile up
    sizes = {}
    for cap in (3, 32):
        gen = Generator(model, PRESET.replace(max_chord=cap), seed=2)
        gen.begin_response(1.0)
        notes = [gen.next_note() for _ in range(80)]
        sizes[cap] = _largest_chord([n.onset_s for n in notes])
        for chord in _chords([n.onset_s for n in notes]):  # a chord never doubles a pitch
            assert len({notes[i].pitch for i in chord}) == len(chord)
    assert sizes[3] == 3
    assert sizes[32] > 3


class _ChordModel(FakeModel):
    """A FakeModel that wants every next note in the same chord (SHIFT 0 at +50 logits)."""

    def step(self, token, state, style):
        logits, state = super().step(token, state, style)
        logits = logits.copy()
        logits[SHIFT_OFFSET] += 50.0
        return logits, state


@pytest.mark.parametrize(("changes", "chord"), [({}, 10), ({"max_chord": 3}, 3),
                                                ({"monophonic": True}, 1)])
def test_a_full_chord_never_draws_a_shift_under_40_ms(changes, chord):
    gen = Generator(_ChordModel(), PRESET.replace(pitch_low=21, pitch_high=108, **changes), seed=0)
    gen.begin_response(1.0)
    onsets = [gen.next_note().onset_s for _ in range(30)]
    sizes = [len(c) for c in _chords(onsets)]
    assert sizes[:-1] == [chord] * (len(sizes) - 1)  # every chord fills up, and no further
    steps = np.diff(onsets)
    assert all(step == 0.0 or step >= CHORD_SPAN_S - 1e-9 for step in steps)


def test_monophonic_early_shift_is_dropped_by_restore_prime_and_reset():
    gen = Generator(FakeModel(), PRESET.replace(monophonic=True), seed=0)
    gen.prime(PHRASE[0])
    snap = gen.snapshot()
    for leave in (lambda: gen.restore(snap), lambda: gen.prime(PHRASE[1]), gen.reset):
        gen.begin_response((gen.clock_s or 0.0) + 1.0)
        note = gen.next_note()
        assert gen.next_onset_s is not None and gen.next_onset_s > note.onset_s
        leave()
        assert gen.next_onset_s is None
    gen.begin_response(9.0)  # the grammar is intact: a response follows
    assert gen.next_note().onset_s == 9.0


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
    assert onsets[0] == pytest.approx(trigger_s) and all(due >= trigger_s for due in onsets)
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


def test_response_is_prepared_before_the_silence_deadline_and_sounds_on_it():
    rig = make_rig(prepare_s=0.05)
    rig.play(PHRASE)
    deadline_s = rig.clock() + PRESET.silence_s
    rig.poll_for(PRESET.silence_s - 0.05 - STEP_S)
    assert not rig.engine.responding
    rig.poll_for(STEP_S)
    assert rig.engine.responding and rig.clock() < deadline_s  # prepared ahead
    firsts = rig.note_ons_scheduled()
    assert firsts and all(due == pytest.approx(deadline_s) for _, due, _ in firsts)  # first onset only
    assert rig.port.note_ons() == []  # nothing sounds before the deadline
    rig.poll_for(deadline_s - rig.clock() + STEP_S)
    assert rig.port.note_ons()
    assert rig.engine.scheduler.first_note_on_s == pytest.approx(deadline_s, abs=STEP_S)


def test_performer_note_before_the_deadline_preempts_a_prepared_response_silently():
    rig = make_rig(prepare_s=0.05)
    rig.play(PHRASE)
    before = rig.engine.generator.snapshot()
    rig.poll_for(PRESET.silence_s - 0.02)  # prepared, not yet sounding
    assert rig.engine.responding and rig.note_ons_scheduled()
    rig.engine.feed([0x90, 72, 90], rig.clock())
    rig.engine.poll()
    assert not rig.engine.responding and rig.engine.scheduler.pending() == 0
    assert rig.port.note_ons() == []  # it never sounded
    stats = rig.engine.stats
    assert stats.responses == 0 and stats.barge_ins == 0 and stats.latencies_ms == []
    assert rig.engine.generator.history == before.history  # the performer's context is back
    rig.poll_for(0.1)
    rig.engine.feed([0x80, 72, 0], rig.clock())
    rig.engine.poll()
    assert rig.engine.generator.history[-1].pitch == 72  # primed as any performer note
    rig.poll_for(PRESET.silence_s + 0.05)  # the phrase, one note longer, is answered
    assert rig.engine.stats.responses == 1 and rig.port.note_ons()


def test_generation_runs_ahead_only_by_the_lookahead():
    rig = make_rig()
    rig.play(PHRASE)
    rig.run_until_responding()
    rig.poll_for(PRESET.max_seconds + 1.0)
    ons = rig.note_ons_scheduled()
    lead = rig.engine.prepare_s
    assert all(due - at <= PRESET.lookahead_s + lead + 1e-9 for at, due, _ in ons)


def test_response_respects_max_notes_and_max_seconds():
    preset = PRESET.replace(max_notes=5, max_seconds=1.0)
    rig = make_rig(preset)
    rig.play(PHRASE[:3])
    trigger_s = rig.run_until_responding()
    rig.poll_for(3.0)
    ons = rig.note_ons_scheduled()
    assert 1 <= len(ons) <= 5
    assert all(due <= trigger_s + 1.0 + 1e-9 for _, due, _ in rig.scheduled)
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


@pytest.mark.parametrize("prepare_s", [0.0, -0.01, float("nan")])
def test_engine_bad_prepare_raises_value_error(prepare_s):
    with pytest.raises(ValueError, match="prepare_s"):
        Engine(FakeModel(), PRESET, FakePort().send, prepare_s=prepare_s)


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


class _SlowModel(FakeModel):
    """A model whose every step takes at least ``step_s`` of real time."""

    def __init__(self, step_s: float) -> None:
        super().__init__()
        self.step_s = step_s

    def step(self, token, state, style):
        time.sleep(self.step_s)
        return super().step(token, state, style)


@pytest.mark.parametrize("step_s", [0.0, 0.003])
def test_a_rebuild_slice_never_runs_closer_to_the_trigger_than_twice_its_measured_cost(step_s):
    # 4 notes of context: a slice re-primes 4 notes = 16 steps, >= 48 ms at 3 ms a step,
    # so it needs the trigger >= 96 ms away; each note_off leaves it 70 ms away
    preset = PRESET.replace(context_notes=4, silence_s=0.09, silence_adaptive=False)
    clock = FakeClock()
    engine = Engine(_SlowModel(step_s), preset, FakePort(clock).send, now=clock, seed=1, prepare_s=0.02)
    rig = Rig(clock, FakePort(clock), engine.model, engine)
    silent_at_rebuild = []
    rebuild_step = engine.generator.rebuild_step

    def recording_rebuild_step(notes):
        silent_at_rebuild.append(engine.buffer.silent)
        return rebuild_step(notes)

    engine.generator.rebuild_step = recording_rebuild_step
    rig.play([Note(60 + i % 5, 80, 0.2 * i, 0.15) for i in range(14)])
    assert silent_at_rebuild and engine.stats.rebuilds >= 1, "no rebuild"
    if step_s:
        assert engine.generator.rebuild_margin_s >= 2 * 16 * step_s
        assert not any(silent_at_rebuild)  # put off to while a key was down, the trigger unknown
    else:
        assert REBUILD_MARGIN_S <= engine.generator.rebuild_margin_s < 0.07
        assert all(silent_at_rebuild)  # at once, 70 ms before the trigger: a cheap rebuild fits


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


# -- DAW sync, triggers, live control -----------------------------------------------------

BEAT_S = 0.5  # 120 BPM
CLOCKED = PRESET.replace(clock="midi", quantize_start="beat", quantize="1/16", response_bars=2,
                         max_seconds=30.0, max_notes=64)


def add_midi_clock(rig: Rig, bpm: float = 120.0) -> float:
    """Send Start, then a clock every 1/24 beat stamped at its exact time; return beat 1's time.

    ``rig.stop_clock()`` stops the clocks; ``rig.delay_clock(s)`` delays every later one.
    """
    tick_s = 60.0 / bpm / 24
    first_s = rig.clock()
    state = {"next": first_s, "running": True}
    rig.engine.feed([0xFA], first_s)
    poll = rig.engine.poll

    def poll_with_clock():
        while state["running"] and state["next"] <= rig.clock():
            rig.engine.feed([0xF8], state["next"])
            state["next"] += tick_s
        return poll()

    rig.engine.poll = poll_with_clock
    rig.stop_clock = lambda: state.update(running=False)
    rig.delay_clock = lambda delay_s: state.update(next=state["next"] + delay_s)
    return first_s


def on_grid(t: float, origin_s: float, step_s: float) -> bool:
    return abs((t - origin_s) / step_s - round((t - origin_s) / step_s)) * step_s < 1e-6


def dues_of_note_ons(rig: Rig) -> list[float]:
    return [due for _, due, _ in rig.note_ons_scheduled()]


def test_clock_synced_response_starts_on_the_next_beat_on_the_16th_grid():
    rig = make_rig(CLOCKED)
    beat1_s = add_midi_clock(rig)
    rig.poll_for(1.0)
    rig.play(PHRASE)
    trigger_s = rig.run_until_responding()
    rig.poll_for(6.0)
    dues = dues_of_note_ons(rig)
    assert len(dues) >= 4
    assert on_grid(dues[0], beat1_s, BEAT_S)
    assert trigger_s <= dues[0] <= trigger_s + BEAT_S
    assert all(on_grid(due, beat1_s, BEAT_S / 4) for due in dues)
    last_s = max(due for _, due, _ in rig.scheduled)
    assert last_s <= dues[0] + 2 * 4 * BEAT_S + 1e-9  # response_bars: 2 bars of 4/4
    assert max(dues) < dues[0] + 2 * 4 * BEAT_S - 1e-6  # no note on the next bar line
    assert hanging_notes(rig.port.messages) == {}
    assert rig.engine.clock.tempo_bpm == pytest.approx(120.0)


def test_notes_follow_the_clock_when_it_stalls_mid_response():
    rig = make_rig(CLOCKED.replace(response_bars=4, lookahead_s=1.0))
    beat1_s = add_midi_clock(rig)
    rig.poll_for(1.0)
    rig.play(PHRASE)
    rig.run_until_responding()
    rig.poll_for(0.6)
    rig.delay_clock(0.03)  # the DAW's clock stalls 30 ms and goes on from there
    step_s = rig.clock()
    rig.poll_for(9.0)
    # the step shows after 3 more ticks (~0.1 s); every note sounding after that and the
    # 0.1 s horizon follows the clock (with lookahead_s 1.0, notes up to 1 s ahead were drawn
    # before the step: they are placed by song position and read off the latest fit)
    later = [due for _, due, m in rig.scheduled if m.type == "note_on" and due > step_s + 0.25]
    assert later and all(on_grid(due - 0.03, beat1_s, BEAT_S / 4) for due in later)
    assert hanging_notes(rig.port.messages) == {}


def _scheduled_notes(rig: Rig) -> list[tuple[float, float]]:
    """(note_on due, its note_off due) of each scheduled note, in order."""
    ons = {}
    pairs = []
    for _, due, msg in rig.scheduled:
        if msg.type == "note_on":
            ons[msg.note] = len(pairs)
            pairs.append([due, None])
        elif msg.type == "note_off" and msg.note in ons:
            pairs[ons.pop(msg.note)][1] = due
    return [(on, off) for on, off in pairs]


def _clocked_response(preset: Preset) -> Rig:
    """A rig (short shifts favoured) that played PHRASE against a 120 BPM clock and answered."""
    rig = make_rig(preset, time_bias=6.0)
    add_midi_clock(rig)
    rig.poll_for(1.0)
    rig.play(PHRASE)
    rig.run_until_responding()
    rig.poll_for(6.0)
    return rig


@pytest.mark.parametrize("monophonic", [False, True])
def test_monophonic_on_the_grid_never_stacks_or_overlaps_notes(monophonic):
    rig = _clocked_response(CLOCKED.replace(quantize="1/8", monophonic=monophonic,
                                            max_duration_s=2.0))
    notes = _scheduled_notes(rig)
    assert len(notes) >= 4
    one_line = all(a_on < b_on and a_off <= b_on + 1e-9
                   for (a_on, a_off), (b_on, _) in zip(notes, notes[1:]))
    assert one_line == monophonic  # the same music without the mode stacks or overlaps notes
    assert hanging_notes(rig.port.messages) == {}


@pytest.mark.parametrize("cap", [2, 32])
def test_max_chord_holds_on_the_grid(cap):
    rig = _clocked_response(CLOCKED.replace(quantize="1/4", max_chord=cap))
    largest = _largest_chord(dues_of_note_ons(rig))
    assert largest <= 2 if cap == 2 else largest > 2  # quarter notes gather several onsets
    assert hanging_notes(rig.port.messages) == {}


def test_quantize_start_bar_and_half_strength():
    rig = make_rig(CLOCKED.replace(quantize_start="bar", quantize="1/8", quantize_strength=0.0))
    beat1_s = add_midi_clock(rig)
    rig.poll_for(0.3)
    rig.play(PHRASE[:3])
    rig.run_until_responding()
    rig.poll_for(5.0)
    dues = dues_of_note_ons(rig)
    assert on_grid(dues[0], beat1_s, 4 * BEAT_S)
    assert not all(on_grid(due, beat1_s, BEAT_S / 2) for due in dues)  # strength 0: as drawn


def test_swing_moves_the_off_beat_eighths():
    rig = make_rig(CLOCKED.replace(quantize="1/8", swing=1 / 3), time_bias=6.0)
    beat1_s = add_midi_clock(rig)
    rig.poll_for(0.3)
    rig.play(PHRASE[:3])
    rig.run_until_responding()
    rig.poll_for(5.0)
    dues = dues_of_note_ons(rig)
    swung = BEAT_S * 2 / 3
    assert all(on_grid(due, beat1_s, BEAT_S) or on_grid(due - swung, beat1_s, BEAT_S)
               for due in dues)
    assert any(on_grid(due - swung, beat1_s, BEAT_S) for due in dues)


def test_without_a_clock_the_response_starts_on_the_performers_beat():
    preset = PRESET.replace(quantize_start="beat", quantize="1/8", response_bars=1)
    rig = make_rig(preset)
    start_s = rig.clock()
    rig.play([Note(60 + i, 80, 0.5 * i, 0.3) for i in range(8)])  # quarters at 120 BPM
    assert rig.engine.tempo.grid().bpm == pytest.approx(120.0, rel=1e-3)
    rig.run_until_responding()
    rig.poll_for(3.0)
    dues = dues_of_note_ons(rig)
    assert dues and abs((dues[0] - start_s) / BEAT_S - round((dues[0] - start_s) / BEAT_S)) < 0.01
    assert max(due for _, due, _ in rig.scheduled) <= dues[0] + 4 * BEAT_S + 1e-6


def test_clock_preset_without_a_running_clock_answers_as_before():
    rig = make_rig(PRESET.replace(clock="midi"))
    rig.play(PHRASE)
    trigger_s = rig.run_until_responding()
    rig.poll_for(1.0)
    assert dues_of_note_ons(rig)[0] == pytest.approx(trigger_s)


def test_bars_trigger_starts_on_every_second_bar_line():
    preset = CLOCKED.replace(trigger="bars", trigger_bars=2, response_bars=1)
    rig = make_rig(preset)
    beat1_s = add_midi_clock(rig)
    rig.poll_for(5.0)
    assert rig.engine.stats.responses == 0  # nothing played: nothing to answer
    rig.play(PHRASE[:4])
    rig.poll_for(8.0)
    dues = dues_of_note_ons(rig)
    assert rig.engine.stats.responses == 1 and dues
    assert on_grid(dues[0], beat1_s, 2 * 4 * BEAT_S)
    assert hanging_notes(rig.port.messages) == {}


def test_clock_stop_ends_the_response_with_nothing_sounding():
    rig = make_rig(CLOCKED.replace(response_bars=8))
    add_midi_clock(rig)
    rig.poll_for(0.5)
    rig.play(PHRASE)
    rig.run_until_responding()
    rig.poll_for(1.5)
    assert rig.port.note_ons()
    rig.stop_clock()
    rig.engine.feed([0xFC], rig.clock())
    rig.engine.poll()
    assert not rig.engine.responding and rig.engine.scheduler.pending() == 0
    assert hanging_notes(rig.port.messages) == {}


def test_continuous_plays_alongside_without_barge_in():
    preset = PRESET.replace(trigger="continuous", max_seconds=0.5, pitch_low=60, pitch_high=61)
    rig = make_rig(preset)
    rig.engine.feed([0x90, 60, 80], rig.clock())  # the performer holds 60 throughout
    rig.play([Note(72 + i % 3, 80, 0.2 * i, 0.1) for i in range(15)])
    during = rig.engine.stats
    assert during.responses >= 3 and during.barge_ins == 0
    sent = len(rig.port.messages)
    rig.poll_for(3.0)  # the performer stopped: one more chunk at most, then quiet
    assert rig.engine.stats.responses <= during.responses + 1
    assert not rig.engine.responding
    rig.engine.feed([0x80, 60, 0], rig.clock())
    rig.poll_for(1.0)
    assert len(rig.port.messages) >= sent
    assert {m.note for m in rig.port.note_ons()} == {61}  # never the held 60
    assert hanging_notes(rig.port.messages) == {}
    assert rig.engine.generator.history[-1].pitch in (60, 72, 73, 74)  # primed after chunks


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
    rig.engine.poll()
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
    rig.poll_for(PRESET.max_seconds)
    assert rig.engine.generator.primed_since_reset == primed
    assert hanging_notes(rig.port.messages) == {}


def test_no_generated_note_takes_a_held_pitch():
    preset = PRESET.replace(trigger="cc", pitch_low=60, pitch_high=62, max_seconds=3.0)
    rig = make_rig(preset, time_bias=6.0)
    for pitch in (60, 61):
        rig.engine.feed([0x90, pitch, 80], rig.clock())
    rig.engine.feed([0xB0, 67, 127], rig.clock())
    rig.poll_for(4.0)
    assert rig.port.note_ons() and {m.note for m in rig.port.note_ons()} == {62}
    rig.engine.feed([0x90, 62, 80], rig.clock())  # now every allowed pitch is held
    rig.engine.feed([0xB0, 67, 0], rig.clock())
    rig.engine.feed([0xB0, 67, 127], rig.clock())
    sent = len(rig.port.note_ons())
    rig.poll_for(4.0)
    assert len(rig.port.note_ons()) == sent and rig.engine.stats.collisions_avoided > 0


def test_adaptive_silence_follows_the_players_spacing():
    preset = PRESET.replace(silence_s=0.5, silence_adaptive=True, silence_min_s=0.3,
                            silence_max_s=1.5)
    slow = make_rig(preset)
    slow.play([Note(60 + i, 80, 0.7 * i, 0.2) for i in range(5)])  # 0.5 s gaps between notes
    assert not slow.engine.responding  # a fixed 0.5 s would have cut in
    end_s = slow.clock()
    assert slow.run_until_responding() >= end_s + 1.4 - STEP_S  # 2 x 0.7 s
    fast = make_rig(preset)
    fast.play([Note(60 + i, 80, 0.1 * i, 0.05) for i in range(8)])
    end_s = fast.clock()
    assert fast.run_until_responding() < end_s + 0.3 + 2 * STEP_S  # clamped to silence_min_s


def test_cc_map_sets_temperature_length_and_enabled_live():
    preset = PRESET.replace(cc_map={21: "temperature", 22: "response_length", 23: "enabled"})
    rig = make_rig(preset)
    rig.play(PHRASE)
    rig.run_until_responding()
    rig.poll_for(0.2)
    rig.engine.feed([0xB0, 21, 127], rig.clock())
    rig.engine.feed([0xB0, 22, 0], rig.clock())
    rig.engine.poll()
    assert rig.engine.responding  # live changes do not cut the response
    assert rig.engine.preset.temperature == 2.0 and rig.engine.generator.sampler.temperature == 2.0
    assert rig.engine.preset.max_seconds == 1.0
    rig.engine.feed([0xB0, 23, 0], rig.clock())  # off: silence now
    rig.engine.poll()
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
    rig.poll_for(PRESET.max_seconds + 1)
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


def test_barge_in_with_the_sustain_pedal_down_leaves_nothing_sounding():
    rig = make_rig()
    rig.engine.feed([0xB0, 64, 127], rig.clock())
    rig.play(PHRASE[:4])
    rig.engine.feed([0xB0, 64, 0], rig.clock())
    rig.run_until_responding()
    rig.poll_for(0.4)
    assert rig.port.note_ons()
    rig.engine.feed([0xB0, 64, 127], rig.clock())  # pedal down: not yet a barge-in
    rig.engine.poll()
    assert rig.engine.responding
    rig.engine.feed([0x90, 67, 90], rig.clock())
    rig.engine.poll()
    rig.engine.feed([0x80, 67, 0], rig.clock())  # key up, held by the pedal
    rig.poll_for(PRESET.silence_s * 3)
    assert not rig.engine.responding and rig.engine.stats.barge_ins == 1
    assert rig.engine.scheduler.sounding() == {} and hanging_notes(rig.port.messages) == {}
    rig.engine.feed([0xB0, 64, 0], rig.clock())
    rig.run_until_responding()
    rig.poll_for(PRESET.max_seconds + 1)
    assert hanging_notes(rig.port.messages) == {}


FEATURES = PRESET.replace(clock="midi", quantize_start="beat", quantize="1/16", swing=0.2,
                          response_bars=1, trigger="cc", silence_s=0.1, max_seconds=0.5,
                          cc_map={21: "temperature", 22: "response_length", 23: "enabled"})
MESSAGES = st.sampled_from([[0xF8], [0xFA], [0xFB], [0xFC], [0xF2, 4, 0], [0xC0, 1], [0xC0, 2],
                            [0xB0, 67, 127], [0xB0, 67, 0], [0xB0, 64, 127], [0xB0, 64, 0],
                            [0xB0, 21, 90], [0xB0, 22, 10], [0xB0, 23, 0], [0xB0, 23, 127],
                            [0x90, 60, 80], [0x80, 60, 0], [0x90, 62, 80], [0x80, 62, 0]])


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


class _ChordLovingModel:
    """Always prefers a chord tone (shift 0) and pitch 60, then 62, then 64."""

    styles = ("classical",)

    def style_id(self, style: str) -> int:
        return 0

    def initial_state(self):
        return None

    def step(self, token, state, style):
        from livegen import tokens

        logits = np.zeros(tokens.VOCAB_SIZE, dtype=np.float32)
        logits[tokens.SHIFT_OFFSET] = 20.0  # shift 0: another note of the same chord
        for rank, pitch in enumerate((60, 62, 64)):
            logits[tokens.PITCH_OFFSET + pitch] = 20.0 - 5.0 * rank
        return logits, state


def test_a_generated_chord_never_doubles_a_pitch():
    preset = PRESET.replace(temperature=0.5, top_p=0.5)
    generator = Generator(_ChordLovingModel(), preset, seed=0)
    generator.begin_response(1.0)
    notes = [generator.next_note() for _ in range(3)]
    assert all(n.onset_s == 1.0 for n in notes)
    assert [n.pitch for n in notes] == [60, 62, 64]  # without the chord mask: 60, 60, 60
    generator.begin_response(2.0)  # a new onset: the chord starts again
    assert generator.next_note().pitch == 60


def test_a_key_whose_note_off_was_lost_is_released_and_livegen_answers():
    rig = make_rig()
    rig.play(PHRASE[:4])
    rig.engine.feed([0x90, 50, 80], rig.clock())  # its note_off never arrives
    rig.poll_for(STUCK_KEY_S - 0.5)
    assert not rig.engine.responding and rig.engine.stats.stuck_keys == 0
    rig.poll_for(1.0)
    assert rig.engine.stats.stuck_keys == 1 and rig.engine.buffer.silent
    assert rig.engine.generator.history[-1].pitch == 50
    rig.poll_for(PRESET.silence_s + 0.1)
    assert rig.engine.stats.responses == 1 and rig.port.note_ons()


def test_performer_all_notes_off_ends_held_keys_but_not_the_pedal():
    rig = make_rig()
    rig.engine.feed([0x90, 60, 80], rig.clock())
    rig.engine.feed([0xB0, 64, 127], rig.clock())
    rig.engine.feed([0x90, 64, 80], rig.clock())
    rig.engine.feed([0xB0, 123, 0], rig.clock() + 0.1)  # All Notes Off: the pedal still holds
    rig.engine.poll()
    assert rig.engine.buffer.sounding == {60, 64}
    rig.engine.feed([0xB0, 121, 0], rig.clock() + 0.2)  # Reset All Controllers: pedal up
    rig.engine.poll()
    assert rig.engine.buffer.silent
    assert [n.pitch for n in rig.engine.generator.history] == [60, 64]
    rig.engine.feed([0x90, 67, 80], rig.clock() + 0.3)
    rig.engine.feed([0xB0, 120, 0], rig.clock() + 0.4)  # All Sound Off
    rig.engine.poll()
    assert rig.engine.buffer.silent and rig.engine.generator.history[-1].pitch == 67


def test_engine_wants_fast_input_while_responding_or_with_a_footswitch_or_clock():
    rig = make_rig()
    assert not rig.engine.wants_fast_input()
    rig.play(PHRASE)
    rig.run_until_responding()
    assert rig.engine.wants_fast_input()  # a barge-in must be heard at once
    for preset in (PRESET.replace(trigger="cc", trigger_cc=20), PRESET.replace(clock="midi")):
        assert make_rig(preset).engine.wants_fast_input()


@pytest.mark.parametrize("seed", range(6))
def test_a_clock_that_speeds_up_never_pushes_a_note_onto_the_bar_after_the_response(seed):
    # the response's end is fixed in seconds at the trigger; a clock that then runs a
    # little fast moves the bar line that ends it earlier, and a note snapped to that
    # line must still be dropped: it belongs to the next bar, by song position
    rig = make_rig(CLOCKED.replace(response_bars=1, max_notes=64), seed=seed)
    add_midi_clock(rig)
    rig.poll_for(1.0)
    rig.play(PHRASE)
    rig.run_until_responding()
    start_tick = rig.engine.clock.grid().position(dues_of_note_ons(rig)[0])
    for _ in range(40):  # 2 s: every 50 ms the next clocks come 0.4 ms earlier
        rig.delay_clock(-0.0004)
        rig.poll_for(0.05)
    grid = rig.engine.clock.grid()
    positions = [grid.position(due) - start_tick for due in dues_of_note_ons(rig)]
    assert max(positions) < 4 * CLOCKS_PER_BEAT - 0.5, positions
