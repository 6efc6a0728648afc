"""The model's cost in this process: one onnxruntime step with the state carried, the
stateless re-read of a 50-note window that older tools pay per predicted token, and
one generated note per preset (:func:`bench_notes`: all its tokens, style guidance,
the follower and sampling, through the engine's own :class:`~livegen.generation.Generator`).

Also the bench's workload (a real phrase, its tokens, the style timed), which the
other parts and the training side's comparison rows reuse.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from livegen import tokens
from livegen.bench.report import NS_PER_MS, Figure, time_ms, timing
from livegen.generation import Generator
from livegen.model import Model, preset_model
from livegen.notes import Note
from livegen.presets import Preset, list_presets, load_preset

__all__ = ["PHRASE", "WINDOW_NOTES", "BENCH_STYLE", "NOTE_FOLLOW", "ANSWER_NOTES", "feed_tokens",
           "style_index", "bench_step", "bench_reread", "note_variants", "NoteAnswers", "interleave",
           "note_rows", "float_twin", "Workload", "time_rows", "bench_note", "bench_notes"]

# (pitch, velocity, onset_s, duration_s): the soprano of J. S. Bach's chorale BWV 66.6
# (music21 corpus, bach/bwv66.6), first 8 notes, quarter note = 0.5 s
PHRASE = ((73, 80, 0.0, 0.25), (71, 76, 0.25, 0.25), (69, 78, 0.5, 0.5), (71, 80, 1.0, 0.5),
          (73, 84, 1.5, 0.5), (76, 90, 2.0, 0.5), (73, 84, 2.5, 0.5), (71, 78, 3.0, 0.5))
WINDOW_NOTES = 50  # the performer context a windowed model re-reads (DESIGN.md)
BENCH_STYLE = "romantic"  # the style timed and the daemon's preset (any style costs the same)
#: the ``follow`` weight of the per-note rows with the follower on (the weight
#: livegen_train.conditional measured; presets ship with it off so far)
NOTE_FOLLOW = 0.5
ANSWER_NOTES = 16  # notes per answer in the per-note rows; each answer starts from the snapshot
PRIMED_PHRASES = 3  # PHRASE is primed this many times first (the follower learns 24 notes)
PHRASE_S = 4.0  # PHRASE's length, seconds (its last note ends at 3.5 s)


def feed_tokens(count: int) -> list[int]:
    """``count`` realistic token ids: :data:`PHRASE` encoded and repeated (4-token aligned)."""
    phrase = tokens.encode(Note(p, v, t, d) for p, v, t, d in PHRASE)
    return [int(t) for t in np.resize(phrase, count)]


def style_index(model: Model) -> int:
    """The index of :data:`BENCH_STYLE` among the model's styles (0 if it has none of that name)."""
    return model.styles.index(BENCH_STYLE) if BENCH_STYLE in model.styles else 0


def bench_step(model: Model, steps: int, warmup: int = 200) -> Figure:
    """Time ``model.step`` (onnxruntime, state carried) on a real phrase's tokens.

    Args:
        model: loaded as the daemon loads it (1 thread).
        steps: timed steps; warmup: untimed steps before them.

    Returns:
        The ``step`` figure, milliseconds per step.
    """
    feed, style, state = feed_tokens(4 * len(PHRASE)), style_index(model), model.initial_state()

    def one(i: int) -> None:
        nonlocal state
        _, state = model.step(feed[i % len(feed)], state, style)

    return timing("step", "one step, onnxruntime, state carried", time_ms(one, steps, warmup))


def bench_reread(model: Model, samples: int, base: Figure) -> Figure:
    """Time the stateless step: from a zero state, the 200-token window step by step.

    Args:
        model: as for :func:`bench_step`.
        samples: timed re-reads (one untimed first).
        base: the ``step`` figure the ratio is taken against.

    Returns:
        The ``reread`` figure, milliseconds per re-read.
    """
    window, style = feed_tokens(WINDOW_NOTES * tokens.TOKENS_PER_NOTE), style_index(model)

    def one(_: int) -> None:
        state = model.initial_state()
        for token in window:
            _, state = model.step(token, state, style)

    return timing("reread", f"stateless: re-read {WINDOW_NOTES} notes, {len(window)} steps",
                  time_ms(one, samples, 1), base=base)


def note_variants(preset: Preset) -> list[tuple[str, str, Preset]]:
    """The per-note rows of one preset: as it is, and with one cost taken away or added.

    Returns:
        ``(key suffix, what changed, preset)``: ``""`` the preset itself; ``".unguided"``
        with ``style_guidance`` 0 (when it is on: what guidance costs); ``".follow"`` with
        ``follow`` :data:`NOTE_FOLLOW` when it is off, else ``".nofollow"`` with it 0 (what
        the follower costs).
    """
    conditioning = preset.conditioning
    rows = [("", "as the preset is", preset)]
    if conditioning.style_guidance > 0:
        rows.append((".unguided", "style guidance off", preset.replace(style_guidance=0.0)))
    if conditioning.follow > 0:
        rows.append((".nofollow", "follow off", preset.replace(follow=0.0)))
    else:
        rows.append((".follow", f"follow {NOTE_FOLLOW:g}", preset.replace(follow=NOTE_FOLLOW)))
    return rows


def _describe(preset: Preset) -> str:
    conditioning = preset.conditioning
    guidance = "guidance off" if conditioning.style_guidance <= 0 else (
        f"guidance {conditioning.style_guidance:g} away from "
        + (", ".join(conditioning.style_contrast) or "the mean of every style"))
    return (f"style {conditioning.style}, {guidance}, follow {conditioning.follow:g}, "
            f"key mask {preset.sampling.key_mask}, top_p {preset.sampling.top_p:g}"
            + (f", model {preset.model}" if preset.model else ""))


class NoteAnswers:
    """One preset's generator as :func:`bench_note` times it: primed once, answering from there.

    The generator is the engine's own (style guidance, follower, sampler, copy
    guard as the preset says, seed 0). :data:`PHRASE` is primed
    :data:`PRIMED_PHRASES` times (the follower learns it; the key mask and the
    repetition guard see it); each answer starts from that snapshot as a
    response does (``restore``, ``begin_response``: untimed). Each timed call
    draws one note: its SHIFT, PITCH, VEL and DUR tokens, each fed to the model
    (DUR at the start of the next call). With an ``articulation`` a call draws a
    whole chord and the next calls give its other notes: each of the chord's
    notes is timed as its call plus an even share of the call that drew them.

    Args:
        model: loaded as the daemon loads it (1 thread).
        preset: the preset timed.
        generator: the generator to time, new and built for ``preset`` (default:
            ``Generator(model, preset, seed=0)``).

    Raises:
        ModelError: the model lacks a style the preset names.
    """

    def __init__(self, model: Model, preset: Preset, generator: Generator | None = None) -> None:
        self.generator = generator = generator if generator is not None else Generator(model, preset, seed=0)
        for k in range(PRIMED_PHRASES):
            for pitch, velocity, onset_s, duration_s in PHRASE:
                generator.prime(Note(pitch, velocity, onset_s + k * PHRASE_S, duration_s))
        self._snapshot = generator.snapshot()
        self._start_s = PRIMED_PHRASES * PHRASE_S + preset.triggering.silence_s
        #: each timed note's CPU time, milliseconds (warm-up notes included, first)
        self.cpu_ms: list[float] = []

    def __call__(self, count: int, times: list[float]) -> None:
        """One answer of ``count`` notes; append each note's time to ``times``, milliseconds.

        Each note's CPU time (this thread's, without the waits for a core that a
        busy machine adds to the wall-clock time) goes to :attr:`cpu_ms`.
        """
        generator, clock, cpu, avoid = self.generator, time.perf_counter_ns, time.thread_time_ns, frozenset()
        generator.restore(self._snapshot)
        generator.begin_response(self._start_s)
        next_note, cpu_ms = generator.next_note, self.cpu_ms
        share_ns = share_cpu_ns = 0.0  # the drawing call's time, shared by its chord's notes
        for _ in range(count):
            drawn = generator.queued == 0
            c0, t0 = cpu(), clock()
            next_note(avoid)
            t1, c1 = clock(), cpu()
            wall_ns, cpu_ns = t1 - t0, c1 - c0
            if drawn:
                notes = 1 + generator.queued
                share_ns, share_cpu_ns = wall_ns / notes, cpu_ns / notes
                wall_ns = cpu_ns = 0
            times.append((share_ns + wall_ns) / NS_PER_MS)
            cpu_ms.append((share_cpu_ns + cpu_ns) / NS_PER_MS)


def interleave(rows: Sequence[Callable[[int, list[float]], None]], samples: int | Sequence[int],
               warmup: int, chunk: int = ANSWER_NOTES) -> list[list[float]]:
    """Time several workloads in turns of ``chunk`` samples, so that they share the machine's moods.

    On a shared machine the load moves within seconds; rows timed one after the
    other would compare different minutes. Here every row runs one chunk
    (an answer) in turn until each has ``warmup + samples``.

    Args:
        rows: each ``row(count, times)`` runs ``count`` samples and appends their times.
        samples: timed samples per row (or one count per row); warmup: untimed samples per row first.
        chunk: samples per turn.

    Returns:
        The timed samples of each row, milliseconds, in ``rows`` order.
    """
    wanted = [warmup + n for n in ([samples] * len(rows) if isinstance(samples, int) else samples)]
    times: list[list[float]] = [[] for _ in rows]
    while any(len(t) < n for t, n in zip(times, wanted)):
        for row, row_times, n in zip(rows, times, wanted):
            if len(row_times) < n:
                row(min(chunk, n - len(row_times)), row_times)
    return [t[warmup:] for t in times]


def bench_note(model: Model, preset: Preset, notes: int, warmup: int = 50, *, key: str = "note",
               label: str = "one generated note", base: Figure | None = None) -> Figure:
    """Time :meth:`livegen.generation.Generator.next_note` under ``preset``, as the daemon calls it
    (:class:`NoteAnswers`: answers of :data:`ANSWER_NOTES` notes).

    Args:
        model: loaded as the daemon loads it (1 thread).
        preset: the preset timed.
        notes: timed notes; warmup: untimed notes before them.
        key, label: the figure's.
        base: the figure ``ratio`` is taken against (the one-step figure: how many
            steps a note costs).

    Returns:
        The figure, milliseconds per note.

    Raises:
        ModelError: the model lacks a style the preset names.
    """
    (times,) = interleave([NoteAnswers(model, preset)], notes, warmup)
    return timing(key, label, times, base=base, note=_describe(preset))


def note_rows(model: Model, presets: dict[str, Preset | Path] | None = None, *,
              variants: bool = True) -> list[tuple[Figure, NoteAnswers | None]]:
    """The per-note rows to time: an empty figure and its workload, or a skipped figure and None.

    Args:
        model: as for :class:`NoteAnswers`, or a :class:`livegen.model.ModelSet` (each
            preset with its own model, as the daemon plays it).
        presets: ``{name: preset or its YAML file}``; default every preset found
            (:func:`livegen.presets.list_presets`: the shipped ones and ``$LIVEGEN_PRESETS``'s).
        variants: also the comparison rows of :func:`note_variants` (else the presets as they are)
            and, for an int8 graph whose float32 source lies next to it, the preset on
            that graph (``note_float32.NAME``: what the quantization saves; a comparison, not judged).
    """
    from livegen.errors import LivegenError

    rows: list[tuple[Figure, NoteAnswers | None]] = []
    for name, preset in (presets or list_presets()).items():
        try:
            preset = load_preset(preset) if not isinstance(preset, Preset) else preset
            own = preset_model(model, preset)
        except LivegenError as err:
            rows.append((Figure(f"note.{name}", f"one generated note: {name}", skipped=str(err)), None))
            continue
        twin = float_twin(own) if variants else None
        for suffix, what, variant in (note_variants(preset) if variants else [("", "", preset)]):
            figure = Figure(f"note.{name}{suffix}",
                            f"one generated note: {name}" if not suffix else f"  {name}, {what}",
                            note=_describe(variant))
            try:
                rows.append((figure, NoteAnswers(own, variant)))
            except LivegenError as err:
                figure.skipped = str(err)
                rows.append((figure, None))
        if twin is not None and rows[-1][1] is not None:
            rows.append((Figure(f"note_float32.{name}", f"  {name}, the float32 graph ({twin.path.name})",
                                note=_describe(preset)), NoteAnswers(twin, preset)))
    return rows


def float_twin(model: Model) -> Model | None:
    """The float32 graph an int8 ``model`` was quantized from (its ``quantized`` metadata names
    the file next to it), loaded alike; None for a float graph or when the file is not there.

    Raises:
        ModelError: the file is there but does not load.
    """
    info = model.metadata.get("quantized")
    if not isinstance(info, dict) or not info.get("from"):
        return None
    path = Path(model.path).with_name(str(info["from"]))
    return Model.load(path, threads=1) if path.is_file() else None


class Workload(Protocol):
    """What :func:`time_rows` times: ``work(count, times)`` runs ``count`` samples, appends
    each one's wall-clock time to ``times`` and its CPU time to :attr:`cpu_ms` (ms)."""

    cpu_ms: list[float]

    def __call__(self, count: int, times: list[float]) -> None: ...


def time_rows(rows: Sequence[tuple[Figure, Workload | None]],
              samples: int | Sequence[int], warmup: int, *, base: Figure | None = None) -> list[Figure]:
    """Time the workloads of ``rows`` in turns (:func:`interleave`); fill and judge their figures.

    Args:
        rows: ``(figure, workload)``; a None workload leaves its figure as it is (skipped). The
            CPU time of the timed samples goes in the figure's note.
        samples: timed samples per row, or one count per row (rows without a workload included).
        warmup: untimed samples per row first.
        base: the figure each ``ratio`` is taken against.

    Returns:
        The figures, judged, in ``rows`` order.
    """
    counts = [samples] * len(rows) if isinstance(samples, int) else list(samples)
    timed = [k for k, (_, work) in enumerate(rows) if work is not None]
    measured = dict(zip(timed, interleave([rows[k][1] for k in timed], [counts[k] for k in timed],
                                          warmup)))
    figures = []
    for k, (figure, work) in enumerate(rows):
        if k not in measured:
            figures.append(figure.judge())
            continue
        note = figure.note
        if work.cpu_ms:  # the timed samples' CPU time, beside the wall-clock figures
            p50, p99 = np.percentile(work.cpu_ms[warmup:], [50, 99])
            note = f"CPU time p50 {p50:.3f} ms, p99 {p99:.3f} ms; {note}"
        figures.append(timing(figure.key, figure.label, measured[k], base=base, note=note))
    return figures


def bench_notes(model: Model, notes: int, warmup: int = 50, *, base: Figure | None = None,
                presets: dict[str, Preset | Path] | None = None) -> list[Figure]:
    """One generated note under every preset found, with its comparison rows (:func:`note_variants`),
    timed in turns (:func:`interleave`).

    Args:
        model: as for :func:`bench_note`.
        notes: timed notes per row; warmup: untimed notes per row.
        base: as for :func:`bench_note`.
        presets: as for :func:`note_rows`.

    Returns:
        Figures keyed ``note.NAME`` (``note.NAME.unguided``, ``note.NAME.follow`` ...),
        judged against the per-note target; a preset that does not load, or whose style
        the model lacks, is skipped with the reason.
    """
    figures = time_rows(note_rows(model, presets), notes, warmup, base=base)
    if figures and figures[0].skipped is None:
        figures[0].note += (f"; every note row: {ANSWER_NOTES}-note answers after {PRIMED_PHRASES}x "
                            f"an 8-note phrase, seed 0, the rows timed in turns, an answer each; "
                            f"x step: the note's p50 in one-step p50s")
    return figures
