"""Tests of livegen.sampling."""

from __future__ import annotations

import numpy as np
import pytest

from livegen.presets import Preset
from livegen.sampling import Sampler
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


def random_logits(seed: int, scale: float = 3.0) -> np.ndarray:
    return (np.random.default_rng(seed).normal(0, scale, VOCAB_SIZE)).astype(np.float32)


@pytest.mark.parametrize("top_p", [1.0, 0.9, 0.3])
def test_grammar_and_range_masks_hold_over_many_draws(top_p):
    sampler = Sampler(1.2, top_p, 48, 60, seed=1, max_duration_s=0.5)
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
    sampler = Sampler(1.0, 1.0, 40, 41, seed=0)
    draws = {sampler.sample(logits, Kind.PITCH) - PITCH_OFFSET for _ in range(200)}
    assert draws == {40, 41}


def test_seeded_sampler_is_deterministic():
    logits = [random_logits(i) for i in range(50)]
    first = Sampler(0.9, 0.95, 21, 108, seed=7)
    second = Sampler(0.9, 0.95, 21, 108, seed=7)
    a = [first.sample(x, KINDS[i % 4]) for i, x in enumerate(logits)]
    b = [second.sample(x, KINDS[i % 4]) for i, x in enumerate(logits)]
    assert a == b
    other = Sampler(0.9, 0.95, 21, 108, seed=8)
    assert a != [other.sample(x, KINDS[i % 4]) for i, x in enumerate(logits)]


@pytest.mark.parametrize("kind", KINDS)
def test_tiny_top_p_is_argmax(kind):
    sampler = Sampler(1.0, 1e-9, 0, 127, seed=3)
    for i in range(20):
        logits = random_logits(100 + i)
        masked = np.where(KIND_MASKS[kind], logits, -np.inf)
        assert sampler.sample(logits, kind) == int(np.argmax(masked))


def test_low_temperature_concentrates_and_high_temperature_spreads():
    logits = random_logits(5, scale=1.0)
    cold = Sampler(0.05, 1.0, 0, 127, seed=0)
    hot = Sampler(5.0, 1.0, 0, 127, seed=0)
    cold_draws = {cold.sample(logits, Kind.PITCH) for _ in range(200)}
    hot_draws = {hot.sample(logits, Kind.PITCH) for _ in range(200)}
    assert len(cold_draws) <= 3 < len(hot_draws)


def test_top_p_limits_the_candidates_to_the_nucleus():
    logits = np.full(VOCAB_SIZE, -10.0, np.float32)
    logits[PITCH_OFFSET + 60] = 5.0
    logits[PITCH_OFFSET + 64] = 4.9
    logits[PITCH_OFFSET + 67] = 0.0  # a small tail
    sampler = Sampler(1.0, 0.9, 0, 127, seed=0)
    draws = {sampler.sample(logits, Kind.PITCH) - PITCH_OFFSET for _ in range(500)}
    assert draws == {60, 64}


def test_non_finite_logits_fall_back_to_uniform_over_allowed():
    sampler = Sampler(1.0, 0.9, 60, 62, seed=0)
    logits = np.full(VOCAB_SIZE, np.nan, np.float32)
    draws = {sampler.sample(logits, Kind.PITCH) - PITCH_OFFSET for _ in range(100)}
    assert draws == {60, 61, 62}
    logits = np.full(VOCAB_SIZE, -np.inf, np.float32)
    assert token_kind(sampler.sample(logits, Kind.VEL)) == Kind.VEL


def test_max_duration_below_shortest_bin_keeps_the_shortest():
    sampler = Sampler(1.0, 1.0, 0, 127, seed=0, max_duration_s=0.001)
    assert sampler.allowed[Kind.DUR].tolist() == [DUR_OFFSET]


def test_from_preset_uses_the_preset_fields():
    preset = Preset(name="t", temperature=0.5, top_p=0.8, pitch_low=30, pitch_high=90,
                    max_duration_s=1.0)
    sampler = Sampler.from_preset(preset, seed=1)
    assert (sampler.temperature, sampler.top_p, sampler.pitch_low, sampler.pitch_high,
            sampler.max_duration_s) == (0.5, 0.8, 30, 90, 1.0)


@pytest.mark.parametrize("temperature", [0, -1.0, float("nan"), float("inf"), "1", True])
def test_bad_temperature_raises_value_error(temperature):
    with pytest.raises(ValueError, match="temperature"):
        Sampler(temperature, 0.9, 0, 127)


@pytest.mark.parametrize("top_p", [0, 1.5, -0.1, float("nan")])
def test_bad_top_p_raises_value_error(top_p):
    with pytest.raises(ValueError, match="top_p"):
        Sampler(1.0, top_p, 0, 127)


@pytest.mark.parametrize("low, high", [(-1, 60), (60, 128), (70, 60), (1.5, 60)])
def test_bad_pitch_range_raises_value_error(low, high):
    with pytest.raises(ValueError, match="pitch_low"):
        Sampler(1.0, 0.9, low, high)


@pytest.mark.parametrize("max_duration_s", [0, -1.0, float("nan")])
def test_bad_max_duration_raises_value_error(max_duration_s):
    with pytest.raises(ValueError, match="max_duration_s"):
        Sampler(1.0, 0.9, 0, 127, max_duration_s=max_duration_s)
