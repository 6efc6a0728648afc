"""The engine's counters and latencies, and the copy of them it hands out.

:class:`Counters` is what the engine thread counts as it goes; :class:`EngineStats`
is a copy of them plus the scheduler's own figures (notes sent, send errors,
lateness), taken under the engine's lock (:attr:`livegen.engine.Engine.stats`).
``livegen bench`` and the daemon's exit log read it.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from livegen.scheduler import Scheduler

__all__ = ["EngineStats", "Counters", "LATENCY_HISTORY"]

LATENCY_HISTORY = 1024  # trigger -> first note_on samples kept


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
