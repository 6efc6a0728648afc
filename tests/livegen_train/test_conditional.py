"""Conditional NLL: a uniform network costs log2 of each slice; the session model learns the prompt."""

from __future__ import annotations

import math

import numpy as np

from livegen import tokens
from livegen.notes import Note
from livegen.tokens import KIND_MASKS, Kind
from livegen_train.conditional import corpus_markov, score_prompt


class Uniform:
    """A step model whose logits are all 0: every token of a kind is equally likely."""

    def initial_state(self):
        return None

    def step(self, token, state, style):
        return np.zeros(tokens.VOCAB_SIZE, np.float32), None


def line(pitches, start_s=0.0):
    return [Note(p, 80, start_s + i * 0.25, 0.2) for i, p in enumerate(pitches)]


def test_a_uniform_network_costs_log2_of_each_slice_and_the_session_learns_the_motif():
    motif = [60, 62, 64, 60] * 6
    prompt, real = line(motif), line(motif[:8], start_s=6.0)
    bits = score_prompt(Uniform(), 0, prompt, real, follows=[0.5])
    kinds = (Kind.SHIFT, Kind.PITCH, Kind.VEL, Kind.DUR)
    expected = [math.log2(KIND_MASKS[k].sum()) * len(real) for k in kinds]
    np.testing.assert_allclose(bits["net"], expected, rtol=1e-6)
    assert bits["session"].sum() < 0.3 * bits["net"].sum()  # the repeated motif is cheap to predict
    assert bits["net"].sum() > bits["geo 0.5"].sum() > bits["session"].sum()


def _piece(pitches):
    from livegen_train.corpus import Piece

    n = len(pitches)
    return Piece("p", "folk", np.array(pitches, np.int16), np.arange(n, dtype=np.float64) * 0.5,
                 np.full(n, 0.4), np.full(n, -1, np.int16), 120.0)


def test_the_corpus_markov_learns_every_piece_and_not_the_prompt():
    pieces = [_piece([60, 64, 67] * 4), _piece([72, 71, 69, 67] * 3)]
    markov = corpus_markov(pieces, renderings=0)
    assert markov.notes_learnt == 24
    bits = score_prompt(Uniform(), 0, line([50, 52] * 8), line([50, 52] * 2, 5.0), [0.5], markov)
    assert markov.notes_learnt == 24 and bits["corpus"].sum() > bits["session"].sum()


def test_the_corpus_markov_learns_played_renderings_with_dynamics_as_the_network_does():
    pieces = [_piece([60, 64, 67, 72] * 8)]
    plain = corpus_markov(pieces, renderings=0)
    played = corpus_markov(pieces, renderings=3)
    assert played.notes_learnt == 3 * plain.notes_learnt == 96
    # The score has no dynamics: the plain rendering has one velocity; played ones have several,
    # so a played velocity the plain Markov never saw costs it more than the played one.
    loud = line([60, 64, 67, 72] * 2, 5.0)
    soft = [Note(n.pitch, 40 + 9 * i, n.onset_s, n.duration_s) for i, n in enumerate(loud)]
    plain_bits = score_prompt(Uniform(), 0, line([60]), soft, [0.5], plain)["corpus"]
    played_bits = score_prompt(Uniform(), 0, line([60]), soft, [0.5], played)["corpus"]
    assert played_bits[2] < plain_bits[2]
