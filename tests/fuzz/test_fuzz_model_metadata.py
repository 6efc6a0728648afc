"""Model metadata, hostile or just wrong: `livegen continue` ends in one line, never a traceback."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from fuzzkit import assert_clean_exit, run_cli
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from livegen.notes import Note, write_midi
from livegen.tokens import VOCAB_HASH, VOCAB_VERSION

onnx = pytest.importorskip("onnx")

JSONISH = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-2**65, 2**65), st.floats(), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8)
GOOD = {"vocab_version": VOCAB_VERSION, "vocab_hash": VOCAB_HASH, "styles": ["classical", "romantic"],
        "context_notes": 50, "time_resolution_s": 0.01,
        "state": {"names": ["h", "c"], "layers": 1, "hidden": 8}}
#: the good metadata with one key broken, or any JSON at all, or not JSON
METADATA = st.one_of(
    st.tuples(st.sampled_from(sorted(GOOD)), JSONISH).map(lambda kv: json.dumps({**GOOD, kv[0]: kv[1]})),
    st.tuples(st.sampled_from(["layers", "hidden", "names"]), JSONISH).map(
        lambda kv: json.dumps({**GOOD, "state": {**GOOD["state"], kv[0]: kv[1]}})),
    JSONISH.map(json.dumps),
    st.text(max_size=40),
)


@pytest.fixture(scope="module")
def prompt_mid(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("prompt") / "prompt.mid"
    write_midi([[Note(60 + i, 80, 0.25 * i, 0.2) for i in range(8)]], path)
    return path


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(metadata=METADATA)
@example(metadata=json.dumps({**GOOD, "state": {**GOOD["state"], "layers": float("inf")}}))  # OverflowError
@example(metadata=json.dumps({**GOOD, "state": {**GOOD["state"], "hidden": -1}}))  # negative dimensions
@example(metadata=json.dumps({**GOOD, "state": {**GOOD["state"], "layers": 10**12}}))  # a 58 TiB state
def test_any_model_metadata_ends_in_one_line(metadata, stand_in_model, prompt_mid):
    model = onnx.load(str(stand_in_model))
    for entry in model.metadata_props:
        if entry.key == "livegen":
            entry.value = metadata
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "m.onnx"
        onnx.save(model, str(path))
        assert_clean_exit(*run_cli(["continue", str(prompt_mid), "-o", str(Path(folder) / "o.mid"),
                                    "--model", str(path), "--preset", "classical", "--notes", "2"]))
