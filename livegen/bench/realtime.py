"""Real-time figures in this process, on the real clock: trigger to first note_on through a
threaded :class:`~livegen.engine.Engine`, the scheduler's lateness at 16 notes/s, and a
full garbage collection's pause. Both timed parts watch the scheduler through a
:class:`~livegen.scheduler.SchedulerObserver`; nothing of the engine is replaced.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable

import mido
import numpy as np

from livegen import timebase
from livegen.bench.report import Figure, timing
from livegen.bench.steps import BENCH_STYLE, PHRASE, style_index
from livegen.model import Model
from livegen.scheduler import Scheduler, SchedulerObserver

__all__ = ["bench_trigger", "bench_scheduler", "bench_gc", "TRIGGER_PRESET", "RATE_NOTES_PER_S"]

RATE_NOTES_PER_S = 16.0  # the scheduler figure's note rate (the issue's)
NOTE_FRACTION = 0.75  # scheduled note length, fraction of the note period (no overlaps)
START_S = 0.2  # the first scheduled note is due this long after scheduling, seconds
POLL_S = 0.005  # how often the bench looks at a running engine, seconds
ROUND_TIMEOUT_S = 10.0  # longest wait for one engine response, seconds
MS_PER_S = 1000.0
# the trigger figure's preset changes: short silence and responses (30 rounds take ~2 min with
# the pause between them); no grid (quantize off): the figure times livegen, not the wait for
# the next 1/16 of the player's pulse that a preset's quantize asks for on purpose
TRIGGER_PRESET = {"trigger": "silence", "silence_s": 0.05, "max_notes": 8, "max_seconds": 0.5,
                  "max_duration_s": 0.2, "quantize": "off"}


class _FirstNoteOns(SchedulerObserver):
    """Records ``(queued_s, due_s)`` of the first note_on queued after each :meth:`expect`."""

    def __init__(self) -> None:
        self.marks: list[tuple[float, float]] = []
        self._expecting = threading.Event()

    def expect(self) -> None:
        self._expecting.set()

    def scheduled(self, due_s: float, at_s: float, msg: mido.Message) -> None:
        if self._expecting.is_set() and msg.type == "note_on" and msg.velocity > 0:
            self._expecting.clear()
            self.marks.append((at_s, due_s))


class _Lateness(SchedulerObserver):
    """Collects every queued message's lateness (send time minus deadline), milliseconds."""

    def __init__(self) -> None:
        self.lateness_ms: list[float] = []

    def sent(self, due_s: float, sent_s: float, msg: mido.Message) -> None:
        self.lateness_ms.append((sent_s - due_s) * MS_PER_S)


def bench_trigger(model: Model, responses: int, *,
                  now: Callable[[], float] = timebase.now) -> list[Figure]:
    """Play :data:`~livegen.bench.steps.PHRASE` into a threaded Engine ``responses`` times;
    time each answer.

    The engine runs as in the daemon (engine and scheduler threads, the real
    clock), with a list as its port. The trigger instant is the silence
    deadline (the phrase's last note_off + ``silence_s``); the engine prepares
    the first note :data:`livegen.engine.PREPARE_S` before it. When that note
    was queued is told by an observer on the engine's scheduler.

    Args:
        model: the model the engine runs.
        responses: phrases played, one response each.
        now: the clock, seconds (the engine's and the bench's).

    Returns:
        Figures: trigger -> first note_on (the engine's ``latencies_ms``); the
        preparation (engine fires -> first note queued); the scheduler's
        lateness during the responses.
    """
    from livegen.engine import PREPARE_S, Engine
    from livegen.feedback import ECHO_WINDOW_S
    from livegen.presets import load_preset

    preset = load_preset(BENCH_STYLE).replace(style=model.styles[style_index(model)], **TRIGGER_PRESET)
    engine = Engine(model, preset, [].append, now=now, seed=0, realtime=True)  # as the daemon
    first = _FirstNoteOns()
    engine.scheduler.add_observer(first)
    span_s, silences = max(t + d for _, _, t, d in PHRASE), []
    engine_log = logging.getLogger("livegen.engine")
    level = engine_log.level
    engine_log.setLevel(max(level, logging.WARNING))  # not a line per response
    engine.start()
    try:
        for round_ in range(responses):
            if round_:  # stamped during the last answer, the phrase would be a performer playing
                time.sleep(span_s + ECHO_WINDOW_S)  # over it (and its notes livegen's echoes)
            end_s = now()  # the phrase arrives at once, its last note ending now
            first.expect()
            for pitch, velocity, onset_s, duration_s in PHRASE:
                on_s = end_s - span_s + onset_s
                engine.feed(mido.Message("note_on", note=pitch, velocity=velocity).bytes(), on_s)
                engine.feed(mido.Message("note_off", note=pitch).bytes(), on_s + duration_s)
            silences.append(end_s + preset.value("silence_s"))
            limit_s = now() + ROUND_TIMEOUT_S
            while (len(first.marks) < len(silences) or engine.responding) and now() < limit_s:
                time.sleep(POLL_S)
        time.sleep(10 * POLL_S)  # the last response's bookkeeping
        stats = engine.stats
    finally:
        engine.stop()
        engine_log.setLevel(level)
    marks = first.marks if len(first.marks) == len(silences) else []  # else pairs would not match
    return [
        timing("trigger", "trigger -> first note_on", stats.latencies_ms,
               note="the engine's latencies_ms: silence deadline -> first note_on handed "
                    "to the port"),
        timing("trigger_compute", "  prepare: engine fires -> first note scheduled",
               [(at - (s - PREPARE_S)) * MS_PER_S for (at, _), s in zip(marks, silences)],
               note=f"wake-up + snapshot + 3 model steps + sampling; fires "
                    f"{PREPARE_S * 1e3:g} ms before the deadline"),
        timing("engine_lateness", "scheduler lateness in those responses", stats.lateness_ms,
               note="the scheduler thread shares the GIL with the engine thread"),
    ]


def bench_gc(collections: int = 5) -> Figure:
    """A full garbage collection's pause, after :func:`gc.freeze` as the daemon runs.

    ``livegen run`` freezes everything loaded at startup (modules, the model,
    ports) before it listens, so a full collection, which holds the GIL and so
    stops the engine and scheduler threads, scans only what the session
    created since. The note gives the pause without the freeze, measured first
    in this process. The freeze stays (call :func:`gc.unfreeze` to undo it).

    Args:
        collections: full collections timed, each way.
    """
    def pauses() -> list[float]:
        out = []
        for _ in range(collections):
            t0 = time.perf_counter()
            gc.collect()
            out.append((time.perf_counter() - t0) * MS_PER_S)
        return out

    tracked = len(gc.get_objects())
    before = float(np.median(pauses()))
    gc.freeze()
    return timing("gc_pause", "full GC pause after gc.freeze()", pauses(),
                  note=f"{before:.2f} ms median without the freeze, {tracked:,} objects tracked")


def bench_scheduler(duration_s: float, *, rate_hz: float = RATE_NOTES_PER_S,
                    now: Callable[[], float] = timebase.now) -> Figure:
    """Play ``duration_s`` of notes at ``rate_hz`` (note_on + note_off) through a Scheduler.

    Args:
        duration_s: how long the notes play, seconds (at least one note).
        rate_hz: notes per second.
        now: the scheduler's clock, seconds.

    Returns:
        The ``lateness`` figure: send time minus deadline of every message, ms.
    """
    late = _Lateness()
    scheduler = Scheduler([].append, now=now, realtime=True)  # as the daemon
    scheduler.add_observer(late)
    count, start_s = max(int(duration_s * rate_hz), 1), now() + START_S
    for i in range(count):
        pitch, velocity = PHRASE[i % len(PHRASE)][:2]
        scheduler.schedule(start_s + i / rate_hz, mido.Message("note_on", note=pitch, velocity=velocity))
        scheduler.schedule(start_s + (i + NOTE_FRACTION) / rate_hz, mido.Message("note_off", note=pitch))
    scheduler.start()
    try:
        time.sleep(max(start_s + count / rate_hz - now(), 0.0))
        while scheduler.pending():
            time.sleep(POLL_S)
    finally:
        scheduler.stop()
    priority = "real-time priority (SCHED_FIFO)" if scheduler.realtime_granted else \
        "normal priority (real-time not permitted)"
    return timing("lateness", f"scheduler lateness, {count / rate_hz:g} s at {rate_hz:g} notes/s",
                  late.lateness_ms, note=f"send time minus deadline, every note_on and note_off; {priority}")
