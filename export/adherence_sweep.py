"""Adherence and style of the same continuations, for preset variants.

Choosing a preset's ``follow`` keys (issue 13) needs both numbers on the same
continuations: the adherence figures of :mod:`livegen_train.adherence` against
the real continuation, and the share of them the style classifier
(:mod:`livegen_train.classifier_report`) labels as the preset's own style.
Each variant is a set of preset keys laid over the packaged preset; its
continuations (64 notes per prompt and seed) are made once by
:func:`~livegen_train.classifier_report.continue_all` and kept in its cache,
so ``python -m livegen_train.classifier report`` reuses them once a variant
is packaged.

``python -m livegen_train.adherence_sweep`` takes the variants as JSON,
``{"name": {"presets": [...], "keys": {...}}}``::

    python -m livegen_train.adherence_sweep --seeds 4 --sets outside,corpus \\
        '{"f75 d0": {"presets": ["classical"], "keys": {"follow": 0.75, "follow_duration": 0,
          "quantize": "1/16", "pitch_low": 24, "pitch_high": 100}}}'

Only ``--outside dev`` and ``--corpus-split validation`` may be used to choose values;
``check`` and ``test`` (``livegen evaluate``'s sets) confirm.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

__all__ = ["variant_presets", "mean_adherence", "texture_groups", "by_texture", "main", "COLUMNS", "TEXTURES"]

#: the adherence figures printed per variant (:func:`livegen_train.adherence.adherence`)
COLUMNS = ("motif_reuse", "rest_share", "on_grid", "density_ratio", "polyphony_ratio", "register_drift",
           "key_correlation", "interval_distance", "ioi_distance", "wide_leaps")


def variant_presets(presets: Mapping[str, Any], variant: Mapping[str, Any]) -> dict[str, Any]:
    """``{name: preset with the variant's keys}`` for the presets the variant names (default: all).

    Raises:
        PresetError: a key unknown or out of range (:meth:`livegen.presets.Preset.replace`).
    """
    names = variant.get("presets") or list(presets)
    return {name: presets[name].replace(**variant.get("keys", {})) for name in names}


def pool_presets(presets: Mapping[str, Any], tonal: Sequence[str]) -> dict[str, Any]:
    """The presets whose styles make the shared corpus pool: every tonal one (``tonal``, loaded by
    name where ``presets`` lacks it), then any other swept.

    ``livegen evaluate`` draws its shared prompts from every tonal style, so a sweep of one
    preset must too: from that preset's style alone its margins would not be comparable.
    """
    from livegen.presets import load_preset

    pool = {name: presets[name] if name in presets else load_preset(name) for name in tonal}
    return {**pool, **{name: preset for name, preset in presets.items() if name not in pool}}


def interval_text(labels: Mapping[str, Any]) -> str:
    """``"(90 %: lo..hi)"`` of a :func:`~livegen_train.classifier_report.label_shares` margin interval
    (``nan`` bounds when it has none)."""
    low, high = labels["margin_interval"] or (math.nan, math.nan)
    return f"(90 %: {low:+.2f}..{high:+.2f})"


def mean_adherence(prompts: Sequence[Any], reals: Sequence[Any], conts: Sequence[Any],
                   per_prompt: int) -> dict[str, float]:
    """Mean of each :data:`COLUMNS` figure over continuations in prompt-major order (NaN ignored)."""
    from livegen_train.adherence import adherence, histogram_distances, wide_leaps

    rows = []
    for i, cont in enumerate(conts):
        prompt, real = prompts[i // per_prompt], reals[i // per_prompt]
        distances = histogram_distances(cont, real)
        rows.append({**adherence(prompt, cont), "interval_distance": distances["interval"],
                     "ioi_distance": distances["ioi"], "wide_leaps": wide_leaps(cont)})
    out = {}
    for key in COLUMNS:
        values = [row[key] for row in rows if not math.isnan(row[key])]
        out[key] = float(np.mean(values)) if values else math.nan
    return out


#: prompt textures by notes per onset (chord tones within 30 ms are one onset): name, from, below
TEXTURES = (("line", 0.0, 1.05), ("some chords", 1.05, 1.5), ("chords", 1.5, math.inf))


def texture_groups(prompts: Sequence[Any]) -> dict[str, list[int]]:
    """The indices of ``prompts`` in each :data:`TEXTURES` group that has any, by notes per onset."""
    from livegen_train.adherence import notes_per_onset

    out = {}
    for name, low, high in TEXTURES:
        chosen = [i for i, prompt in enumerate(prompts) if low <= notes_per_onset(prompt) < high]
        if chosen:
            out[name] = chosen
    return out


def by_texture(prompts: Sequence[Any], reals: Sequence[Any], conts: Sequence[Any],
               per_prompt: int) -> dict[str, dict[str, Any]]:
    """:func:`mean_adherence` of the prompts of each :data:`TEXTURES` group, apart.

    Each group also gives the real continuation's figures and those of its top
    line alone (what a one-line answer that played the real tune would score).

    Returns:
        ``{texture: {"prompts": int, "answers": {...}, "real": {...}, "real top line": {...}}}``
        for the textures that have prompts.
    """
    from livegen_train.adherence import top_line

    out: dict[str, dict[str, Any]] = {}
    for name, chosen in texture_groups(prompts).items():
        sub_prompts = [prompts[i] for i in chosen]
        sub_reals = [reals[i] for i in chosen]
        sub_conts = [cont for i in chosen for cont in conts[i * per_prompt:(i + 1) * per_prompt]]
        tops = [top_line(real) for real in sub_reals]
        out[name] = {"prompts": len(chosen),
                     "answers": mean_adherence(sub_prompts, sub_reals, sub_conts, per_prompt),
                     "real": mean_adherence(sub_prompts, sub_reals, sub_reals, 1),
                     "real top line": mean_adherence(sub_prompts, sub_reals, tops, 1)}
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Print one line per variant, prompt set and preset: own-style share, margin, label shares, adherence."""
    from livegen.model import ModelSet
    from livegen.presets import load_preset
    from livegen_train.classifier_report import (
        JUDGE_CONFIG,
        JUDGE_RUNS,
        PARTS_STYLES,
        TONAL_PRESETS,
        continue_all,
        corpus_prompts,
        label_shares,
        load_judge,
        load_split,
        outside_prompts,
    )
    from livegen_train.corpus import cache_dir
    from livegen_train.outside import ROLES

    parser = argparse.ArgumentParser(prog="python -m livegen_train.adherence_sweep",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("variants", help="JSON: {name: {'presets': [...], 'keys': {preset key: value}}}")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--sets", default="outside", help="outside, corpus or both (comma-separated)")
    parser.add_argument("--outside", choices=ROLES, default="dev")
    parser.add_argument("--corpus-split", choices=("validation", "test"), default="test",
                        help="the corpus prompts' pieces: validation to choose, test to confirm")
    parser.add_argument("--presets", default=",".join(p for p in TONAL_PRESETS if p != "folk"))
    parser.add_argument("--json", help="also write the figures here")
    parser.add_argument("--model", help="ONNX model (default: the packaged one)")
    parser.add_argument("--classifier-parts", type=float, default=JUDGE_CONFIG.parts,
                        help="judge with the classifier trained with this share of part windows")
    parser.add_argument("--classifier-staccato", type=float, default=JUDGE_CONFIG.staccato,
                        help="judge with the classifier trained with this share of detached windows")
    parser.add_argument("--classifier-runs", type=int, default=JUDGE_RUNS,
                        help="judge with this many classifier runs (seeds) averaged")
    parser.add_argument("--by-texture", action="store_true",
                        help="also the out-of-corpus figures of line and chordal prompts apart")
    args = parser.parse_args(argv)
    started = time.monotonic()
    model = ModelSet(args.model)  # each preset its own model, or --model for all
    split = load_split(PARTS_STYLES)
    config = replace(JUDGE_CONFIG, parts=args.classifier_parts, staccato=args.classifier_staccato)
    classifier, _ = load_judge(split, tuple(model.styles), config, args.classifier_runs)
    styles = list(classifier.styles)
    presets = {name: load_preset(name) for name in args.presets.split(",")}
    real_labels: dict[str, dict[str, dict[str, float]]] = {}  # {set: {texture: {style: share}}}
    sets = {}
    for name in args.sets.split(","):
        if name == "outside":
            shared = outside_prompts(args.outside)
            sets[name] = (shared["prompts"], shared["real"]["real continuation"][0])
            real = mean_adherence(sets[name][0], sets[name][1], sets[name][1], 1)
            print(f"{name} ({args.outside}): {len(sets[name][0])} prompts; real continuation: "
                  + " ".join(f"{k}={v:.2f}" for k, v in real.items()), flush=True)
            # what the player's own music sounds like to the judge: the answers' labels start there
            labelled = classifier.classify(sets[name][1])
            groups = {"all": list(range(len(labelled)))}
            if args.by_texture:
                groups.update(texture_groups(sets[name][0]))
            real_labels[name] = {}
            for texture, indices in groups.items():
                shares = label_shares([labelled[i] for i in indices], styles)["shares"]
                real_labels[name][texture] = shares
                print(f"    real labels {texture:<12}({len(indices):>3}) ["
                      + " ".join(f"{s[:3]}={v:.2f}" for s, v in shares.items()) + "]", flush=True)
        else:
            pool = pool_presets(presets, TONAL_PRESETS)
            sets[name] = (corpus_prompts(split[args.corpus_split], pool)["prompts"], None)
    seeds = range(args.seeds)
    cache = cache_dir() / "classifier" / "continuations"
    out: dict[str, Any] = {}
    for variant_name, variant in json.loads(args.variants).items():
        for set_name, (prompts, reals) in sets.items():
            for name, preset in variant_presets(presets, variant).items():
                conts = continue_all(model, preset, prompts, seeds, cache=cache)
                labelled = classifier.classify(conts)
                labels = label_shares(labelled, styles, preset.conditioning.style,
                                      prompt_of=[i // len(seeds) for i in range(len(conts))])
                figures = mean_adherence(prompts, reals, conts, len(seeds)) if reals is not None else {}
                out[f"{variant_name}|{set_name}|{name}"] = {"labels": labels, "adherence": figures}
                own = labels["shares"][preset.conditioning.style]
                print(f"{variant_name:<14}{set_name:<8}{name:<10} own={own:.2f} "
                      f"margin={labels['margin']:+.2f} {interval_text(labels)} ["
                      + " ".join(f"{s[:3]}={v:.2f}" for s, v in labels["shares"].items()) + "] "
                      + " ".join(f"{k[:8]}={v:.2f}" for k, v in figures.items()), flush=True)
                if args.by_texture and reals is not None:
                    out[f"{variant_name}|{set_name}|{name}"]["by_texture"] = groups = by_texture(
                        prompts, reals, conts, len(seeds))
                    indices = texture_groups(prompts)
                    for texture, group in groups.items():
                        picked = [labelled[i * len(seeds) + k] for i in indices[texture] for k in seeds]
                        prompt_of = [j // len(seeds) for j in range(len(picked))]
                        group["labels"] = label_shares(picked, styles, preset.conditioning.style,
                                                       prompt_of=prompt_of)
                        print(f"    {texture:<12}({group['prompts']:>3}) labels: margin "
                              f"{group['labels']['margin']:+.2f} {interval_text(group['labels'])} ["
                              + " ".join(f"{s[:3]}={v:.2f}" for s, v in group["labels"]["shares"].items())
                              + "]", flush=True)
                        for who in ("answers", "real", "real top line"):
                            print(f"    {texture:<12}({group['prompts']:>3}) {who:<14}"
                                  + " ".join(f"{k[:8]}={v:.3f}" for k, v in group[who].items()), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"seeds": args.seeds, "outside": args.outside, "rows": out, "real_labels": real_labels},
                      f, indent=1)
    print(f"{time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
