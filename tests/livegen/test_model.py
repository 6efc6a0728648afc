"""Tests of livegen.model: the ONNX step model, checked against this runtime when it loads."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from test_cli import MODEL_STYLES, packaged_tiny_models, write_tiny_model  # tests/livegen is on sys.path

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


@pytest.mark.parametrize("batched", [True, False])
def test_some_styles_at_once_match_those_styles_one_at_a_time(model, batched):
    """Issue 14: guidance against one style steps two rows, not every style."""
    styles = (4, 1)
    model.batched = batched  # False: the fallback for graphs exported with batch 1
    try:
        state = model.initial_style_states(styles)
        assert state.h.shape[1] == 2
        rows, new = model.step_styles(BOS, state, styles)
        rows, new = model.step_styles(7, new, styles)
    finally:
        model.batched = True
    assert rows.shape == (2, VOCAB_SIZE) and new.h.shape == state.h.shape
    for row, style in enumerate(styles):
        _, one = model.step(BOS, model.initial_state(), style)
        one, _ = model.step(7, one, style)
        np.testing.assert_array_equal(rows[row], one)


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


def _with_metadata(source, path, text):
    """A copy of the model at ``source`` whose ``livegen`` metadata is ``text``."""
    onnx = pytest.importorskip("onnx")
    proto = onnx.load(str(source))
    for entry in proto.metadata_props:
        if entry.key == "livegen":
            entry.value = text
    onnx.save(proto, str(path))
    return path


@pytest.mark.parametrize(("change", "message"), [
    (lambda meta: [meta], "must be a JSON object (received a list)"),
    (lambda meta: {**meta, "styles": "romantic"}, "'styles' must be a non-empty list of names"),
    (lambda meta: {**meta, "state": {"layers": "two", "hidden": 8}}, "integer 'layers' and 'hidden'"),
    (lambda meta: {k: v for k, v in meta.items() if k != "state"}, "integer 'layers' and 'hidden'"),
])
def test_bad_metadata_is_a_model_error_naming_what_is_wrong(tmp_path, change, message):
    source = write_tiny_model(tmp_path / "good.onnx")
    meta = Model.load(source).metadata
    path = _with_metadata(source, tmp_path / "bad.onnx", json.dumps(change(meta)))
    with pytest.raises(ModelError, match=re.escape(message)):
        Model.load(path)


def test_a_truncated_copy_guard_is_a_model_error(tmp_path):
    from livegen.copyguard import CopyGuard, guard_path

    path = write_tiny_model(tmp_path / "tiny.onnx")
    guard = CopyGuard(np.arange(100, dtype=np.uint32), 13).save(guard_path(path))
    guard.write_bytes(guard.read_bytes()[:40])
    with pytest.raises(ModelError, match="not a livegen copy guard"):
        Model.load(path)


def test_each_preset_plays_with_its_own_model_loaded_once(tmp_path, monkeypatch):
    from livegen.model import ModelSet
    from livegen.presets import Preset

    packaged = packaged_tiny_models(tmp_path, monkeypatch)
    models = ModelSet()
    plain, own = Preset("a"), Preset("b", model="baroque")
    assert models(plain).path == packaged / "default.onnx"
    assert models(own).path == packaged / "baroque.onnx"
    assert models(own) is models(own)  # loaded once
    path = tmp_path / "mine.onnx"
    write_tiny_model(path)
    assert models(Preset("c", model=str(path))).path == path
    every = ModelSet(path)  # --model: one model for every preset
    assert every(own).path == path and every(plain) is every(own)
    monkeypatch.setenv("LIVEGEN_MODEL", str(packaged / "default.onnx"))
    assert ModelSet()(own).path == packaged / "default.onnx"


def test_a_missing_preset_model_names_the_preset_the_key_and_the_models_there_are(tmp_path, monkeypatch):
    from livegen.model import ModelSet
    from livegen.presets import Preset

    packaged_tiny_models(tmp_path, monkeypatch)
    with pytest.raises(ModelError, match=r"preset 'b': model 'bach': model file not found: .*bach\.onnx "
                                         r"\(packaged models: baroque, default\)"):
        ModelSet()(Preset("b", model="bach"))
    with pytest.raises(ModelError, match="the model has"):
        ModelSet()(Preset("b", model="baroque").replace(style="jazz"))
