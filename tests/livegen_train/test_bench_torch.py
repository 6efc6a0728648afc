"""``python -m livegen_train.bench_torch``: the bench rows that need torch and onnx.

Structure and sanity only (p50 <= p99, ratios > 0, the JSON parses): no figure's
size is asserted (DESIGN.md: speed goals live in the benchmark, never in timed
asserts). A stand-in ONNX model (the runtime's model contract, a few weights)
carries a small ``network`` shape in its metadata, as exported models do.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from livegen import bench, tokens  # noqa: E402
from livegen.model import METADATA_KEY, Model  # noqa: E402
from livegen_train import bench_torch  # noqa: E402

#: a small network shape for the rows that build the model's layers
NETWORK = {"vocab_size": tokens.VOCAB_SIZE, "n_styles": 6, "embed": 8, "style_embed": 4, "hidden": 8,
           "layers": 2, "dropout": 0.0}
STYLES = ("baroque", "classical", "romantic", "modern", "folk", "renaissance")
TINY = bench_torch.Settings(warmup=2, steps=20, torch_steps=10, one_calls=3)


def write_stand_in(path, network: dict | None = NETWORK):
    """logits = W[token] + S[style], the state passed through; ``network`` in the metadata."""
    rng = np.random.default_rng(0)
    state = ["layers", "batch", 8]
    graph = helper.make_graph(
        [helper.make_node("Gather", ["W", "token"], ["w_row"], axis=0),
         helper.make_node("Gather", ["S", "style"], ["s_row"], axis=0),
         helper.make_node("Add", ["w_row", "s_row"], ["logits"]),
         helper.make_node("Identity", ["h"], ["h_out"]), helper.make_node("Identity", ["c"], ["c_out"])],
        "stand_in",
        [helper.make_tensor_value_info("token", TensorProto.INT64, ["batch"]),
         helper.make_tensor_value_info("style", TensorProto.INT64, ["batch"]),
         helper.make_tensor_value_info("h", TensorProto.FLOAT, state),
         helper.make_tensor_value_info("c", TensorProto.FLOAT, state)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", tokens.VOCAB_SIZE]),
         helper.make_tensor_value_info("h_out", TensorProto.FLOAT, state),
         helper.make_tensor_value_info("c_out", TensorProto.FLOAT, state)],
        [numpy_helper.from_array(rng.normal(0, 2, (tokens.VOCAB_SIZE,) * 2).astype(np.float32), "W"),
         numpy_helper.from_array(rng.normal(0, 1, (len(STYLES), tokens.VOCAB_SIZE)).astype(np.float32),
                                 "S")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {"vocab_version": tokens.VOCAB_VERSION, "vocab_hash": tokens.VOCAB_HASH,
            "styles": list(STYLES), "context_notes": 50, "time_resolution_s": 0.01,
            "state": {"names": ["h", "c"], "layers": 1, "hidden": 8},
            "corpus": {"name": "none: a test stand-in"}, "metrics": {}}
    if network is not None:
        meta["network"] = network
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(meta)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def shaped_path(tmp_path_factory):
    return write_stand_in(tmp_path_factory.mktemp("bench_torch") / "shaped.onnx")


@pytest.fixture(scope="module")
def shaped(shaped_path) -> Model:
    return Model.load(shaped_path)


@pytest.fixture(scope="module")
def shapeless(tmp_path_factory) -> Model:
    return Model.load(write_stand_in(tmp_path_factory.mktemp("bench_torch") / "plain.onnx", None))


@pytest.fixture(scope="module")
def step(shaped) -> bench.Figure:
    return bench.bench_step(shaped, steps=20, warmup=2)


def assert_timing(figure: bench.Figure, samples: int) -> None:
    assert figure.skipped is None, figure.skipped
    assert 0 <= figure.p50 <= figure.p99 <= figure.max
    assert figure.mean > 0 and figure.samples == samples


def test_one_run_reread_needs_the_network_shape(shapeless, shaped, step):
    skipped = bench_torch.bench_reread_one_call(shapeless, 2, step)
    assert "network" in skipped.skipped and skipped.passed is None
    one_run = bench_torch.bench_reread_one_call(shaped, 3, step)
    assert_timing(one_run, 3)
    assert one_run.ratio > 0 and one_run.target == "ratio >= 20x" and one_run.passed in (True, False)


def test_the_window_graph_gives_one_row_of_logits():
    session = bench_torch.window_session(NETWORK, 12)
    (logits,) = session.run(None, {"tokens": np.zeros(12, np.int64), "style": np.array([2], np.int64)})
    assert logits.shape == (1, NETWORK["vocab_size"]) and np.isfinite(logits).all()


def test_one_run_reread_is_skipped_without_onnx(shaped, step, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # `from onnx import ...` raises ImportError
    figure = bench_torch.bench_reread_one_call(shaped, 2, step)
    assert figure.skipped and "onnx" in figure.skipped and figure.passed is None


def test_torch_row_is_skipped_without_torch(shaped, step, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    figure = bench_torch.bench_torch(shaped, 10, step)
    assert figure.skipped and "torch" in figure.skipped and figure.passed is None


def test_torch_row_needs_the_network_shape(shapeless, step):
    figure = bench_torch.bench_torch(shapeless, 10, step)
    assert "network" in figure.skipped and figure.passed is None


@pytest.mark.torch
def test_torch_row_times_the_model_shape(shaped, step):
    pytest.importorskip("torch")
    figure = bench_torch.bench_torch(shaped, 20, step, warmup=2)
    assert_timing(figure, 20)
    assert figure.ratio > 0 and "random weights" in figure.note


@pytest.fixture
def tiny_quick(monkeypatch):
    monkeypatch.setattr(bench_torch, "QUICK", TINY)


@pytest.mark.torch
def test_main_prints_the_table(tiny_quick, shaped_path, capsys):
    pytest.importorskip("torch")
    assert bench_torch.main(["--quick", "--model", str(shaped_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("python -m livegen_train.bench_torch (quick)")
    assert "torch " in out.splitlines()[2] and str(shaped_path) in out  # software line
    for label in ("one step, onnxruntime", "stateless: re-read 50 notes, one run", "PyTorch eager"):
        assert label in out


@pytest.mark.torch
def test_main_json(tiny_quick, shaped_path, capsys):
    pytest.importorskip("torch")
    assert bench_torch.main(["--quick", "--json", "--model", str(shaped_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    figures = {f["key"]: f for f in report["figures"]}
    assert list(figures) == ["step", "reread_one_call", "torch"]
    assert figures["torch"]["ratio"] > 0 and figures["reread_one_call"]["ratio"] > 0
    assert figures["reread_one_call"]["samples"] == TINY.one_calls
    assert figures["torch"]["samples"] == TINY.torch_steps
    assert isinstance(report["passed"], bool) and report["context"]["torch"]


def test_main_missing_model_is_one_line(tmp_path, capsys):
    assert bench_torch.main(["--model", str(tmp_path / "absent.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("python -m livegen_train.bench_torch: error: ")
    assert "absent.onnx" in err[0]
