"""Adherence: does a continuation carry on the phrase it answers?

A continuation should keep the player's motifs, pulse, register, density and
rests (issue 13). Each function compares a prompt (the player's phrase) with a
continuation (livegen's, or the real next notes of the same part) as
:class:`livegen.notes.Note` lists in seconds, the continuation after the
prompt. :func:`adherence` gathers them; :func:`histogram_distances` compares a
continuation's interval and inter-onset histograms with the real
continuation's, and the two baselines (:func:`iid_baseline`,
:func:`metronome_baseline`) say what "close" means: a continuation that does
not beat drawing the prompt's own pitches at random, or a metronome at the
prompt's median spacing, has not learnt the player.

Definitions (one number per prompt; reports average over prompts):

- motif reuse: share of the continuation's top-line 4-note interval patterns
  (3 successive intervals) that also occur in the prompt's top line.
- rest share: share of the span from first onset to last note end with no
  note sounding (:func:`livegen_train.metrics.rest_ratio`).
- on-grid share: share of the continuation's onsets within
  :data:`GRID_TOLERANCE` of a 1/16 step of the beat grid estimated from the
  prompt (the runtime's own estimator, :func:`livegen.tempo.estimate_grid_from_onsets`),
  extended past the prompt. NaN where the prompt has no estimable pulse.
- notes/s: notes per second over the continuation's span; density ratio: that
  over the prompt's notes/s (1: the player's density).
- register drift: |mean pitch of the continuation - mean pitch of the prompt|, semitones.
- polyphony ratio: notes per onset group (chord tones within 30 ms are one
  group) of the continuation over the prompt's (1: the player's texture; a
  single line answered by block chords scores 3-4).
- 4-gram repetition: share of the continuation's top-line pitch 4-grams
  that repeat an earlier one of the same continuation.
- key correlation: Pearson correlation (-1 to 1) of the continuation's
  duration-weighted pitch-class histogram with the Krumhansl & Kessler (1982)
  profile of the prompt's key (:func:`livegen.keys.estimate_key`); NaN where
  the prompt has no key or the continuation has no pitch-class spread. It says
  whether the answer stays in the player's key, whatever the sampler's key mask.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from livegen.keys import MAJOR_PROFILE, MINOR_PROFILE, N_PITCH_CLASSES, estimate_key
from livegen.notes import Note
from livegen.tempo import estimate_grid_from_onsets
from livegen_train.metrics import CHORD_TOLERANCE_S, onset_groups, rest_ratio

__all__ = ["top_line", "interval_patterns", "motif_reuse", "notes_per_s", "register_drift",
           "on_grid_share", "notes_per_onset", "pitch_repetition", "key_correlation", "adherence",
           "interval_histogram", "ioi_histogram", "span_ratio", "histogram_distances", "iid_baseline",
           "metronome_baseline", "wide_leaps",
           "PATTERN_NOTES", "GRID_TOLERANCE", "METRICS"]

PATTERN_NOTES = 4  # motifs are 4-note interval patterns (3 intervals)
GRID_STEP_TICKS = 6  # 1/16 note at 24 ticks per quarter (MIDI clock units, livegen.grid)
#: an onset is on the grid within this share of a 1/16 step (12.5 ms at 120 BPM)
GRID_TOLERANCE = 0.2
INTERVAL_CLIP = 12  # melodic intervals beyond an octave count as an octave
LOG_IOI_EDGES = np.arange(-5.0, 2.01, 0.5)  # log2 seconds: 31 ms to 4 s, half-octave bins
METRICS = ("motif_reuse", "rest_share", "on_grid", "notes_per_s", "density_ratio", "polyphony_ratio",
           "register_drift", "repetition", "key_correlation")


def top_line(notes: Sequence[Note]) -> list[Note]:
    """The highest note of each onset group (chord tones within 30 ms are one onset)."""
    return [max(group, key=lambda n: n.pitch) for group in onset_groups(notes, CHORD_TOLERANCE_S)]


def wide_leaps(notes: Sequence[Note], semitones: int = 12) -> float:
    """Share (0-1) of the top line's steps wider than ``semitones``; NaN with under 2 onsets.

    A guard, not a target: answers thrown across the range score high here while their
    mean pitch (:func:`register_drift`) can sit on the player's (docs/adherence.md,
    twentieth round: the real continuations of the dev set 0.019, a tilted answer 0.099).
    """
    pitches = [note.pitch for note in top_line(notes)]
    if len(pitches) < 2:
        return math.nan
    return float(np.mean(np.abs(np.diff(pitches)) > semitones))


def interval_patterns(notes: Sequence[Note], n: int = PATTERN_NOTES) -> list[tuple[int, ...]]:
    """The top line's ``n``-note interval patterns, in order (``n - 1`` semitone steps each)."""
    pitches = [note.pitch for note in top_line(notes)]
    steps = [b - a for a, b in zip(pitches, pitches[1:])]
    return [tuple(steps[i:i + n - 1]) for i in range(len(steps) - n + 2)]


def motif_reuse(prompt: Sequence[Note], cont: Sequence[Note]) -> float:
    """Share (0-1) of the continuation's interval patterns found in the prompt; NaN if it has none."""
    mine = interval_patterns(cont)
    if not mine:
        return math.nan
    theirs = set(interval_patterns(prompt))
    return sum(p in theirs for p in mine) / len(mine)


def notes_per_s(notes: Sequence[Note]) -> float:
    """Notes per second over the span from the first onset to the last note end; NaN if empty."""
    if not notes:
        return math.nan
    span = max(n.end_s for n in notes) - min(n.onset_s for n in notes)
    return len(notes) / span if span > 0 else math.nan


def notes_per_onset(notes: Sequence[Note]) -> float:
    """Mean notes per onset group (chord tones within 30 ms are one onset); NaN if empty."""
    groups = onset_groups(notes, CHORD_TOLERANCE_S)
    return len(notes) / len(groups) if groups else math.nan


def register_drift(prompt: Sequence[Note], cont: Sequence[Note]) -> float:
    """|mean pitch of ``cont`` - mean pitch of ``prompt``|, semitones; NaN if either is empty."""
    if not prompt or not cont:
        return math.nan
    return abs(float(np.mean([n.pitch for n in cont])) - float(np.mean([n.pitch for n in prompt])))


def on_grid_share(prompt: Sequence[Note], cont: Sequence[Note]) -> float:
    """Share (0-1) of ``cont``'s onsets on the 1/16 grid of the prompt's pulse; NaN if none is found."""
    grid = estimate_grid_from_onsets([n.onset_s for n in prompt])
    if grid is None or not cont:
        return math.nan
    step_s = grid.tick_s * GRID_STEP_TICKS
    on = 0
    for note in cont:
        phase = (note.onset_s - grid.anchor_s) / step_s
        on += abs(phase - round(phase)) <= GRID_TOLERANCE
    return on / len(cont)


def pitch_repetition(notes: Sequence[Note], n: int = PATTERN_NOTES) -> float:
    """Share (0-1) of the top line's pitch ``n``-grams that repeat an earlier one; NaN if none."""
    pitches = [note.pitch for note in top_line(notes)]
    grams = [tuple(pitches[i:i + n]) for i in range(len(pitches) - n + 1)]
    if not grams:
        return math.nan
    seen: set[tuple[int, ...]] = set()
    repeats = 0
    for gram in grams:
        repeats += gram in seen
        seen.add(gram)
    return repeats / len(grams)


def key_correlation(prompt: Sequence[Note], cont: Sequence[Note]) -> float:
    """Pearson r (-1 to 1) of ``cont``'s pitch classes with the profile of ``prompt``'s key; NaN if undefined.

    Both histograms are weighted by duration (seconds). The key is the
    Krumhansl-Schmuckler estimate of the prompt (:func:`livegen.keys.estimate_key`).
    """
    key = estimate_key([n.pitch for n in prompt], [n.duration_s for n in prompt]) if prompt else None
    if key is None or not cont:
        return math.nan
    hist = np.bincount([n.pitch % N_PITCH_CLASSES for n in cont], weights=[n.duration_s for n in cont],
                       minlength=N_PITCH_CLASSES)
    if not hist.std() > 0:
        return math.nan
    profile = np.roll(MAJOR_PROFILE if key.mode == "major" else MINOR_PROFILE, key.tonic)
    return float(np.corrcoef(hist, profile)[0, 1])


def adherence(prompt: Sequence[Note], cont: Sequence[Note]) -> dict[str, float]:
    """Every :data:`METRICS` figure of one continuation (NaN where undefined)."""
    return {"motif_reuse": motif_reuse(prompt, cont),
            "rest_share": rest_ratio(cont) if cont else math.nan,
            "on_grid": on_grid_share(prompt, cont),
            "notes_per_s": notes_per_s(cont),
            "density_ratio": notes_per_s(cont) / notes_per_s(prompt) if prompt else math.nan,
            "polyphony_ratio": notes_per_onset(cont) / notes_per_onset(prompt) if prompt else math.nan,
            "register_drift": register_drift(prompt, cont),
            "repetition": pitch_repetition(cont),
            "key_correlation": key_correlation(prompt, cont)}


def interval_histogram(notes: Sequence[Note]) -> np.ndarray:
    """float64 [25]: the top line's melodic intervals, -12..+12 semitones (clipped), summing to 1."""
    pitches = np.array([n.pitch for n in top_line(notes)])
    steps = np.clip(np.diff(pitches), -INTERVAL_CLIP, INTERVAL_CLIP) + INTERVAL_CLIP
    hist = np.bincount(steps.astype(int), minlength=2 * INTERVAL_CLIP + 1).astype(np.float64)
    return hist / max(hist.sum(), 1.0)


def ioi_histogram(notes: Sequence[Note]) -> np.ndarray:
    """float64 [14]: log2 inter-onset intervals between onset groups, 31 ms-4 s, summing to 1."""
    onsets = np.array([group[0].onset_s for group in onset_groups(notes, CHORD_TOLERANCE_S)])
    iois = np.diff(onsets)
    iois = iois[iois > 0]
    logs = np.clip(np.log2(iois), LOG_IOI_EDGES[0], LOG_IOI_EDGES[-1] - 1e-9)
    hist = np.histogram(logs, LOG_IOI_EDGES)[0].astype(np.float64)
    return hist / max(hist.sum(), 1.0)


def histogram_distances(cont: Sequence[Note], real: Sequence[Note]) -> dict[str, float]:
    """L1 distances (0-2) of ``cont``'s interval and IOI histograms from ``real``'s."""
    return {"interval": float(np.abs(interval_histogram(cont) - interval_histogram(real)).sum()),
            "ioi": float(np.abs(ioi_histogram(cont) - ioi_histogram(real)).sum())}


def iid_baseline(prompt: Sequence[Note], count: int, rng: np.random.Generator) -> list[Note]:
    """``count`` notes whose pitches are drawn i.i.d. from the prompt's, at the prompt's onsets' spacing.

    The interval baseline: a continuation whose interval histogram is no closer
    to the real one than this has not learnt the player's melodic steps.
    """
    line = top_line(prompt)
    pitches = rng.choice([n.pitch for n in line], size=count)
    start = max(n.end_s for n in prompt)
    spacing = _median_ioi_s(prompt)
    return [Note(int(p), 80, start + i * spacing, spacing * 0.9) for i, p in enumerate(pitches)]


def metronome_baseline(prompt: Sequence[Note], count: int) -> list[Note]:
    """``count`` notes at the prompt's median inter-onset interval, on its last pitch.

    The inter-onset baseline: a continuation whose IOI histogram is no closer
    to the real one than a metronome has not learnt the player's rhythm.
    """
    start = max(n.end_s for n in prompt)
    spacing = _median_ioi_s(prompt)
    pitch = top_line(prompt)[-1].pitch
    return [Note(pitch, 80, start + i * spacing, spacing * 0.9) for i in range(count)]


def _median_ioi_s(notes: Sequence[Note]) -> float:
    onsets = [group[0].onset_s for group in onset_groups(notes, CHORD_TOLERANCE_S)]
    iois = [b - a for a, b in zip(onsets, onsets[1:]) if b > a]
    return float(np.median(iois)) if iois else 0.25


# --- prompts from the out-of-corpus set, and the report -----------------------------------------

PROMPT_NOTES = 50  # the performer context the daemon keeps (DESIGN.md)
CONTINUATION_NOTES = 64
PARTS_PER_SONG = 3  # at most this many parts (MIDI channels) of one song become prompts


def part_prompts(parts: dict[str, Sequence[Note]], *, prompt_notes: int = PROMPT_NOTES,
                 cont_notes: int = CONTINUATION_NOTES,
                 per_song: int = PARTS_PER_SONG) -> list[tuple[str, list[Note], list[Note]]]:
    """One ``(name, prompt, real continuation)`` per long enough part, cut at the part's middle.

    Args:
        parts: ``{"song/channel": notes of one MIDI channel}``, each in onset order.
        prompt_notes, cont_notes: notes in the prompt and in the real continuation.
        per_song: at most this many parts of one song (the longest; ``song`` is the name
            before the last ``/``).
    """
    by_song: dict[str, list[tuple[str, Sequence[Note]]]] = {}
    for name, notes in parts.items():
        if len(notes) >= prompt_notes + cont_notes:
            by_song.setdefault(name.rpartition("/")[0], []).append((name, notes))
    out = []
    for song in sorted(by_song):
        longest = sorted(by_song[song], key=lambda item: (-len(item[1]), item[0]))[:per_song]
        for name, notes in sorted(longest):
            cut = (len(notes) - prompt_notes - cont_notes) // 2 + prompt_notes
            out.append((name, list(notes[cut - prompt_notes:cut]), list(notes[cut:cut + cont_notes])))
    return out


def read_parts(paths: Sequence[str]) -> dict[str, list[Note]]:
    """``{"file stem/ch N": notes}`` for each non-drum MIDI channel of each file; unreadable files skipped."""
    from pathlib import Path

    from livegen.notes import read_midi

    parts: dict[str, list[Note]] = {}
    for path in paths:
        try:
            notes = read_midi(path)
        except ValueError:
            continue
        for note in notes:
            parts.setdefault(f"{Path(path).stem}/ch {note.channel + 1}", []).append(note)
    return parts


def _mean(rows: list[dict[str, float]], key: str) -> float:
    values = [row[key] for row in rows if not math.isnan(row[key])]
    return float(np.mean(values)) if values else math.nan


def span_ratio(cont: Sequence[Note], real: Sequence[Note]) -> float:
    """How long ``cont`` lasts (first onset to last end) over how long ``real`` does (NaN: one is empty)."""
    if not cont or not real:
        return math.nan
    real_s = max(n.end_s for n in real) - min(n.onset_s for n in real)
    return (max(n.end_s for n in cont) - min(n.onset_s for n in cont)) / real_s if real_s > 0 else math.nan


def report(model, presets: dict[str, object], prompts, seeds: Sequence[int], *,
           keep: dict[str, list] | None = None) -> dict[str, dict[str, float]]:
    """Mean adherence figures and histogram distances: the real continuation, the baselines, each preset.

    Args:
        model: a :class:`livegen.model.Model` (or any step model).
        presets: ``{name: Preset}``.
        prompts: :func:`part_prompts`' list.
        seeds: one continuation per prompt and seed.
        keep: if given, each preset's continuations are appended under its name (prompt-major).

    Returns:
        ``{row: {metric: mean}}``; rows ``real``, ``iid``, ``metronome`` and one per preset;
        ``interval_distance``/``ioi_distance`` are from the real continuation's histograms;
        ``span_ratio`` is the continuation's span (first onset to last end) over the real one's.
    """
    from livegen.offline import answer_notes

    rows: dict[str, list[dict[str, float]]] = {"real": [], "iid": [], "metronome": []}
    rng = np.random.default_rng(0)
    for _, prompt, real in prompts:
        for name, cont in (("real", real), ("iid", iid_baseline(prompt, len(real), rng)),
                           ("metronome", metronome_baseline(prompt, len(real)))):
            distances = histogram_distances(cont, real)
            rows[name].append({**adherence(prompt, cont), "interval_distance": distances["interval"],
                               "ioi_distance": distances["ioi"], "span_ratio": span_ratio(cont, real)})
    for preset_name, preset in presets.items():
        rows[preset_name] = []
        for _, prompt, real in prompts:
            for seed in seeds:
                cont = answer_notes(model, preset, prompt, n_notes=len(real), seed=seed)
                if keep is not None:
                    keep.setdefault(preset_name, []).append(cont)
                distances = histogram_distances(cont, real)
                rows[preset_name].append({**adherence(prompt, cont),
                                          "interval_distance": distances["interval"],
                                          "ioi_distance": distances["ioi"],
                                          "span_ratio": span_ratio(cont, real)})
    keys = (*METRICS, "interval_distance", "ioi_distance", "span_ratio")
    return {name: {key: _mean(values, key) for key in keys} for name, values in rows.items()}


def _monophonic(value: str | None) -> bool | str | None:
    """``--monophonic``'s text as the preset value: true/false as booleans, ``auto`` as is."""
    return {"true": True, "false": False}.get(value, value)


def preset_changes(args) -> dict[str, object]:  # noqa: ANN001 (main's argparse.Namespace)
    """The preset keys :func:`main`'s options override (``--pitch-range 24-100``: pitch_low, pitch_high)."""
    changes = {key: value for key, value in (("follow", args.follow), ("quantize", args.quantize),
                                             ("follow_duration", args.follow_duration),
                                             ("follow_pitch", args.follow_pitch),
                                             ("max_duration_s", args.max_duration),
                                             ("key_mask", args.key_mask),
                                             ("answer_length", getattr(args, "answer_length", None)),
                                             ("monophonic", _monophonic(getattr(args, "monophonic", None))))
               if value is not None}
    if args.pitch_range:
        low, _, high = args.pitch_range.partition("-")
        changes.update(pitch_low=int(low), pitch_high=int(high))
    return changes


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m livegen_train.adherence``: the adherence table on the out-of-corpus set."""
    import argparse
    import json

    from livegen.model import ModelSet
    from livegen.presets import load_preset
    from livegen_train.outside import ROLES, fetch, sources_for

    parser = argparse.ArgumentParser(prog="python -m livegen_train.adherence",
                                     description="Adherence of each preset's continuations to "
                                                 "out-of-corpus prompts, against the real continuation.")
    parser.add_argument("--presets", default="romantic,baroque,classical,folk")
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--model", help="ONNX model (default: the packaged one)")
    parser.add_argument("--follow", type=float, help="override every preset's follow (0-1)")
    parser.add_argument("--follow-duration", type=float, help="override every preset's follow_duration (0-1)")
    parser.add_argument("--follow-pitch", type=float, help="override every preset's follow_pitch (0-1)")
    parser.add_argument("--max-duration", type=float, help="override every preset's max_duration_s")
    parser.add_argument("--quantize", help="override every preset's quantize (e.g. 1/16)")
    parser.add_argument("--key-mask", choices=("off", "soft", "strict", "palette"),
                        help="override every preset's key_mask (off: is the key kept without the mask?)")
    parser.add_argument("--answer-length", choices=("fixed", "match"),
                        help="override every preset's answer_length (match: as long as the prompt's phrase)")
    parser.add_argument("--monophonic", choices=("true", "false", "auto"),
                        help="override every preset's monophonic (auto: one line when the prompt is one)")
    parser.add_argument("--pitch-range", help="override every preset's pitch range, e.g. 24-100")
    parser.add_argument("--json", help="also write the table here")
    parser.add_argument("--set", dest="role", choices=ROLES, default="dev",
                        help="dev: the music knobs are tuned on; check: music they never were")
    args = parser.parse_args(argv)
    folders = fetch(sources_for(args.role))
    paths = sorted(str(p) for folder in folders.values() for p in folder.glob("*.mid"))
    prompts = part_prompts(read_parts(paths))
    model = ModelSet(args.model)  # each preset its own model, or --model for all
    presets = {name: load_preset(name) for name in args.presets.split(",")}
    presets = {name: p.replace(**preset_changes(args)) for name, p in presets.items()}
    table = report(model, presets, prompts, range(args.seeds))
    keys = (*METRICS, "interval_distance", "ioi_distance", "span_ratio")
    print(f"{len(prompts)} prompts from {len(paths)} files, {args.seeds} seeds")
    print(f"{'':<10}" + "".join(f"{k:>17}" for k in keys))
    for name, figures in table.items():
        print(f"{name:<10}" + "".join(f"{figures[k]:>17.3f}" for k in keys))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"prompts": len(prompts), "seeds": args.seeds, "table": table}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
