"""Tests of livegen.model: the ONNX step model, checked against this runtime when it loads."""

from __future__ import annotations

import numpy as np
import pytest
from test_cli import MODEL_STYLES, write_tiny_model  # tests/livegen is on sys.path

from livegen.errors import ModelError, VocabularyMismatchError
from livegen.model import Model, default_model_path
from livegen.tokens import BOS, VOCAB_SIZE, VOCAB_VERSION


@pytest.fixture(scope="module")
def model(tmp_path_factory) -> Model:
    return Model.load(write_tiny_model(tmp_path_factory.mktemp("model") / "tiny.onnx"))


def test_a_step_gives_one_row_of_logits_and_a_new_state(model):
    state = model.initial_state()
    logits, new_state = model.step(BOS, state, model.style_id(MODEL_STYLES[0]))
    assert logits.shape == (VOCAB_SIZE,) and logits.dtype == np.float32
    assert new_state.h.shape == state.h.shape and new_state.h.dtype == np.float32


def test_every_style_at_once_matches_one_style_at_a_time(model):
    rows, _ = model.step_styles(BOS, model.initial_style_states())
    for style in range(len(model.styles)):
        one, _ = model.step(BOS, model.initial_state(), style)
        np.testing.assert_allclose(rows[style], one, rtol=1e-6)


def test_an_unknown_style_names_the_models_styles(model):
    with pytest.raises(ModelError, match=", ".join(MODEL_STYLES)):
        model.style_id("polka")


def test_another_vocabulary_is_refused_naming_both_versions(tmp_path):
    path = write_tiny_model(tmp_path / "old.onnx", vocab_version=99)
    with pytest.raises(VocabularyMismatchError, match=f"v99 .* v{VOCAB_VERSION}"):
        Model.load(path)


def test_a_missing_or_foreign_file_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        Model.load(tmp_path / "nowhere.onnx")
    (tmp_path / "text.onnx").write_text("not a model")
    with pytest.raises(ModelError, match="not a loadable ONNX model"):
        Model.load(tmp_path / "text.onnx")


def test_the_shipped_model_loads():
    if not default_model_path().is_file():
        pytest.skip("no shipped model in this checkout")
    shipped = Model.load()
    assert shipped.styles and shipped.layers >= 1 and shipped.hidden >= 1
