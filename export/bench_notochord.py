"""livegen's cost per note against Notochord's per event: ``python -m livegen_train.bench_notochord``.

Notochord (V. Shepardson et al., "Notochord: a Flexible Probabilistic Model for
Real-Time MIDI Performance", AIMC 2022; the ``notochord`` package on PyPI) is
the nearest real-time MIDI model. Issue 14 asks that one note of livegen cost
at least 8x less than one Notochord event (a feed and a query). Both are timed
here, in one process and one run, on one thread each:

* livegen: one generated note under every preset found, as it is and with
  ``follow`` 0.5 (:func:`livegen.bench.steps.bench_note`: the engine's own
  ``Generator.next_note``, all four tokens, style guidance, follower, sampling);
* Notochord: ``query_feed()`` with its default arguments (sample the next event,
  instrument included, then feed it back), after :data:`~livegen.bench.steps.PHRASE`
  played three times as note_on/note_off events on the piano (instrument 1),
  again from there every 16 events (an answer: every row runs one in turn, so
  that all share the machine's load alike). Its default model
  (a 2-layer GRU of 1024, embeddings 512) and one of livegen's size (2 x 256,
  embeddings 256), random weights: a shape costs the same whatever its weights,
  and the trained checkpoint is a download this tool does not make.

Notochord is a comparison only, never a dependency: its wheel pins
``torch<2.11`` and livegen's training side uses torch 2.13, so it is not in
any extra. Where it is wanted: ``pip install --no-deps notochord appdirs pandas``
(its other imports, mido, tqdm, joblib and torch, are here already). Without
it the Notochord rows are skipped with that reason. A Notochord *note* is two
events (note_on, note_off); the ratio is taken per event, the stricter reading.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from livegen.bench.report import (
    NS_PER_MS,
    Figure,
    Report,
    format_report,
    load_avg,
    machine_context,
)
from livegen.bench.steps import NOTE_FOLLOW, PHRASE, NoteAnswers, note_rows, time_rows
from livegen.errors import LivegenError
from livegen.model import Model

__all__ = ["Settings", "FULL", "QUICK", "SHAPES", "phrase_events",
           "NotochordEvents", "notochord_row", "bench_notochord", "run", "main"]

log = logging.getLogger(__name__)

EXIT_OK, EXIT_USAGE = 0, 2
PIANO = 1  # Notochord's instrument ids: 1-128 are the General MIDI programs + 1
PRIMED_PHRASES = 3  # as livegen's per-note rows (bench.steps)
PHRASE_S = 4.0
#: Notochord shapes timed: key -> (label, constructor arguments)
SHAPES: dict[str, tuple[str, dict[str, int]]] = {
    "notochord": ("Notochord default (GRU 2 x 1024), feed + query", {}),
    "notochord_small": ("  Notochord at livegen's size (GRU 2 x 256)", {"emb_size": 256, "rnn_hidden": 256}),
}


@dataclass(frozen=True)
class Settings:
    """Sample counts: ``notes`` per livegen row, ``events`` per Notochord row, after ``warmup``."""

    notes: int = 1000
    events: int = 320
    warmup: int = 32


FULL = Settings()
QUICK = Settings(notes=200, events=64, warmup=16)


def phrase_events(phrases: int = PRIMED_PHRASES) -> list[tuple[int, int, float, int]]:
    """:data:`PHRASE` played ``phrases`` times as Notochord events.

    Returns:
        ``(instrument, pitch, seconds since the previous event, velocity)`` in time
        order; a note_off is velocity 0.
    """
    events = []
    for k in range(phrases):
        for pitch, velocity, onset_s, duration_s in PHRASE:
            events += [(onset_s + k * PHRASE_S, 1, pitch, velocity),
                       (onset_s + duration_s + k * PHRASE_S, 0, pitch, 0)]
    events.sort()
    out, last_s = [], 0.0
    for at_s, _, pitch, velocity in events:
        out.append((PIANO, pitch, at_s - last_s, velocity))
        last_s = at_s
    return out


class NotochordEvents:
    """Notochord ``query_feed()`` calls as :func:`bench_notochord` times them (one torch thread).

    Every answer starts again: ``reset()``, then :func:`phrase_events` fed (untimed).

    Args:
        shape: Notochord's constructor arguments ({} for its default model).

    Raises:
        ImportError: ``notochord`` (or torch) is not installed.
    """

    def __init__(self, shape: dict[str, int]) -> None:
        import torch
        from notochord import Notochord

        self._torch = torch
        with self._one_thread():
            torch.manual_seed(0)
            self.noto: Any = Notochord(**shape).eval()
        self._primer = phrase_events()
        self.parameters = sum(p.numel() for p in self.noto.parameters())
        #: each timed event's CPU time, milliseconds (warm-up events included, first)
        self.cpu_ms: list[float] = []

    @contextlib.contextmanager
    def _one_thread(self) -> Iterator[None]:
        threads = self._torch.get_num_threads()
        self._torch.set_num_threads(1)
        try:
            yield
        finally:
            self._torch.set_num_threads(threads)

    def __call__(self, count: int, times: list[float]) -> None:
        """One answer of ``count`` events; append each event's time to ``times``, milliseconds."""
        noto, clock, cpu = self.noto, time.perf_counter_ns, time.thread_time_ns
        with self._one_thread():
            noto.reset()
            for event in self._primer:
                noto.feed(*event)
            for _ in range(count):
                c0, t0 = cpu(), clock()
                noto.query_feed()
                t1, c1 = clock(), cpu()
                times.append((t1 - t0) / NS_PER_MS)
                self.cpu_ms.append((c1 - c0) / NS_PER_MS)


def notochord_row(key: str) -> tuple[Figure, NotochordEvents | None]:
    """The figure of one of :data:`SHAPES` and its workload, or the figure skipped and None."""
    label, shape = SHAPES[key]
    try:
        events = NotochordEvents(shape)
    except ImportError as err:
        return Figure(key, label, skipped=f"{err.name} is not installed (pip install --no-deps "
                                          f"notochord appdirs pandas; it pins torch<2.11)"), None
    note = (f"{events.parameters / 1e6:.1f} M parameters, random weights, torch "
            f"{events._torch.__version__}, 1 thread")
    return Figure(key, label, note=note), events


def bench_notochord(key: str, events: int, warmup: int, *, base: Figure | None = None) -> Figure:
    """Time Notochord's ``query_feed()`` (one event: a query, then its feed) on one torch thread.

    Args:
        key: one of :data:`SHAPES`.
        events: timed events; warmup: untimed events first.
        base: livegen's costliest per-note figure; ``ratio`` is this row's p50 over its p50.

    Returns:
        The figure (ms per event), skipped when ``notochord`` does not import.
    """
    (figure,) = time_rows([notochord_row(key)], events, warmup, base=base)
    return figure


def run(model_path: str | None = None, *, quick: bool = False, settings: Settings | None = None,
        presets: dict[str, Any] | None = None) -> Report:
    """Time livegen's note under each preset (follow as it is and 0.5) and Notochord's event, in turns.

    Every row runs one answer in turn (:func:`livegen.bench.steps.interleave`: 16
    notes, or 32 events), so that they share the machine's load alike.

    Args:
        model_path: livegen's ``.onnx`` model; default the packaged one (or ``$LIVEGEN_MODEL``).
        quick: use :data:`QUICK` instead of :data:`FULL`.
        settings: explicit counts (overrides ``quick``).
        presets: ``{name: preset or YAML path}``; default every preset found.

    Raises:
        ModelError: the model cannot be loaded.
    """
    settings = settings or (QUICK if quick else FULL)
    model = Model.load(model_path, threads=1)
    report = Report(machine_context(model, "quick" if quick else "full",
                                    title="python -m livegen_train.bench_notochord"))
    rows: list[tuple[Figure, Any]] = []
    for figure, work in note_rows(model, presets, variants=False):
        rows.append((figure, work))
        preset = work.generator.preset if work is not None else None
        if preset is not None and preset.conditioning.follow <= 0:
            followed = preset.replace(follow=NOTE_FOLLOW)
            rows.append((Figure(f"{figure.key}.follow", f"  {figure.key[5:]}, follow {NOTE_FOLLOW:g}",
                                note=f"as above, follow {NOTE_FOLLOW:g}"), NoteAnswers(model, followed)))
    notes = len(rows)
    rows += [notochord_row(key) for key in SHAPES]
    log.info("livegen notes x %d, Notochord events x %d, in turns", settings.notes, settings.events)
    figures = time_rows(rows, [settings.notes] * notes + [settings.events] * len(SHAPES),
                        settings.warmup)
    shipped = [k for k, f in enumerate(figures[:notes])
               if f.skipped is None and not f.key.endswith(".follow")]
    costliest = max(shipped, key=lambda k: figures[k].p50) if shipped else None
    for k in range(notes, len(figures)):
        figure = figures[k]
        if figure.skipped is None and costliest is not None:
            base = figures[costliest]
            figure.ratio = figure.p50 / base.p50
            cpu = _cpu_p50(rows[k][1], settings.warmup) / _cpu_p50(rows[costliest][1], settings.warmup)
            figure.note += (f"; x: this p50 over {base.key}'s, the costliest preset as it is "
                            f"(in CPU time {cpu:.1f}x)")
        figure.judge()
    report.figures += figures
    if "torch" in sys.modules:
        report.context["torch"] = sys.modules["torch"].__version__
    report.context["load_avg_end"] = load_avg()
    return report


def _cpu_p50(work: Any, warmup: int) -> float:
    return float(np.percentile(work.cpu_ms[warmup:], 50))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m livegen_train.bench_notochord [--model PATH] [--quick] [--json] [-v]``.

    Returns:
        0, or 2 with a one-line error when the model or a preset cannot be loaded.
    """
    parser = argparse.ArgumentParser(
        prog="python -m livegen_train.bench_notochord",
        description="livegen's cost per generated note (every preset) against Notochord's per "
                    "event (feed + query), one thread each, one run. See docs/benchmark.md.")
    parser.add_argument("--model", metavar="PATH",
                        help="ONNX model (default: the packaged model, or $LIVEGEN_MODEL)")
    parser.add_argument("--quick", action="store_true", help="fewer samples (about 20 s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object (for scripts)")
    parser.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        report = run(args.model, quick=args.quick)
    except LivegenError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_report(report), flush=True)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
