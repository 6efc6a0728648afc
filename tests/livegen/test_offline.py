"""Tests of livegen.offline: continue_notes answers a phrase as the daemon would."""

from __future__ import annotations

import pytest
from fakes import FakeModel
from rig import (
    PHRASE,
    PRESET,
)

from livegen.errors import ModelError
from livegen.notes import Note
from livegen.offline import continue_notes


def test_continue_notes_is_deterministic_and_starts_where_the_prompt_ends():
    first = continue_notes(FakeModel(), PRESET, PHRASE, n_notes=12, seed=5, gap_s=0.1)
    again = continue_notes(FakeModel(), PRESET, PHRASE, n_notes=12, seed=5, gap_s=0.1)
    other = continue_notes(FakeModel(), PRESET, PHRASE, n_notes=12, seed=6, gap_s=0.1)
    assert first == again and first != other
    assert 1 <= len(first) <= 12
    prompt_end = max(n.end_s for n in PHRASE)
    assert first[0].onset_s == pytest.approx(prompt_end + 0.1)
    onsets = [n.onset_s for n in first]
    assert onsets == sorted(onsets)
    assert all(n.end_s <= first[0].onset_s + PRESET.answer.max_seconds + 1e-9 for n in first)


def test_continue_notes_respects_max_seconds_and_default_count():
    preset = PRESET.replace(max_seconds=0.5, max_notes=1000)
    notes = continue_notes(FakeModel(time_bias=0.0), preset, PHRASE, seed=0)
    start = max(n.end_s for n in PHRASE)
    assert notes and all(start <= n.onset_s and n.end_s <= start + 0.5 + 1e-9 for n in notes)
    assert len(continue_notes(FakeModel(), PRESET.replace(max_seconds=600), [], seed=0)) == 16


def test_continue_notes_uses_only_the_context_window():
    preset = PRESET.replace(context_notes=2)
    long_prompt = [Note(40 + i, 80, 0.1 * i, 0.05) for i in range(20)] + PHRASE[-2:]
    a = continue_notes(FakeModel(), preset, long_prompt, n_notes=6, seed=1)
    b = continue_notes(FakeModel(), preset, sorted(PHRASE[-2:], key=lambda n: n.onset_s) +
                       [Note(59, 80, 1.7, 0.1)], n_notes=6, seed=1)
    window = sorted(long_prompt, key=lambda n: (n.onset_s, n.pitch))[-2:]
    c = continue_notes(FakeModel(), preset, window, n_notes=6, seed=1)
    assert a == c
    assert b != a


@pytest.mark.parametrize("kwargs", [{"n_notes": 0}, {"gap_s": -1.0}, {"gap_s": float("nan")}])
def test_continue_notes_bad_arguments_raise_value_error(kwargs):
    with pytest.raises(ValueError):
        continue_notes(FakeModel(), PRESET, PHRASE, **kwargs)


def test_continue_notes_unknown_style_raises_model_error():
    with pytest.raises(ModelError):
        continue_notes(FakeModel(), PRESET.replace(style="jazz"), PHRASE)


def test_with_quantize_the_answer_keeps_the_prompts_pulse():
    beat_s, offset_s = 0.48, 0.13  # 125 BPM, the first beat 130 ms in
    prompt = [Note(60 + (i % 5), 80, offset_s + i * beat_s / 2, 0.2) for i in range(24)]
    step_s = beat_s / 4  # a sixteenth

    def off_grid(notes):
        return [n.onset_s for n in notes
                if abs((n.onset_s - offset_s) / step_s - round((n.onset_s - offset_s) / step_s)) > 0.02]

    free = continue_notes(FakeModel(), PRESET, prompt, n_notes=24, seed=1)
    snapped = continue_notes(FakeModel(), PRESET.replace(quantize="1/16"), prompt, n_notes=24, seed=1)
    assert off_grid(free)  # the model alone drifts off the pulse ...
    assert snapped and not off_grid(snapped)  # ... placed as the daemon places it, it keeps it
