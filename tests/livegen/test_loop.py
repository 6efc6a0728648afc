"""Tests of livegen.loop: the engine thread, its queue, and errors survived."""

from __future__ import annotations

import time

import mido
import pytest
from fakes import FakeClock, FakeModel, FakePort, hanging_notes
from rig import (
    PHRASE,
    PRESET,
    make_rig,
)

from livegen.engine import Engine
from livegen.loop import ERROR_BACKOFF_S, EngineLoop
from livegen.midi import CC_ALL_NOTES_OFF, CC_ALL_SOUND_OFF
from livegen.scheduler import Scheduler


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
    rig.poll_for(PRESET.answer.max_seconds + 1)
    assert rig.port.note_ons() and hanging_notes(rig.port.messages) == {}


def test_engine_failing_mid_response_panics_and_carries_on():
    rig = make_rig()
    rig.play(PHRASE)
    rig.run_until_responding()
    rig.poll_for(0.2)
    rig.model.fail_at_step = rig.model.steps + 1
    rig.poll_for(PRESET.answer.max_seconds)
    assert rig.engine.stats.errors >= 1 and not rig.engine.responding
    assert hanging_notes(rig.port.messages) == {}
    assert rig.port.controls(CC_ALL_NOTES_OFF)


# -- EngineLoop on its own ------------------------------------------------------------------


class _Machine:
    """Records what the loop hands it; ``fail`` makes handle() raise."""

    def __init__(self) -> None:
        self.items: list[tuple[float, object]] = []
        self.ticks: list[float] = []
        self.recovered = 0
        self.fail = False
        self.wait: float | None = None

    def handle(self, timestamp_s, data):
        if self.fail:
            raise RuntimeError("machine failure")
        self.items.append((timestamp_s, data))

    def tick(self, now_s):
        self.ticks.append(now_s)
        return self.wait

    def recover(self):
        self.recovered += 1


def _loop(now=None):
    clock = FakeClock() if now is None else now
    machine = _Machine()
    scheduler = Scheduler(FakePort().send, now=clock)
    return clock, machine, scheduler, EngineLoop(machine, scheduler, clock)


def test_poll_hands_every_queued_item_over_then_ticks_and_waits_for_the_scheduler():
    clock, machine, scheduler, loop = _loop()
    loop.feed([0x90, 60, 80], 1.0)
    loop.feed([0x80, 60, 0], 2.0)
    machine.wait = 0.3
    assert loop.poll() == 0.3
    assert machine.items == [(1.0, [0x90, 60, 80]), (2.0, [0x80, 60, 0])]
    assert machine.ticks == [clock()]
    scheduler.schedule(clock() + 0.1, mido.Message("note_on", note=60, velocity=80))
    assert loop.poll() == pytest.approx(0.1)  # the scheduler's next due comes first
    machine.wait = None
    assert loop.poll() == pytest.approx(0.1)
    scheduler.cancel()


def test_an_error_in_a_step_is_survived_and_the_machine_recovers():
    _, machine, _, loop = _loop()
    machine.fail = True
    loop.feed([0x90, 60, 80], 1.0)
    loop.feed([0x90, 62, 80], 1.1)
    assert loop.poll() == ERROR_BACKOFF_S and machine.recovered == 1
    machine.fail = False
    loop.feed([0x90, 64, 80], 1.2)
    loop.poll()
    assert machine.items[-1] == (1.2, [0x90, 64, 80]) and machine.recovered == 1


def test_halt_is_idempotent_and_a_halted_loop_never_starts_again():
    _, _, _, loop = _loop()
    assert loop.halt(1.0) and not loop.halt(1.0)
    with pytest.raises(RuntimeError, match="stopped"):
        loop.start()


def test_the_thread_wakes_on_input_and_halts():
    _, machine, scheduler, loop = _loop(time.monotonic)
    loop.start()
    loop.start()  # idempotent
    assert scheduler.running
    loop.feed([0x90, 60, 80], time.monotonic())
    assert wait_for(lambda: machine.items)
    assert loop.halt(2.0)
    scheduler.stop()
    ticks = len(machine.ticks)
    time.sleep(0.01)
    assert len(machine.ticks) == ticks  # no step after the halt
