"""Tests of livegen.follow: the session model mixed into generation, learning only the performer."""

from __future__ import annotations

import numpy as np
import pytest
from fakes import FakeModel
from rig import PRESET

from livegen import tokens
from livegen.errors import PresetError
from livegen.follow import Follower
from livegen.generation import Generator
from livegen.notes import Note
from livegen.offline import continue_notes
from livegen.tokens import Kind

MOTIF = (60, 62, 64, 60, 67, 65, 64, 62)  # played over and over, 0.25 s apart


def played(repeats: int = 4) -> list[Note]:
    return [Note(p, 80, i * 0.25, 0.2) for i, p in enumerate(MOTIF * repeats)]


def test_follow_zero_returns_the_networks_logits_untouched():
    follower = Follower(0.0)
    logits = np.arange(tokens.VOCAB_SIZE, dtype=np.float32)
    assert follower.mix(logits, Kind.PITCH) is logits


def test_at_follow_one_a_flat_network_draws_what_the_session_learnt():
    follower = Follower(1.0)
    for token in tokens.encode(played()):
        follower.observe(int(token), learn=True)
    follower.observe(tokens.SHIFT_OFFSET + tokens.quantize_shift(0.25), learn=False)
    mixed = follower.mix(np.zeros(tokens.VOCAB_SIZE, np.float32), Kind.PITCH)
    assert int(np.argmax(mixed)) == tokens.PITCH_OFFSET + 60  # after ... 64 62 comes C again
    masked = np.zeros(tokens.VOCAB_SIZE, np.float32)
    masked[tokens.PITCH_OFFSET + 60] = -np.inf  # a pitch the caller excluded stays excluded
    assert np.isneginf(follower.mix(masked, Kind.PITCH)[tokens.PITCH_OFFSET + 60])


def test_the_generator_learns_the_performer_once_and_never_its_own_answer():
    gen = Generator(FakeModel(), PRESET.replace(follow=0.5), seed=0)
    for note in played(1):
        gen.prime(note)
    session = gen.follower.model
    assert session.notes_learnt == len(MOTIF)
    snap = gen.snapshot()
    gen.begin_response(3.0)
    for _ in range(6):
        gen.next_note()
    gen.restore(snap)
    gen.rebuild()  # replays the window into the network: nothing is learnt twice
    assert session.notes_learnt == len(MOTIF)
    assert gen.follower.context.context(Kind.PITCH) == snap.follow_context.context(Kind.PITCH)


def test_following_the_player_reuses_their_intervals():
    model, prompt = FakeModel(seed=3), played(4)

    def reuse(follow: float) -> float:
        motifs = {tuple(np.diff(MOTIF * 2)[i:i + 3]) for i in range(len(MOTIF))}
        shares = []
        for seed in range(4):
            answer = continue_notes(model, PRESET.replace(follow=follow), prompt, n_notes=24, seed=seed)
            steps = np.diff([n.pitch for n in answer])
            grams = [tuple(steps[i:i + 3]) for i in range(len(steps) - 2)]
            shares.append(sum(g in motifs for g in grams) / max(len(grams), 1))
        return float(np.mean(shares))

    assert reuse(0.8) > reuse(0.0) + 0.3


def test_follow_is_a_preset_key_from_0_to_1():
    assert PRESET.replace(follow=0.5).conditioning.follow == 0.5
    with pytest.raises(PresetError, match="received 1.5"):
        PRESET.replace(follow=1.5)
