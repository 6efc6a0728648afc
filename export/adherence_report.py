"""The adherence section of ``livegen evaluate``: answers to out-of-corpus phrases (issue 13).

For each out-of-corpus set (:mod:`livegen_train.outside`: ``dev`` is the music
the knobs were chosen on, ``check`` music they never were), every tonal
preset continues each part-prompt (:func:`livegen_train.adherence.part_prompts`)
with several seeds, and its continuations are compared with the real
continuation and the two baselines (:func:`livegen_train.adherence.report`).
The same continuations are drawn again with the key mask off, for the key
correlation: does the answer keep the player's key without the sampler's mask?
The conditional NLL of the real continuation (bits per note, by token kind)
is scored under the network, the prompt-only Markov (the Continuator), the
preset's own mix (``follow``), and the fair corpus Markov
(:func:`livegen_train.conditional.corpus_markov`).

:func:`acceptance` turns a measured section into the issue's checks;
:func:`markdown_lines` and :func:`plot_rolls` render it.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from livegen.model import preset_model
from livegen.notes import Note
from livegen.presets import Preset

log = logging.getLogger(__name__)

__all__ = ["TONAL_STYLES", "measure", "acceptance", "markdown_lines", "plot_rolls", "ROLL_FIGURE",
           "load_prompts", "kind_weights", "answer_bits"]

#: the presets the issue's acceptance judges: every style with a key (modern is atonal)
TONAL_STYLES = ("romantic", "baroque", "classical", "folk")
ROLL_FIGURE = "adherence_rolls.png"
ROLL_PROMPTS = 4
# Acceptance bounds (issue 13), as ratios to the real continuation unless said otherwise.
MOTIF_MIN = 0.6
REST_RANGE = (0.5, 1.5)
GRID_MIN = 0.85
DENSITY_RANGE = (0.67, 1.5)  # notes/s over the prompt's
DRIFT_MAX = 1.5
KINDS = ("shift", "pitch", "velocity", "duration")


def load_prompts(role: str) -> list[tuple[str, list[Note], list[Note]]]:
    """The part-prompts of one out-of-corpus set (fetched once into the cache; see ``outside``)."""
    from livegen_train.adherence import part_prompts, read_parts
    from livegen_train.outside import fetch, sources_for

    paths = sorted(str(p) for folder in fetch(sources_for(role)).values() for p in folder.glob("*.mid"))
    return part_prompts(read_parts(paths))


def kind_weights(preset: Preset) -> list[float]:
    """The ``follow`` weight of SHIFT, PITCH, VEL and DUR (``follow_pitch``, ``follow_duration`` applied)."""
    from livegen.follow import Follower
    from livegen.tokens import Kind

    weights = Follower.weights_of(preset.conditioning)
    return [float(weights["kinds"].get(kind, weights["follow"])) for kind in (Kind.SHIFT, Kind.PITCH,
                                                                              Kind.VEL, Kind.DUR)]


def answer_bits(bits: Mapping[str, np.ndarray], weights: Sequence[float]) -> np.ndarray:
    """float64 [4]: each token kind's bits under the geometric mix at that kind's weight.

    Args:
        bits: :func:`livegen_train.conditional.score_prompt`'s answer (``geo <f>`` for each weight).
        weights: :func:`kind_weights`.
    """
    return np.array([bits[f"geo {w:g}"][col] for col, w in enumerate(weights)])


def _nll(model, presets: Mapping[str, Preset], prompts, corpus) -> dict[str, dict[str, list[float]]]:
    """``{style: {scorer: bits per note [4]}}``; scorers net, session, answer (the preset's mix), corpus."""
    from livegen_train.conditional import score_prompt

    out = {}
    for style, preset in presets.items():
        weights = kind_weights(preset)
        net = preset_model(model, preset)  # a ModelSet: the preset's own
        sums: dict[str, np.ndarray] = {}
        notes = 0
        for _, prompt, real in prompts:
            bits = score_prompt(net, net.style_id(style), prompt, real, sorted(set(weights)), corpus)
            picked = {"net": bits["net"], "session": bits["session"], "answer": answer_bits(bits, weights)}
            if corpus is not None:
                picked["corpus"] = bits["corpus"]
            for name, value in picked.items():
                sums[name] = sums.get(name, 0) + value
            notes += len(real)
        out[style] = {name: [float(x) for x in total / max(notes, 1)] for name, total in sums.items()}
    return out


def _as_lists(notes: Sequence[Note]) -> list[list[float]]:
    return [[n.pitch, n.onset_s, n.duration_s] for n in notes]


def _roll_prompts(prompts, count: int) -> list[int]:
    """Indices of ``count`` contrasting prompts: the lowest and highest register, then evenly spaced."""
    if not prompts:
        return []
    means = [float(np.mean([n.pitch for n in prompt])) for _, prompt, _ in prompts]
    chosen = [int(np.argmin(means)), int(np.argmax(means))]
    for i in np.linspace(0, len(prompts) - 1, count + 2).astype(int)[1:-1]:
        if len(chosen) < count and int(i) not in chosen:
            chosen.append(int(i))
    return chosen[:count]


def measure(model, preset_for: Mapping[str, Preset], *, roles: Sequence[str] = ("dev", "check"),
            seeds: int = 4, corpus: Any = None, keep: dict[str, dict[str, list]] | None = None
            ) -> dict[str, Any]:
    """Measure the adherence section.

    Args:
        model: the :class:`livegen.model.Model` that generates and scores.
        preset_for: ``{style: preset}``; only :data:`TONAL_STYLES` are measured.
        roles: out-of-corpus sets (``dev``, ``check``).
        seeds: continuations per prompt and preset.
        corpus: the fair corpus Markov (:func:`livegen_train.conditional.corpus_markov` of the
            training split), or None: no corpus row.
        keep: if given, ``keep[role][style]`` receives the continuations measured (key mask as
            the preset has it), so another section can reuse them.

    Returns:
        ``{"seeds", "presets", "sets": {role: {"prompts", "table", "key_mask_off", "nll"}},
        "rolls": [...]}``; ``table`` is :func:`livegen_train.adherence.report`'s,
        ``key_mask_off`` the key correlation of each preset with ``key_mask: off``.
    """
    from livegen.offline import answer_notes
    from livegen_train.adherence import report as adherence_table

    presets = {s: p for s, p in preset_for.items() if s in TONAL_STYLES}
    out: dict[str, Any] = {"seeds": seeds, "presets": {s: p.name for s, p in presets.items()},
                           "follow": {s: float(p.value("follow")) for s, p in presets.items()},
                           "sets": {}, "rolls": []}
    for role in roles:
        prompts = load_prompts(role)
        log.info("adherence %s: %d prompts", role, len(prompts))
        kept: dict[str, list] = {} if keep is None else keep.setdefault(role, {})
        kept_off: dict[str, list] = {}
        table = adherence_table(model, presets, prompts, range(seeds), keep=kept)
        off = adherence_table(model, {s: p.replace(key_mask="off") for s, p in presets.items()},
                              prompts, range(seeds), keep=kept_off)
        out["sets"][role] = {"prompts": len(prompts), "table": table,
                             "key_mask_off": {s: off[s]["key_correlation"] for s in presets},
                             "nll": _nll(model, presets, prompts, corpus),
                             "by_texture": _by_texture(prompts, kept, kept_off, seeds)}
        if role == roles[-1]:
            for i in _roll_prompts(prompts, ROLL_PROMPTS):
                name, prompt, real = prompts[i]
                out["rolls"].append({
                    "set": role, "name": name, "prompt": _as_lists(prompt), "real": _as_lists(real),
                    "presets": {s: _as_lists(answer_notes(model, p, prompt, n_notes=len(real), seed=0))
                                for s, p in presets.items()}})
    return out


def _by_texture(prompts: Sequence[Any], kept: Mapping[str, list], kept_off: Mapping[str, list],
                seeds: int) -> dict[str, dict[str, Any]]:
    """``{texture: {"prompts", "real", "real top line", style: {...}}}``: the figures of line and
    chordal prompts apart (:func:`livegen_train.adherence_sweep.by_texture`), each preset's key
    correlation from its ``key_mask: off`` answers."""
    from livegen_train.adherence_sweep import by_texture

    notes, reals = [p for _, p, _ in prompts], [r for _, _, r in prompts]
    out: dict[str, dict[str, Any]] = {}
    for style, conts in kept.items():
        groups = by_texture(notes, reals, conts, seeds)
        groups_off = by_texture(notes, reals, kept_off[style], seeds)
        for texture, group in groups.items():
            row = out.setdefault(texture, {"prompts": group["prompts"], "real": group["real"],
                                           "real top line": group["real top line"]})
            row[style] = {**group["answers"],
                          "key_mask_off": groups_off[texture]["answers"]["key_correlation"]}
    return out


def _check(name: str, value: float, ok: bool, detail: str) -> tuple[str, bool | None, str]:
    return (name, None if math.isnan(value) else bool(ok), detail)


def acceptance(section: Mapping[str, Any]) -> list[tuple[str, bool | None, str]]:
    """Issue 13's checks for each set and tonal preset: ``[(check, passed or None, detail)]``."""
    checks = []
    for role, block in section["sets"].items():
        table, real = block["table"], block["table"]["real"]
        iid, metro = block["table"]["iid"], block["table"]["metronome"]
        for style in section["presets"]:
            row = table[style]
            tag = f"{role} {style}"
            ratio = row["motif_reuse"] / real["motif_reuse"]
            checks.append(_check(f"{tag}: motif reuse >= {MOTIF_MIN:g} x real", ratio, ratio >= MOTIF_MIN,
                                 f"{row['motif_reuse']:.2f} vs {real['motif_reuse']:.2f}"))
            ratio = row["rest_share"] / real["rest_share"]
            checks.append(_check(f"{tag}: rest share {REST_RANGE[0]:g}-{REST_RANGE[1]:g} x real", ratio,
                                 REST_RANGE[0] <= ratio <= REST_RANGE[1],
                                 f"{row['rest_share']:.2f} vs {real['rest_share']:.2f}"))
            ratio = row["on_grid"] / real["on_grid"]
            checks.append(_check(f"{tag}: on-grid >= {GRID_MIN:g} x real", ratio, ratio >= GRID_MIN,
                                 f"{row['on_grid']:.2f} vs {real['on_grid']:.2f}"))
            ratio = row["density_ratio"]
            checks.append(_check(f"{tag}: notes/s {DENSITY_RANGE[0]:g}-{DENSITY_RANGE[1]:g} x prompt's",
                                 ratio, DENSITY_RANGE[0] <= ratio <= DENSITY_RANGE[1],
                                 f"{ratio:.2f} x (real {real['density_ratio']:.2f} x)"))
            ratio = row["register_drift"] / real["register_drift"]
            checks.append(_check(f"{tag}: register drift <= {DRIFT_MAX:g} x real", ratio, ratio <= DRIFT_MAX,
                                 f"{row['register_drift']:.1f} vs {real['register_drift']:.1f} semitones"))
            key = block["key_mask_off"][style]
            checks.append(_check(f"{tag}: key correlation, key mask off, >= real's", key,
                                 key >= real["key_correlation"],
                                 f"{key:.3f} vs {real['key_correlation']:.3f}"))
            distance = row["interval_distance"]
            checks.append(_check(f"{tag}: interval histogram closer than i.i.d. pitches",
                                 distance, distance < iid["interval_distance"],
                                 f"{row['interval_distance']:.2f} vs {iid['interval_distance']:.2f}"))
            checks.append(_check(f"{tag}: inter-onset histogram closer than a metronome", row["ioi_distance"],
                                 row["ioi_distance"] < metro["ioi_distance"],
                                 f"{row['ioi_distance']:.2f} vs {metro['ioi_distance']:.2f}"))
            nll = block["nll"][style]
            rivals = [r for r in ("session", "corpus") if r in nll]
            worse = [f"{r} {k}" for r in rivals for k, a, b in zip(KINDS, nll["answer"], nll[r]) if a >= b]
            checks.append((f"{tag}: conditional NLL below the {' and '.join(rivals)} Markov, every kind",
                           not worse, f"{sum(nll['answer']):.2f} bits/note; " +
                           (f"not below: {', '.join(worse)}" if worse else
                            ", ".join(f"{r} {sum(nll[r]):.2f}" for r in rivals))))
    return checks


def _md(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header),
            *("| " + " | ".join(row) + " |" for row in rows)]


COLUMNS = (("motif_reuse", "motif reuse", "{:.2f}"), ("rest_share", "rests", "{:.2f}"),
           ("on_grid", "on grid", "{:.2f}"), ("density_ratio", "notes/s vs prompt", "{:.2f}x"),
           ("polyphony_ratio", "polyphony vs prompt", "{:.2f}x"),
           ("register_drift", "register drift (st)", "{:.1f}"), ("key_correlation", "key corr.", "{:.2f}"),
           ("interval_distance", "interval dist.", "{:.2f}"), ("ioi_distance", "IOI dist.", "{:.2f}"))


def markdown_lines(section: Mapping[str, Any], figures: Mapping[str, str]) -> list[str]:
    """The section as markdown lines (tables per set, NLL per style, the piano rolls)."""
    follow = ", ".join(f"{s} {f:g}" for s, f in section["follow"].items())
    lines = ["## Adherence: answers to out-of-corpus phrases", "",
             "Each tonal preset continues part-prompts (50 notes of one MIDI channel, 64 real notes "
             f"after it) from real MIDI music outside the corpus, {section['seeds']} seeds each "
             "(`livegen_train.adherence`; dev: the set the knobs were chosen on; check: never used to "
             f"choose anything). The presets' `follow`: {follow}. `key corr. (mask off)`: the same "
             "continuations drawn with `key_mask: off`. Each answer is the daemon's: it begins after "
             "the preset's silence trigger, on the grid line the preset asks for "
             "(`livegen.offline.answer_notes`).", ""]
    for role, block in section["sets"].items():
        lines += [f"### {role} set ({block['prompts']} prompts)", ""]
        header = ["", *(title for _, title, _ in COLUMNS), "key corr. (mask off)"]
        rows = []
        for name, figures_row in block["table"].items():
            cells = [fmt.format(figures_row[key]) for key, _, fmt in COLUMNS]
            off = block["key_mask_off"].get(name)
            rows.append([name, *cells, f"{off:.2f}" if off is not None else ""])
        lines += [*_md(header, rows), ""]
        lines += _texture_lines(block.get("by_texture") or {})
        lines += ["Conditional NLL of the real continuation, bits per note (answer: the preset's mix "
                  "of network and prompt-only Markov at its `follow`):", ""]
        rows = []
        for style, scorers in block["nll"].items():
            for scorer, bits in scorers.items():
                rows.append([style, scorer, f"{sum(bits):.2f}", *(f"{b:.2f}" for b in bits)])
        lines += [*_md(["style", "scorer", "total", *KINDS], rows), ""]
    if "adherence_rolls" in figures:
        lines += ["Piano rolls (grey: the prompt; colour: the real continuation, then each preset's, "
                  "seed 0):", "", f"![Piano rolls]({figures['adherence_rolls']})", ""]
    return lines


TEXTURE_COLUMNS = (("register_drift", "register drift (st)", "{:.2f}"),
                   ("key_mask_off", "key corr. (mask off)", "{:.3f}"),
                   ("motif_reuse", "motif reuse", "{:.2f}"),
                   ("density_ratio", "notes/s vs prompt", "{:.2f}x"),
                   ("polyphony_ratio", "polyphony vs prompt", "{:.2f}x"))


def _texture_lines(groups: Mapping[str, Any]) -> list[str]:
    """The figures of line and chordal prompts apart, as markdown lines (none without groups)."""
    if not groups:
        return []
    from livegen_train.adherence_sweep import TEXTURES

    bounds = {name: f">= {low:g}" if math.isinf(high) else f"{low:g}-{high:g}"
              for name, low, high in TEXTURES}
    rows = []
    for texture, group in groups.items():
        for who, figures in group.items():
            if who == "prompts":
                continue
            key = figures["key_correlation"] if who.startswith("real") else figures["key_mask_off"]
            cells = [fmt.format(key if name == "key_mask_off" else figures[name])
                     for name, _, fmt in TEXTURE_COLUMNS]
            rows.append([f"{texture} ({bounds[texture]} notes per onset, {group['prompts']} prompts)",
                         who, *cells])
    return ["By the prompt's texture (notes per onset; chord tones within 30 ms are one onset). "
            "Real top line: the real continuation's highest note of each onset alone, what a one-line "
            "answer that played the real tune would score; the real rows' key correlation is the "
            "music's own:", "",
            *_md(["prompts", "", *(title for _, title, _ in TEXTURE_COLUMNS)], rows), ""]


def plot_rolls(section: Mapping[str, Any], path) -> bool:
    """Draw prompt | real | each preset for the section's roll prompts into ``path`` (PNG); False if none."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rolls = section.get("rolls") or []
    if not rolls:
        return False
    columns = ["real", *rolls[0]["presets"]]
    fig, axes = plt.subplots(len(rolls), len(columns), figsize=(3.2 * len(columns), 2.2 * len(rolls)),
                             squeeze=False, sharey="row")
    for r, roll in enumerate(rolls):
        for c, column in enumerate(columns):
            ax = axes[r][c]
            answer = roll["real"] if column == "real" else roll["presets"][column]
            for notes, colour in ((roll["prompt"], "0.6"), (answer, f"C{c}")):
                for pitch, onset, duration in notes:
                    ax.broken_barh([(onset, duration)], (pitch - 0.4, 0.8), color=colour)
            if r == 0:
                ax.set_title(column)
            if c == 0:
                ax.set_ylabel(f"{roll['name']}\npitch", fontsize=7)
            ax.tick_params(labelsize=6)
            ax.set_xlabel("s", fontsize=6)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return True
