"""The whole ``livegen bench``: every measurement in order, one :class:`~livegen.bench.report.Report`."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from livegen.bench.daemon import bench_daemon
from livegen.bench.listener import jack_server_facts
from livegen.bench.realtime import bench_gc, bench_scheduler, bench_trigger
from livegen.bench.report import Report, load_avg, machine_context
from livegen.bench.steps import bench_notes, bench_reread, bench_step
from livegen.model import ModelSet

__all__ = ["Settings", "FULL", "QUICK", "ELSEWHERE", "run"]

log = logging.getLogger(__name__)

#: the comparison rows that need the training side (torch, onnx), and where they went
ELSEWHERE = ("PyTorch eager step and the stateless re-read in one run (a sequence graph "
             "built with onnx): `python -m livegen_train.bench_torch` (needs the train extra)")


@dataclass(frozen=True)
class Settings:
    """How long each measurement runs.

    Attributes:
        warmup: untimed model steps first; steps: timed steps; rereads: timed re-reads.
        notes: timed notes per per-note row (:func:`~livegen.bench.steps.bench_notes`).
        responses: phrases played to the threaded engine.
        response_s: the scheduler figure's duration, seconds.
        idle_s: the daemon's idle measurement, seconds.
    """

    warmup: int = 200
    steps: int = 5000
    rereads: int = 50
    notes: int = 1000
    responses: int = 30
    response_s: float = 60.0
    idle_s: float = 10.0


FULL = Settings()
QUICK = Settings(warmup=50, steps=1000, rereads=10, notes=200, responses=8, response_s=5.0, idle_s=3.0)


def run(model_path: str | os.PathLike | None = None, *, quick: bool = False,
        settings: Settings | None = None, daemon: bool = True) -> Report:
    """Run every measurement (about 90 s, ``quick`` about 20 s, plus the per-note rows:
    18 rows x 1,050 notes took 65 s on a busy machine) and return the report.

    Args:
        model_path: one ``.onnx`` model for every preset; default each preset's own (or ``$LIVEGEN_MODEL``).
        quick: use :data:`QUICK` (a 5 s response, 3 s idle) instead of :data:`FULL`.
        settings: explicit counts and durations (overrides ``quick``).
        daemon: also start the daemon (cold start, idle CPU, memory).

    Raises:
        ModelError: the model cannot be loaded.
    """
    settings = settings or (QUICK if quick else FULL)
    models = ModelSet(model_path, threads=1)  # each preset its own model, as the daemon plays it
    model = models.default()
    report = Report(machine_context(model, "quick" if quick else "full"))
    report.context["elsewhere"] = ELSEWHERE
    report.context["jack_server"] = jack_server_facts() if daemon else None
    log.info("one step x %d; stateless re-read x %d", settings.steps, settings.rereads)
    step = bench_step(model, settings.steps, settings.warmup)
    report.figures += [step, bench_reread(model, settings.rereads, step)]
    log.info("one generated note x %d, every preset", settings.notes)
    report.figures += bench_notes(models, settings.notes, min(settings.warmup, settings.notes), base=step)
    report.figures.append(bench_gc())  # from here on the process is frozen as the daemon is
    log.info("trigger -> first note_on x %d responses", settings.responses)
    report.figures += bench_trigger(model, settings.responses)
    log.info("scheduler lateness over %g s", settings.response_s)
    report.figures.append(bench_scheduler(settings.response_s))
    if daemon:
        log.info("daemon: cold start, %g s idle", settings.idle_s)
        report.figures += bench_daemon(model.path, settings.idle_s)
    report.context["load_avg_end"] = load_avg()
    return report
