"""What a listener gets, quiet and with every core busy: note_on arrival at a receiving JACK
port minus its deadline during answers, and trigger -> first note_on at that port.

An :class:`~livegen.engine.Engine` runs as in the daemon (its threads, the real
clock; real-time priority asked for the scheduler thread, and for the engine
thread only under a real-time JACK server, :func:`livegen.osthread.engine_priority`)
with livegen's one-client JACK output; a second one-client JACK client is the
listener, connected to it, and stamps what arrives (frame-accurate,
``time.monotonic`` seconds, the same convention the output places by: a
message placed at its deadline's frame is stamped with it). An observer on
the engine's scheduler records each note_on's deadline. The load is one busy
Python process per core at normal priority, started here and always stopped.

The same run on the same port with the time stamps hidden from the scheduler
(so it sends each message when due, from its thread, as on the other
backends) is the comparison row.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import mido
import numpy as np

from livegen import ports
from livegen.bench.report import Figure, skip_all, timing
from livegen.bench.steps import BENCH_STYLE, PHRASE, style_index
from livegen.model import Model
from livegen.osthread import engine_priority
from livegen.ports.jack import jack_server_priority
from livegen.scheduler import SchedulerObserver

__all__ = ["bench_listener", "cpu_load", "jack_server_facts", "thread_priority", "LISTENER_CLIENT"]

LISTENER_CLIENT = "livegen-bench-listener"
POLL_S = 0.005  # how often the bench looks at a running engine, seconds
ROUND_TIMEOUT_S = 10.0  # longest wait for one answer, seconds
SETTLE_S = 0.05  # after an answer, for its last messages to arrive, seconds
LOAD_WARMUP_S = 0.5  # the busy processes run this long before the first phrase, seconds
MATCH_EARLY_S = 0.005  # an arrival this much before a deadline still matches it, seconds
MS_PER_S = 1000.0
# short silences, answers of 8 notes within 2 s (romantic follows PHRASE's 0.25-0.5 s spacing:
# 0.5 s held 2 notes), no grid (the trigger rows time livegen, not the wait for the player's
# next 1/16 that quantize asks for; the quiet_grid rows play on it)
PRESET = {"trigger": "silence", "silence_s": 0.05, "max_notes": 8, "max_seconds": 2.0,
          "max_duration_s": 0.2, "quantize": "off"}
GRID = "1/16"  # the quantize of the shipped romantic, classical and folk presets
BUSY_CODE = "while True:\n    pass\n"


@contextmanager
def cpu_load(processes: int | None = None) -> Iterator[int]:
    """One busy Python process per core (or ``processes``), normal priority, for the ``with``.

    Yields:
        How many run. They are killed and reaped on exit, whatever happens.
    """
    count = (os.cpu_count() or 1) if processes is None else processes
    busy = [subprocess.Popen([sys.executable, "-c", BUSY_CODE], stdin=subprocess.DEVNULL)
            for _ in range(count)]
    try:
        time.sleep(LOAD_WARMUP_S)
        yield count
    finally:
        for process in busy:
            process.kill()
        for process in busy:
            process.wait()


def jack_server_facts() -> str | None:
    """The JACK server the bench talks to, for the header: its name and whether it runs real-time.

    Returns:
        e.g. ``"lg-rt (JACK_DEFAULT_SERVER), real-time: client threads at SCHED_FIFO 5"``;
        None when no JACK server runs.
    """
    if not ports.jack_running():
        return None
    name = os.environ.get("JACK_DEFAULT_SERVER")
    who = f"{name} (JACK_DEFAULT_SERVER)" if name else "default"
    if not ports.jack_shared_client():
        return f"{who}, real-time unknown (livegen._jackmidi is not built)"
    priority = jack_server_priority("jack", client_name=LISTENER_CLIENT)
    return f"{who}, " + ("not real-time" if priority is None
                         else f"real-time: client threads at SCHED_FIFO {priority}")


def thread_priority(os_name: str) -> str:
    """How the OS schedules this process's thread named ``os_name``: ``SCHED_FIFO 1``, ``normal``.

    Read from ``/proc/self/task`` (Linux); ``unknown`` elsewhere or when no thread has the name.
    """
    tasks = f"/proc/{os.getpid()}/task"
    if not os.path.isdir(tasks) or not hasattr(os, "sched_getscheduler"):
        return "unknown"
    for tid in os.listdir(tasks):
        try:
            with open(f"{tasks}/{tid}/comm") as comm:
                if comm.read().strip() != os_name:
                    continue
            if os.sched_getscheduler(int(tid)) == os.SCHED_FIFO:
                return f"SCHED_FIFO {os.sched_getparam(int(tid)).sched_priority}"
            return "normal"
        except OSError:  # the thread ended meanwhile
            continue
    return "unknown"


class _NoteOns(SchedulerObserver):
    """Every note_on queued: ``(due_s, channel, pitch)``."""

    def __init__(self) -> None:
        self.due: list[tuple[float, int, int]] = []
        self.ahead_s: dict[tuple[float, int, int], float] = {}  # queued this long before due

    def scheduled(self, due_s: float, at_s: float, msg: mido.Message) -> None:
        if msg.type == "note_on" and msg.velocity > 0:
            self.due.append((due_s, msg.channel, msg.note))
            self.ahead_s[self.due[-1]] = due_s - at_s


def _match(due: list[tuple[float, int, int]],
           arrived: list[tuple[float, int, int]]) -> list[tuple[float, tuple[float, int, int]]]:
    """``(lateness_s, (due_s, channel, pitch))`` of each note_on heard (lateness: arrival - deadline).

    Each arrival is matched to the latest deadline of its key (channel, pitch)
    not after it (:data:`MATCH_EARLY_S` of slack); earlier deadlines of that key
    left unmatched were never heard (an answer cut short) and are passed over.
    """
    waiting: dict[tuple[int, int], list[float]] = {}
    for due_s, channel, pitch in sorted(due):
        waiting.setdefault((channel, pitch), []).append(due_s)
    lateness = []
    for stamp_s, channel, pitch in sorted(arrived):
        queue = waiting.get((channel, pitch), [])
        ready = 0
        while ready < len(queue) and queue[ready] <= stamp_s + MATCH_EARLY_S:
            ready += 1
        if ready:
            lateness.append((stamp_s - queue[ready - 1], (queue[ready - 1], channel, pitch)))
            del queue[:ready]
    return lateness


def _answers(model: Model, responses: int, timed: bool,
             quantize: str = "off") -> tuple[list[float], list[float], dict]:
    """Play :data:`PHRASE` ``responses`` times; ``(lateness_s, first_s, facts)`` at the listener."""
    from livegen.engine import Engine
    from livegen.feedback import ECHO_WINDOW_S
    from livegen.presets import load_preset

    arrived: list[tuple[float, int, int]] = []

    def heard(data: list[int], stamp_s: float) -> None:
        if len(data) == 3 and data[0] & 0xF0 == 0x90 and data[2] > 0:
            arrived.append((stamp_s, data[0] & 0x0F, data[1]))

    preset = load_preset(BENCH_STYLE).replace(style=model.styles[style_index(model)],
                                              **{**PRESET, "quantize": quantize})
    clients = ports.JackClients()
    out = ports.open_output("jack", jack_clients=clients)
    listener = ports.open_input("jack", client_name=LISTENER_CLIENT, handler=heard)
    try:
        subprocess.run(["jack_connect", f"{ports.CLIENT_NAME}:{ports.OUT_PORT_NAME}",
                        f"{LISTENER_CLIENT}:{ports.IN_PORT_NAME}"], check=True, capture_output=True,
                       timeout=10, env={**os.environ, "JACK_NO_START_SERVER": "1"})
        time.sleep(0.2)  # the connection carries messages from a later cycle
        send = out.send if timed else (lambda msg: out.send(msg))  # a lambda hides the port
        priority, _ = engine_priority(jack_server_priority("jack", out))  # as the daemon
        engine = Engine(model, preset, send, seed=0, realtime=True)
        note_ons = _NoteOns()
        engine.scheduler.add_observer(note_ons)
        span_s, silences, firsts = max(t + d for _, _, t, d in PHRASE), [], []
        engine.start(priority)
        try:
            engine_thread, limit_s = "unknown", time.monotonic() + ROUND_TIMEOUT_S
            while engine_thread == "unknown" and time.monotonic() < limit_s:
                time.sleep(POLL_S)  # named once it has asked for its priority
                engine_thread = thread_priority("lg-engine")
            for round_ in range(responses):
                if round_:  # stamped during the last answer, the phrase's notes would be taken
                    time.sleep(span_s + ECHO_WINDOW_S)  # for livegen's echoes (livegen/feedback.py)
                end_s = time.monotonic()
                for pitch, velocity, onset_s, duration_s in PHRASE:
                    on_s = end_s - span_s + onset_s
                    engine.feed(mido.Message("note_on", note=pitch, velocity=velocity).bytes(), on_s)
                    engine.feed(mido.Message("note_off", note=pitch).bytes(), on_s + duration_s)
                silence_s = end_s + preset.value("silence_s")
                limit_s = time.monotonic() + ROUND_TIMEOUT_S
                queued = len(note_ons.due)
                while ((len(note_ons.due) == queued or engine.responding)
                       and time.monotonic() < limit_s):
                    time.sleep(POLL_S)
                time.sleep(SETTLE_S)
                after = [s for s, _, _ in arrived if s >= end_s]  # the last answer has ended
                if after:
                    firsts.append(min(after) - silence_s)
                silences.append(silence_s)
            facts = {"realtime": engine.scheduler.realtime_granted, "missed": listener.missed_cycles,
                     "engine": engine_thread}
        finally:
            engine.stop()
    finally:
        listener.close()
        out.close()
    matched = _match(note_ons.due, arrived)
    in_time = [late for late, key in matched if note_ons.ahead_s[key] > 0]
    facts.update(due=len(note_ons.due), arrived=len(arrived), in_time=in_time,
                 doubled=len(note_ons.due) - len(set(note_ons.due)),
                 queued_late=sum(ahead <= 0 for ahead in note_ons.ahead_s.values()))
    return [late for late, _ in matched], firsts, facts


def bench_listener(model_path: str | os.PathLike, responses: int) -> list[Figure]:
    """The listener's figures: quiet, under load, and under load without time stamps.

    Args:
        model_path: the ``.onnx`` model the engine runs.
        responses: answers per condition.

    Returns:
        Figures ``listener_lateness`` and ``listener_trigger`` for each of
        ``_quiet``, ``_quiet_grid`` (the shipped presets' ``quantize: 1/16``; a
        comparison), ``_load`` (judged) and ``_load_untimed`` (comparison); all
        skipped with the reason when no JACK server runs or the one-client
        extension is not built.
    """
    conditions = (("quiet", "quiet", True, 0, "off"),
                  ("quiet_grid", "quiet, on the player's 1/16 grid", True, 0, GRID),
                  ("load", "every core busy", True, None, "off"),
                  ("load_untimed", "every core busy, sent when due (no time stamps)", False, None, "off"))
    figures = []
    for key, words, _, _, _ in conditions:
        figures += [Figure(f"listener_lateness_{key}", f"listener: note_on lateness in answers, {words}"),
                    Figure(f"listener_trigger_{key}", f"listener: trigger -> first note_on, {words}")]
    if not ports.jack_running():
        return skip_all(figures, "no JACK server runs")
    if not ports.jack_shared_client():
        return skip_all(figures, "livegen._jackmidi is not built")
    model = Model.load(model_path, threads=1)
    engine_log = logging.getLogger("livegen.engine")
    level = engine_log.level
    engine_log.setLevel(max(level, logging.WARNING))  # not a line per response
    out = []
    try:
        for (_, _, timed, processes, quantize), (late_fig, first_fig) in zip(
                conditions, zip(figures[::2], figures[1::2])):
            if processes == 0:
                lateness, firsts, facts = _answers(model, responses, timed, quantize)
                busy = 0
            else:
                with cpu_load(processes) as busy:
                    lateness, firsts, facts = _answers(model, responses, timed, quantize)
            how = (f"{busy} busy processes; " if busy else "") + (
                f"scheduler thread {'SCHED_FIFO' if facts['realtime'] else 'normal priority'}, "
                f"engine thread {facts['engine']}; "
                f"{facts['arrived']} of {facts['due']} note_ons heard ({facts['doubled']} a second "
                f"strike of one key at one deadline); listener missed "
                f"{facts['missed']} JACK cycles")
            in_time = np.asarray(facts["in_time"]) * MS_PER_S
            of_which = (f"; {facts['queued_late']} note_ons reached the scheduler after their deadline "
                        f"(the engine was late); the {in_time.size} that reached it in time: "
                        + (f"p99 {np.percentile(in_time, 99):.2f} ms, max {in_time.max():.2f} ms"
                           if in_time.size else "none"))
            out.append(timing(late_fig.key, late_fig.label, [x * MS_PER_S for x in lateness],
                              note=f"listener's stamp minus deadline; {how}{of_which}"))
            grid = (f"; with quantize {quantize} the first note waits for the grid line after the "
                    f"trigger" if quantize != "off" else "")
            out.append(timing(first_fig.key, first_fig.label, [x * MS_PER_S for x in firsts],
                              note=f"silence deadline -> first note_on stamped by the listener; {how}{grid}"))
    finally:
        engine_log.setLevel(level)
    return out
