"""Rendering of a ``livegen evaluate`` report: the console table, the markdown page and the plots.

The report is the dict :func:`livegen_train.evaluate.evaluate` returns, completed by
:func:`livegen_train.evaluate.main` (model, command, date, acceptance). Every figure
and table is drawn from it alone, so one command regenerates the whole page.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from livegen_train.evaluate import (
    COPY_LIMIT_NOTES,
    COPY_SHARE,
    KEY_MAX_RATIO,
    NLL_MIN_PIECES,
    NLL_MIN_REDUCTION,
    REPETITION_MAX_RATIO,
)

__all__ = ["acceptance", "classifier_checks", "format_table", "left", "markdown", "write_markdown",
           "plot_all"]

SYSTEMS = ("model", "stateless", "real")
SYSTEM_LABELS = {"model": "model (preset)", "stateless": "stateless 50-note window, argmax",
                 "real": "real continuation", "markov": "variable-order Markov"}
NLL_COLUMNS = (("model_bits", "model"), ("stateless_bits", "stateless"), ("markov_bits", "markov"))
CONT_STATS = (("key_distance", "key distance"), ("rest_ratio", "rest ratio"), ("notes_per_s", "notes/s"),
              ("ioi_log_std", "IOI spread"), ("repetition", "repetition"),
              ("copied_run", "copied run"))
FIGURE_DPI = 100
FIGURE_NAMES = {"nll": "evaluation_nll.png", "continuations": "evaluation_continuations.png",
                "copies": "evaluation_copies.png", "distinctness": "evaluation_distinctness.png",
                "adherence_rolls": "adherence_rolls.png", "classifier": "evaluation_classifier.png"}


def _nll_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for style, r in report["nll"].items():
        viewpoint = (f"{r['viewpoint_bits']:.2f}", f"{r['viewpoint_reduction_pct']:.1f} %") \
            if "viewpoint_bits" in r else ("-", "-")
        rows.append([style, str(r["test_pieces"]), str(r["windows"]), f"{r['model_bits']:.2f}",
                     f"{r['stateless_bits']:.2f}", f"{r['markov_bits']:.2f}", f"{r['reduction_pct']:.1f} %",
                     *viewpoint, f"{r['late_model_bits']:.2f} / {r['late_stateless_bits']:.2f}"])
    return rows


KIND_NAMES = ("shift", "pitch", "velocity", "duration")
KIND_SYSTEMS = (("model_kind_bits", "model"), ("markov_kind_bits", "n-gram Markov"),
                ("viewpoint_kind_bits", "viewpoint Markov"))


def _kind_rows(report: dict[str, Any]) -> list[list[str]]:
    """Bits per note by token kind, per style and system (where the report has them)."""
    rows = []
    for style, r in report["nll"].items():
        for key, label in KIND_SYSTEMS:
            if key in r:
                rows.append([style, label, *(f"{b:.2f}" for b in r[key])])
    return rows


NLL_HEADER = ["style", "test pieces", "windows", "model", "stateless (50-note window)", "Markov",
              "model below Markov", "viewpoint Markov", "model below viewpoint Markov",
              "notes 52-64: model / stateless"]


def _setting(value: Any) -> str:
    """A preset setting in a table cell: lists as names (``-`` when empty)."""
    if isinstance(value, (list, tuple)):
        return ", ".join(map(str, value)) or "-"
    return str(value)


def _guard_lines(report: dict[str, Any]) -> list[str]:
    """A sentence on the model's copy guard, when the report says whether it had one."""
    if "copy_guard" not in report:
        return []
    guard = report["copy_guard"]
    if not guard:
        return ["Copy guard: none (the model has no `.copies.npz` next to it).", ""]
    return [f"Copy guard (`copy_guard` above): the model's guard holds {guard['runs']:,} distinct runs "
            f"of {guard['notes']} notes (pitch intervals) of the training pieces; a preset with it on "
            f"never completes one, so its continuations copy at most {guard['notes'] - 1} notes in a row "
            "(livegen/copyguard.py).", ""]


def _cont_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    present = [(k, label) for k, label in CONT_STATS
               if any(k in row.get("model", {}) for row in report["continuations"].values())]
    header = ["style", "prompts (pieces)", "continuations"] + [f"{label}: model / stateless / real"
                                                              for _, label in present]
    rows = []
    for style, row in report["continuations"].items():
        cells = [style, f"{row['prompts']} ({row['pieces']})", str(row["continuations"])]
        for key, _ in present:
            values = [row[s][key] if s in row and key in row[s] else float("nan") for s in SYSTEMS]
            digits = 1 if key in ("notes_per_s", "copied_run") else 3
            cells.append(" / ".join(f"{v:.{digits}f}" for v in values))
        rows.append(cells)
    return header, rows


def _matrix_rows(block: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    header = ["preset \\ style"] + block["columns"] + ["closest is own", "margin"]
    rows = []
    for name, dist in zip(block["rows"], block["distance"]):
        best = int(np.argmin(dist))
        cells = [name] + [f"**{d:.3f}**" if i == best else f"{d:.3f}" for i, d in enumerate(dist)]
        win, margin = block["own_wins"][name], block["margin"][name]
        low_high = (block.get("margin_interval") or {}).get(name)
        cells += ["-" if win is None else ("yes" if win else "no"),
                  "-" if margin is None else f"{margin:+.3f}"
                  + (f" ({low_high[0]:+.3f} to {low_high[1]:+.3f})" if low_high else "")]
        rows.append(cells)
    return header, rows


CLASSIFIER_CHECK = "classifier: each preset labelled its own style most often"


def _margin(value: float) -> str:
    """A signed share difference, with a third decimal when two would hide its sign."""
    text = f"{value:+.2f}"
    return f"{value:+.3f}" if value and float(text) == 0 else text


def _margin_with_interval(result: dict[str, Any]) -> str:
    """A label margin and, where measured, its 90 % interval over the prompts: ``-0.08 [-0.25, +0.09]``."""
    interval = result.get("margin_interval")
    text = _margin(result["margin"])
    return f"{text} [{_margin(interval[0])}, {_margin(interval[1])}]" if interval else text


def classifier_checks(section: dict[str, Any] | None) -> list[tuple[str, bool | None, str]]:
    """Issue 13's style check, one line per prompt set the classifier labelled.

    A set passes when every tonal preset's own style is its most frequent label (a tie is
    not); the measured column gives each preset's margin (own share minus the largest other)
    and, in brackets, its 90 % interval with the prompts resampled.

    Args:
        section: the report's ``classifier`` (:func:`livegen_train.evaluate.style_labels` per set
            under ``"sets"``), ``{"skipped": reason}``, or None.

    Returns:
        ``[(check, passed or None if nothing was judged, detail)]``.
    """
    if not section or "sets" not in section:
        reason = (section or {}).get("skipped", "not measured")
        return [(CLASSIFIER_CHECK, None, f"classifier not run: {reason}")]
    checks: list[tuple[str, bool | None, str]] = []
    for block in section["sets"].values():
        judged = {s: r for s, r in block["presets"].items() if r.get("own_most") is not None}
        detail = (", ".join(f"{s} {_margin_with_interval(r)}" for s, r in judged.items())
                  or "no preset to judge")
        checks.append((f"{CLASSIFIER_CHECK} ({block['title']})",
                       all(r["own_most"] for r in judged.values()) if judged else None, detail))
    return checks


def _label_rows(block: dict[str, Any], styles: Sequence[str], key: str = "presets"
                ) -> tuple[list[str], list[list[str]]]:
    """One prompt set's label shares: rows = presets (or real music), columns = styles."""
    header = ["preset" if key == "presets" else "real music", "continuations", *styles,
              "own most often", "margin"]
    rows = []
    for name, result in block.get(key, {}).items():
        cells = [f"**{result['shares'][s]:.2f}**" if s == result["own"] else f"{result['shares'][s]:.2f}"
                 for s in styles]
        verdict = "-" if result["own_most"] is None else ("yes" if result["own_most"] else "no")
        rows.append([name, str(result["n"]), *cells, verdict,
                     "-" if result["margin"] is None else _margin_with_interval(result)])
    return header, rows


def _accuracy_line(section: dict[str, Any]) -> str:
    """The classifier's test accuracy, from its training metrics."""
    test = section.get("test") or {}
    if "accuracy" not in test:
        return "Classifier test accuracy: not in its metadata."
    line = (f"Classifier test accuracy {test['accuracy']:.3f}, balanced accuracy "
            f"{test['balanced_accuracy']:.3f} (the mean of the per-style recalls), on {test['windows']} "
            "windows of the corpus's test split.")
    parts = section.get("test_parts") or {}
    if parts.get("windows"):
        line += (f" On {parts['windows']} windows of one part of a test score alone (the out-of-corpus "
                 f"prompts are one part each): accuracy {parts['accuracy']:.3f}, balanced accuracy "
                 f"{parts['balanced_accuracy']:.3f}.")
    detached = section.get("test_detached") or {}
    if detached.get("windows"):
        line += (f" On the test windows with every note played detached (0.25-0.7 of its length, as "
                 f"players and MIDI files play; the corpus is rendered legato): accuracy "
                 f"{detached['accuracy']:.3f}, balanced accuracy {detached['balanced_accuracy']:.3f}.")
    runs = section.get("runs") or []
    if len(runs) > 1:
        each = ", ".join(f"{r['balanced_accuracy']:.3f}" for r in runs
                         if r.get("balanced_accuracy") is not None)
        line += (f" The judge is {len(runs)} training runs of it (seeds 0-{len(runs) - 1}), their style "
                 f"probabilities averaged: one run's verdicts move with its seed (docs/classifier.md); "
                 f"each run alone: balanced accuracy {each}.")
    return line


def _plain(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    rows = [[c.replace("**", "") for c in r] for r in rows]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(line, widths)) for line in [header, *rows]]
    return "\n".join(lines)


def _md(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    align = ["---"] + ["---:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def acceptance(report: dict[str, Any]) -> list[tuple[str, bool | None, str]]:
    """The issue's acceptance checks on a report: ``[(check, passed or None if not measurable, detail)]``."""
    checks: list[tuple[str, bool | None, str]] = []
    nll = report["nll"]
    big = [s for s, r in nll.items() if s != "all" and r["test_pieces"] >= NLL_MIN_PIECES]
    for s in big:
        red = nll[s]["reduction_pct"]
        checks.append((f"NLL {s} >= {NLL_MIN_REDUCTION:.0%} below Markov", red >= 100 * NLL_MIN_REDUCTION,
                       f"{red:.1f} %"))
    if "all" in nll:
        checks.append(("NLL overall below Markov", nll["all"]["model_bits"] < nll["all"]["markov_bits"],
                       f"{nll['all']['model_bits']:.2f} vs {nll['all']['markov_bits']:.2f} bits"))
    copy_check = f"copied run <= {COPY_LIMIT_NOTES} notes for {COPY_SHARE:.0%}"
    cont = report["continuations"].get("all")
    if cont:
        model, real = cont["model"], cont["real"]
        ratio = model["key_distance"] / max(real["key_distance"], 1e-9)
        checks.append((f"key distance <= {KEY_MAX_RATIO:g} x real", ratio <= KEY_MAX_RATIO,
                       f"{model['key_distance']:.3f} vs {real['key_distance']:.3f} ({ratio:.2f} x)"))
        ratio = model["repetition"] / max(real["repetition"], 1e-9)
        checks.append((f"repetition <= {REPETITION_MAX_RATIO:g} x real", ratio <= REPETITION_MAX_RATIO,
                       f"{model['repetition']:.3f} vs {real['repetition']:.3f} ({ratio:.2f} x)"))
        if "copied_within_limit" in model:
            share = model["copied_within_limit"]
            checks.append((copy_check, share >= COPY_SHARE,
                           f"{share:.1%} of continuations; p95 {model['copied_run_p95']:.0f} notes"))
        else:
            checks.append((copy_check, None, "copy detection unavailable"))
    # style: the classifier's labels (issue 13 item 5); the profile distances are a description only
    checks += classifier_checks(report.get("classifier"))
    if report.get("adherence"):
        from livegen_train.adherence_report import acceptance as adherence_acceptance

        checks += adherence_acceptance(report["adherence"])
    return checks


def left(report: dict[str, Any]) -> list[str]:
    """What is left: one line per subject (a preset, or the corpus checks) naming its failed checks.

    A check named ``check <preset>: <what>`` (the adherence set) is grouped under
    that preset; any other under "corpus and style". Empty when every check passes.
    """
    failed: dict[str, list[str]] = {}
    for name, ok, _ in report.get("acceptance", []):
        if ok is not False:
            continue
        subject, sep, what = name.partition(": ")
        if sep and subject.split(" ")[0] in ("check", "dev"):
            failed.setdefault(f"{subject.split(' ', 1)[1]} ({subject.split(' ')[0]} set)", []).append(what)
        else:
            failed.setdefault("corpus and style", []).append(name)
    return [f"{subject}: {'; '.join(whats)}" for subject, whats in failed.items()]


def _checks(report: dict[str, Any]) -> list[tuple[str, str, str]]:
    marks = {True: "pass", False: "FAIL", None: "n/a"}
    return [(name, marks[ok], detail) for name, ok, detail in report.get("acceptance", [])]


def format_table(report: dict[str, Any]) -> str:
    """The console summary: NLL, continuation statistics, distinctness, acceptance."""
    parts = [f"NLL per note, bits (scored with {report.get('scored_with', '?')})",
             _plain(NLL_HEADER, _nll_rows(report)), ""]
    header, rows = _cont_rows(report)
    parts += ["Continuations (means; model / stateless argmax / real)", _plain(header, rows), ""]
    section = report.get("classifier") or {}
    if "sets" in section:
        parts += ["Style labels by the classifier (share of each preset's continuations)",
                  _accuracy_line(section), ""]
        for block in section["sets"].values():
            header, rows = _label_rows(block, section["styles"])
            seeds = f"{block['seeds']} seed{'s' if block['seeds'] != 1 else ''}"
            parts += [f"{block['title']} ({block['prompts']} prompts x {seeds})",
                      _plain(header, rows), ""]
            if block.get("real"):
                header, rows = _label_rows(block, section["styles"], key="real")
                parts += [f"{block['title']}: real continuations (not a check)", _plain(header, rows), ""]
    for kind in ("own_prompts", "shared_prompts"):
        block = report["distinctness"][kind]
        if block["rows"]:
            header, rows = _matrix_rows(block)
            title = f"Style profile distance, {kind.replace('_', ' ')} (0 = same; a description, not a check)"
            parts += [title, _plain(header, rows), ""]
    checks = _checks(report)
    if checks:
        parts += ["Acceptance", _plain(["check", "result", "measured"], [list(c) for c in checks])]
    return "\n".join(parts)


def markdown(report: dict[str, Any], figures: dict[str, str] | None = None) -> str:
    """The evaluation page as markdown; ``figures`` maps figure keys to paths relative to the page."""
    figures = figures or {}
    cfg = report["config"]
    windows = (f"at most {cfg['max_windows']} windows per style, evenly spaced" if cfg["max_windows"]
               else "every window")
    lines = [
        f"# Evaluation ({report['date']})",
        "",
        "Generated by `livegen evaluate`; every number and figure on this page comes from one run of:",
        "",
        "```",
        report["command"],
        "```",
        "",
        f"Model: `{report['model']}`{_own_models(report)}. Corpus: {report['corpus']}, "
        f"{report.get('split', 'test')} split of "
        "`livegen_train.corpus.split_pieces` (deduplicated, split by piece). "
        f"Training pieces: {report['train_pieces']}. Wall time: {report['minutes']} min.",
        "",
        *([f"**Note:** {report['note']}", ""] if report.get("note") else []),
        "## Acceptance",
        "",
        _md(["check", "result", "measured"], [list(c) for c in _checks(report)]),
        "",
        "### What is left",
        "",
        *([f"- {line}" for line in left(report)] or ["Every check passes."]),
        "",
        "What was tried for each and what comes next: docs/adherence.md (\"Still missing\").",
        "",
        "## NLL per note",
        "",
        "Bits per note = all four attributes (time shift, pitch, velocity, duration) on 64-note test "
        f"windows rendered as played (seeded tempo, timing and velocity), {windows}; scored with "
        f"{report['scored_with']}. Columns: the model (its state runs through the whole window); "
        "the stateless design of the older tools (each note predicted after re-reading at most the 50 "
        "notes before it: the same network with its context cut to 50 notes); and the Continuator-style "
        "variable-order Markov model (`export/baselines.py`: contexts up to 8 tokens = 2 notes, Witten-Bell "
        "back-off to a uniform choice within the token kind, fitted on every training piece in 12 "
        "transpositions). Within a 64-note window only notes 52-64 see more than 50 notes, so the model "
        "and the stateless design differ there alone; the last column compares them on those notes.",
        "",
        "That Markov is a weak baseline: it sees at most 2 notes of joint context and must match "
        "10 ms, 32-velocity and duration bins exactly. The *viewpoint Markov* is the fair one "
        "(`livegen_train.conditional.corpus_markov`): the same variable-order model on musical "
        "viewpoints (onset spacing class, interval and absolute pitch, velocity, duration, each with "
        "its own context; Witten-Bell) that follows the player live, learnt from every training piece "
        "rendered twice as the network sees it in training (transposed, tempo-scaled, jittered, with "
        "synthesised velocities). Claims about the model's NLL are made against it.",
        "",
        _md(NLL_HEADER, _nll_rows(report)),
        "",
    ]
    kind_rows = _kind_rows(report)
    if kind_rows:
        lines += ["By token kind, bits per note:", "", _md(["style", "system", *KIND_NAMES], kind_rows), ""]
    if "nll" in figures:
        lines += [f"![NLL per style]({figures['nll']})", ""]
    header, rows = _cont_rows(report)
    presets = ", ".join(f"{style}: `{name}`" for style, name in report["presets"].items())
    settings = report.get("preset_settings") or {}
    keys = list(next(iter(settings.values()), {}))
    lines += [
        "## Continuations of held-out prompts",
        "",
        f"Up to {cfg['prompts']} prompts per style, spread over its test pieces: 50 notes rendered as "
        f"played, continued by 64 notes where the daemon would begin its answer (after the "
        f"preset's silence trigger; `livegen.offline.answer_notes`). Model: the style's preset ({presets}), "
        f"{cfg['seeds']} seeds per prompt. Stateless: the same network reset and re-reading the last 50 "
        "notes for every new note, decoded by argmax (one continuation per prompt: argmax is "
        "deterministic), the design whose loops this project set out to fix. Real: the piece's own next "
        "64 notes.",
        "",
        *([_md(["preset"] + [f"`{k}`" for k in keys],
               [[f"`{report['presets'][s]}`"] + [_setting(v[k]) for k in keys] for s, v in settings.items()]),
           ""] if settings else []),
        *_guard_lines(report),
        "Statistics (means): key distance = total-variation distance between the pitch-class histograms "
        "of continuation and prompt (0-1); rest ratio = share of the span with no note sounding; notes/s; "
        "IOI spread = std of log inter-onset intervals between chords (onsets within 30 ms are one "
        "chord); repetition = share of 4-note interval patterns that repeat an earlier one of the same "
        "continuation (a loop approaches 1); copied run = longest run of notes copied, in any "
        "transposition, from one training piece (`export/copies.py`).",
        "",
        _md(header, rows),
        "",
    ]
    if "continuations" in figures:
        lines += [f"![Repetition and key distance per style]({figures['continuations']})", ""]
    cont_all = report["continuations"].get("all", {})
    if "copied_run_p95" in cont_all.get("model", {}):
        lines += ["Longest copied run over all continuations: " + "; ".join(
            f"{SYSTEM_LABELS[s]}: 95th percentile {cont_all[s]['copied_run_p95']:.0f} notes, largest "
            f"{cont_all[s]['copied_run_max']:.0f}, {cont_all[s]['copied_within_limit']:.0%} within 12"
            for s in SYSTEMS if s in cont_all) + ".", ""]
    else:
        lines += ["Copy detection was not available (`livegen_train.copies`), so no copied-run figures.", ""]
    if "copies" in figures:
        lines += [f"![Longest copied run]({figures['copies']})", ""]
    lines += ["## Is each preset its own style?", "", *_classifier_lines(report.get("classifier")),
              *([f"![Label shares per preset]({figures['classifier']})", ""] if "classifier" in figures
                else []),
              "### Style profiles (a description, not a check)", ""]
    lines += [
        "Each style's test music is described by four histograms averaged over 64-note segments: "
        "pitch classes relative to the Krumhansl-Schmuckler key, melodic intervals of the top line "
        "(-12..+12), log inter-onset intervals and log ratios of successive inter-onset intervals. The "
        "distance is the mean total-variation distance over the four (0 = same). Rows: a preset's "
        "continuations, on its own style's prompts, and on a shared pool of "
        f"{report['distinctness']['shared_prompts'].get('pool', 0)} prompts from every style, "
        f"{_seeds(report['distinctness']['shared_prompts'])} (so only the "
        "preset differs between rows). Bold: the closest style in each row. Margin: the nearest other "
        "style's distance minus the own style's; in brackets its 90 % bootstrap interval (the row's "
        "continuations and every style's segments resampled together, 200 times). These distances "
        "describe the continuations; they are no longer an acceptance check (issue 13 item 5: the "
        "classifier above replaces it)." + _disagreement(report),
        "",
    ]
    for kind in ("own_prompts", "shared_prompts", "real_continuations"):
        block = report["distinctness"].get(kind)
        if block and block["rows"]:
            header, rows = _matrix_rows(block)
            if kind == "real_continuations":
                header[0] = "real music \\ style"
                lines += ["#### Reference: the real continuations", "",
                          "The prompts' own next 64 notes, placed the same way (not a check): how "
                          "far held-out music of each style sits from the style profiles.", ""]
            else:
                lines += [f"#### {kind.replace('_', ' ').capitalize()}", ""]
            lines += [_md(header, rows), ""]
    if "distinctness" in figures:
        lines += [f"![Style distance]({figures['distinctness']})", ""]
    if report.get("adherence"):
        from livegen_train.adherence_report import markdown_lines

        lines += markdown_lines(report["adherence"], figures)
    timing = ", ".join(f"{k} {v:.0f} s" for k, v in report.get("timing_s", {}).items())
    lines += ["## Run", "", f"Stage times: {timing}.",
              "Test pieces per style: " + ", ".join(f"{k} {v}" for k, v in report["test_pieces"].items())
              + ".", ""]
    return "\n".join(lines)


def _home(path: str) -> str:
    """``path`` with the user's home folder written ``~``."""
    home = str(Path.home())
    return "~" + path[len(home):] if path.startswith(home + os.sep) else path


def _disagreement(report: dict[str, Any]) -> str:
    """A sentence naming the presets whose nearest profile on the shared prompts is not the style
    the classifier labels their continuations most often (empty when they agree or one is missing)."""
    section = report.get("classifier") or {}
    labels = section.get("sets", {}).get("shared", {}).get("presets", {})
    block = report["distinctness"].get("shared_prompts") or {}
    differ = []
    for name, dist in zip(block.get("rows", []), block.get("distance", [])):
        if name in labels:
            nearest = block["columns"][int(np.argmin(dist))]
            shares = labels[name]["shares"]
            top = max(shares, key=shares.get)
            if nearest != top:
                differ.append(f"{name} (nearest profile {nearest}, most frequent label {top})")
    if not differ:
        return ""
    return " On the shared prompts the two disagree for " + "; ".join(differ) + "."


def _seeds(block: dict[str, Any] | None) -> str:
    """How many answers each prompt of a labelled set got, in words (``one seed each``)."""
    n = int((block or {}).get("seeds", 1))
    return "one seed each" if n == 1 else f"{n} seeds each"


def _classifier_lines(section: dict[str, Any] | None) -> list[str]:
    """The classifier's part of the style section: its test accuracy and one table per prompt set."""
    if not section or "sets" not in section:
        reason = (section or {}).get("skipped", "not measured")
        return [f"The style classifier was not run ({reason}).", ""]
    lines = ["### The style classifier", "",
             "The symbolic style classifier (`python -m livegen_train.classifier`, docs/classifier.md: "
             "a CNN-LSTM on note features, trained on the corpus's training split) labels each tonal "
             "preset's continuations alone, without the prompt. The continuations are the ones made "
             f"above: the shared prompts of the profile tables ({_seeds(section['sets'].get('shared'))}) "
             "and, where the adherence "
             "section ran, its out-of-corpus answers. A preset passes when its own style is its most "
             "frequent label (a tie is not); margin: its own share minus the largest other, in "
             "brackets its 90 % interval when the prompts are resampled with all their "
             "continuations (a bootstrap; a prompt's seeds are not independent, so the "
             "interval says how much the verdict rests on which prompts were drawn). "
             + _accuracy_line(section)
             + (f" Classifier: `{_home(section['path'])}`." if section.get("path") else ""), ""]
    styles = section["styles"]
    for block in section["sets"].values():
        header, rows = _label_rows(block, styles)
        lines += [f"**{block['title']}** ({block['prompts']} prompts, {block['seeds']} "
                  f"continuation{'s' if block['seeds'] != 1 else ''} per prompt and preset)", "",
                  _md(header, rows), ""]
        if block.get("real"):
            header, rows = _label_rows(block, styles, key="real")
            owner = block["title"] + ("'" if block["title"].endswith("s") else "'s")
            lines += [f"Reference, the {owner} real continuations (not a check):", "",
                      _md(header, rows), ""]
    return lines


def _own_models(report: dict) -> str:
    """The presets whose model is not the report's, with their files (e.g. baroque's own
    ``livegen/models/baroque.onnx``): their answers, labels and scores are that model's."""
    own = {style: path for style, path in report.get("preset_models", {}).items() if path != report["model"]}
    return "".join(f", the {style} preset with its own `{path}`" for style, path in sorted(own.items()))


def write_markdown(report: dict[str, Any], path: str | os.PathLike) -> Path:
    """Write :func:`markdown` to ``path``, linking the report's figures relative to it.

    Returns:
        The path written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figures = {}
    for fig in report.get("figures", []):
        key = next((k for k, name in FIGURE_NAMES.items() if Path(fig).name == name), None)
        if key:
            figures[key] = os.path.relpath(fig, path.parent)
    path.write_text(markdown(report, figures))
    return path


def _bars(ax, groups: Sequence[str], series: dict[str, Sequence[float]], ylabel: str) -> None:
    width = 0.8 / max(len(series), 1)
    x = np.arange(len(groups))
    for i, (label, values) in enumerate(series.items()):
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=label)
    ax.set_xticks(x, groups, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)


def _label_figure(section: dict[str, Any], plt: Any) -> Any:
    """One heatmap per prompt set: rows = presets, columns = labels, cells = share (own in bold)."""
    styles, sets = section["styles"], [block for block in section["sets"].values() if block["presets"]]
    fig, axes = plt.subplots(1, len(sets), figsize=(4.2 * len(sets), 2.9), squeeze=False)
    for ax, block in zip(axes[0], sets):
        names = list(block["presets"])
        grid = np.array([[block["presets"][n]["shares"][st] for st in styles] for n in names]).reshape(
            len(names), len(styles))
        ax.imshow(grid, vmin=0, vmax=1, cmap="Blues")
        for (i, j), value in np.ndenumerate(grid):
            ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                    color="white" if value > 0.6 else "black",
                    fontweight="bold" if styles[j] == block["presets"][names[i]]["own"] else "normal")
        ax.set_xticks(range(len(styles)), [st[:5] for st in styles], fontsize=7)
        ax.set_yticks(range(len(names)), names, fontsize=7)
        ax.set_xlabel("classifier's label", fontsize=8)
        seeds = f"{block['seeds']} seed{'s' if block['seeds'] != 1 else ''}"
        ax.set_title(f"{block['title']}: {block['prompts']} prompts x {seeds}", fontsize=8)
    fig.suptitle("Share of each preset's continuations labelled as each style", fontsize=9)
    return fig


def plot_all(report: dict[str, Any], directory: str | os.PathLike) -> list[Path]:
    """Draw the evaluation's PNGs (matplotlib, Agg) into ``directory``.

    Returns:
        The paths written (NLL bars, continuation statistics, copied runs when
        measured, distinctness heatmaps, the classifier's label shares when it ran).
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    written = []

    def save(fig, key: str) -> None:
        fig.tight_layout()
        fig.savefig(out / FIGURE_NAMES[key], dpi=FIGURE_DPI)
        plt.close(fig)
        written.append(out / FIGURE_NAMES[key])

    nll = report["nll"]
    fig, ax = plt.subplots(figsize=(7, 3.8))
    _bars(ax, list(nll), {SYSTEM_LABELS[name]: [r[key] for r in nll.values()] for key, name in NLL_COLUMNS},
          "bits per note (lower is better)")
    ax.legend(fontsize=8)
    ax.set_title("Held-out NLL per note")
    save(fig, "nll")

    cont = report["continuations"]
    if cont:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
        for ax, key, title in ((axes[0], "repetition", "4-note pattern repetition"),
                               (axes[1], "key_distance", "key distance to the prompt")):
            _bars(ax, list(cont), {SYSTEM_LABELS[s]: [row[s][key] if s in row else np.nan
                                                      for row in cont.values()] for s in SYSTEMS},
                  key.replace("_", " "))
            ax.set_title(title)
        axes[0].legend(fontsize=8)
        save(fig, "continuations")
        runs = {s: cont["all"][s]["copied_runs"] for s in SYSTEMS
                if s in cont.get("all", {}) and "copied_runs" in cont["all"][s]}
        if runs:
            fig, ax = plt.subplots(figsize=(7, 3.5))
            top = max(max(v) for v in runs.values()) + 2
            edges = np.arange(0, top + 1) - 0.5
            for s, values in runs.items():
                ax.hist(values, bins=edges, histtype="step", density=True, label=SYSTEM_LABELS[s], lw=1.5)
            ax.axvline(12.5, color="grey", ls="--", lw=1, label="12 notes")
            ax.set_xlabel("longest run copied from a training piece (notes)")
            ax.set_ylabel("share of continuations")
            ax.legend(fontsize=8)
            save(fig, "copies")

    blocks = [(k, report["distinctness"][k]) for k in ("own_prompts", "shared_prompts")
              if report["distinctness"][k]["rows"]]
    if blocks:
        fig, axes = plt.subplots(1, len(blocks), figsize=(5 * len(blocks), 4), squeeze=False)
        for ax, (kind, block) in zip(axes[0], blocks):
            matrix = np.array(block["distance"])
            image = ax.imshow(matrix, cmap="viridis_r")
            ax.set_xticks(range(len(block["columns"])), block["columns"], rotation=30, ha="right")
            ax.set_yticks(range(len(block["rows"])), block["rows"])
            for (i, j), value in np.ndenumerate(matrix):
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8,
                        color="white" if value > matrix.mean() else "black")
            ax.set_xlabel("style of the test music")
            ax.set_ylabel("preset")
            ax.set_title(kind.replace("_", " "))
            fig.colorbar(image, ax=ax, shrink=0.8)
        save(fig, "distinctness")
    section = report.get("classifier") or {}
    if any(block["presets"] for block in section.get("sets", {}).values()):
        save(_label_figure(section, plt), "classifier")
    if report.get("adherence"):
        from livegen_train.adherence_report import plot_rolls

        if plot_rolls(report["adherence"], out / FIGURE_NAMES["adherence_rolls"]):
            written.append(out / FIGURE_NAMES["adherence_rolls"])
    return written
