"""The session model learns the performer's motifs, spacings and durations, with a floor for the rest."""

from __future__ import annotations

import math

import numpy as np
import pytest

from livegen import tokens
from livegen.notes import Note
from livegen.session import SessionModel
from livegen.tokens import Kind

MOTIF = (60, 62, 64, 60)  # C D E C, each 0.3 s after the last


def played(pitches, step_s=0.3, duration_s=0.25):
    return [Note(p, 80, i * step_s, duration_s) for i, p in enumerate(pitches)]


def learnt(notes, order=4):
    model = SessionModel(order)
    context = model.new_context()
    for token in tokens.encode(notes):
        model.learn(context, int(token))
    return model, context


def probs(model, kind, context):
    logp = model.log_probs(kind, context)
    return np.exp(logp)


def test_every_token_of_the_kind_has_a_floor_and_the_slice_sums_to_one():
    model, context = learnt(played(MOTIF * 3))
    for kind in (Kind.SHIFT, Kind.PITCH, Kind.VEL, Kind.DUR):
        logp = model.log_probs(kind, context)
        inside = tokens.KIND_MASKS[kind]
        assert np.all(np.isfinite(logp[inside])) and np.all(np.isneginf(logp[~inside]))
        assert np.exp(logp[inside]).sum() == pytest.approx(1.0)


def test_after_the_motifs_head_its_next_note_is_the_likeliest():
    model, _ = learnt(played(MOTIF * 4))
    _, context = learnt(played([67, 69, 71]))  # the motif's head, a fifth up: G A B
    context.push(tokens.SHIFT_OFFSET + tokens.quantize_shift(0.3))  # the next note's spacing
    p = probs(model, Kind.PITCH, context)  # what was learnt, in the new context
    assert int(np.argmax(p)) == tokens.PITCH_OFFSET + 67  # G: down a major third, as C D E C


def test_the_players_spacing_is_likelier_than_another():
    model, context = learnt(played(range(60, 72), step_s=0.3))
    p = probs(model, Kind.SHIFT, context)
    at_03 = p[tokens.SHIFT_OFFSET + tokens.quantize_shift(0.3)]
    assert at_03 > 10 * p[tokens.SHIFT_OFFSET + tokens.quantize_shift(0.15)]
    assert at_03 > 10 * p[tokens.SHIFT_OFFSET + tokens.quantize_shift(0.6)]


def test_an_untrained_model_is_uniform_over_symbols():
    model = SessionModel()
    logp = model.symbol_log_probs(Kind.PITCH, model.new_context())
    assert np.allclose(logp, -math.log(len(logp)))


def test_a_copied_context_moves_on_its_own():
    model, context = learnt(played(MOTIF))
    copy = context.copy()
    for token in tokens.encode(played([72, 74])):
        copy.push(int(token))
    assert context.context(Kind.PITCH) != copy.context(Kind.PITCH)
    assert context.last_pitch == 60 and copy.last_pitch == 74


def test_learning_a_note_adds_at_most_one_count_per_order_and_kind():
    model, context = learnt(played(MOTIF * 8))
    before = model.notes_learnt
    entries = model.entries
    for token in tokens.encode(played([61]))[:4]:
        model.learn(context, int(token))
    assert model.notes_learnt == before + 1
    assert 0 < model.entries - entries <= 4 * (model.order + 2)  # 4 tokens, order + 2 contexts at most


def test_the_order_must_be_a_natural_number():
    with pytest.raises(ValueError, match="received -1"):
        SessionModel(-1)


def test_the_absolute_viewpoint_pulls_a_wandering_answer_back_to_the_players_register():
    model, context = learnt(played([36, 38, 40, 43, 41, 38, 36, 31] * 3))  # a bass line
    for token in tokens.encode(played([60, 62], step_s=0.3)):  # the answer wandered up
        context.push(int(token))
    context.push(tokens.SHIFT_OFFSET + tokens.quantize_shift(0.3))
    p = probs(model, Kind.PITCH, context)[tokens.PITCH_OFFSET:tokens.PITCH_OFFSET + 128]
    steps = np.exp(model.symbol_log_probs(Kind.PITCH, context))  # intervals alone, -24..+24
    by_interval = np.zeros(128)
    by_interval[62 - 23:62 + 24] = steps[1:-1]  # each interval inside +-23 reaches one pitch
    assert p[24:48].sum() > 3 * by_interval[24:48].sum()
