"""Tests of livegen.rebuild: the state rebuilt from the window in slices, paced by its cost."""

from __future__ import annotations

import time

import numpy as np
import pytest
from fakes import FakeClock, FakeModel, FakePort
from rig import (
    PRESET,
    Rig,
    make_rig,
)

from livegen.engine import Engine
from livegen.generation import Generator
from livegen.notes import Note
from livegen.rebuild import (
    DRIFT_WINDOWS,
    PRIME_COST_SMOOTHING,
    REBUILD_MARGIN_S,
    REBUILD_SAFETY,
    REBUILD_SLICE_NOTES,
    Rebuild,
    SlicedRebuild,
)


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
def test_a_rebuild_slice_never_runs_closer_to_the_trigger_than_twice_its_measured_cost(step_s, monkeypatch):
    # 4 notes of context: a slice re-primes 4 notes = 16 steps, >= 48 ms at 3 ms a step,
    # so it needs the trigger >= 96 ms away; each note_off leaves it 70 ms away
    if not step_s:  # a free model: priming costs nothing, whatever else this machine runs
        import types

        from livegen import generation, rebuild
        free = types.SimpleNamespace(perf_counter=lambda: 0.0)
        monkeypatch.setattr(generation, "time", free)
        monkeypatch.setattr(rebuild, "time", free)
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
        # a fast model: the margin is twice the measured cost of a slice (real time, so no fixed
        # bound: this machine may be busy), and never below the floor
        rebuild = engine.generator._rebuild
        expected_s = rebuild._prime_cost_s * min(REBUILD_SLICE_NOTES, 4)
        assert engine.generator.rebuild_margin_s == pytest.approx(
            max(REBUILD_MARGIN_S, REBUILD_SAFETY * expected_s))
        assert all(silent_at_rebuild)  # at once, 70 ms before the trigger: a cheap rebuild fits


# -- SlicedRebuild and Generator.rebuild_slice ------------------------------------------


def test_the_margin_follows_the_measured_cost_and_never_falls_below_its_floor():
    rebuild = SlicedRebuild(fresh=lambda: None)
    assert rebuild.prime_cost_s is None and rebuild.margin_s(50) == REBUILD_MARGIN_S
    rebuild.note_cost(0.004)
    assert rebuild.prime_cost_s == 0.004  # the first measurement as it is
    assert rebuild.margin_s(50) == pytest.approx(REBUILD_SAFETY * REBUILD_SLICE_NOTES * 0.004)
    assert rebuild.margin_s(2) == pytest.approx(REBUILD_SAFETY * 2 * 0.004)  # a short window
    rebuild.note_cost(0.0)
    assert rebuild.prime_cost_s == pytest.approx(0.004 * (1 - PRIME_COST_SMOOTHING))
    rebuild.note_cost(0.0)
    assert rebuild.margin_s(50) >= REBUILD_MARGIN_S


def test_a_rebuild_is_due_after_more_than_two_windows_of_notes():
    assert DRIFT_WINDOWS == 2
    assert not SlicedRebuild.drifted(32, 16) and SlicedRebuild.drifted(33, 16)


def test_rebuild_slice_waits_for_room_then_slices_until_the_window_is_rebuilt():
    preset = PRESET.replace(context_notes=6)
    notes = [Note(60 + i % 7, 80, 0.25 * i, 0.2) for i in range(13)]
    gen = Generator(FakeModel(), preset, seed=0)
    for note in notes[:12]:
        gen.prime(note)
    assert gen.rebuild_slice(None) is Rebuild.IDLE  # 12 notes: not yet two windows' worth
    gen.prime(notes[12])
    assert gen.rebuild_slice(0.0) is Rebuild.IDLE and not gen.rebuilding  # the trigger is now
    assert gen.rebuild_slice(gen.rebuild_margin_s - 1e-6) is Rebuild.IDLE
    assert gen.rebuild_slice(None) is Rebuild.SLICED and gen.rebuilding  # 4 of the 6 notes
    assert gen.rebuild_slice(gen.rebuild_margin_s) is Rebuild.DONE and not gen.rebuilding
    assert gen.primed_since_reset == 6 and gen.rebuild_slice(None) is Rebuild.IDLE
    fresh = Generator(FakeModel(), preset, seed=0)
    for note in notes[-6:]:
        fresh.prime(note)
    np.testing.assert_allclose(gen.snapshot().logits, fresh.snapshot().logits, rtol=1e-6)


# -- a flood during a rebuild (issue 15, item 5) ---------------------------------------------

FLOOD = 2000


def test_a_flood_primed_during_a_rebuild_leaves_it_at_most_a_window_to_replay():
    preset = PRESET.replace(context_notes=16)
    window = preset.context_notes
    gen = Generator(FakeModel(), preset, seed=0)
    notes = [Note(40 + i % 40, 80, 0.01 * i, 0.005) for i in range(window + FLOOD)]
    for note in notes[:window]:
        gen.prime(note)
    gen.start_rebuild()
    for note in notes[window:]:  # the flood: the live generator primes every note
        gen.prime(note)
    steps_before = gen.model.steps
    slices = 1
    while not gen.rebuild_step(REBUILD_SLICE_NOTES):
        slices += 1
    # only the last window's notes matter to the state: before, the rebuild replayed the
    # whole flood (FLOOD notes, 4 steps each)
    assert gen.model.steps - steps_before <= 4 * window
    assert slices <= window // REBUILD_SLICE_NOTES + 1
    fresh = Generator(FakeModel(), preset, seed=0)  # the state is exactly the window's
    for note in notes[-window:]:
        fresh.prime(note)
    np.testing.assert_allclose(gen.snapshot().logits, fresh.snapshot().logits, rtol=1e-6)
    assert gen.history == fresh.history


def test_a_flood_in_small_bursts_costs_its_priming_and_little_rebuild_work_beside():
    preset = PRESET.replace(context_notes=16, silence_s=30.0, silence_adaptive=False)
    rig = make_rig(preset)
    rig.play([Note(60 + i % 12, 80, 0.1 * i, 0.05) for i in range(2 * 16 + 1)])  # a rebuild is due
    steps_before = rig.model.steps
    burst = 10  # notes per engine step: each primed (too few to wait for the flood's end)
    for start in range(0, FLOOD, burst):
        for i in range(start, start + burst):
            rig.engine.feed([0x90, 40 + i % 40, 80], rig.clock())
            rig.engine.feed([0x80, 40 + i % 40, 0], rig.clock())
        rig.clock.advance(0.01)
        rig.engine.poll()  # primes the burst, then one rebuild slice of 4 notes
    polls = 1
    while rig.engine.poll() == 0.0:  # the rebuild's last slices
        polls += 1
    assert not rig.engine.generator.rebuilding
    priming = 4 * FLOOD  # each note of the flood primed once, as it finished
    rebuilding = rig.model.steps - steps_before - priming
    print(f"\n{FLOOD}-note flood in bursts of {burst}: {priming} priming steps, {rebuilding} rebuild "
          f"steps, {polls} polls after it")
    # before, the rebuild fell 6 notes behind each step and replayed most of the flood after it
    assert 0 <= rebuilding <= priming // 10
