"""Tests of livegen.loop: the engine thread, its queue, and errors survived."""

from __future__ import annotations

import time

import pytest
from fakes import FakeModel, FakePort, hanging_notes
from rig import (
    PHRASE,
    PRESET,
    make_rig,
)

from livegen.engine import Engine
from livegen.midi import CC_ALL_NOTES_OFF, CC_ALL_SOUND_OFF


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
