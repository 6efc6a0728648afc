"""Continuation statistics: does a model's continuation sound like the music it continues?

For held-out pieces, a 50-note prompt is continued by 64 notes and the
continuation is compared with the prompt and with the real next 64 notes:

* key distance: total-variation distance (0-1) between the pitch-class
  histograms of continuation and prompt (lower = same key);
* rest ratio: share of the continuation's time span in which no note sounds;
* distinct inter-onset intervals (10 ms grid) and their spread (std of log IOI);
* repetition: share of 4-note interval patterns that repeat an earlier one of
  the same continuation (a looping generator scores near 1).

Usage::

    python -m export.evaluate --model livegen/models/default.onnx --prompts 40 --seeds 3
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence

import numpy as np

from livegen.engine import continue_notes
from livegen.model import Model
from livegen.notes import Note
from livegen.presets import Preset, list_presets, load_preset

__all__ = ["key_distance", "rest_ratio", "ioi_stats", "repetition", "continuation_report"]

PROMPT_NOTES = 50
CONTINUATION_NOTES = 64


def _pc_hist(notes: Sequence[Note]) -> np.ndarray:
    hist = np.bincount([n.pitch % 12 for n in notes], minlength=12).astype(np.float64)
    return hist / max(hist.sum(), 1.0)


def key_distance(a: Sequence[Note], b: Sequence[Note]) -> float:
    """Total-variation distance between pitch-class histograms, 0 (same) to 1."""
    return float(0.5 * np.abs(_pc_hist(a) - _pc_hist(b)).sum())


def rest_ratio(notes: Sequence[Note]) -> float:
    """Share of the span from first onset to last note end in which nothing sounds."""
    if not notes:
        return 0.0
    spans = sorted((n.onset_s, n.end_s) for n in notes)
    start, total_end = spans[0][0], max(e for _, e in spans)
    covered, cur_s, cur_e = 0.0, spans[0][0], spans[0][1]
    for s, e in spans[1:]:
        if s > cur_e:
            covered += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    covered += cur_e - cur_s
    span = total_end - start
    return float(1.0 - covered / span) if span > 0 else 0.0


def ioi_stats(notes: Sequence[Note]) -> tuple[int, float]:
    """(distinct non-zero inter-onset intervals on a 10 ms grid, std of their log)."""
    onsets = np.unique(np.round([n.onset_s for n in notes], 2))
    iois = np.diff(onsets)
    iois = iois[iois > 0]
    if len(iois) == 0:
        return 0, 0.0
    return int(len(np.unique(np.round(iois, 2)))), float(np.std(np.log(iois)))


def repetition(notes: Sequence[Note], n: int = 4) -> float:
    """Share of n-note interval patterns (melodic line by onset) that repeat an earlier one."""
    pitches = [note.pitch for note in sorted(notes, key=lambda x: (x.onset_s, -x.pitch))]
    intervals = np.diff(pitches)
    patterns = [tuple(intervals[i:i + n - 1]) for i in range(len(intervals) - n + 2)]
    if not patterns:
        return 0.0
    seen, repeats = set(), 0
    for pattern in patterns:
        repeats += pattern in seen
        seen.add(pattern)
    return repeats / len(patterns)


def _stats(prompt: Sequence[Note], cont: Sequence[Note]) -> dict[str, float]:
    distinct, spread = ioi_stats(cont)
    return {"key_distance": key_distance(cont, prompt), "rest_ratio": rest_ratio(cont),
            "distinct_iois": distinct, "ioi_log_std": spread, "repetition": repetition(cont),
            "notes_per_s": len(cont) / max(cont[-1].end_s - cont[0].onset_s, 1e-6) if cont else 0}


def continuation_report(model: Model, pieces, preset_for: dict[str, Preset], *, prompts: int = 40,
                        seeds: int = 3) -> dict[str, dict[str, float]]:
    """Mean statistics of generated vs real continuations, per style and for all.

    Args:
        model: the model to evaluate.
        pieces: held-out :class:`export.corpus.Piece` objects.
        preset_for: the preset used for each style (its sampling settings).
        prompts: most prompts per style (one per piece, from its middle).
        seeds: continuations per prompt.

    Returns:
        ``{style: {"generated/<stat>": mean, "real/<stat>": mean, "n": count}}``.
    """
    rows: dict[str, list[tuple[dict, dict]]] = {}
    for piece in pieces:
        style = piece.style
        if style not in preset_for or len(piece) < PROMPT_NOTES + CONTINUATION_NOTES:
            continue
        if len(rows.get(style, [])) >= prompts * seeds:
            continue
        notes = piece.notes()
        start = (len(notes) - PROMPT_NOTES - CONTINUATION_NOTES) // 2
        prompt = notes[start:start + PROMPT_NOTES]
        real = notes[start + PROMPT_NOTES:start + PROMPT_NOTES + CONTINUATION_NOTES]
        preset = preset_for[style].replace(max_seconds=3600.0, context_notes=PROMPT_NOTES)
        for seed in range(seeds):
            cont = continue_notes(model, preset, prompt, n_notes=CONTINUATION_NOTES, seed=seed)
            rows.setdefault(style, []).append((_stats(prompt, cont), _stats(prompt, real)))
    report = {}
    everything = [r for style_rows in rows.values() for r in style_rows]
    for name, style_rows in list(rows.items()) + [("all", everything)]:
        if not style_rows:
            continue
        out: dict[str, float] = {"n": len(style_rows)}
        for key in style_rows[0][0]:
            out[f"generated/{key}"] = round(float(np.mean([g[key] for g, _ in style_rows])), 3)
            out[f"real/{key}"] = round(float(np.mean([r[key] for _, r in style_rows])), 3)
        report[name] = out
    return report


def main(argv: list[str] | None = None) -> int:
    from export.corpus import DEFAULT_CAPS, load_music21_corpus, split_pieces

    parser = argparse.ArgumentParser(prog="python -m export.evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="ONNX model (default: the shipped one)")
    parser.add_argument("--prompts", type=int, default=40)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--json", help="also write the report here")
    args = parser.parse_args(argv)
    model = Model.load(args.model)
    presets = {}
    for name in list_presets():
        preset = load_preset(name)
        if preset.style in model.styles:
            presets.setdefault(preset.style, preset)
    pieces, _ = load_music21_corpus(tuple(presets), progress=False, folder_caps=DEFAULT_CAPS)
    test = split_pieces(pieces)["test"]
    report = continuation_report(model, test, presets, prompts=args.prompts, seeds=args.seeds)
    keys = [k.split("/", 1)[1] for k in next(iter(report.values())) if k.startswith("generated/")]
    print(f"{'style':12} {'n':>4} " + " ".join(f"{k:>22}" for k in keys))
    for style, row in report.items():
        cells = " ".join(f"{row['generated/' + k]:>10.3f} (real {row['real/' + k]:>5.2f})" for k in keys)
        print(f"{style:12} {row['n']:>4} {cells}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


def nll_table(run_dir: str, *, max_order: int = 8, transpositions: Sequence[int] = range(-5, 7),
              window_notes: int = 64) -> dict[str, dict[str, float]]:
    """Held-out NLL per note in bits: the trained LSTM vs the variable-order Markov baseline.

    Both see the same windows (test split, rendered as played with a seeded RNG).
    The Markov model counts every training piece once in each of ``transpositions``.

    Args:
        run_dir: a training run directory holding ``checkpoint.pt`` (needs torch).

    Returns:
        ``{style or "all": {"lstm_bits_per_note", "markov_bits_per_note",
        "reduction_pct", "test_pieces", "windows"}}``.
    """
    import torch

    from export.baselines import MarkovBaseline
    from export.corpus import DEFAULT_CAPS, load_music21_corpus, split_pieces
    from export.dataset import eval_windows
    from export.network import EventLSTM, NetConfig
    from export.train import evaluate_nll

    ckpt = torch.load(f"{run_dir}/checkpoint.pt", weights_only=False)
    styles = list(ckpt["styles"])
    net = EventLSTM(NetConfig(**ckpt["config"]))
    net.load_state_dict(ckpt["model"])
    pieces, _ = load_music21_corpus(styles, progress=False, folder_caps=DEFAULT_CAPS)
    split = split_pieces(pieces)
    train, test = split["train"], split["test"]
    rows = []
    for shift in transpositions:
        shifted = [_transposed(p, shift) for p in train]
        x, _ = eval_windows(shifted, styles, window_notes, max_windows_per_piece=10_000,
                            performed=True)
        rows.append(x)
    markov = MarkovBaseline(max_order).fit(np.concatenate(rows))
    test_x, test_s = eval_windows(test, styles, window_notes, max_windows_per_piece=10_000,
                                  performed=True)
    lstm = evaluate_nll(net, test_x, test_s, styles)
    markov_nll = markov.nll(test_x).mean(axis=1)
    table = {}
    for name, mask in [(s, test_s == i) for i, s in enumerate(styles)] + [("all", test_s >= 0)]:
        if not mask.any():
            continue
        m_bits = float(markov_nll[mask].mean() * 4 / np.log(2))
        l_bits = lstm[name]["bits_per_note"]
        table[name] = {"lstm_bits_per_note": round(l_bits, 3), "markov_bits_per_note": round(m_bits, 3),
                       "reduction_pct": round(100 * (1 - l_bits / m_bits), 1),
                       "test_pieces": len({p.name for p in test if name in ("all", p.style)}),
                       "windows": int(mask.sum())}
    return table


def _transposed(piece, shift: int):
    import dataclasses
    pitch = np.clip(piece.pitch.astype(np.int64) + shift, 0, 127).astype(np.int16)
    return dataclasses.replace(piece, pitch=pitch)
