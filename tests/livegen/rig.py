"""An engine on a fake clock, port and model, driven by poll(): the rig of the behaviour tests.

Shared by the tests of the engine and of what it drives (the response, the
triggers, the controls, the listener, the rebuild): each tests its own module
through the same engine, as the daemon runs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import mido
from fakes import FakeClock, FakeModel, FakePort

from livegen.engine import PREPARE_S, Engine
from livegen.notes import Note
from livegen.placement import CHORD_SPAN_S
from livegen.presets import Preset
from livegen.scheduler import SchedulerObserver

PRESET = Preset(name="test", context_notes=16, channel=2).replace(
    style="classical",
    temperature=1.0,
    top_p=0.95,
    silence_s=0.5,
    max_notes=16,
    max_seconds=8.0,
    pitch_low=36,
    pitch_high=96,
    lookahead_s=0.5,
    max_duration_s=1.0,
)
PHRASE = [Note(60 + 2 * i, 80, 0.25 * i, 0.2) for i in range(8)] + [Note(48, 70, 0.0, 1.9)]
STEP_S = 0.005
BEAT_S = 0.5  # 120 BPM
CLOCKED = PRESET.replace(clock="midi", quantize_start="beat", quantize="1/16", response_bars=2,
                         max_seconds=30.0, max_notes=64)


class _Recorder(SchedulerObserver):
    """Keeps ``(scheduled_at_s, due_s, msg)`` of every message the engine schedules."""

    def __init__(self, into: list[tuple[float, float, mido.Message]]) -> None:
        self.into = into

    def scheduled(self, due_s: float, at_s: float, msg: mido.Message) -> None:
        self.into.append((at_s, due_s, msg))


@dataclass
class Rig:
    """An engine, its fake clock, port and model, and what it scheduled.

    Attributes:
        scheduled: ``(scheduled_at_s, due_s, msg)`` of every scheduled message.
    """

    clock: FakeClock
    port: FakePort
    model: FakeModel
    engine: Engine
    scheduled: list[tuple[float, float, mido.Message]] = field(default_factory=list)
    _midi_clock: dict | None = None  # a MIDI clock being sent (add_midi_clock)

    def __post_init__(self) -> None:
        self.engine.scheduler.add_observer(_Recorder(self.scheduled))

    def poll(self) -> float | None:
        """Send the MIDI clocks due by now (add_midi_clock), then poll the engine."""
        state = self._midi_clock
        while state is not None and state["running"] and state["next"] <= self.clock():
            self.engine.feed([0xF8], state["next"])
            state["next"] += state["tick_s"]
        return self.engine.poll()

    def poll_for(self, seconds: float) -> None:
        end = self.clock() + seconds
        while self.clock() < end:
            self.clock.advance(STEP_S)
            self.poll()

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
                self.poll()
            self.engine.feed(data, self.clock())
            self.poll()

    def run_until_responding(self, limit_s: float = 5.0) -> float:
        """Poll until a response is triggered; return when its first note should sound.

        That is the trigger instant (the silence deadline; the engine prepares
        the response up to ``PREPARE_S`` before it) or the grid line after it.
        """
        end = self.clock() + limit_s
        while not self.engine.responding:
            assert self.clock() < end, "no response"
            self.clock.advance(STEP_S)
            self.poll()
        return self.engine.response.trigger_s

    def note_ons_scheduled(self) -> list[tuple[float, float, mido.Message]]:
        return [s for s in self.scheduled if s[2].type == "note_on"]

    def add_midi_clock(self, bpm: float = 120.0) -> float:
        """Send Start, then a clock every 1/24 beat stamped at its exact time; return beat 1's time.

        :meth:`stop_clock` stops the clocks; :meth:`delay_clock` delays every later one.
        """
        first_s = self.clock()
        self._midi_clock = {"next": first_s, "running": True, "tick_s": 60.0 / bpm / 24}
        self.engine.feed([0xFA], first_s)
        return first_s

    def stop_clock(self) -> None:
        self._midi_clock["running"] = False

    def delay_clock(self, delay_s: float) -> None:
        self._midi_clock["next"] += delay_s


def make_rig(preset: Preset = PRESET, seed: int = 1, prepare_s: float = PREPARE_S,
             programs: dict[int, Preset] | None = None, **model_args) -> Rig:
    clock = FakeClock()
    port = FakePort(clock)
    model = FakeModel(**model_args)
    engine = Engine(model, preset, port.send, now=clock, seed=seed, prepare_s=prepare_s,
                    programs=programs)
    return Rig(clock, port, model, engine)


def on_grid(t: float, origin_s: float, step_s: float) -> bool:
    return abs((t - origin_s) / step_s - round((t - origin_s) / step_s)) * step_s < 1e-6


def dues_of_note_ons(rig: Rig) -> list[float]:
    return [due for _, due, _ in rig.note_ons_scheduled()]


def chords(onsets: list[float]) -> list[list[int]]:
    """Indices of ``onsets`` (sorted) grouped into chords: within CHORD_SPAN_S of the first."""
    groups: list[list[int]] = []
    start = None
    for i, t in enumerate(onsets):
        if start is None or t - start > CHORD_SPAN_S - 1e-6:
            start = t
            groups.append([])
        groups[-1].append(i)
    return groups


def largest_chord(onsets: list[float]) -> int:
    return max(len(c) for c in chords(sorted(onsets)))
