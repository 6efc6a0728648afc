"""The engine's counters and latencies, the copy of them it hands out, and what it is doing now.

:class:`Counters` is what the engine thread counts as it goes; :class:`EngineStats`
is a copy of them plus the scheduler's own figures (notes sent, send errors,
lateness), taken under the engine's lock (:attr:`livegen.engine.Engine.stats`).
``livegen bench`` and the daemon's exit log read it. :class:`Activity` is what
the status line shows (:mod:`livegen.status`), published without a lock.
"""

from __future__ import annotations

import enum
import logging
from collections import deque
from dataclasses import dataclass, field

import mido

from livegen.midi import CLOCKS_PER_BEAT
from livegen.scheduler import Scheduler

__all__ = ["Activity", "EngineStats", "Counters", "LATENCY_HISTORY", "State", "TEMPO_BEATS"]

log = logging.getLogger("livegen.engine")  # the answers' lines read as the engine's

LATENCY_HISTORY = 1024  # trigger -> first note_on samples kept
#: The status line's tempo is the MIDI clock's mean over this many beats (24 ticks each).
TEMPO_BEATS = 2


@dataclass
class EngineStats:
    """A copy of an :class:`~livegen.engine.Engine`'s counters (times in ms).

    Attributes:
        responses: responses started.
        notes_sent: note_ons sent to the output.
        messages_in: items taken from the input queue.
        dropped_messages: input that did not parse as MIDI (or had a bad timestamp).
        input_overflow: input dropped unread because the engine's queue was full
            (:data:`livegen.loop.INPUT_QUEUE_LIMIT` items waiting).
        barge_ins: responses cut short by the performer.
        collisions_avoided: generated notes skipped because the performer held their pitch.
        errors: unexpected errors the engine survived.
        rebuilds: model-state rebuilds from the context window.
        stuck_keys: times performer notes were taken as ended because a note_off (or a
            pedal lift) was lost: keys contradicted by later playing
            (:data:`livegen.buffer.HELD_KEY_S`) or :data:`livegen.buffer.STUCK_KEY_S`
            without any input.
        send_errors: output sends that raised.
        latencies_ms: trigger -> first note_on of recent responses.
        lateness_ms: recent scheduler lateness (sent minus due).
    """

    responses: int = 0
    notes_sent: int = 0
    messages_in: int = 0
    dropped_messages: int = 0
    input_overflow: int = 0
    barge_ins: int = 0
    collisions_avoided: int = 0
    errors: int = 0
    rebuilds: int = 0
    stuck_keys: int = 0
    send_errors: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    lateness_ms: list[float] = field(default_factory=list)


class Counters:
    """What the engine counts as it runs (see :class:`EngineStats` for each field).

    Not thread-safe: the engine thread owns it (under the engine's lock).

    Attributes:
        responses, messages_in, dropped_messages, barge_ins, collisions_avoided,
            errors, rebuilds, stuck_keys: event counts, as in :class:`EngineStats`.
        latencies_ms: the last :data:`LATENCY_HISTORY` trigger -> first note_on times, ms.
    """

    def __init__(self) -> None:
        self.responses = 0
        self.messages_in = 0
        self.dropped_messages = 0
        self.barge_ins = 0
        self.collisions_avoided = 0
        self.errors = 0
        self.rebuilds = 0
        self.stuck_keys = 0
        self.latencies_ms: deque[float] = deque(maxlen=LATENCY_HISTORY)

    def answered(self, reason: str, notes_played: int, latency_ms: float | None) -> None:
        """Log an answer that ended (``reason``) and keep its trigger -> first note_on time, ms."""
        latency = "n/a"
        if latency_ms is not None:
            self.latencies_ms.append(latency_ms)
            latency = f"{latency_ms:.1f} ms"
        log.info("response %d (%s): %d note(s) played; trigger to first note_on %s",
                 self.responses, reason, notes_played, latency)

    def snapshot(self, scheduler: Scheduler, input_overflow: int = 0) -> EngineStats:
        """A copy of the counts, with the scheduler's figures.

        Args:
            scheduler: gives ``notes_sent``, ``send_errors`` and ``lateness_s``.
            input_overflow: input items the engine's full queue dropped.
        """
        return EngineStats(responses=self.responses, notes_sent=scheduler.notes_sent,
                           messages_in=self.messages_in, dropped_messages=self.dropped_messages,
                           input_overflow=input_overflow,
                           barge_ins=self.barge_ins, collisions_avoided=self.collisions_avoided,
                           errors=self.errors, rebuilds=self.rebuilds, stuck_keys=self.stuck_keys,
                           send_errors=scheduler.send_errors,
                           latencies_ms=list(self.latencies_ms),
                           lateness_ms=[x * 1000.0 for x in scheduler.lateness_s])


class State(enum.Enum):
    """What the engine is doing, as the status line names it."""

    LISTENING = "listening"  # waiting for the performer's phrase to end
    PREPARING = "preparing"  # an answer is drawn, its first note not yet due
    ANSWERING = "answering"  # an answer is sounding
    OFF = "off"  # a ``cc_map`` ``enabled`` switch is off


class Activity:
    """What the engine hears and does, for the status line: written by the engine thread, no lock.

    The engine thread is the only writer, and it replaces each attribute whole
    (one store of an int, float, str, tuple or enum member), so a reader on
    another thread (the status line on the main thread) sees every value
    whole, at the cost of a view that may be one message old. Nothing here
    waits. The tempo shown is a least-squares line through the clock's ticks of
    the last :data:`TEMPO_BEATS` beats, worked out here once a beat (so one
    late tick moves it little), and the status never asks the clock follower
    (:class:`livegen.clock.MidiClock`) for its own fit.

    Args:
        preset: the name of the preset in use.

    Attributes:
        state: the :class:`State` (an answer that is PREPARING sounds from ``answer_s``).
        answer_s: when the answer prepared or playing sounds (its trigger), seconds, or None.
        messages_in: MIDI messages handed to the engine.
        notes_in: the performer's note_ons (velocity > 0).
        last_pitch: the last note_on's pitch (MIDI 0-127), or None.
        control: the last controller ``(control, value, t_s)`` (0-127, 0-127, seconds), or None.
        preset: the preset in use's name.
        clock_s: the last MIDI clock tick's stamp, seconds, or None.
        clock_running: between a Start/Continue and a Stop.
        tempo_bpm: the clock's tempo in quarter notes a minute, refreshed once a beat of
            ticks (None before the first beat).
    """

    def __init__(self, preset: str) -> None:
        self.state = State.LISTENING
        self.answer_s: float | None = None
        self.messages_in = 0
        self.notes_in = 0
        self.last_pitch: int | None = None
        self.control: tuple[int, int, float] | None = None
        self.preset = preset
        self.clock_s: float | None = None
        self.clock_running = False
        self.tempo_bpm: float | None = None
        self._ticks: deque[float] = deque(maxlen=TEMPO_BEATS * CLOCKS_PER_BEAT + 1)
        self._count = 0

    def heard(self, msg: mido.Message, t_s: float) -> None:
        """Count one parsed input message (the engine thread, before it acts on it).

        Args:
            msg: the message.
            t_s: its arrival stamp, seconds.
        """
        self.messages_in += 1
        kind = msg.type
        if kind == "clock":
            self.clock_s = t_s
            ticks = self._ticks
            ticks.append(t_s)
            self._count += 1
            if self._count % CLOCKS_PER_BEAT == 0:
                tick_s = _slope(ticks)
                if tick_s > 0:
                    self.tempo_bpm = 60.0 / (tick_s * CLOCKS_PER_BEAT)
        elif kind == "note_on" and msg.velocity > 0:
            self.notes_in += 1
            self.last_pitch = msg.note
        elif kind == "control_change":
            self.control = (msg.control, msg.value, t_s)
        elif kind in ("start", "continue", "stop"):
            self.clock_running = kind != "stop"
            self._ticks.clear()  # a new run: the tempo from its own ticks (the old one shown meanwhile)

    def answering(self, trigger_s: float) -> None:
        """An answer was prepared; it sounds from ``trigger_s`` (seconds)."""
        self.answer_s = trigger_s
        self.state = State.PREPARING

    def idle(self, enabled: bool) -> None:
        """No answer: listening, or off while ``enabled`` is off."""
        self.state = State.LISTENING if enabled else State.OFF
        self.answer_s = None

    def state_at(self, now_s: float) -> State:
        """The state at ``now_s`` (seconds): a prepared answer is answering from its trigger."""
        state, answer_s = self.state, self.answer_s
        if state is State.PREPARING and answer_s is not None and now_s >= answer_s:
            return State.ANSWERING
        return state


def _slope(times: deque[float]) -> float:
    """Seconds per tick: the least-squares slope of ``times`` against 0, 1, 2... (0 with < 2)."""
    n = len(times)
    if n < 2:
        return 0.0
    mid_x, mid_t = (n - 1) / 2, sum(times) / n
    covariance = sum((i - mid_x) * (t - mid_t) for i, t in enumerate(times))
    return covariance / (n * (n * n - 1) / 12)  # sum of (i - mid_x)^2
