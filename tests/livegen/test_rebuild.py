"""Tests of livegen.rebuild: the state rebuilt from the window in slices, paced by its cost."""

from __future__ import annotations

import time

import pytest
from fakes import FakeClock, FakeModel, FakePort
from rig import (
    PRESET,
    Rig,
    make_rig,
)

from livegen.engine import Engine
from livegen.notes import Note
from livegen.rebuild import REBUILD_MARGIN_S


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
