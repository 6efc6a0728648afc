"""Tests of livegen.sampling."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from fakes import FakeModel
from hypothesis import given, settings
from hypothesis import strategies as st

from livegen.errors import ModelError, PresetError
from livegen.generation import Generator
from livegen.guidance import guide_logits
from livegen.keys import KEY_MIN_CORRELATION, estimate_key
from livegen.notes import Note
from livegen.offline import continue_notes
from livegen.presets import Preset
from livegen.sampling import PALETTE_FLOOR, REGISTER_SLOPE, Sampler
from livegen.sections import SamplingConfig
from livegen.tokens import (
    DUR_OFFSET,
    DURATION_BINS_S,
    KIND_MASKS,
    PITCH_OFFSET,
    VOCAB_SIZE,
    Kind,
    token_kind,
)

KINDS = (Kind.SHIFT, Kind.PITCH, Kind.VEL, Kind.DUR)


def _sampler(temperature: float, top_p: float, pitch_low: int, pitch_high: int, seed=None, *,
             context_notes: int = 50, **settings) -> Sampler:
    """A sampler of these settings (the ``sampling`` section's other keys as keywords)."""
    config = SamplingConfig(temperature=temperature, top_p=top_p, pitch_low=pitch_low,
                            pitch_high=pitch_high, **settings)
    return Sampler(config, seed, context_notes=context_notes)


def random_logits(seed: int, scale: float = 3.0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(0, scale, VOCAB_SIZE)).astype(np.float32)


@pytest.mark.parametrize("top_p", [1.0, 0.9, 0.3])
def test_grammar_and_range_masks_hold_over_many_draws(top_p):
    sampler = _sampler(1.2, top_p, 48, 60, seed=1, max_duration_s=0.5)
    for i in range(300):
        logits = random_logits(i)
        for kind in KINDS:
            token = sampler.sample(logits, kind)
            assert token_kind(token) == kind
            if kind == Kind.PITCH:
                assert 48 <= token - PITCH_OFFSET <= 60
            if kind == Kind.DUR:
                assert DURATION_BINS_S[token - DUR_OFFSET] <= 0.5 + 1e-9


def test_masked_tokens_never_drawn_even_when_they_dominate():
    logits = np.zeros(VOCAB_SIZE, np.float32)
    logits[PITCH_OFFSET + 100] = 50.0  # out of range, overwhelmingly likely
    logits[~KIND_MASKS[Kind.PITCH]] = 100.0  # every other kind even more so
    sampler = _sampler(1.0, 1.0, 40, 41, seed=0)
    draws = {sampler.sample(logits, Kind.PITCH) - PITCH_OFFSET for _ in range(200)}
    assert draws == {40, 41}


def test_seeded_sampler_is_deterministic():
    logits = [random_logits(i) for i in range(50)]
    first = _sampler(0.9, 0.95, 21, 108, seed=7)
    second = _sampler(0.9, 0.95, 21, 108, seed=7)
    a = [first.sample(x, KINDS[i % 4]) for i, x in enumerate(logits)]
    b = [second.sample(x, KINDS[i % 4]) for i, x in enumerate(logits)]
    assert a == b
    other = _sampler(0.9, 0.95, 21, 108, seed=8)
    assert a != [other.sample(x, KINDS[i % 4]) for i, x in enumerate(logits)]


@pytest.mark.parametrize("kind", KINDS)
def test_tiny_top_p_is_argmax(kind):
    sampler = _sampler(1.0, 1e-9, 0, 127, seed=3)
    for i in range(20):
        logits = random_logits(100 + i)
        masked = np.where(KIND_MASKS[kind], logits, -np.inf)
        assert sampler.sample(logits, kind) == int(np.argmax(masked))


def test_low_temperature_concentrates_and_high_temperature_spreads():
    logits = random_logits(5, scale=1.0)
    cold = _sampler(0.05, 1.0, 0, 127, seed=0)
    hot = _sampler(5.0, 1.0, 0, 127, seed=0)
    cold_draws = {cold.sample(logits, Kind.PITCH) for _ in range(200)}
    hot_draws = {hot.sample(logits, Kind.PITCH) for _ in range(200)}
    assert len(cold_draws) <= 3 < len(hot_draws)


def test_top_p_limits_the_candidates_to_the_nucleus():
    logits = np.full(VOCAB_SIZE, -10.0, np.float32)
    logits[PITCH_OFFSET + 60] = 5.0
    logits[PITCH_OFFSET + 64] = 4.9
    logits[PITCH_OFFSET + 67] = 0.0  # a small tail
    sampler = _sampler(1.0, 0.9, 0, 127, seed=0)
    draws = {sampler.sample(logits, Kind.PITCH) - PITCH_OFFSET for _ in range(500)}
    assert draws == {60, 64}


def test_non_finite_logits_fall_back_to_uniform_over_allowed():
    sampler = _sampler(1.0, 0.9, 60, 62, seed=0)
    logits = np.full(VOCAB_SIZE, np.nan, np.float32)
    draws = {sampler.sample(logits, Kind.PITCH) - PITCH_OFFSET for _ in range(100)}
    assert draws == {60, 61, 62}
    logits = np.full(VOCAB_SIZE, -np.inf, np.float32)
    assert token_kind(sampler.sample(logits, Kind.VEL)) == Kind.VEL


def test_max_duration_below_shortest_bin_keeps_the_shortest():
    sampler = _sampler(1.0, 1.0, 0, 127, seed=0, max_duration_s=0.001)
    assert sampler.allowed[Kind.DUR].tolist() == [DUR_OFFSET]


def test_from_preset_uses_the_preset_fields():
    preset = Preset(name="t").replace(
        temperature=0.5, top_p=0.8, pitch_low=30, pitch_high=90, max_duration_s=1.0
    )
    sampler = Sampler.from_preset(preset, seed=1)
    assert sampler.config is preset.sampling and sampler.temperature == 0.5
    assert (sampler.config.top_p, sampler.config.pitch_low, sampler.config.pitch_high,
            sampler.config.max_duration_s) == (0.8, 30, 90, 1.0)
    assert {int(t) - PITCH_OFFSET for t in sampler.allowed[Kind.PITCH]} == set(range(30, 91))
    assert DURATION_BINS_S[sampler.allowed[Kind.DUR] - DUR_OFFSET].max() <= 1.0


def test_the_config_defaults_are_the_preset_defaults():
    assert Preset(name="d").sampling == SamplingConfig()
    assert SamplingConfig(temperature=1, max_duration_s=2).temperature == 1.0  # ints stored as floats
    assert isinstance(SamplingConfig(temperature=1).temperature, float)


def test_preset_error_is_still_a_value_error_for_sampler_callers():
    with pytest.raises(ValueError, match="top_p"):
        _sampler(1.0, 1.5, 0, 127)


# --- repetition guard -------------------------------------------------------------------------

def _two_pitch_logits(a: int, b: int) -> np.ndarray:
    """Only pitches ``a`` and ``b`` are possible, equally likely."""
    logits = np.full(VOCAB_SIZE, -np.inf, np.float32)
    logits[[PITCH_OFFSET + a, PITCH_OFFSET + b]] = 1.0
    return logits


@pytest.mark.parametrize(("uses", "temperature"), [(1, 1.0), (2, 1.0), (3, 0.6), (4, 1.4)])
def test_guard_lowers_the_odds_of_completing_a_used_pattern_by_the_stated_factor(uses, temperature):
    penalty, max_uses = 0.8, 2
    sampler = _sampler(temperature, 1.0, 0, 127, seed=11, repetition_penalty=penalty,
                      repetition_ngram=4, repetition_window=32, repetition_max=max_uses)
    for start in range(uses):  # the pattern (+2, +2, +1), at different heights, with gaps between
        for pitch in (40 + 12 * start, 42 + 12 * start, 44 + 12 * start, 45 + 12 * start, 100):
            sampler.remember(pitch)
    for pitch in (70, 72, 74):  # (+2, +2): 75 would complete the pattern once more
        sampler.remember(pitch)
    extra = max(uses - max_uses + 1, 0)
    assert sampler.repetition_penalties() == ({75: penalty * extra} if extra else {})
    draws = 20_000
    logits = _two_pitch_logits(75, 77)
    hits = sum(sampler.sample(logits, Kind.PITCH) == PITCH_OFFSET + 75 for _ in range(draws))
    odds = math.exp(-penalty * extra)  # against 77, whatever the temperature
    expected = odds / (1 + odds)
    assert abs(hits / draws - expected) < 4 * math.sqrt(expected * (1 - expected) / draws)


def _reference_penalties(pitches, ngram, window, max_uses, penalty):
    """Brute force: count every interval pattern in the last ``window`` pitches."""
    recent = list(pitches)[-window:]
    steps = [b - a for a, b in zip(recent, recent[1:])]
    patterns = Counter(tuple(steps[i:i + ngram - 1]) for i in range(len(steps) - ngram + 2))
    if len(recent) < ngram - 1:
        return {}
    prefix = tuple(steps[len(steps) - (ngram - 2):]) if ngram > 2 else ()
    return {recent[-1] + pattern[-1]: penalty * (uses - max_uses + 1)
            for pattern, uses in patterns.items()
            if pattern[:-1] == prefix and uses >= max_uses}


@settings(max_examples=150, deadline=None)
@given(pitches=st.lists(st.integers(58, 62), max_size=80), ngram=st.integers(2, 5),
       window=st.integers(5, 24), max_uses=st.integers(1, 3))
def test_guard_counts_match_a_brute_force_count_over_the_window(pitches, ngram, window, max_uses):
    sampler = _sampler(1.0, 1.0, 0, 127, repetition_penalty=1.5, repetition_ngram=ngram,
                      repetition_window=window, repetition_max=max_uses)
    for i, pitch in enumerate(pitches):
        sampler.remember(pitch)
        if i % 7 == 0 or i == len(pitches) - 1:
            assert sampler.repetition_penalties() == pytest.approx(
                _reference_penalties(pitches[:i + 1], ngram, window, max_uses, 1.5))


def test_penalty_zero_draws_exactly_as_an_unguarded_sampler():
    logits = [random_logits(i) for i in range(400)]
    loop = [60, 62, 64, 60] * 100
    plain = _sampler(0.9, 0.95, 21, 108, seed=5)
    off = _sampler(0.9, 0.95, 21, 108, seed=5, repetition_penalty=0.0, repetition_ngram=2,
                  repetition_window=8, repetition_max=1)
    on = _sampler(0.9, 0.95, 21, 108, seed=5, repetition_penalty=3.0, repetition_ngram=2,
                 repetition_window=8, repetition_max=1)
    draws: dict[str, list[int]] = {"plain": [], "off": [], "on": []}
    for x, pitch in zip(logits, loop):
        for name, sampler in (("plain", plain), ("off", off), ("on", on)):
            draws[name].append(sampler.sample(x, KINDS[len(draws[name]) % 4]))
            sampler.remember(pitch)
    assert draws["off"] == draws["plain"]
    assert draws["on"] != draws["plain"]  # the test can tell a guard that is on


def test_guard_penalises_pitches_outside_the_range_harmlessly():
    sampler = _sampler(1.0, 1.0, 60, 60, seed=0, repetition_penalty=5.0, repetition_ngram=2,
                      repetition_window=4, repetition_max=1)
    for pitch in (60, 60, 60):
        sampler.remember(pitch)
    assert sampler.repetition_penalties() == {60: 10.0}  # (0,) used twice: the only pitch
    assert sampler.sample(random_logits(0), Kind.PITCH) == PITCH_OFFSET + 60


# --- key mask (key estimation: test_keys.py) ---------------------------------------------------------------

def _cadence(tonic_pitch: int, minor: bool) -> list[Note]:
    """I-IV-V-I (i-iv-V-i in minor) as block chords, 0.5 s each, the last one held."""
    third = 3 if minor else 4
    chords = [(0, third, 7), (5, 5 + third, 12), (7, 11, 14), (0, third, 7)]
    return [Note(tonic_pitch + step, 80, 0.5 * i, 1.5 if i == 3 else 0.5)
            for i, chord in enumerate(chords) for step in chord]


A = 9  # pitch class of A


@pytest.mark.parametrize(("notes", "name"), [
    ([Note(p, 80, 0.25 * i, 0.25) for i, p in enumerate([60, 62, 64, 65, 67, 69, 71, 72])], "C major"),
    ([Note(p, 80, 0.25 * i, 0.25) for i, p in enumerate([57, 59, 60, 62, 64, 65, 68, 69])], "A minor"),
    ([Note(p, 80, 0.25 * i, 0.25) for i, p in enumerate([66, 68, 70, 71, 73, 75, 77, 78])], "F# major"),
    (_cadence(60, minor=False), "C major"),
    (_cadence(57, minor=True), "A minor"),
    (_cadence(54, minor=False), "F# major"),
])
def test_the_sampler_key_is_the_estimate_of_its_context(notes, name):
    sampler = _sampler(1.0, 1.0, 0, 127, key_mask="soft")
    sampler.set_context(notes)
    assert sampler.key == estimate_key([n.pitch for n in notes], [n.duration_s for n in notes])
    assert sampler.key.name == name


SCALE_CONTEXTS = {
    (tonic, minor): [Note(tonic + 48 + step, 80, 0.2 * i, 0.2 + 0.3 * (step == 0))
                     for i, step in enumerate((0, 2, 3 if minor else 4, 5, 7, 8 if minor else 9,
                                               11, 12, 7, 0))]
    for tonic in range(12) for minor in (False, True)}


@settings(max_examples=80, deadline=None)
@given(context=st.sampled_from(sorted(SCALE_CONTEXTS)), seed=st.integers(0, 2**16),
       top_p=st.sampled_from([1.0, 0.9]), low=st.integers(0, 100), span=st.integers(0, 27))
def test_strict_key_mask_never_draws_an_out_of_key_pitch(context, seed, top_p, low, span):
    high = min(low + span, 127)
    sampler = _sampler(1.3, top_p, low, high, seed=seed, key_mask="strict")
    sampler.set_context(SCALE_CONTEXTS[context])
    key = sampler.key
    assert key is not None and key.correlation >= KEY_MIN_CORRELATION
    in_key = [p for p in range(low, high + 1) if p % 12 in key.pitch_classes]
    rng = np.random.default_rng(seed)
    for _ in range(30):
        logits = rng.normal(0, 3, VOCAB_SIZE).astype(np.float32)
        logits[PITCH_OFFSET + rng.integers(low, high + 1)] = 40.0  # may be out of key: still never
        pitch = sampler.sample(logits, Kind.PITCH) - PITCH_OFFSET
        assert low <= pitch <= high
        if in_key:
            assert pitch % 12 in key.pitch_classes
        # never masks every pitch: with none in range, any pitch of the range is drawn


def test_strict_key_mask_steps_aside_when_every_in_key_pitch_is_excluded():
    sampler = _sampler(1.0, 1.0, 60, 62, seed=0, key_mask="strict")
    sampler.set_context(SCALE_CONTEXTS[(0, False)])  # C major: 60 and 62 in key, 61 not
    logits = np.zeros(VOCAB_SIZE, np.float32)
    logits[[PITCH_OFFSET + 60, PITCH_OFFSET + 62]] = -np.inf  # e.g. held by the performer
    assert {sampler.sample(logits, Kind.PITCH) - PITCH_OFFSET for _ in range(20)} == {61}


def test_soft_key_mask_lowers_out_of_key_odds_by_the_penalty():
    sampler = _sampler(0.7, 1.0, 0, 127, seed=3, key_mask="soft", key_penalty=1.2)
    sampler.set_context(SCALE_CONTEXTS[(0, False)])
    logits = _two_pitch_logits(60, 61)  # C in key, C# not
    draws = 20_000
    hits = sum(sampler.sample(logits, Kind.PITCH) == PITCH_OFFSET + 61 for _ in range(draws))
    odds = math.exp(-1.2)
    expected = odds / (1 + odds)
    assert abs(hits / draws - expected) < 4 * math.sqrt(expected * (1 - expected) / draws)


def test_palette_mask_weights_pitch_classes_by_their_share_of_the_context():
    # C held 1 s, G 0.5 s, no C#: against equal logits, G's odds vs C are 0.5 ** w and
    # C#'s are PALETTE_FLOOR ** w (w = key_penalty, after the temperature)
    sampler = _sampler(1.0, 1.0, 0, 127, seed=5, key_mask="palette", key_penalty=0.5)
    sampler.set_context([Note(60, 80, 0.0, 1.0), Note(67, 80, 1.0, 0.5), Note(72, 80, 1.5, 0.25)])
    logits = np.full(VOCAB_SIZE, -np.inf, np.float32)
    logits[[PITCH_OFFSET + 60, PITCH_OFFSET + 67, PITCH_OFFSET + 61]] = 0.0
    draws = 30_000
    counts = Counter(sampler.sample(logits, Kind.PITCH) - PITCH_OFFSET for _ in range(draws))
    weights = {60: 1.0, 67: (0.5 / 1.25) ** 0.5, 61: PALETTE_FLOOR ** 0.5}  # C: 1.25 s in all
    total = sum(weights.values())
    for pitch, weight in weights.items():
        expected = weight / total
        assert abs(counts[pitch] / draws - expected) < 4 * math.sqrt(expected * (1 - expected) / draws)


def test_palette_mask_with_weight_zero_draws_as_without_it():
    notes = [Note(60 + (i * 5) % 12, 80, 0.25 * i, 0.2) for i in range(20)]
    logits = np.random.default_rng(1).normal(size=VOCAB_SIZE).astype(np.float32)
    draws = []
    for mask in ("off", "palette"):
        sampler = _sampler(0.9, 0.95, 21, 108, seed=7, key_mask=mask, key_penalty=0.0)
        sampler.set_context(notes)
        draws.append([sampler.sample(logits, Kind.PITCH) for _ in range(200)])
    assert draws[0] == draws[1]


def test_register_window_walls_off_pitches_beyond_the_players_range():
    # the player's range 40-50, window 5: 35-55 untouched; 34 and 57 lose 1 and 2 slopes
    sampler = _sampler(1.0, 1.0, 0, 127, seed=3, register_window=5)
    sampler.set_context([Note(40 + (i * 3) % 11, 80, 0.25 * i, 0.2) for i in range(20)])
    logits = np.full(VOCAB_SIZE, -np.inf, np.float32)
    logits[[PITCH_OFFSET + 45, PITCH_OFFSET + 34, PITCH_OFFSET + 57]] = 0.0
    draws = 30_000
    counts = Counter(sampler.sample(logits, Kind.PITCH) - PITCH_OFFSET for _ in range(draws))
    weights = {45: 1.0, 34: math.exp(-REGISTER_SLOPE), 57: math.exp(-2 * REGISTER_SLOPE)}
    total = sum(weights.values())
    for pitch, weight in weights.items():
        expected = weight / total
        assert abs(counts[pitch] / draws - expected) < 4 * math.sqrt(expected * (1 - expected) / draws)


def test_register_window_follows_the_player_and_is_off_at_zero():
    logits = np.zeros(VOCAB_SIZE, np.float32)
    bass = [Note(30 + i % 8, 80, 0.25 * i, 0.2) for i in range(20)]
    for window, inside in ((0, False), (7, True)):
        sampler = _sampler(1.0, 1.0, 21, 108, seed=4, register_window=window)
        sampler.set_context(bass)
        pitches = [sampler.sample(logits, Kind.PITCH) - PITCH_OFFSET for _ in range(400)]
        share = np.mean([23 <= p <= 44 for p in pitches])
        assert (share > 0.8) == inside, share  # off: 22 of 88 pitches, about 0.25
        sampler.add_context(Note(90, 80, 5.0, 0.2))  # the player reaches up: the window widens
        assert sampler._key_bias is None or sampler._key_bias[90 - 21] == 0.0


@pytest.mark.parametrize("value", [-1, 49, 2.5, "wide"])
def test_register_window_out_of_range_names_the_key(value):
    with pytest.raises(PresetError, match="register_window"):
        SamplingConfig(register_window=value)


def test_no_key_mask_without_a_clear_key():
    sampler = _sampler(1.0, 1.0, 60, 71, seed=0, key_mask="strict")
    assert sampler.key is None  # no context yet: nothing masked
    logits = _two_pitch_logits(61, 63)
    assert {sampler.sample(logits, Kind.PITCH) - PITCH_OFFSET for _ in range(50)} == {61, 63}
    sampler.set_context([Note(p, 80, 0.1 * i, 0.1) for i, p in enumerate(range(60, 72))])
    assert {sampler.sample(logits, Kind.PITCH) - PITCH_OFFSET for _ in range(50)} == {61, 63}


def test_context_window_follows_context_notes():
    sampler = _sampler(1.0, 1.0, 0, 127, key_mask="soft", context_notes=10)
    for note in SCALE_CONTEXTS[(6, False)] + SCALE_CONTEXTS[(0, False)]:
        sampler.add_context(note)
    assert (sampler.key.tonic, sampler.key.mode) == (0, "major")  # F# major has left the window


def test_with_preset_keeps_the_stream_and_the_memory():
    preset = Preset(name="a").replace(
        repetition_penalty=1.0, repetition_ngram=2, repetition_window=8, repetition_max=1, key_mask="soft"
    )
    sampler = Sampler.from_preset(preset, seed=4)
    sampler.set_context(SCALE_CONTEXTS[(A, True)])
    for pitch in (60, 62, 64):
        sampler.remember(pitch)
    other = sampler.with_preset(preset.replace(temperature=1.3))
    assert other.rng is sampler.rng and other.temperature == 1.3
    line = [n.pitch for n in SCALE_CONTEXTS[(A, True)]] + [60, 62, 64]
    expected = _reference_penalties(line, 2, 8, 1, 1.0)
    assert expected[66] == 2.0  # (+2) used twice in the last 8 notes
    assert other.repetition_penalties() == sampler.repetition_penalties() == expected
    assert other.key == sampler.key


@pytest.mark.parametrize("context_notes", [0, 513, 2.5])
def test_the_key_context_length_is_checked_by_the_preset(context_notes):
    with pytest.raises(PresetError, match="context_notes"):
        Preset(name="c", context_notes=context_notes)


# --- what the Generator tells the sampler ------------------------------------------------------

def _phrase() -> list[Note]:
    line = [62, 64, 66, 67, 69, 67, 66, 64, 62, 61, 62, 66, 69, 74, 73, 74]  # D major
    return [Note(p, 80, 0.3 * i, 0.25 + 0.3 * (p % 12 == 2)) for i, p in enumerate(line)]


def test_generator_feeds_primed_and_generated_notes_and_restore_forgets_the_response():
    preset = Preset(name="g").replace(
        repetition_penalty=1.0, repetition_ngram=2, repetition_window=12, repetition_max=1, key_mask="soft"
    )
    generator = Generator(FakeModel(seed=2), preset, seed=0)
    phrase = _phrase()
    for note in phrase:
        generator.prime(note)
    primed = [n.pitch for n in phrase]
    assert generator.sampler.key == estimate_key(primed, [n.duration_s for n in phrase])
    assert generator.sampler.key.name == "D major"
    before = _reference_penalties(primed, 2, 12, 1, 1.0)
    assert before and generator.sampler.repetition_penalties() == before
    snap = generator.snapshot()
    generator.begin_response(phrase[-1].end_s)
    played = [generator.next_note().pitch for _ in range(10)]
    assert generator.sampler.repetition_penalties() == _reference_penalties(
        primed + played, 2, 12, 1, 1.0)
    generator.set_preset(preset.replace(temperature=1.2))  # a live change keeps the memory
    assert generator.sampler.repetition_penalties() == _reference_penalties(
        primed + played, 2, 12, 1, 1.0)
    generator.restore(snap)
    assert generator.sampler.repetition_penalties() == before
    generator.reset()
    assert generator.sampler.key is None and generator.sampler.repetition_penalties() == {}


def test_generator_with_guards_off_draws_exactly_as_without_them():
    plain = Preset(name="p")
    off = plain.replace(repetition_ngram=2, repetition_window=8, repetition_max=1, key_penalty=5.0)
    on = off.replace(repetition_penalty=4.0, key_mask="strict")
    runs = {name: continue_notes(FakeModel(seed=3), preset, _phrase(), n_notes=48, seed=9)
            for name, preset in (("plain", plain), ("off", off), ("on", on))}
    assert runs["off"] == runs["plain"]
    assert runs["on"] != runs["plain"]


# --- style guidance ------------------------------------------------------------------------------

def test_guide_logits_extrapolates_away_from_the_style_mean():
    logits = np.array([[1.0, 0.0, -1.0], [0.0, 0.0, 0.0], [2.0, 3.0, 1.0]], np.float32)
    assert np.array_equal(guide_logits(logits, 0, 0.0), logits[0])
    mean = logits.mean(axis=0)
    np.testing.assert_allclose(guide_logits(logits, 0, 1.5), logits[0] + 1.5 * (logits[0] - mean))
    # a constant added to one style's logits (its softmax normaliser) changes no probability
    shifted = logits.copy()
    shifted[2] += 7.0

    def softmax(x):
        e = np.exp(x - x.max())
        return e / e.sum()

    np.testing.assert_allclose(softmax(guide_logits(shifted, 0, 2.0)),
                               softmax(guide_logits(logits, 0, 2.0)), rtol=1e-5)


def test_guide_logits_against_named_styles_uses_their_mean_only():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(4, 9)).astype(np.float32)
    np.testing.assert_allclose(guide_logits(logits, 1, 2.0, (2,)), logits[1] + 2.0 * (logits[1] - logits[2]),
                               rtol=1e-6)
    pair = logits[[0, 3]].mean(axis=0)
    np.testing.assert_allclose(guide_logits(logits, 1, 0.5, [0, 3]), logits[1] + 0.5 * (logits[1] - pair),
                               rtol=1e-6)
    assert np.array_equal(guide_logits(logits, 1, 1.0, ()), guide_logits(logits, 1, 1.0))
    assert not np.allclose(guide_logits(logits, 1, 1.0, (2,)), guide_logits(logits, 1, 1.0))


def test_generator_guides_away_from_the_preset_style_contrast():
    model = FakeModel(seed=6)

    def every_style(notes):
        rows = []
        for style in range(len(model.styles)):
            state = model.initial_state()
            for token in generator_tokens(notes):
                logits, state = model.step(token, state, style)
            rows.append(logits)
        return np.stack(rows)

    phrase = _phrase()[:3]
    contrast = Generator(
        model,
        Preset(name="c").replace(style="romantic", style_guidance=1.0, style_contrast=("classical",)),
        seed=0,
    )
    for note in phrase:
        contrast.prime(note)
    every = every_style(phrase)
    romantic, classical = model.style_id("romantic"), model.style_id("classical")
    np.testing.assert_allclose(contrast._logits, every[romantic] + (every[romantic] - every[classical]),
                               rtol=1e-5, atol=1e-6)
    # switching presets live changes the reference (and the styles run: a rebuild); unknown names are refused
    contrast.set_preset(contrast.preset.replace(style_contrast=()))
    contrast.prime(_phrase()[3])
    np.testing.assert_allclose(contrast._logits, guide_logits(every_style(_phrase()[:4]), romantic, 1.0),
                               rtol=1e-5, atol=1e-6)
    with pytest.raises(ModelError, match="preset 'c': style_contrast: .*no style 'nowhere'"):
        contrast.set_preset(contrast.preset.replace(style_contrast=("nowhere",)))
    with pytest.raises(ModelError, match="nowhere"):
        Generator(
            model, Preset(name="x").replace(style="folk", style_guidance=1.0, style_contrast=("nowhere",))
        )


class _StyleLogModel(FakeModel):
    """Records the style of every step; logits of style i are those of a fixed model i."""

    def __init__(self) -> None:
        super().__init__(seed=4)
        self.styles_seen: list[int] = []

    def step(self, token, state, style):
        self.styles_seen.append(style)
        return super().step(token, state, style)


def test_generator_with_style_guidance_steps_every_style_and_samples_the_guided_logits():
    preset = Preset(name="g").replace(style="romantic", style_guidance=1.0)
    model = _StyleLogModel()
    generator = Generator(model, preset, seed=0)
    n_styles = len(model.styles)
    assert model.styles_seen == list(range(n_styles))  # BOS under every style
    for note in _phrase()[:4]:
        generator.prime(note)
    assert len(model.styles_seen) == n_styles * (1 + 4 * 4)
    # the logits it samples from: the guided mix of what each style's own sequence gives
    states = [model.initial_state() for _ in model.styles]
    rows = []
    for style in range(n_styles):
        state = states[style]
        for token in generator_tokens(_phrase()[:4]):
            logits, state = FakeModel.step(model, token, state, style)
        rows.append(logits)
    np.testing.assert_allclose(generator._logits, guide_logits(np.stack(rows), 1, 1.0), rtol=1e-5)
    snap = generator.snapshot()
    end_s = _phrase()[3].end_s
    generator.begin_response(end_s)
    first = [generator.next_note() for _ in range(6)]
    generator.sampler = Sampler.from_preset(preset, 0)  # the same draws again ...
    generator.restore(snap)  # ... from every style's state at the snapshot
    generator.begin_response(end_s)
    assert [generator.next_note() for _ in range(6)] == first


def generator_tokens(notes):
    """The tokens Generator.prime feeds for ``notes`` after BOS."""
    from livegen import tokens as tk
    out, clock = [tk.BOS], None
    for note in notes:
        shift = 0.0 if clock is None else note.onset_s - clock
        encoded = tk.encode_note(note, shift)
        out += list(encoded)
        shift_s = float(tk.SHIFT_BINS_S[encoded[0] - tk.SHIFT_OFFSET])
        clock = note.onset_s if clock is None else clock + shift_s
    return out


def test_style_guidance_changes_the_answer_and_zero_is_the_plain_generator():
    plain = Preset(name="p").replace(style="folk")
    runs = {w: continue_notes(FakeModel(seed=3), plain.replace(style_guidance=w), _phrase(),
                              n_notes=32, seed=9) for w in (0.0, 2.0)}
    assert runs[0.0] == continue_notes(FakeModel(seed=3), plain, _phrase(), n_notes=32, seed=9)
    assert runs[2.0] != runs[0.0]


def test_turning_style_guidance_on_live_rebuilds_from_the_history():
    model = FakeModel(seed=5)
    generator = Generator(model, Preset(name="p").replace(style="folk"), seed=0)
    for note in _phrase():
        generator.prime(note)
    generator.set_preset(generator.preset.replace(style_guidance=1.0))
    fresh = Generator(FakeModel(seed=5), Preset(name="p").replace(style="folk", style_guidance=1.0), seed=0)
    for note in _phrase():
        fresh.prime(note)
    np.testing.assert_allclose(generator._logits, fresh._logits, rtol=1e-6)
    generator.set_preset(generator.preset.replace(style_guidance=0.0))
    assert not hasattr(generator._state, "states")
