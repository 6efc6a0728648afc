"""``livegen bench``: the speed figures of the issue "Instant, tight, and in time with the DAW".

In this process, on the real clock: one onnxruntime step with the state carried;
the stateless design of older tools (the same model re-reading a 50-note window
per predicted token: step by step, and, with ``onnx`` installed, in one ``run``
of the step graph rebuilt as a sequence graph); PyTorch eager (torch is imported
only there); trigger to first note_on (a threaded Engine, a list as the port);
scheduler lateness at 16 notes/s. In a ``livegen run`` subprocess: cold start to
ready, idle CPU and RSS (Linux ``/proc``). Functions return :class:`Figure` rows;
the CLI prints :func:`format_report` or ``Report.to_dict()`` as JSON.
"""

from __future__ import annotations

import dataclasses
import datetime
import gc
import logging
import operator
import os
import platform
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import mido
import numpy as np

from livegen import tokens
from livegen.model import Model
from livegen.notes import Note

__all__ = ["Figure", "Report", "Settings", "FULL", "QUICK", "TARGETS", "run", "format_report",
           "bench_step", "bench_reread", "bench_reread_one_call", "bench_torch", "bench_trigger",
           "bench_scheduler", "bench_gc"]

log = logging.getLogger(__name__)

#: figure key -> the issue's acceptance figures, as (field, comparison, limit)
TARGETS: dict[str, tuple[tuple[str, str, float], ...]] = {
    "step": (("p50", "<=", 0.2), ("p99", "<=", 1.0)),
    "reread": (("ratio", ">=", 20.0),), "reread_one_call": (("ratio", ">=", 20.0),),
    "trigger": (("p99", "<=", 2.0),), "lateness": (("p99", "<=", 1.0),),
    "idle_cpu": (("value", "<", 1.0),), "rss": (("value", "<", 200.0),),
    "cold_start": (("value", "<", 1.5),), "sigint_exit": (("value", "==", 0.0),),
}
_COMPARE = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, "==": operator.eq}

# (pitch, velocity, onset_s, duration_s): the soprano of J. S. Bach's chorale BWV 66.6
# (music21 corpus, bach/bwv66.6), first 8 notes, quarter note = 0.5 s
PHRASE = ((73, 80, 0.0, 0.25), (71, 76, 0.25, 0.25), (69, 78, 0.5, 0.5), (71, 80, 1.0, 0.5),
          (73, 84, 1.5, 0.5), (76, 90, 2.0, 0.5), (73, 84, 2.5, 0.5), (71, 78, 3.0, 0.5))
WINDOW_NOTES = 50  # the performer context a windowed model re-reads (DESIGN.md)
BENCH_STYLE = "romantic"  # the style timed and the daemon's preset (any style costs the same)
RATE_NOTES_PER_S = 16.0  # the scheduler figure's note rate (the issue's)
NOTE_FRACTION = 0.75  # scheduled note length, fraction of the note period (no overlaps)
START_S = 0.2  # the first scheduled note is due this long after scheduling, seconds
POLL_S = 0.005  # how often the bench looks at a running engine, seconds
ROUND_TIMEOUT_S = 10.0  # longest wait for one engine response, seconds
READY_TIMEOUT_S = 60.0  # longest wait for the daemon's ready line, seconds
EXIT_TIMEOUT_S = 10.0  # longest wait for the daemon to exit after SIGINT, seconds
NS_PER_MS = 1e6
# the trigger figure's preset changes: short silence and responses, so 30 rounds take ~10 s
TRIGGER_PRESET = {"trigger": "silence", "silence_s": 0.05, "max_notes": 8, "max_seconds": 0.5,
                  "max_duration_s": 0.2}


@dataclass(frozen=True)
class Settings:
    """How long each measurement runs: sample counts, and ``response_s``/``idle_s`` in seconds."""

    warmup: int = 200
    steps: int = 5000
    rereads: int = 50
    one_calls: int = 200
    torch_steps: int = 2000
    responses: int = 30
    response_s: float = 60.0
    idle_s: float = 10.0


FULL = Settings()
QUICK = Settings(warmup=50, steps=1000, rereads=10, one_calls=30, torch_steps=300,
                 responses=8, response_s=5.0, idle_s=3.0)


@dataclass
class Figure:
    """One row of the report.

    Attributes:
        key: stable id (for JSON consumers and :data:`TARGETS`); label: for people.
        unit: of p50/p99/mean/max/value ("ms" for timings; "s", "%", "MiB", "" for values).
        p50, p99, mean, max: statistics of ``samples`` timings.
        value: a single figure (cold start, CPU %, RSS, exit status).
        ratio: p50 over the stateful step's p50 (how many times slower).
        target: the acceptance figure as text; passed: True/False against it (None: no target).
        skipped: why it was not measured (None: measured); note: what else to know.
    """

    key: str
    label: str
    unit: str = "ms"
    p50: float | None = None
    p99: float | None = None
    mean: float | None = None
    max: float | None = None
    value: float | None = None
    ratio: float | None = None
    samples: int = 0
    target: str = ""
    passed: bool | None = None
    skipped: str | None = None
    note: str = ""

    def judge(self) -> Figure:
        """Fill :attr:`target` and :attr:`passed` from :data:`TARGETS`; return self."""
        checks = TARGETS.get(self.key, ())
        unit = f" {self.unit}" if self.unit else ""
        self.target = ", ".join(f"{f} {op} {lim:g}{'x' if f == 'ratio' else unit}"
                                for f, op, lim in checks)
        if checks and self.skipped is None:
            self.passed = all(getattr(self, f) is not None and _COMPARE[op](getattr(self, f), lim)
                              for f, op, lim in checks)
        return self


@dataclass
class Report:
    """The machine context and the figures, in order."""

    context: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        """True when no figure failed its target (skipped ones do not count)."""
        return all(f.passed is not False for f in self.figures)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able ``{"context": {...}, "figures": [{...}, ...], "passed": bool}``."""
        return {"context": self.context, "figures": [dataclasses.asdict(f) for f in self.figures],
                "passed": self.passed}


def _timing(key: str, label: str, samples_ms: Sequence[float], *, base: Figure | None = None,
            note: str = "") -> Figure:
    """A figure from timings in ms; ``ratio`` is against ``base``'s p50."""
    a = np.asarray(samples_ms, dtype=np.float64)
    if a.size == 0:
        return Figure(key, label, skipped="no samples").judge()
    p50, p99 = (float(x) for x in np.percentile(a, [50, 99]))
    ratio = p50 / base.p50 if base is not None and base.p50 else None
    return Figure(key, label, p50=p50, p99=p99, mean=float(a.mean()), max=float(a.max()),
                  ratio=ratio, samples=int(a.size), note=note).judge()


def _skip_all(figures: Iterable[Figure], reason: str) -> list[Figure]:
    figures = list(figures)
    for f in figures:
        f.skipped = reason
    return [f.judge() for f in figures]


def _feed_tokens(count: int) -> list[int]:
    """``count`` realistic token ids: :data:`PHRASE` encoded and repeated (4-token aligned)."""
    phrase = tokens.encode(Note(p, v, t, d) for p, v, t, d in PHRASE)
    return [int(t) for t in np.resize(phrase, count)]


def _style(model: Model) -> int:
    return model.styles.index(BENCH_STYLE) if BENCH_STYLE in model.styles else 0


# -- model cost -------------------------------------------------------------------------


def _time_ms(call: Callable[[int], object], count: int, warmup: int) -> list[float]:
    """Milliseconds of each of ``count`` calls ``call(i)``, after ``warmup`` untimed ones."""
    clock, times = time.perf_counter_ns, []
    for i in range(-warmup, count):
        t0 = clock()
        call(i)
        times.append((clock() - t0) / NS_PER_MS)
    return times[warmup:]


def bench_step(model: Model, steps: int, warmup: int = 200) -> Figure:
    """Time ``model.step`` (onnxruntime, state carried) on a real phrase's tokens."""
    feed, style, state = _feed_tokens(4 * len(PHRASE)), _style(model), model.initial_state()

    def one(i: int) -> None:
        nonlocal state
        _, state = model.step(feed[i % len(feed)], state, style)

    return _timing("step", "one step, onnxruntime, state carried", _time_ms(one, steps, warmup))


def bench_reread(model: Model, samples: int, base: Figure) -> Figure:
    """Time the stateless step: from a zero state, the 200-token window step by step."""
    window, style = _feed_tokens(WINDOW_NOTES * tokens.TOKENS_PER_NOTE), _style(model)

    def one(_: int) -> None:
        state = model.initial_state()
        for token in window:
            _, state = model.step(token, state, style)

    return _timing("reread", f"stateless: re-read {WINDOW_NOTES} notes, {len(window)} steps",
                   _time_ms(one, samples, 1), base=base)


def _window_session(net: dict[str, Any], length: int):
    """onnxruntime (1 thread) running ``length`` tokens from a zero state in one ``run``.

    The graph is the exported network's (embeddings, LSTM layers, linear head)
    for a whole window, with random weights of the shape ``net`` (the model's
    ``network`` metadata) gives: the same shape costs the same.
    """
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng, make, hidden = np.random.default_rng(0), helper.make_node, int(net["hidden"])
    inits = {"E": rng.normal(size=(net["vocab_size"], net["embed"])),
             "S": rng.normal(size=(net["n_styles"], net["style_embed"])),
             "HW": rng.normal(size=(hidden, net["vocab_size"])), "HB": np.zeros(net["vocab_size"]),
             "shape": np.array([length, net["style_embed"]]), "ax0": np.array([0]),
             "ax1": np.array([1])}
    nodes = [make("Gather", ["E", "tokens"], ["x_tok"], axis=0),
             make("Gather", ["S", "style"], ["s_row"], axis=0),
             make("Expand", ["s_row", "shape"], ["s_rep"]),
             make("Concat", ["x_tok", "s_rep"], ["x"], axis=1),
             make("Unsqueeze", ["x", "ax1"], ["x0"])]  # [T, batch 1, features]
    width = net["embed"] + net["style_embed"]
    for k in range(int(net["layers"])):
        inits.update({f"W{k}": rng.normal(0, 0.1, (1, 4 * hidden, width if k == 0 else hidden)),
                      f"R{k}": rng.normal(0, 0.1, (1, 4 * hidden, hidden)),
                      f"B{k}": np.zeros((1, 8 * hidden))})
        nodes += [make("LSTM", [f"x{k}", f"W{k}", f"R{k}", f"B{k}"], [f"y{k}", f"yh{k}"],
                       hidden_size=hidden), make("Squeeze", [f"y{k}", "ax1"], [f"x{k + 1}"])]
    nodes += [make("Squeeze", [f"yh{int(net['layers']) - 1}", "ax0"], ["h_last"]),
              make("MatMul", ["h_last", "HW"], ["m"]), make("Add", ["m", "HB"], ["logits"])]
    arrays = [numpy_helper.from_array(v.astype(np.int64 if v.dtype.kind == "i" else np.float32), k)
              for k, v in inits.items()]
    graph = helper.make_graph(
        nodes, "window", [helper.make_tensor_value_info("tokens", TensorProto.INT64, [length]),
                          helper.make_tensor_value_info("style", TensorProto.INT64, [1])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, net["vocab_size"]])], arrays)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    proto.ir_version = 8
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def bench_reread_one_call(model: Model, samples: int, base: Figure) -> Figure:
    """Time the stateless step as one ``run`` over the 200-token window (needs ``onnx``).

    Skipped when ``onnx`` is missing or the model's metadata has no ``network`` shape.
    """
    key, label = "reread_one_call", f"stateless: re-read {WINDOW_NOTES} notes, one run"
    if not model.metadata.get("network"):
        return Figure(key, label, skipped="the model's metadata has no 'network' shape").judge()
    window = np.asarray(_feed_tokens(WINDOW_NOTES * tokens.TOKENS_PER_NOTE), np.int64)
    try:
        session = _window_session(model.metadata["network"], len(window))
    except ImportError as err:
        return Figure(key, label, skipped=f"{err.name} is not installed").judge()
    feed = {"tokens": window, "style": np.array([_style(model)], np.int64)}
    return _timing(key, label, _time_ms(lambda _: session.run(None, feed), samples, 1), base=base,
                   note="the model's layers as one sequence "
                   "graph (random weights, same shape); onnxruntime's LSTM op loops in C++")


def bench_torch(model: Model, steps: int, base: Figure, warmup: int = 200) -> Figure:
    """Time one PyTorch eager step of the model's network shape (1 thread), if torch imports.

    The network is built from the model's ``network`` metadata with random
    weights: the same shape costs the same.
    """
    key, label = "torch", "PyTorch eager, one step"
    if not model.metadata.get("network"):
        return Figure(key, label, skipped="the model's metadata has no 'network' shape").judge()
    try:
        import torch

        from livegen_train.network import EventLSTM, NetConfig, StepModule
    except ImportError as err:
        return Figure(key, label, skipped=f"{err.name or 'torch'} is not importable").judge()
    net = EventLSTM(NetConfig(**model.metadata["network"])).eval()
    step, feed, threads = StepModule(net).eval(), _feed_tokens(4 * len(PHRASE)), torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            token, style = torch.zeros(1, dtype=torch.long), torch.tensor([_style(model)])
            h = c = torch.zeros(net.config.layers, 1, net.config.hidden)

            def one(i: int) -> None:
                nonlocal h, c
                token[0] = feed[i % len(feed)]
                logits, h, c = step(token, style, h, c)
                logits[0].numpy()

            times = _time_ms(one, steps, warmup)
    finally:
        torch.set_num_threads(threads)
    return _timing(key, label, times, base=base,
                   note=f"torch {torch.__version__}, the model's shape with random weights")


# -- real time ----------------------------------------------------------------------------


def bench_trigger(model: Model, responses: int, *,
                  now: Callable[[], float] = time.monotonic) -> list[Figure]:
    """Play :data:`PHRASE` into a threaded Engine ``responses`` times; time each answer.

    The engine runs as in the daemon (engine and scheduler threads, the real
    clock), with a list as its port. The trigger instant is the silence
    deadline (the phrase's last note_off + ``silence_s``); the engine prepares
    the first note :data:`livegen.engine.PREPARE_S` before it. The time that
    note was scheduled is caught by wrapping this engine's scheduler methods.

    Returns:
        Figures: trigger -> first note_on (the engine's ``latencies_ms``); the
        preparation (engine fires -> first note scheduled); the scheduler's
        lateness during the responses.
    """
    from livegen.engine import PREPARE_S, Engine
    from livegen.presets import load_preset

    preset = load_preset(BENCH_STYLE).replace(style=model.styles[_style(model)], **TRIGGER_PRESET)
    engine = Engine(model, preset, [].append, now=now, seed=0, realtime=True)  # as the daemon
    scheduler, marks, armed = engine.scheduler, [], threading.Event()
    arm, schedule = scheduler.arm_first_note_on, scheduler.schedule

    def arm_hook() -> None:
        armed.set()
        arm()

    def schedule_hook(due_s: float, msg: mido.Message) -> bool:
        if armed.is_set() and msg.type == "note_on":
            armed.clear()
            marks.append((now(), due_s))  # when the first note was scheduled, its deadline
        return schedule(due_s, msg)

    scheduler.arm_first_note_on, scheduler.schedule = arm_hook, schedule_hook  # this instance only
    span_s, silences = max(t + d for _, _, t, d in PHRASE), []
    engine_log = logging.getLogger("livegen.engine")
    level = engine_log.level
    engine_log.setLevel(max(level, logging.WARNING))  # not a line per response
    engine.start()
    try:
        for _ in range(responses):
            end_s = now()  # the phrase arrives at once, its last note ending now
            for pitch, velocity, onset_s, duration_s in PHRASE:
                on_s = end_s - span_s + onset_s
                engine.feed(mido.Message("note_on", note=pitch, velocity=velocity).bytes(), on_s)
                engine.feed(mido.Message("note_off", note=pitch).bytes(), on_s + duration_s)
            silences.append(end_s + preset.silence_s)
            limit_s = now() + ROUND_TIMEOUT_S
            while (len(marks) < len(silences) or engine.responding) and now() < limit_s:
                time.sleep(POLL_S)
        time.sleep(10 * POLL_S)  # the last response's bookkeeping
        stats = engine.stats
    finally:
        engine.stop()
        engine_log.setLevel(level)
    if len(marks) != len(silences):  # a response never came: the pairs below would not match
        silences = []
    return [
        _timing("trigger", "trigger -> first note_on", stats.latencies_ms,
                note="the engine's latencies_ms: silence deadline -> first note_on handed "
                     "to the port"),
        _timing("trigger_compute", "  prepare: engine fires -> first note scheduled",
                [(at - (s - PREPARE_S)) * 1000.0 for (at, _), s in zip(marks, silences)],
                note=f"wake-up + snapshot + 3 model steps + sampling; fires "
                     f"{PREPARE_S * 1e3:g} ms before the deadline"),
        _timing("engine_lateness", "scheduler lateness in those responses", stats.lateness_ms,
                note="the scheduler thread shares the GIL with the engine thread"),
    ]


def bench_gc(collections: int = 5) -> Figure:
    """A full garbage collection's pause, after :func:`gc.freeze` as the daemon runs.

    ``livegen run`` freezes everything loaded at startup (modules, the model,
    ports) before it listens, so a full collection, which holds the GIL and so
    stops the engine and scheduler threads, scans only what the session
    created since. The note gives the pause without the freeze, measured first
    in this process.
    """
    def pauses() -> list[float]:
        out = []
        for _ in range(collections):
            t0 = time.perf_counter()
            gc.collect()
            out.append((time.perf_counter() - t0) * 1000.0)
        return out

    tracked = len(gc.get_objects())
    before = float(np.median(pauses()))
    gc.freeze()
    figure = _timing("gc_pause", "full GC pause after gc.freeze()", pauses(),
                     note=f"{before:.2f} ms median without the freeze, {tracked:,} objects tracked")
    return figure


def bench_scheduler(duration_s: float, *, rate_hz: float = RATE_NOTES_PER_S,
                    now: Callable[[], float] = time.monotonic) -> Figure:
    """Play ``duration_s`` of notes at ``rate_hz`` (note_on + note_off) through a Scheduler."""
    from livegen.scheduler import Scheduler

    scheduler = Scheduler([].append, now=now, realtime=True)  # as the daemon
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
        lateness_ms = [x * 1000.0 for x in scheduler.lateness_s]
    finally:
        scheduler.stop()
    priority = "real-time priority (SCHED_FIFO)" if scheduler.realtime_granted else \
        "normal priority (real-time not permitted)"
    return _timing("lateness", f"scheduler lateness, {count / rate_hz:g} s at {rate_hz:g} notes/s",
                   lateness_ms, note=f"send time minus deadline, every note_on and note_off; {priority}")


# -- the whole bench ----------------------------------------------------------------------


def _context(model: Model, quick: bool) -> dict[str, Any]:
    import onnxruntime

    try:
        cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        cpuinfo = []
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")),
               platform.processor() or platform.machine())
    return {"date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cores": os.cpu_count(), "cpu": cpu, "platform": platform.platform(),
            "python": platform.python_version(), "onnxruntime": onnxruntime.__version__,
            "numpy": np.__version__, "load_avg_start": _load_avg(), "mode": "quick" if quick else "full",
            "model": str(model.path), "model_mb": round(model.path.stat().st_size / 1e6, 2),
            "model_state": f"{model.layers} x {model.hidden}"}


def _load_avg() -> list[float] | None:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def run(model_path: str | os.PathLike | None = None, *, quick: bool = False,
        settings: Settings | None = None, daemon: bool = True) -> Report:
    """Run every measurement (about 90 s; ``quick`` about 20 s) and return the report.

    Args:
        model_path: the ``.onnx`` model; default the packaged one (or ``$LIVEGEN_MODEL``).
        quick: use :data:`QUICK` (a 5 s response, 3 s idle) instead of :data:`FULL`.
        settings: explicit counts and durations (overrides ``quick``).
        daemon: also start the daemon (cold start, idle CPU, RSS).

    Raises:
        ModelError: the model cannot be loaded.
    """
    settings = settings or (QUICK if quick else FULL)
    model = Model.load(model_path, threads=1)
    report = Report(_context(model, quick))
    log.info("one step x %d; stateless re-read x %d", settings.steps, settings.rereads)
    step = bench_step(model, settings.steps, settings.warmup)
    report.figures += [step, bench_reread(model, settings.rereads, step),
                       bench_reread_one_call(model, settings.one_calls, step)]
    report.figures.append(bench_gc())  # from here on the process is frozen as the daemon is
    log.info("trigger -> first note_on x %d responses", settings.responses)
    report.figures += bench_trigger(model, settings.responses)
    log.info("scheduler lateness over %g s", settings.response_s)
    report.figures.append(bench_scheduler(settings.response_s))
    if daemon:
        from livegen.bench_daemon import bench_daemon  # it imports this module's Figure

        log.info("daemon: cold start, %g s idle", settings.idle_s)
        report.figures += bench_daemon(model.path, settings.idle_s)
    log.info("PyTorch eager x %d", settings.torch_steps)  # last: importing torch starts threads
    report.figures.append(bench_torch(model, settings.torch_steps, step, settings.warmup))
    report.context["load_avg_end"] = _load_avg()
    return report


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return ""
    digits = 3 if abs(value) < 1 else 2 if abs(value) < 10 else 1
    return f"{value:.{digits}f}{unit}"


def format_report(report: Report) -> str:
    """The report as text: a header (machine, software, model), the table, then notes."""
    c = report.context
    head = [f"livegen bench ({c['mode']}), {c['date_utc']}",
            f"machine: {c['cores']} cores, {c['cpu']}; load average {c['load_avg_start']} at start, "
            f"{c.get('load_avg_end')} at end",
            f"software: Python {c['python']}, onnxruntime {c['onnxruntime']}, numpy {c['numpy']}",
            f"model: {c['model']} ({c['model_mb']} MB, LSTM state {c['model_state']})", ""]
    rows, notes, skips = [("figure", "p50", "p99", "max", "x step/value", "target", "result")], [], {}
    for f in report.figures:
        if f.skipped is not None:
            mark = skips.setdefault(f.skipped, f"[{len(skips) + 1}]")
            rows.append((f.label, "", "", "", "", f.target, f"skipped {mark}"))
            continue
        value = (_fmt(f.value, f" {f.unit}") if f.unit else f"{f.value:g}") if f.value is not None else (
            f"{f.ratio:.1f}x" if f.ratio is not None else "")
        rows.append((f.label, _fmt(f.p50), _fmt(f.p99), _fmt(f.max), value, f.target,
                     {True: "pass", False: "FAIL", None: ""}[f.passed]))
        notes += [f"  {f.label.strip()}: {f.note}"] if f.note else []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    table = ["  ".join(cell.rjust(w) if 0 < i < 5 else cell.ljust(w)
                       for i, (cell, w) in enumerate(zip(r, widths))).rstrip() for r in rows]
    table.insert(1, "-" * max(map(len, table)))
    verdict = "every measured target met" if report.passed else "some targets missed (FAIL)"
    return "\n".join(head + table + ["", f"times in ms; {verdict}", "notes:"] + notes
                     + [f"  {mark} skipped: {reason}" for reason, mark in skips.items()])
