"""The bench's figures and report: :class:`Figure` rows judged against :data:`TARGETS`.

Shared by every part of the bench and by the training side's comparison rows
(``python -m livegen_train.bench_torch``), so that all print one table format.
"""

from __future__ import annotations

import dataclasses
import datetime
import operator
import os
import platform
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["TARGETS", "NS_PER_MS", "Figure", "Report", "timing", "time_ms", "skip_all",
           "machine_context", "load_avg", "format_report"]

#: figure key -> the acceptance figures (issue "Instant, tight, and in time with the DAW";
#: issue 12 for ``uss``; issues 13 and 14 for ``note``), as (field, comparison, limit). A key
#: ``family.x`` without its own entry is judged by its family's (``note.folk`` by ``note``).
TARGETS: dict[str, tuple[tuple[str, str, float], ...]] = {
    "step": (("p50", "<=", 0.2), ("p99", "<=", 1.0)),
    "reread": (("ratio", ">=", 20.0),), "reread_one_call": (("ratio", ">=", 20.0),),
    "trigger": (("p99", "<=", 2.0),), "lateness": (("p99", "<=", 1.0),),
    "idle_cpu": (("value", "<", 1.0),), "uss": (("value", "<", 200.0),),
    "cold_start": (("value", "<", 1.5),), "sigint_exit": (("value", "==", 0.0),),
    # issue 14: what a listener gets with every core busy, on the one-client JACK port
    "listener_lateness_load": (("p99", "<=", 1.5), ("max", "<=", 3.0)),
    "listener_trigger_load": (("p99", "<=", 2.0),),
    "note": (("p50", "<=", 1.0),), "notochord": (("ratio", ">=", 8.0),),
}
_COMPARE = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, "==": operator.eq}
NS_PER_MS = 1e6


@dataclass
class Figure:
    """One row of the report.

    Attributes:
        key: stable id (for JSON consumers and :data:`TARGETS`); label: for people.
        unit: of p50/p99/mean/max/value ("ms" for timings; "s", "%", "MB", "" for values).
        p50, p99, mean, max: statistics of ``samples`` timings.
        value: a single figure (cold start, CPU %, memory, exit status).
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
        checks = TARGETS.get(self.key) or TARGETS.get(self.key.split(".")[0], ())
        unit = f" {self.unit}" if self.unit else ""
        self.target = ", ".join(f"{f} {op} {lim:g}{'x' if f == 'ratio' else unit}"
                                for f, op, lim in checks)
        if checks and self.skipped is None:
            self.passed = all(getattr(self, f) is not None and _COMPARE[op](getattr(self, f), lim)
                              for f, op, lim in checks)
        return self


@dataclass
class Report:
    """The machine context and the figures, in order.

    Attributes:
        context: what :func:`format_report` prints in the header: ``title``, ``mode``,
            ``date_utc``, ``cores``, ``cpu``, ``load_avg_start``/``_end``, ``python``,
            ``onnxruntime``, ``numpy``, ``model``, ``model_mb``, ``model_state``; and
            ``elsewhere``: rows measured by another command (printed last).
        figures: the rows, in order.
    """

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


def timing(key: str, label: str, samples_ms: Sequence[float], *, base: Figure | None = None,
           note: str = "") -> Figure:
    """A judged figure from timings.

    Args:
        key, label: as :class:`Figure`'s.
        samples_ms: the timings, milliseconds; none gives a skipped figure.
        base: the figure ``ratio`` is taken against (its p50), if any.
        note: what else to know.
    """
    a = np.asarray(samples_ms, dtype=np.float64)
    if a.size == 0:
        return Figure(key, label, skipped="no samples").judge()
    p50, p99 = (float(x) for x in np.percentile(a, [50, 99]))
    ratio = p50 / base.p50 if base is not None and base.p50 else None
    return Figure(key, label, p50=p50, p99=p99, mean=float(a.mean()), max=float(a.max()),
                  ratio=ratio, samples=int(a.size), note=note).judge()


def time_ms(call: Callable[[int], object], count: int, warmup: int) -> list[float]:
    """Milliseconds of each of ``count`` calls ``call(i)`` (``perf_counter_ns``), after
    ``warmup`` untimed ones (``i`` runs from ``-warmup`` to ``count - 1``)."""
    clock, times = time.perf_counter_ns, []
    for i in range(-warmup, count):
        t0 = clock()
        call(i)
        times.append((clock() - t0) / NS_PER_MS)
    return times[warmup:]


def skip_all(figures: Iterable[Figure], reason: str) -> list[Figure]:
    """Mark every figure skipped with ``reason``; return them judged, as a list."""
    figures = list(figures)
    for f in figures:
        f.skipped = reason
    return [f.judge() for f in figures]


def load_avg() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, or None where the OS has none."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None


def machine_context(model: Any, mode: str, title: str = "livegen bench") -> dict[str, Any]:
    """The report header's facts: machine, software, the model (a :class:`livegen.model.Model`).

    Args:
        model: its ``path``, ``layers`` and ``hidden`` are read.
        mode: ``"full"`` or ``"quick"``.
        title: the report's first words.
    """
    import onnxruntime

    try:
        cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        cpuinfo = []
    cpu = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")),
               platform.processor() or platform.machine())
    return {"title": title, "mode": mode,
            "date_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "cores": os.cpu_count(), "cpu": cpu, "platform": platform.platform(),
            "python": platform.python_version(), "onnxruntime": onnxruntime.__version__,
            "numpy": np.__version__, "load_avg_start": load_avg(),
            "model": str(model.path), "model_mb": round(model.path.stat().st_size / 1e6, 2),
            "model_state": f"{model.layers} x {model.hidden}"}


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return ""
    digits = 3 if abs(value) < 1 else 2 if abs(value) < 10 else 1
    return f"{value:.{digits}f}{unit}"


def format_report(report: Report) -> str:
    """The report as text: a header (machine, software, model), the table, then notes."""
    c = report.context
    head = [f"{c.get('title', 'livegen bench')} ({c['mode']}), {c['date_utc']}",
            f"machine: {c['cores']} cores, {c['cpu']}; load average {c['load_avg_start']} at start, "
            f"{c.get('load_avg_end')} at end",
            f"software: Python {c['python']}, onnxruntime {c['onnxruntime']}, numpy {c['numpy']}"
            + "".join(f", {k} {c[k]}" for k in ("torch",) if k in c),
            f"model: {c['model']} ({c['model_mb']} MB, LSTM state {c['model_state']})"]
    head += [f"JACK server: {c['jack_server']}"] if c.get("jack_server") else []
    head += [""]
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
    elsewhere = [f"elsewhere: {c['elsewhere']}"] if c.get("elsewhere") else []
    return "\n".join(head + table + ["", f"times in ms; {verdict}", "notes:"] + notes
                     + [f"  {mark} skipped: {reason}" for reason, mark in skips.items()] + elsewhere)
