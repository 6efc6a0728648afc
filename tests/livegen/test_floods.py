"""Floods and bounded work (issue 15, item 4): program and controller bursts, the input queue, stop.

Each test counts work (model steps, preset switches, items handled), never
time, except the stop test, which compares the stop's wall time with the
backlog's, a ratio of 10 or more, on a slow fake model.
"""

from __future__ import annotations

import math
import threading
import time

import numpy as np
from fakes import FakeModel, FakePort, hanging_notes
from rig import PHRASE, PRESET, make_rig

from livegen.control import apply_control
from livegen.engine import Engine
from livegen.generation import Generator
from livegen.loop import INPUT_QUEUE_LIMIT, MAX_ITEMS_PER_STEP, EngineLoop
from livegen.scheduler import Scheduler
from livegen.tokens import TOKENS_PER_NOTE

#: program -> a preset of another style each, so every switch would rebuild the model state
PROGRAMS = {p: PRESET.replace(style=style, channel=3 + p)
            for p, style in enumerate(("romantic", "baroque", "modern", "folk", "classical"))}
BURST = 600


def _answered_phrase(rig) -> None:
    rig.play(PHRASE)
    rig.run_until_responding()
    rig.poll_for(PRESET.answer.max_seconds + 1.0)
    assert not rig.engine.responding


def _rebuild_steps(rig) -> int:
    """Model steps of one rebuild of the current window (BOS + 4 tokens a note)."""
    return 1 + TOKENS_PER_NOTE * len(rig.engine.generator.history)


def _poll_until_drained(rig, limit: int = 100) -> int:
    """Poll (without moving the clock) until the queued input is handed over; return the polls."""
    for polls in range(1, limit + 1):
        if rig.engine.poll() != 0.0:
            return polls
    raise AssertionError("the input queue never drained")


def test_a_program_change_burst_switches_preset_once_per_step_not_once_per_message():
    rig = make_rig(programs=PROGRAMS)
    _answered_phrase(rig)
    steps_before = rig.model.steps
    rebuild_steps = _rebuild_steps(rig)
    for i in range(BURST):
        rig.engine.feed([0xC0, i % len(PROGRAMS)], rig.clock())
    polls = _poll_until_drained(rig)
    # each step's last program change is put in use, once: before, every message rebuilt
    assert rig.model.steps - steps_before <= math.ceil(BURST / MAX_ITEMS_PER_STEP) * rebuild_steps
    assert polls == math.ceil(BURST / MAX_ITEMS_PER_STEP)
    assert rig.engine.preset is PROGRAMS[(BURST - 1) % len(PROGRAMS)]
    _answered_phrase(rig)  # the next phrase is answered, under the last program's preset
    assert {m.channel for m in rig.port.note_ons()} >= {PRESET.channel, 3 + (BURST - 1) % 5}
    assert hanging_notes(rig.port.messages) == {}


def test_a_program_change_still_silences_at_once_and_takes_effect_before_the_next_answer():
    rig = make_rig(programs=PROGRAMS)
    rig.play(PHRASE)
    rig.run_until_responding()
    rig.poll_for(0.3)
    assert rig.port.note_ons()
    rig.engine.feed([0xC0, 1], rig.clock())
    rig.poll()
    assert not rig.engine.responding and rig.engine.scheduler.sounding() == {}
    assert rig.engine.preset is PROGRAMS[1]
    assert hanging_notes(rig.port.messages) == {}


def test_a_controller_flood_changes_the_preset_once_per_step():
    preset = PRESET.replace(cc_map={21: "temperature", 22: "follow"})
    rig = make_rig(preset)
    switches = []
    set_preset = rig.engine.generator.set_preset

    def counting(new, model=None):
        switches.append(new)
        set_preset(new, model)

    rig.engine.generator.set_preset = counting
    for i in range(1000):
        rig.engine.feed([0xB0, 21, i % 128], rig.clock())
    rig.engine.feed([0xB0, 22, 127], rig.clock())  # a second control in the same burst
    polls = _poll_until_drained(rig)
    assert len(switches) <= polls == math.ceil(1001 / MAX_ITEMS_PER_STEP)
    expected = apply_control(preset, "temperature", 999 % 128).sampling.temperature
    assert rig.engine.preset.sampling.temperature == expected
    assert rig.engine.preset.conditioning.follow == 1.0  # both controls took effect


def test_the_input_queue_is_bounded_and_what_it_drops_is_counted():
    rig = make_rig()
    extra = 50
    for _ in range(INPUT_QUEUE_LIMIT + extra):
        rig.engine.feed([0xB0, 70, 1], rig.clock())  # a controller flood nobody reads
    _poll_until_drained(rig)
    stats = rig.engine.stats
    assert stats.messages_in == INPUT_QUEUE_LIMIT and stats.input_overflow == extra
    rig.play(PHRASE)  # and the engine carries on
    rig.run_until_responding()


class _SlowModel(FakeModel):
    """Every step takes at least ``step_s`` of real time."""

    def __init__(self, step_s: float) -> None:
        super().__init__()
        self.step_s = step_s

    def step(self, token, state, style):
        time.sleep(self.step_s)
        return super().step(token, state, style)


def test_stop_ends_the_engine_thread_within_one_item_of_a_long_backlog():
    step_s = 0.002
    model = _SlowModel(step_s)
    port = FakePort()
    engine = Engine(model, PRESET.replace(silence_s=5.0), port.send, seed=0)
    engine.start()
    notes = 1000
    for i in range(notes):  # each note primed: 4 model steps
        engine.feed([0x90, 40 + i % 40, 80], time.monotonic())
        engine.feed([0x80, 40 + i % 40, 0], time.monotonic())
    backlog_s = notes * TOKENS_PER_NOTE * step_s  # priming each note: at least this long
    deadline = time.monotonic() + 10.0
    while model.steps < 20 and time.monotonic() < deadline:  # it is at work
        time.sleep(0.005)
    started = time.monotonic()
    engine.stop()
    took_s = time.monotonic() - started
    steps = model.steps
    engine_threads = [t for t in threading.enumerate() if t.name == "livegen-engine"]
    assert not any(t.is_alive() for t in engine_threads)
    time.sleep(0.05)
    assert model.steps == steps  # no work after the stop
    print(f"\nstop with a {backlog_s:.1f} s backlog took {took_s * 1000:.0f} ms")
    assert took_s * 10 < backlog_s, f"stop took {took_s:.2f} s, the backlog {backlog_s:.1f} s"
    assert hanging_notes(port.messages) == {}


FLOOD = 2000


def test_a_queued_note_flood_primes_only_the_last_window_of_it():
    preset = PRESET.replace(context_notes=16, silence_s=2.0, silence_adaptive=False)
    rig = make_rig(preset)
    rig.play(PHRASE)
    steps_before = rig.model.steps
    for i in range(FLOOD):  # 2,000 notes arrive faster than the engine primes them
        rig.engine.feed([0x90, 40 + i % 40, 80], rig.clock())
        rig.engine.feed([0x80, 40 + i % 40, 0], rig.clock())
    _poll_until_drained(rig)
    steps = rig.model.steps - steps_before
    print(f"\n{FLOOD}-note queued flood: {steps} model steps (priming each: {TOKENS_PER_NOTE * FLOOD})")
    # only the last window matters to the state: before, every note was primed
    assert steps <= TOKENS_PER_NOTE * FLOOD // 10
    generator = rig.engine.generator
    window = preset.context_notes
    assert [n.pitch for n in generator.history] == [40 + i % 40 for i in range(FLOOD - window, FLOOD)]
    fresh = Generator(FakeModel(), preset, seed=0)  # the state is exactly the window's
    for note in generator.history:
        fresh.prime(note)
    np.testing.assert_allclose(generator.snapshot().logits, fresh.snapshot().logits, rtol=1e-6)
    rig.run_until_responding()  # and the flood, a phrase, is answered
    assert rig.engine.stats.responses == 1


class _SlowMachine:
    """Every input item takes ``item_s`` of real time to handle."""

    def __init__(self, item_s: float) -> None:
        self.item_s = item_s
        self.handled = 0

    def handle(self, timestamp_s, data):
        time.sleep(self.item_s)
        self.handled += 1

    def tick(self, now_s):
        return None

    def recover(self):
        pass


def test_a_halt_is_seen_between_two_items_of_a_backlog():
    machine = _SlowMachine(0.002)
    scheduler = Scheduler(FakePort().send)
    loop = EngineLoop(machine, scheduler, time.monotonic)
    items = 2000  # 4 s of work at least
    for _ in range(items):
        loop.feed([0xB0, 70, 1], time.monotonic())
    loop.start()
    deadline = time.monotonic() + 10.0
    while machine.handled < 10 and time.monotonic() < deadline:
        time.sleep(0.002)
    started = time.monotonic()
    assert loop.halt(5.0)
    took_s = time.monotonic() - started
    scheduler.stop()
    handled = machine.handled
    time.sleep(0.02)
    assert machine.handled == handled < items // 2  # before, the step worked them all through
    assert took_s * 10 < items * machine.item_s, f"halt took {took_s:.2f} s"
