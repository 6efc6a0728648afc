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


def learnt_follower(kinds: dict[int, float]) -> Follower:
    follower = Follower(0.8, kinds=kinds)
    for token in tokens.encode(played()):
        follower.observe(int(token), learn=True)
    return follower


def test_a_kinds_own_weight_replaces_follow_for_that_kind_only():
    follower = learnt_follower({Kind.PITCH: 0.0})
    logits = np.zeros(tokens.VOCAB_SIZE, np.float32)
    assert follower.mix(logits, Kind.PITCH) is logits  # the network alone draws the pitch
    shift = follower.mix(logits, Kind.SHIFT)  # ... the rhythm still follows the player
    assert int(np.argmax(shift)) == tokens.SHIFT_OFFSET + tokens.quantize_shift(0.25)
    assert follower.weights == {Kind.SHIFT: 0.8, Kind.PITCH: 0.0, Kind.VEL: 0.8, Kind.DUR: 0.8}
    assert follower.follow == 0.8


def test_follow_pitch_duration_and_velocity_are_preset_keys_from_0_to_1_none_meaning_follow():
    style = PRESET.conditioning
    assert style.follow_pitch is style.follow_duration is style.follow_velocity is None
    preset = PRESET.replace(follow=0.75, follow_pitch=0, follow_duration=1, follow_velocity=0.25)
    style = preset.conditioning
    assert (style.follow_pitch, style.follow_duration, style.follow_velocity) == (0.0, 1.0, 0.25)
    assert isinstance(preset.conditioning.follow_pitch, float)
    for key in ("follow_pitch", "follow_duration", "follow_velocity"):
        with pytest.raises(PresetError, match=f"{key} must be in"):
            PRESET.replace(**{key: 1.5})
        with pytest.raises(PresetError, match=key):
            PRESET.replace(**{key: "high"})


def test_the_generator_mixes_each_kind_at_the_presets_weight_and_follows_a_preset_change():
    gen = Generator(FakeModel(), PRESET.replace(follow=0.5, follow_duration=0.9, follow_pitch=0.1), seed=0)
    assert gen.follower.weights == {Kind.SHIFT: 0.5, Kind.PITCH: 0.1, Kind.VEL: 0.5, Kind.DUR: 0.9}
    gen.set_preset(gen.preset.replace(follow=0.3, follow_duration=None))
    assert gen.follower.weights == {Kind.SHIFT: 0.3, Kind.PITCH: 0.1, Kind.VEL: 0.3, Kind.DUR: 0.3}
    gen.set_preset(gen.preset.replace(follow_velocity=0.75))  # the player's dynamics, apart from rhythm
    assert gen.follower.weights == {Kind.SHIFT: 0.3, Kind.PITCH: 0.1, Kind.VEL: 0.75, Kind.DUR: 0.3}


def test_without_pitch_following_the_answer_keeps_the_players_rhythm_not_their_intervals():
    model, prompt = FakeModel(seed=3), played(4)

    def answer(**keys: float) -> list[list[Note]]:
        return [continue_notes(model, PRESET.replace(**keys), prompt, n_notes=24, seed=seed)
                for seed in range(4)]

    def interval_reuse(answers: list[list[Note]]) -> float:
        motifs = {tuple(np.diff(MOTIF * 2)[i:i + 3]) for i in range(len(MOTIF))}
        grams = [tuple(np.diff([n.pitch for n in a])[i:i + 3]) for a in answers for i in range(len(a) - 3)]
        return sum(g in motifs for g in grams) / len(grams)

    def on_pulse(answers: list[list[Note]]) -> float:  # onsets 0.25 s apart, as the player's
        gaps = [b.onset_s - a.onset_s for ans in answers for a, b in zip(ans, ans[1:])]
        return float(np.mean([abs(g - 0.25) < 0.02 for g in gaps]))

    full, rhythm_only, none = answer(follow=0.9), answer(follow=0.9, follow_pitch=0.0), answer(follow=0.0)
    assert interval_reuse(full) > interval_reuse(rhythm_only) + 0.3
    assert on_pulse(rhythm_only) > on_pulse(none) + 0.3


def test_without_duration_following_the_answer_keeps_the_players_onsets_not_their_durations():
    prompt = [Note(p, 80, i * 0.25, 0.05) for i, p in enumerate(MOTIF * 4)]  # staccato
    model = FakeModel(seed=3)

    def durations(**keys: float) -> float:
        answers = [continue_notes(model, PRESET.replace(**keys), prompt, n_notes=24, seed=seed)
                   for seed in range(4)]
        return float(np.mean([n.duration_s for a in answers for n in a]))

    def gaps(**keys: float) -> list[float]:
        answers = [continue_notes(model, PRESET.replace(**keys), prompt, n_notes=24, seed=seed)
                   for seed in range(4)]
        return [b.onset_s - a.onset_s for ans in answers for a, b in zip(ans, ans[1:])]

    assert durations(follow=0.9, follow_duration=0.0) > 2 * durations(follow=0.9)
    on_pulse = float(np.mean([abs(g - 0.25) < 0.02 for g in gaps(follow=0.9, follow_duration=0.0)]))
    assert on_pulse > float(np.mean([abs(g - 0.25) < 0.02 for g in gaps(follow=0.0)])) + 0.3


def test_with_duration_feedback_own_the_model_hears_its_own_lengths_while_the_notes_take_the_players():
    prompt = [Note(p, 80, i * 0.25, 0.05) for i, p in enumerate(MOTIF * 4)]  # staccato

    def answer(feedback: str, seed: int) -> tuple[list[float], list[float]]:
        """(the played notes' durations, the DUR bins the model was fed during the answer), seconds."""
        model = FakeModel(seed=3)
        gen = Generator(model, PRESET.replace(follow=0.9, duration_feedback=feedback), seed=seed)
        for note in prompt:
            gen.prime(note)
        start = len(model.tokens)
        gen.begin_response(prompt[-1].onset_s + 0.25)
        played = [gen.next_note().duration_s for _ in range(24)]
        gen.next_note()  # feeds the last note's DUR
        heard = [tokens.DURATION_BINS_S[t - tokens.DUR_OFFSET] for t in model.tokens[start:]
                 if t >= tokens.DUR_OFFSET]
        return played, heard[:24]

    runs = {feedback: [answer(feedback, seed) for seed in range(4)] for feedback in ("played", "own")}
    mean = {(f, i): float(np.mean([x for run in runs[f] for x in run[i]])) for f in runs for i in (0, 1)}
    for played, heard in runs["played"]:  # the model hears exactly what played
        assert np.allclose(played, heard, rtol=0.2, atol=0.011)
    assert mean["own", 0] < 1.5 * mean["played", 0]  # the notes still take the player's lengths
    assert mean["own", 1] > 2 * mean["own", 0]  # ... the model hears longer notes of its own
    with pytest.raises(PresetError, match="duration_feedback"):
        PRESET.replace(duration_feedback="mine")
