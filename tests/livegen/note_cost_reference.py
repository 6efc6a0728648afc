"""The per-token code path as it was before issue 14 made it cheaper, kept to compare against.

Copied from livegen at commit dfcc529 (guidance.py, model.py ``step_styles``,
follow.py ``mix``, session.py ``symbol_log_probs``/``log_probs``, sampling.py
``sample``), made into functions over today's objects. test_note_cost.py swaps
them into a :class:`livegen.generation.Generator` and checks that the notes
drawn for a seed are the same as with today's code.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from livegen import tokens
from livegen.generation import Generator
from livegen.guidance import REGISTER_SPAN, StyleStates, contrast_ids, level_register
from livegen.model import OUTPUT_NAMES, State
from livegen.session import _ALPHABET, _LOG_SHARE, _SYMBOL_OF, ABSOLUTE, _pitch_log_probs
from livegen.tokens import Kind


def old_guide_logits(logits, style, weight, against=(), register_span=0):
    own = logits[style]
    if weight == 0:
        return own
    reference = logits[list(against)].mean(axis=0) if len(against) else logits.mean(axis=0)
    push = own - reference
    if register_span:  # new since dfcc529 (guidance_register: player): today's levelling, tested on its own
        level_register(push, own, register_span)
    return (own + weight * push).astype(np.float32, copy=False)


def old_step_styles(model, token, state):
    n = len(model.styles)
    if model.batched:
        logits, h, c = model._session.run(OUTPUT_NAMES, {
            "token": np.full(n, token, np.int64), "style": np.arange(n, dtype=np.int64),
            "h": state.h, "c": state.c})
        return logits, State(h, c)
    rows = [model.step(token, State(state.h[:, k:k + 1], state.c[:, k:k + 1]), k) for k in range(n)]
    return (np.stack([logits for logits, _ in rows]),
            State(np.concatenate([s.h for _, s in rows], axis=1),
                  np.concatenate([s.c for _, s in rows], axis=1)))


class OldStyledModel:
    """StyledModel before issue 14: every style of the model is stepped under guidance."""

    def __init__(self, model: Any, preset) -> None:
        self.model = model
        self.style = model.style_id(preset.conditioning.style)
        self.against = contrast_ids(model, preset)
        self.weight = preset.conditioning.style_guidance
        self.guided = self.weight > 0
        self.register_span = REGISTER_SPAN if preset.conditioning.guidance_register == "player" else 0

    def same_state(self, other) -> bool:
        return self.style == other.style and self.guided == other.guided

    def initial_state(self):
        model = self.model
        if not self.guided:
            return model.initial_state()
        if hasattr(model, "step_styles"):
            shape = (model.layers, len(model.styles), model.hidden)
            return State(np.zeros(shape, np.float32), np.zeros(shape, np.float32))
        return StyleStates(tuple(model.initial_state() for _ in model.styles))

    def step(self, token, state):
        model = self.model
        if not self.guided:
            return model.step(token, state, self.style)
        if isinstance(state, StyleStates):
            steps = [model.step(token, one, style) for style, one in enumerate(state.states)]
            state = StyleStates(tuple(one for _, one in steps))
            every = np.stack([logits for logits, _ in steps])
        else:
            every, state = old_step_styles(model, token, state)
        span = self.register_span if tokens.next_kind(token) == Kind.PITCH else 0
        return old_guide_logits(every, self.style, self.weight, self.against, span), state


def old_symbol_log_probs(session, kind, context):
    size = _ALPHABET[kind]
    p = np.full(size, 1.0 / size)
    full = context.context(kind)
    for k in range(len(full) + 1):
        counts = session._counts[kind].get(full[:k])
        if not counts:
            break
        n = sum(counts.values())
        own = np.zeros(_ALPHABET[kind])
        own[list(counts)] = list(counts.values())
        weight, own = n / (n + len(counts)), own / n
        p = weight * own + (1.0 - weight) * p
    return np.log(p)


def old_log_probs(session, kind, context):
    out = np.full(tokens.VOCAB_SIZE, -math.inf)
    symbols = old_symbol_log_probs(session, kind, context)
    if kind == Kind.PITCH:
        both = 0.5 * (_pitch_log_probs(symbols, context.last_pitch)
                      + old_symbol_log_probs(session, ABSOLUTE, context))
        out[tokens.PITCH_OFFSET:tokens.PITCH_OFFSET + tokens.N_PITCHES] = (
            both - np.logaddexp.reduce(both))
    else:
        sym = _SYMBOL_OF[kind]
        start = {Kind.SHIFT: tokens.SHIFT_OFFSET, Kind.VEL: tokens.VEL_OFFSET,
                 Kind.DUR: tokens.DUR_OFFSET}[kind]
        part = symbols[sym] - _LOG_SHARE[kind]
        out[start:start + len(sym)] = part - np.logaddexp.reduce(part)
    return out


def old_mix(follower, logits, kind):
    follow = follower.weights[kind]  # the kind's own weight (follow_pitch, follow_duration; issue 13)
    if follow <= 0.0 or follower.model.notes_learnt == 0:
        return logits
    mask = tokens.KIND_MASKS[kind]
    own = old_log_probs(follower.model, kind, follower.context)
    out = np.full(logits.shape, -math.inf)
    part = logits[mask].astype(np.float64)
    part -= np.logaddexp.reduce(part)
    with np.errstate(invalid="ignore"):
        mixed = (1.0 - follow) * part + follow * own[mask]
    mixed[np.isneginf(part)] = -math.inf
    out[mask] = mixed
    return out


def old_sample(sampler, logits, kind):
    ids = sampler.allowed[kind]
    scaled = logits[ids].astype(np.float64) * (1.0 / sampler.config.temperature)
    if kind == Kind.PITCH:
        guard = sampler._guard
        if guard is not None and guard.penalties:
            low, count = sampler.config.pitch_low, len(scaled)
            for pitch, penalty in guard.penalties:
                if 0 <= pitch - low < count:
                    scaled[pitch - low] -= penalty
        bias = sampler._key_bias
        if bias is not None:
            if sampler.config.key_mask in ("soft", "palette"):
                scaled += bias
            else:
                biased = scaled + bias
                if math.isfinite(biased.max()):
                    scaled = biased
    peak = scaled.max()
    if not math.isfinite(peak):
        return int(ids[sampler.rng.integers(len(ids))])
    weights = np.exp(scaled - peak)
    top_p = float(sampler.config.top_p)
    if top_p < 1.0:
        order = np.argsort(-weights, kind="stable")
        cumulative = np.cumsum(weights[order])
        keep = int(np.searchsorted(cumulative, top_p * cumulative[-1])) + 1
        keep = min(keep, len(order))
        draw = sampler.rng.random() * cumulative[keep - 1]
        index = min(int(np.searchsorted(cumulative[:keep], draw, side="right")), keep - 1)
        return int(ids[order[index]])
    cumulative = np.cumsum(weights)
    draw = sampler.rng.random() * cumulative[-1]
    index = min(int(np.searchsorted(cumulative, draw, side="right")), len(ids) - 1)
    return int(ids[index])


def old_generator(model, preset, *, seed: int) -> Generator:
    """A Generator whose model steps, follower mix and draws are the code before issue 14."""
    generator = Generator(model, preset, seed=seed)
    generator._styled = OldStyledModel(model, preset)
    follower, sampler = generator.follower, generator.sampler
    follower.mix = lambda logits, kind: old_mix(follower, logits, kind)
    sampler.sample = lambda logits, kind: old_sample(sampler, logits, kind)
    generator.reset()
    return generator


def compare(notes: int = 1000) -> str:
    """Old and new per-note cost, answer by answer in turns in this process: a table of p50s.

    Run as ``python tests/livegen/note_cost_reference.py [NOTES]`` (docs/benchmark.md, issue 14).
    """
    import time

    from livegen.bench.steps import NoteAnswers, interleave
    from livegen.model import Model
    from livegen.presets import list_presets, load_preset

    model = Model.load(threads=1)
    lines = [f"{'row':24s} {'old p50':>8s} {'new p50':>8s} {'old/new':>7s}   CPU p50 old, new, old/new"]
    for name in sorted(list_presets()):
        preset = load_preset(name)
        variants = {"": preset, ", follow 0.5": preset.replace(follow=0.5)}
        if preset.conditioning.style_guidance > 0:
            variants[", guidance off"] = preset.replace(style_guidance=0.0)
        for what, variant in variants.items():
            old = NoteAnswers(model, variant, old_generator(model, variant, seed=0))
            new = NoteAnswers(model, variant)
            old_ms, new_ms = interleave([old, new], notes, 64)
            o, n = float(np.median(old_ms)), float(np.median(new_ms))
            oc, nc = float(np.median(old.cpu_ms[64:])), float(np.median(new.cpu_ms[64:]))
            lines.append(f"{name + what:24s} {o:8.3f} {n:8.3f} {o / n:7.2f}   "
                         f"{oc:.3f} {nc:.3f} {oc / nc:.2f}")
    return "\n".join(lines + [f"{time.strftime('%H:%M UTC', time.gmtime())}, load average "
                              f"{[round(x, 2) for x in __import__('os').getloadavg()]}"])


if __name__ == "__main__":
    import sys

    print(compare(int(sys.argv[1]) if len(sys.argv) > 1 else 1000))
