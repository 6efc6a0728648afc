"""Issue 14: a generated note got cheaper; the notes drawn for a seed did not change.

Each test runs the same performance through today's :class:`~livegen.generation.Generator`
and through one whose model steps, follower mix and draws are the code before
issue 14 (``note_cost_reference.py``), and compares the notes (and the logits)
exactly: every shipped preset, with the follower off, at 0.5 and at 1.
"""

from __future__ import annotations

import numpy as np
import pytest
from fakes import FakeModel
from note_cost_reference import old_generator

from livegen.bench.steps import PHRASE
from livegen.generation import Generator
from livegen.model import Model, default_model_path
from livegen.notes import Note
from livegen.presets import list_presets, load_preset

SEEDS = (0, 1)
ANSWER_NOTES = 20


#: The shipped float32 graph: its style rows are independent, as the reference's one-style
#: steps need (the int8 default.onnx quantizes its activations over the batch of styles).
FLOAT_MODEL = default_model_path().with_name("default.fp32.onnx")


@pytest.fixture(scope="module")
def model() -> Model:
    if not FLOAT_MODEL.is_file():
        pytest.skip("no shipped float32 model in this checkout")
    return Model.load(FLOAT_MODEL, threads=1)


def perform(generator: Generator) -> tuple[list, np.ndarray]:
    """Prime a phrase 3 times, answer twice from the snapshot, learn one more note, answer again."""
    for k in range(3):
        for pitch, velocity, onset_s, duration_s in PHRASE:
            generator.prime(Note(pitch, velocity, onset_s + 4.0 * k, duration_s))
    primed = generator._logits.copy()
    snapshot, answers = generator.snapshot(), []
    for _ in range(2):
        generator.restore(snapshot)
        generator.begin_response(12.6)
        answers.append([generator.next_note(avoid={69} if i % 2 else ()) for i in range(ANSWER_NOTES)])
    generator.restore(snapshot)
    generator.prime(Note(64, 70, 12.2, 0.3))  # the follower learns again: its answers change
    generator.begin_response(13.0)
    answers.append([generator.next_note() for _ in range(ANSWER_NOTES)])
    return answers, primed


@pytest.mark.parametrize("follow", [None, 0.5, 1.0])
@pytest.mark.parametrize("name", sorted(list_presets()))
def test_the_notes_for_a_seed_are_those_of_the_code_before(model, name, follow):
    preset = load_preset(name)
    if follow is not None:
        preset = preset.replace(follow=follow)
    for seed in SEEDS:
        new_notes, new_logits = perform(Generator(model, preset, seed=seed))
        old_notes, old_logits = perform(old_generator(model, preset, seed=seed))
        assert np.array_equal(new_logits, old_logits)  # bit for bit
        assert new_notes == old_notes


@pytest.mark.parametrize("contrast", [(), ("folk",), ("folk", "modern")])
def test_a_model_without_batched_styles_draws_the_same_notes_too(contrast):
    preset = load_preset("classical").replace(style="romantic", style_contrast=contrast, follow=0.5)
    new_notes, new_logits = perform(Generator(FakeModel(seed=3), preset, seed=4))
    old_notes, old_logits = perform(old_generator(FakeModel(seed=3), preset, seed=4))
    assert np.array_equal(new_logits, old_logits)
    assert new_notes == old_notes
