"""``livegen evaluate``: the model against its baselines, on held-out music.

Everything is measured on the test split (:func:`livegen_train.corpus.split_pieces`):

* **NLL per note** in bits (all four attributes: time shift, pitch, velocity,
  duration) on 64-note test windows rendered as played, per style and for all,
  for the model, the stateless 50-note-window design and the variable-order
  Markov model (:mod:`livegen_train.baselines`).
* **Continuations** of held-out prompts (50-note prompt, 64-note continuation,
  several seeds) by the model with each style's preset, by the stateless design
  with argmax decoding, and the real next 64 notes, compared on: key distance to
  the prompt, rest ratio, note density, spread of inter-onset intervals,
  repetition, and the longest run copied from a training piece
  (:mod:`livegen_train.copies`).
* **Style**: the style classifier (:mod:`livegen_train.classifier`) labels each
  tonal preset's continuations of the shared prompts (and of the out-of-corpus
  prompts of the adherence section, the same continuations): the share of each
  style's label per preset; a preset passes when its own style is its most
  frequent label. The nearest-profile distances (key-relative pitch-class,
  melodic-interval and rhythm histograms against each style's test pieces) are
  kept as a description, not a check.

:mod:`livegen_train.report` prints the table and writes the markdown and plots.

Usage::

    livegen evaluate --run-dir runs/default --out docs/evaluation.md --figures docs/figures
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import shlex
import sys
import time
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from livegen import tokens as tk
from livegen.errors import ModelError
from livegen.guidance import StepModel
from livegen.notes import Note
from livegen.offline import answer_notes
from livegen.presets import Preset
from livegen_train.baselines import (
    WINDOW_NOTES,
    MarkovBaseline,
    StatelessWindowModel,
    StepScorer,
    TokenScorer,
    TorchScorer,
    argmax_preset,
    window_nll,
)
from livegen_train.corpus import Piece
from livegen_train.dataset import Augment, eval_windows, piece_arrays
from livegen_train.metrics import (
    distinctness,
    estimate_tonic,
    ioi_stats,
    key_distance,
    onset_groups,
    profile_distance,
    repetition,
    rest_ratio,
    stats,
    style_features,
)

__all__ = ["key_distance", "rest_ratio", "ioi_stats", "repetition", "onset_groups", "estimate_tonic",
           "style_features", "profile_distance", "distinctness", "Prompt", "select_prompts",
           "EvalConfig", "transpose_tokens", "fit_markov", "nll_table", "continuation_report",
           "label_continuations", "classifier_summary", "style_labels", "evaluate", "main"]

log = logging.getLogger(__name__)

PROMPT_NOTES = 50
CONTINUATION_NOTES = 64
NLL_WINDOW_NOTES = 64  # the training window
MARKOV_ORDER = 8  # tokens: two notes
MARKOV_TRANSPOSITIONS = tuple(range(-5, 7))  # every key once, as training augmentation covers
COPY_LIMIT_NOTES = 12  # acceptance: longest copied run <= 12 notes ...
COPY_SHARE = 0.95  # ... for 95 % of continuations
NLL_MIN_PIECES = 20  # acceptance: per-style NLL is judged where a style has >= 20 test pieces
NLL_MIN_REDUCTION = 0.15  # ... and must be >= 15 % below Markov's
KEY_MAX_RATIO = 1.2  # key distance at most 20 % above the real continuation's
REPETITION_MAX_RATIO = 1.5  # repetition at most 1.5 x the real continuation's
LONG_PREFIX = 3600.0  # seconds: a continuation is limited by notes, not time
PLAYED = Augment(transpose=0)  # test music is rendered as played (tempo, jitter, velocity), seeded
SECONDS_PER_MINUTE = 60.0

# --- prompts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prompt:
    """A held-out prompt and its real continuation, rendered as played (seconds).

    Attributes:
        piece: the test piece's name.
        style: its style.
        start: index of the prompt's first note in the piece.
        prompt: the 50 prompt notes.
        real: the real next 64 notes.
    """

    piece: str
    style: str
    start: int
    prompt: tuple[Note, ...]
    real: tuple[Note, ...]


def _played(piece: Piece, start: int, count: int) -> list[Note]:
    """Notes ``start:start+count`` rendered as played, seeded by the piece and position."""
    rng = np.random.default_rng(zlib.crc32(f"{piece.name}@{start}".encode()))
    pitch, onset_s, duration_s, velocity = piece_arrays(piece, start, count, rng, PLAYED)
    t0 = float(onset_s.min())
    return sorted((Note(int(p), int(v), float(o) - t0, float(d))
                   for p, o, d, v in zip(pitch, onset_s, duration_s, velocity)),
                  key=lambda n: (n.onset_s, n.pitch))


def select_prompts(pieces: Sequence[Piece], per_style: int, *, prompt_notes: int = PROMPT_NOTES,
                   continuation_notes: int = CONTINUATION_NOTES) -> dict[str, list[Prompt]]:
    """Up to ``per_style`` prompts per style from held-out pieces, spread over the pieces.

    Each piece long enough gives non-overlapping (prompt + continuation)
    segments evenly spaced through it; styles with few pieces take several
    from each, round-robin, so no piece gives more than its share.

    Returns:
        ``{style: [Prompt, ...]}`` in a deterministic order.
    """
    need = prompt_notes + continuation_notes
    by_style: dict[str, list[Piece]] = {}
    for piece in sorted(pieces, key=lambda p: p.name):
        if len(piece) >= need:
            by_style.setdefault(piece.style, []).append(piece)
    out: dict[str, list[Prompt]] = {}
    for style, members in by_style.items():
        each = math.ceil(per_style / len(members))
        starts = []
        for piece in members:
            fits = min(each, len(piece) // need)
            span = len(piece) - need
            # centred, evenly spaced segments (one: the middle of the piece)
            starts.append([(piece, int(round(span * (k + 0.5) / fits))) for k in range(fits)])
        order = [row[rank] for rank in range(each) for row in starts if rank < len(row)]
        chosen = []
        for piece, start in order[:per_style]:
            notes = _played(piece, start, need)
            chosen.append(Prompt(piece.name, style, start, tuple(notes[:prompt_notes]),
                                 tuple(notes[prompt_notes:])))
        out[style] = chosen
    return out


# --- NLL -----------------------------------------------------------------------------------------


def _subsample(mask: np.ndarray, limit: int | None) -> np.ndarray:
    """Indices of ``mask``'s True entries, at most ``limit`` of them evenly spaced."""
    index = np.flatnonzero(mask)
    if limit is None or len(index) <= limit:
        return index
    return index[np.linspace(0, len(index) - 1, limit).round().astype(int)]


def transpose_tokens(x: np.ndarray, shift: int) -> np.ndarray:
    """Token windows with every PITCH token moved by ``shift`` semitones (clipped to 0-127).

    Rendering as played draws nothing from the pitches, so this equals
    rendering the transposed pieces, at a fraction of the cost.
    """
    x = np.array(x, dtype=np.int64, copy=True)
    pitch = (x >= tk.PITCH_OFFSET) & (x < tk.PITCH_OFFSET + tk.N_PITCHES)
    x[pitch] = tk.PITCH_OFFSET + np.clip(x[pitch] - tk.PITCH_OFFSET + shift, 0, tk.N_PITCHES - 1)
    return x


def fit_markov(train: Sequence[Piece], styles: Sequence[str], *, order: int = MARKOV_ORDER,
               transpositions: Sequence[int] = MARKOV_TRANSPOSITIONS,
               restrict_to: np.ndarray | None = None) -> MarkovBaseline:
    """The Markov baseline fitted on every training piece in each transposition, rendered as
    played, in 64-note windows (as the network's training windows).

    Args:
        restrict_to: the test windows it will score (keeps only their contexts; see
            :meth:`livegen_train.baselines.MarkovBaseline.fit_chunks`).
    """
    x, _ = eval_windows(list(train), list(styles), NLL_WINDOW_NOTES, max_windows_per_piece=10_000,
                        performed=True)
    return MarkovBaseline(order).fit_chunks((transpose_tokens(x, shift) for shift in transpositions),
                                            restrict_to=restrict_to)


def nll_table(scorer: TokenScorer, train: Sequence[Piece], test: Sequence[Piece], styles: Sequence[str],
              *, max_windows: int | None = None, viewpoint: Any = None) -> dict[str, dict[str, float]]:
    """Held-out NLL per note in bits: model, stateless 50-note window, Markov; per style and all.

    Args:
        scorer: the network's scorer.
        train: training pieces (the Markov baseline's counts; see :func:`fit_markov`).
        test: held-out pieces.
        styles: the model's style names (index = style id).
        max_windows: at most this many windows per style (evenly spaced), None = all.
        viewpoint: the fair corpus Markov (:func:`livegen_train.conditional.corpus_markov`:
            Continuator-style viewpoints, learnt from the training pieces rendered as the
            network sees them), or None to leave it out.

    Returns:
        ``{style | "all": {"test_pieces", "windows", "model_bits", "stateless_bits",
        "markov_bits", "reduction_pct" (model below Markov, percent), "late_model_bits",
        "late_stateless_bits" (the same two over notes 52-64 only, where the stateless
        window has slid)}}``; with ``viewpoint`` also ``viewpoint_bits``,
        ``viewpoint_reduction_pct`` and, per token kind (shift, pitch, velocity, duration),
        ``model_kind_bits``, ``markov_kind_bits`` and ``viewpoint_kind_bits`` (bits per note).
    """
    x, s = eval_windows(test, list(styles), NLL_WINDOW_NOTES, max_windows_per_piece=10_000,
                        performed=True)
    keep = np.concatenate([_subsample(s == i, max_windows) for i in range(len(styles))]).astype(int)
    keep.sort()
    x, s = x[keep], s[keep]
    markov = fit_markov(train, styles, restrict_to=x)
    to_bits = tk.TOKENS_PER_NOTE / math.log(2.0)
    full, cut = scorer.nll(x, s), window_nll(scorer, x, s, WINDOW_NOTES)
    late = slice(tk.TOKENS_PER_NOTE * (WINDOW_NOTES + 1), None)  # the notes whose window slid
    markov_nll = markov.nll(x)
    columns = {"model_bits": full.mean(axis=1) * to_bits, "stateless_bits": cut.mean(axis=1) * to_bits,
               "markov_bits": markov_nll.mean(axis=1) * to_bits,
               "late_model_bits": full[:, late].mean(axis=1) * to_bits,
               "late_stateless_bits": cut[:, late].mean(axis=1) * to_bits}
    kinds = {"model_kind_bits": full, "markov_kind_bits": markov_nll}
    if viewpoint is not None:
        from livegen_train.conditional import window_nll as viewpoint_nll

        kinds["viewpoint_kind_bits"] = viewpoint_nll(viewpoint, x)
        columns["viewpoint_bits"] = kinds["viewpoint_kind_bits"].mean(axis=1) * to_bits
    per_kind = {key: np.stack([nats[:, k::tk.TOKENS_PER_NOTE].mean(axis=1) / math.log(2.0)
                               for k in range(tk.TOKENS_PER_NOTE)], axis=1) for key, nats in kinds.items()}
    table = {}
    rows = [(name, s == i) for i, name in enumerate(styles)] + [("all", np.ones(len(s), bool))]
    for name, mask in rows:
        if not mask.any():
            continue
        row: dict[str, float] = {
            "test_pieces": len({p.name for p in test if name in ("all", p.style)}),
            "windows": int(mask.sum())}
        for key, values in columns.items():
            row[key] = round(float(values[mask].mean()), 3)
        row["reduction_pct"] = round(100 * (1 - row["model_bits"] / row["markov_bits"]), 1)
        if viewpoint is not None:
            row["viewpoint_reduction_pct"] = round(100 * (1 - row["model_bits"] / row["viewpoint_bits"]), 1)
        for key, values in per_kind.items():
            row[key] = [round(float(v), 3) for v in values[mask].mean(axis=0)]
        table[name] = row
    return table


# --- continuations -------------------------------------------------------------------------------


def _summary(rows: list[dict[str, float]]) -> dict[str, float]:
    out = {k: round(float(np.mean([r[k] for r in rows])), 4) for k in rows[0]}
    if "copied_run" in rows[0]:
        runs = np.array([r["copied_run"] for r in rows])
        out["copied_run_p95"] = float(np.percentile(runs, 95))
        out["copied_run_max"] = float(runs.max())
        out["copied_within_limit"] = round(float(np.mean(runs <= COPY_LIMIT_NOTES)), 4)
        out["copied_runs"] = sorted(int(r) for r in runs)  # for the histogram
    return out


def continuation_report(model: StepModel, prompts: dict[str, list[Prompt]], preset_for: dict[str, Preset],
                        *, seeds: int = 3, copies: Any = None, stateless: bool = True
                        ) -> tuple[dict[str, dict[str, Any]], dict[str, list[list[Note]]]]:
    """Continue every prompt with the model (each seed), the stateless argmax design and the real notes.

    Args:
        model: the step model (the ONNX :class:`livegen.model.Model`).
        prompts: from :func:`select_prompts`.
        preset_for: the preset (sampling settings) of each style; styles without one are skipped.
        seeds: model continuations per prompt (argmax decoding is deterministic: one).
        copies: an :class:`livegen_train.copies.CopyIndex` of the training pieces, or None.
        stateless: also run the stateless baseline.

    Returns:
        ``(report, continuations)``: ``{style | "all": {"model": {stat: mean}, "stateless":
        {...}, "real": {...}, "prompts": n, "pieces": n, "continuations": n}}`` and the
        model's continuations per style (for the distinctness matrix).
    """
    window = StatelessWindowModel(model, WINDOW_NOTES)
    per: dict[str, dict[str, list[dict[str, float]]]] = {}
    generated: dict[str, list[list[Note]]] = {}
    for style, items in prompts.items():
        if style not in preset_for or not items:
            continue
        preset = preset_for[style].replace(max_seconds=LONG_PREFIX, context_notes=PROMPT_NOTES)
        rows = per.setdefault(style, {"model": [], "stateless": [], "real": []})
        for item in items:
            for seed in range(seeds):
                cont = answer_notes(model, preset, item.prompt, n_notes=CONTINUATION_NOTES, seed=seed)
                generated.setdefault(style, []).append(cont)
                rows["model"].append(stats(item.prompt, cont, copies))
            if stateless:
                cont = answer_notes(window, argmax_preset(preset), item.prompt,
                                    n_notes=CONTINUATION_NOTES, seed=0)
                rows["stateless"].append(stats(item.prompt, cont, copies))
            rows["real"].append(stats(item.prompt, item.real, copies))
        log.info("continued %d %s prompts", len(items), style)
    report: dict[str, dict[str, Any]] = {}
    everything: dict[str, list[dict[str, float]]] = {"model": [], "stateless": [], "real": []}
    for rows in per.values():
        for key in everything:
            everything[key] += rows[key]
    for name, rows in list(per.items()) + [("all", everything)]:
        items = [p for s, ps in prompts.items() if name in ("all", s) and s in per for p in ps]
        report[name] = {key: _summary(rows[key]) for key in rows if rows[key]}
        report[name].update(prompts=len(items), pieces=len({p.piece for p in items}),
                            continuations=len(rows["model"]))
    return report, generated


def distinctness_report(model: StepModel, prompts: dict[str, list[Prompt]], preset_for: dict[str, Preset],
                        own: dict[str, list[list[Note]]], columns: dict[str, list[Sequence[Note]]],
                        *, shared_per_style: int, shared_seeds: int = 1,
                        keep: dict[str, list[list[Note]]] | None = None) -> dict[str, Any]:
    """The distinctness matrices: presets on their own style's prompts, and on a shared pool.

    The shared pool holds ``shared_per_style`` prompts of every style with a
    preset; each preset continues all of them with seeds ``0..shared_seeds-1``, so
    only the preset (style conditioning and sampling) differs between rows. ``real_continuations``
    places the held-out pieces' own next 64 notes the same way: how far real music of a
    style sits from its style's profile, the reference for the presets' rows.

    Args:
        shared_seeds: continuations per shared prompt (the classifier's verdict on one
            answer per prompt is mostly the seed's; issue 13 asks for >= 4 seeds).
        keep: if given, ``keep[style]`` receives the preset's continuations of the shared
            pool (seed by seed, pool order within a seed), for the style classifier.
    """
    pool = [p for style in preset_for for p in prompts.get(style, [])[:shared_per_style]]
    shared: dict[str, list[list[Note]]] = {}
    for style, preset in preset_for.items():
        preset = preset.replace(max_seconds=LONG_PREFIX, context_notes=PROMPT_NOTES)
        shared[style] = [answer_notes(model, preset, p.prompt, n_notes=CONTINUATION_NOTES, seed=seed)
                         for seed in range(shared_seeds) for p in pool]
    if keep is not None:
        keep.update(shared)
    order = model.styles
    real = {style: [list(p.real) for p in prompts.get(style, [])] for style in preset_for}
    return {"own_prompts": distinctness(own, columns, order),
            "shared_prompts": {**distinctness(shared, columns, order), "pool": len(pool),
                               "seeds": shared_seeds},
            "real_continuations": distinctness(real, columns, order)}


def style_columns(test: Sequence[Piece], *, max_segments: int) -> dict[str, list[list[Note]]]:
    """Each style's test music as 64-note segments rendered as played, at most
    ``max_segments`` per style spread over its pieces."""
    segments = select_prompts(test, max_segments, prompt_notes=0)
    return {style: [list(p.real) for p in items] for style, items in segments.items()}


# --- style, by the classifier --------------------------------------------------------------------

NO_NOTES_LABEL = ""  # a continuation without notes: counted among the preset's, labelled no style


def label_continuations(classifier: Any, continuations: Sequence[Sequence[Note]]) -> list[str]:
    """The classifier's label (a style name) of each continuation, alone, without its prompt.

    Args:
        classifier: anything with ``classify(windows) -> [style]``
            (:class:`livegen_train.classifier.StyleClassifier`).
        continuations: note windows; an empty one is labelled :data:`NO_NOTES_LABEL` (no style).

    Returns:
        One label per continuation, in order.
    """
    filled = [list(c) for c in continuations if c]
    labels = iter(classifier.classify(filled) if filled else [])
    return [next(labels) if c else NO_NOTES_LABEL for c in continuations]


def style_labels(classifier: Any, continuations: dict[str, Sequence[Sequence[Note]]], *, title: str,
                 prompts: int, seeds: int, real: dict[str, Sequence[Sequence[Note]]] | None = None,
                 reference: dict[str, Sequence[Sequence[Note]]] | None = None,
                 prompt_major: bool = False) -> dict[str, Any]:
    """The share of each style's label among each tonal preset's continuations of one prompt set.

    Args:
        classifier: anything with ``styles`` and ``classify(windows) -> [style]``.
        continuations: ``{style: [[Note]]}``, the continuations of that style's preset.
        title: the prompt set's name in the report (e.g. ``shared prompts``).
        prompts: prompts in the set; seeds: continuations per prompt (both for the report).
        real: ``{style: [[Note]]}``, real music of each style to label the same way (a reference
            row, not a check), or None.
        reference: ``{row name: [[Note]]}``, real music of no corpus style to label the same way
            (the out-of-corpus prompts' real continuations: what the player's own music sounds
            like to the classifier), or None. Its rows have no own style, so no verdict.
        prompt_major: each preset's continuations are listed prompt by prompt (a prompt's
            ``seeds`` together, as :func:`livegen_train.adherence.report` keeps them); False:
            seed by seed, the prompts in order within a seed (as :func:`distinctness_report`).
            It places each continuation's prompt for the margin's interval. A ``real`` row
            holds one continuation per prompt.

    Returns:
        ``{"title", "prompts", "seeds", "presets": {style: {"n", "shares": {style: 0-1}, "own",
        "own_most" (own share above every other's; a tie is not), "margin" (own share minus
        the largest other), "margin_interval" (its 90 % interval, the prompts resampled:
        :func:`livegen_train.classifier_report.label_shares`)}}}`` for the tonal styles
        (:data:`livegen_train.adherence_report.TONAL_STYLES`)
        that the classifier knows and that have continuations, in ``continuations``' order; with
        ``real`` also ``"real"``, the same per style, and ``reference``'s rows after them.
    """
    from livegen_train.adherence_report import TONAL_STYLES
    from livegen_train.classifier_report import label_shares

    def prompt_of(n: int) -> list[int]:
        return [i // seeds if prompt_major else i % prompts for i in range(n)]

    judged = {style: label_shares(label_continuations(classifier, conts), classifier.styles, style,
                                  prompt_of=prompt_of(len(conts)))
              for style, conts in continuations.items()
              if conts and style in TONAL_STYLES and style in classifier.styles}
    out = {"title": title, "prompts": prompts, "seeds": seeds, "presets": judged}
    if real is not None or reference is not None:
        out["real"] = {style: label_shares(label_continuations(classifier, music), classifier.styles, style,
                                           prompt_of=range(len(music)))
                       for style, music in (real or {}).items() if music and style in judged}
        out["real"].update({name: label_shares(label_continuations(classifier, music), classifier.styles)
                            for name, music in (reference or {}).items() if music})
    return out


def classifier_summary(classifier: Any) -> dict[str, Any]:
    """What the classifier's training measured (its ``metrics``): test and validation accuracy.

    Returns:
        ``{"styles", "test": {"windows", "accuracy", "balanced_accuracy", "recall", "pieces"},
        "test_parts": {"windows", "accuracy", "balanced_accuracy", "recall"} (one part of a test
        score alone), "test_detached": the same (the test split, every note detached),
        "validation": {"windows", "accuracy", "balanced_accuracy"}, "best_epoch", "parameters",
        "train_seconds"}``; a figure the metrics lack is left out.
    """
    metrics = getattr(classifier, "metrics", None) or {}
    keep = {"test": ("windows", "accuracy", "balanced_accuracy", "recall", "pieces"),
            "test_parts": ("windows", "accuracy", "balanced_accuracy", "recall"),
            "test_detached": ("windows", "accuracy", "balanced_accuracy", "recall"),
            "validation": ("windows", "accuracy", "balanced_accuracy")}
    out: dict[str, Any] = {"styles": list(classifier.styles)}
    for split, keys in keep.items():
        if split in metrics:
            out[split] = {k: metrics[split][k] for k in keys if k in metrics[split]}
    out.update({k: metrics[k] for k in ("best_epoch", "parameters", "train_seconds") if k in metrics})
    if "runs" in metrics:  # an ensemble: each run's own test figures
        out["runs"] = [{k: (run.get("test") or {}).get(k) for k in ("accuracy", "balanced_accuracy")}
                       for run in metrics["runs"]]
    return out


# --- the whole evaluation ------------------------------------------------------------------------


#: The preset fields that shape a continuation, listed in the report.
SAMPLING_SETTINGS = ("temperature", "top_p", "repetition_penalty", "repetition_max", "key_mask",
                     "key_penalty", "style_guidance", "style_contrast", "copy_guard")


@dataclass(frozen=True)
class EvalConfig:
    """What ``livegen evaluate`` measures and how much of it.

    Attributes:
        prompts: prompts per style (held-out).
        seeds: model continuations per prompt.
        shared_prompts: prompts per style in the shared pool of the distinctness matrix.
        shared_seeds: continuations per shared prompt (seeds 0..n-1), for the profiles and
            the classifier's verdict.
        style_segments: 64-note segments per style describing its test music.
        max_windows: NLL windows per style (evenly spaced), 0 = all.
    """

    prompts: int = 20
    seeds: int = 3
    shared_prompts: int = 8
    shared_seeds: int = 4
    style_segments: int = 60
    max_windows: int = 0
    adherence_sets: str = ""  # comma-separated out-of-corpus sets ("dev,check"); "" = no adherence
    adherence_seeds: int = 4


def evaluate(model: StepModel, scorer: TokenScorer, split: dict[str, list[Piece]],
             preset_for: dict[str, Preset], config: EvalConfig = EvalConfig(), *,
             copies: Any = None, classifier: Any = None) -> dict[str, Any]:
    """Run every measurement; returns the report :mod:`livegen_train.report` renders.

    Args:
        model: the step model that generates (ONNX).
        scorer: the network's scorer for NLL (torch or the same ONNX model).
        split: ``{"train": [...], "test": [...]}`` pieces.
        preset_for: ``{style: preset}`` for the styles to continue.
        config: sizes.
        copies: a CopyIndex of the training pieces, or None to skip copy detection.
        classifier: the style classifier (:class:`livegen_train.classifier.StyleClassifier`), or
            None: the report's ``classifier`` is None. It labels the continuations the
            distinctness and adherence sections made; nothing is generated for it.
    """
    timing: dict[str, float] = {}
    clock = time.monotonic()

    def lap(name: str) -> None:
        nonlocal clock
        timing[name] = round(time.monotonic() - clock, 1)
        clock = time.monotonic()
        log.info("%s: %.0f s", name, timing[name])

    styles = list(model.styles)
    test = [p for p in split["test"] if p.style in styles]
    train = [p for p in split["train"] if p.style in styles]
    from livegen_train.conditional import corpus_markov

    viewpoint = corpus_markov(train)
    lap("viewpoint markov")
    nll = nll_table(scorer, train, test, styles, max_windows=config.max_windows or None, viewpoint=viewpoint)
    lap("nll")
    prompts = select_prompts(test, config.prompts)
    prompts = {s: prompts[s] for s in styles if s in prompts}  # in the model's style order
    continuations, own = continuation_report(model, prompts, preset_for, seeds=config.seeds, copies=copies)
    lap("continuations")
    columns = style_columns(test, max_segments=config.style_segments)
    shared: dict[str, list[list[Note]]] = {}
    styles_report = distinctness_report(model, prompts, preset_for, own, columns,
                                        shared_per_style=config.shared_prompts,
                                        shared_seeds=config.shared_seeds, keep=shared)
    lap("distinctness")
    adherence = None
    answers: dict[str, dict[str, list]] = {}
    from livegen_train import adherence_report
    from livegen_train.adherence_report import TONAL_STYLES, measure

    if config.adherence_sets and any(style in TONAL_STYLES for style in preset_for):
        adherence = measure(model, preset_for, roles=config.adherence_sets.split(","),
                            seeds=config.adherence_seeds, corpus=viewpoint, keep=answers)
        lap("adherence")
    judged = None
    if classifier is not None:
        pool_real = {style: [list(p.real) for p in prompts.get(style, [])[:config.shared_prompts]]
                     for style in preset_for}
        sets = {"shared": style_labels(classifier, shared, title="shared prompts",
                                       prompts=styles_report["shared_prompts"]["pool"],
                                       seeds=config.shared_seeds,
                                       real=pool_real)}
        for role, conts in answers.items():
            reals = [list(real) for _, _, real in adherence_report.load_prompts(role)]
            sets[role] = style_labels(classifier, conts, title=f"out-of-corpus {role}",
                                      prompts=adherence["sets"][role]["prompts"],
                                      seeds=config.adherence_seeds,
                                      reference={"real continuation": reals}, prompt_major=True)
        judged = {**classifier_summary(classifier), "sets": sets}
        lap("classifier")
    return {"nll": nll, "adherence": adherence, "classifier": judged, "continuations": continuations,
            "distinctness": styles_report, "config": asdict(config), "copies": copies is not None,
            "copy_guard": _guard_info(model),
            "presets": {s: p.name for s, p in preset_for.items()},
            "preset_settings": {s: {k: p.value(k) for k in SAMPLING_SETTINGS}
                                for s, p in preset_for.items()},
            "test_pieces": {s: sum(p.style == s for p in test) for s in styles},
            "train_pieces": len(train), "timing_s": timing}


def _guard_info(model: Any) -> dict[str, int] | None:
    """The model's copy guard (:mod:`livegen.copyguard`) as ``{"notes", "runs"}``, or None."""
    guard = getattr(model, "copy_guard", None)
    return None if guard is None else {"notes": guard.notes, "runs": len(guard)}


# --- command line --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """Arguments of ``livegen evaluate``."""
    p = argparse.ArgumentParser(prog="livegen evaluate", description=__doc__.splitlines()[0])
    p.add_argument("--model", help="ONNX model that generates (default: the shipped one)")
    p.add_argument("--run-dir", default="runs/default",
                   help="training run whose checkpoint.pt scores NLL in batches (else the model's weights "
                        "read back into torch)")
    p.add_argument("--prompts", type=int, default=EvalConfig.prompts, help="held-out prompts per style")
    p.add_argument("--seeds", type=int, default=EvalConfig.seeds, help="model continuations per prompt")
    p.add_argument("--shared-prompts", type=int, default=EvalConfig.shared_prompts,
                   help="prompts per style in the distinctness matrix's shared pool")
    p.add_argument("--shared-seeds", type=int, default=EvalConfig.shared_seeds,
                   help="continuations per shared prompt (seeds 0..n-1)")
    p.add_argument("--max-windows", type=int, default=None,
                   help="NLL windows per style (default: all in torch, 40 with onnxruntime alone)")
    p.add_argument("--out", default="docs/evaluation.md", help="markdown report ('' = none)")
    p.add_argument("--figures", default="docs/figures", help="directory of the PNG plots")
    p.add_argument("--json", help="also write the report as JSON here")
    p.add_argument("--midi-dir", help="evaluate on a folder of MIDI files (split like training)")
    p.add_argument("--style", help="style name of the --midi-dir pieces")
    p.add_argument("--preset", help="preset for the --midi-dir style (default: one named like it, "
                                    "else the defaults)")
    p.add_argument("--threads", type=int, default=1,
                   help="torch CPU threads (1: on a shared 2-core machine, 2 threads ran 6x slower)")
    p.add_argument("--split", choices=("test", "validation"), default="test",
                   help="held-out pieces to measure on: tune presets on validation, report on test")
    p.add_argument("--adherence", default="dev,check",
                   help="out-of-corpus sets for the adherence section (comma-separated; '' = skip)")
    p.add_argument("--adherence-seeds", type=int, default=EvalConfig.adherence_seeds,
                   help="continuations per out-of-corpus prompt and preset")
    p.add_argument("--classifier-runs", type=int, default=3,
                   help="the style judge: this many classifier runs (seeds 0..N-1), their probabilities "
                        "averaged (one run's verdicts move with its seed; docs/classifier.md)")
    p.add_argument("--no-classifier", action="store_true",
                   help="leave out the style classifier (else read from its cache, or trained first: "
                        "about 12 min)")
    p.add_argument("--note", default="", help="a sentence printed at the top of the markdown page")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


ONNX_DEFAULT_WINDOWS = 40  # step-by-step scoring re-reads 50 notes per note: keep it to minutes


def _scorer(run_dir: str, model: Any, threads: int) -> tuple[TokenScorer, str]:
    """The torch checkpoint's scorer if it is the same network as ``model``, else ``model``'s."""
    try:
        import torch

        from livegen_train.network import network_from_config
        from livegen_train.onnx_export import parity
        from livegen_train.onnx_import import network_from_onnx
        from livegen_train.quantize import float_source
    except ImportError:  # no torch: step by step in onnxruntime
        return StepScorer(model), f"onnxruntime ({_shown(model.path)})"
    torch.set_num_threads(threads)
    probe = tk.encode([Note(60 + (i * 7) % 12, 80, 0.25 * i, 0.2) for i in range(12)], bos=True)
    path = Path(run_dir) / "checkpoint.pt"
    if path.is_file():
        ckpt = torch.load(path, weights_only=False)
        net = network_from_config(ckpt["config"])
        net.load_state_dict(ckpt["model"])
        if tuple(ckpt["styles"]) == tuple(model.styles) and parity(net, model.path, probe) < 1e-4:
            return TorchScorer(net), f"the torch checkpoint {_shown(path)}"
        log.warning("%s is not the network of %s; reading the weights from the model", path, model.path)
    try:  # the model's own weights in torch: the same numbers, scored in batches
        net, _ = network_from_onnx(model.path)
        source = float_source(model.path)  # an int8 graph: its float32 weights
        if source is not None and parity(net, source, probe) < 1e-4:
            return TorchScorer(net), (f"the float32 weights in torch ({_shown(source)}) that the int8 "
                                      f"graph {_shown(model.path)} quantizes (`python -m "
                                      f"livegen_train.quantize --compare` scores both)")
        if parity(net, model.path, probe) < 1e-4:
            return TorchScorer(net), f"the model's weights in torch ({_shown(model.path)})"
        log.warning("%s read back into torch differs from onnxruntime; scoring with onnxruntime",
                    model.path)
    except ModelError as exc:
        log.warning("%s; scoring with onnxruntime", exc)
    return StepScorer(model), f"onnxruntime ({_shown(model.path)})"


def _shown(path: str | Path) -> str:
    """``path`` relative to the working directory when it lies below it."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _presets(model: Any, args: argparse.Namespace) -> dict[str, Preset]:
    from livegen.presets import list_presets, load_preset, packaged_preset_dirs

    if args.midi_dir:
        names = list_presets()
        if args.preset or args.style in names:
            preset = load_preset(args.preset or args.style)
            return {args.style: preset.replace(style=args.style)}
        return {args.style: Preset(name=args.style).replace(style=args.style)}
    found: dict[str, Preset] = {}
    # the shipped presets only: a user's own preset of the same name must not change the report
    for path in (p for d in packaged_preset_dirs() for p in sorted(d.glob("*.yaml"))):
        preset = load_preset(path)
        if preset.conditioning.style in model.styles and preset.timing.clock == "none":
            found.setdefault(preset.conditioning.style, preset)
    return found


def _style_classifier(split: Any, styles: Sequence[str], args: argparse.Namespace
                      ) -> tuple[Any, dict[str, Any]]:
    """The style classifier of ``python -m livegen_train.classifier`` for this corpus split, from its
    cache (``$LIVEGEN_CACHE/classifier/<key>.pt``), trained there first when the cache has none
    (the corpus is local: nothing is downloaded). Returns it (or None) and where it came from
    (``{"path", "cached"}`` or ``{"skipped": reason}``)."""
    if args.no_classifier:
        return None, {"skipped": "--no-classifier"}
    if args.midi_dir:
        return None, {"skipped": "--midi-dir: the classifier knows the music21 corpus's styles only"}
    try:
        from livegen_train.classifier_report import JUDGE_CONFIG, cache_path, judge_configs, load_judge
    except ImportError as exc:
        log.warning("no style classifier: %s", exc)
        return None, {"skipped": f"the classifier needs torch ({exc})"}
    config = JUDGE_CONFIG
    paths = [cache_path(split.splits, tuple(styles), member)
             for member in judge_configs(config, args.classifier_runs)]
    cached = all(path.is_file() for path in paths)
    if not cached:
        log.warning("no style classifier at %s: training it first (about 3-12 min a run)",
                    ", ".join(str(path) for path in paths if not path.is_file()))
    classifier, path = load_judge(split.splits, tuple(styles), config, args.classifier_runs)
    return classifier, {"path": str(path), "cached": cached}


def _copy_index(train: Sequence[Piece]) -> Any:
    try:
        from livegen_train.copies import CopyIndex
    except ImportError:
        log.warning("livegen_train.copies is not available: no copy detection")
        return None
    return CopyIndex.build(train)


def _make_output_folders(args: argparse.Namespace) -> None:
    """Make the folders ``--json``, ``--out`` and ``--figures`` write into, before anything is measured.

    A run measures for a quarter of an hour; a folder that is missing (the JSON is written first)
    or cannot be made must fail in its first second, not at the end.

    Raises:
        SystemExit: a folder cannot be made (its path and the reason, one line).
    """
    folders = [Path(path).parent for path in (args.json, args.out) if path]
    folders += [Path(args.figures)] if args.figures else []
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise SystemExit(f"livegen evaluate: error: cannot make the folder {str(folder)!r} "
                             f"({err.strerror or err})") from err


def main(argv: list[str] | None = None) -> int:
    """``livegen evaluate``: measure, print the table, write markdown, plots and JSON."""
    from livegen.model import ModelSet
    from livegen_train import report as rpt
    from livegen_train.corpus import (
        DEFAULT_CAPS,
        PARTS_STYLES,
        load_midi_dir,
        load_music21_corpus,
        split_pieces,
    )

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(message)s")
    if bool(args.midi_dir) != bool(args.style):
        raise SystemExit("livegen evaluate: error: --midi-dir and --style go together")
    _make_output_folders(args)
    started = time.monotonic()
    model = ModelSet(args.model)  # each preset its own model; the default where one is asked
    scorer, scored_with = _scorer(args.run_dir, model, args.threads)
    if args.midi_dir:
        pieces, _ = load_midi_dir(args.midi_dir, args.style)
    else:
        # each score's parts too: the style judge is trained and measured on single parts as well
        pieces, _ = load_music21_corpus(model.styles, progress=False, folder_caps=DEFAULT_CAPS,
                                        parts_styles=() if args.no_classifier else PARTS_STYLES)
    split = split_pieces(pieces)
    presets = _presets(model, args)
    classifier, source = _style_classifier(split, model.styles, args)
    max_windows = args.max_windows
    if max_windows is None:
        max_windows = 0 if isinstance(scorer, TorchScorer) else ONNX_DEFAULT_WINDOWS
    config = EvalConfig(prompts=args.prompts, seeds=args.seeds, shared_prompts=args.shared_prompts,
                        shared_seeds=args.shared_seeds,
                        max_windows=max_windows, adherence_sets=args.adherence,
                        adherence_seeds=args.adherence_seeds)
    report = evaluate(model, scorer, {"train": split["train"], "test": split[args.split]}, presets,
                      config, copies=_copy_index(split["train"]), classifier=classifier)
    report["classifier"] = source if report["classifier"] is None else {**report["classifier"], **source}
    report.update(model=_shown(model.path), scored_with=scored_with, note=args.note, split=args.split,
                  preset_models={style: _shown(model.path_for(p)) for style, p in presets.items()},
                  corpus=f"midi-dir {args.midi_dir} ({args.style})" if args.midi_dir else "music21",
                  command=shlex.join(["livegen", "evaluate", *(sys.argv[1:] if argv is None else argv)]),
                  date=time.strftime("%Y-%m-%d"), minutes=round((time.monotonic() - started) /
                                                                SECONDS_PER_MINUTE, 1))
    report["acceptance"] = [list(c) for c in rpt.acceptance(report)]
    if args.json:  # first: a quarter of an hour of measuring is kept whatever the rendering does
        Path(args.json).write_text(json.dumps(report, indent=1, default=float))
    print(rpt.format_table(report))
    if args.figures:
        report["figures"] = [str(p) for p in rpt.plot_all(report, args.figures)]
    if args.out:
        rpt.write_markdown(report, args.out)
    if args.json and args.figures:  # again, with the figures' paths
        Path(args.json).write_text(json.dumps(report, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
