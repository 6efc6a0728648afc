"""The int8 graph: same contract, nearly the same distribution, its float32 source found and checked."""

import math
import shutil

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from livegen.copyguard import CopyGuard, guard_path  # noqa: E402
from livegen.errors import ModelError  # noqa: E402
from livegen.model import Model, default_model_path  # noqa: E402
from livegen_train.network import EventLSTM, NetConfig  # noqa: E402
from livegen_train.onnx_export import build_metadata, export_onnx  # noqa: E402
from livegen_train.onnx_import import network_from_onnx  # noqa: E402
from livegen_train.quantize import QUANTIZED_KEY, _log_softmax, float_source, quantize_model  # noqa: E402

STYLES = ["baroque", "classical", "romantic", "modern", "folk", "renaissance"]


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """A small exported network (float32) and its int8 graph, side by side."""
    folder = tmp_path_factory.mktemp("q")
    torch.manual_seed(0)
    net = EventLSTM(NetConfig(n_styles=len(STYLES), embed=32, style_embed=8, hidden=64, layers=2))
    source = export_onnx(net, folder / "m.fp32.onnx", build_metadata(net, STYLES))
    info = quantize_model(source, folder / "m.onnx")
    return source, folder / "m.onnx", info


def _kl(a, b):
    pa, pb = _log_softmax(a), _log_softmax(b)
    return float(np.sum(np.exp(pa) * (pa - pb)))


def test_the_int8_graph_keeps_the_contract_and_names_its_source(pair):
    source, target, info = pair
    model = Model.load(target)
    assert model.styles == tuple(STYLES) and model.batched
    assert model.metadata[QUANTIZED_KEY] == info and info["from"] == "m.fp32.onnx"
    assert float_source(target) == source and float_source(source) is None
    assert target.stat().st_size < 0.5 * source.stat().st_size


def test_the_int8_graph_predicts_nearly_what_the_float_graph_does(pair):
    source, target, _ = pair
    a, b = Model.load(source), Model.load(target)
    rng = np.random.default_rng(0)
    sa, sb, kls, moved = a.initial_state(), b.initial_state(), [], 0.0
    for token in rng.integers(0, a.vocab_size, 200):
        la, sa = a.step(int(token), sa, 2)
        lb, sb = b.step(int(token), sb, 2)
        kls.append(_kl(la, lb))
        moved = max(moved, float(np.abs(la - lb).max()))
    assert moved > 0  # it is another graph, not a copy
    assert np.mean(kls) < 0.01 and max(kls) < 0.05  # nats per token


def test_guided_rows_stay_close_to_one_style_steps(pair):
    """Activations are quantized over the batch: rows differ from one-style steps by noise only."""
    _, target, _ = pair
    model = Model.load(target)
    state, ones = model.initial_style_states(), [model.initial_state() for _ in STYLES]
    for token in (1, 50, 120, 7, 300):
        rows, state = model.step_styles(token, state)
        for k in range(len(STYLES)):
            one, ones[k] = model.step(token, ones[k], k)
            assert _kl(one, rows[k]) < 0.01


def test_torch_reads_the_float_weights_of_an_int8_graph(pair):
    source, target, _ = pair
    from_int8, styles = network_from_onnx(target)
    from_float, _ = network_from_onnx(source)
    assert styles == STYLES
    for key, value in from_float.state_dict().items():
        assert torch.equal(from_int8.state_dict()[key], value), key


def test_a_changed_or_missing_source_and_a_second_quantization_are_refused(pair, tmp_path):
    source, target, _ = pair
    with pytest.raises(ModelError, match="already an int8 graph"):
        quantize_model(target, tmp_path / "again.onnx")
    alone = shutil.copy(target, tmp_path / "alone.onnx")
    with pytest.raises(ModelError, match="'m.fp32.onnx', which is not next to it"):
        float_source(alone)
    shutil.copy(target, tmp_path / "m.onnx")
    changed = tmp_path / "m.fp32.onnx"
    changed.write_bytes(source.read_bytes() + b"\x00")
    with pytest.raises(ModelError, match="SHA-1 differs"):
        float_source(tmp_path / "m.onnx")


def test_the_int8_graph_gets_the_float_graphs_copy_guard(pair, tmp_path):
    source, _, _ = pair
    mine = shutil.copy(source, tmp_path / "mine.onnx")
    guard = CopyGuard(np.arange(7, dtype=np.uint32), 13).save(guard_path(mine))
    quantize_model(mine, tmp_path / "mine.int8.onnx")
    assert Model.load(tmp_path / "mine.int8.onnx").copy_guard is not None
    assert guard_path(tmp_path / "mine.int8.onnx").read_bytes() == guard.read_bytes()


def test_the_float_twin_shares_the_int8_graphs_copy_guard(tmp_path):
    shared = CopyGuard(np.arange(10, dtype=np.uint32), 13).save(guard_path(tmp_path / "x.onnx"))
    assert guard_path(tmp_path / "x.fp32.onnx") == shared
    own = CopyGuard(np.arange(5, dtype=np.uint32), 13).save(tmp_path / "x.fp32.copies.npz")
    assert guard_path(tmp_path / "x.fp32.onnx") == own
    assert guard_path(tmp_path / "y.onnx").name == "y.copies.npz"


def test_the_shipped_model_is_the_int8_graph_of_the_shipped_float_model():
    shipped = default_model_path()
    if not shipped.is_file() or not shipped.with_name("default.fp32.onnx").is_file():
        pytest.skip("no shipped model in this checkout")
    assert float_source(shipped) == shipped.with_name("default.fp32.onnx")  # SHA-1 checked
    assert QUANTIZED_KEY not in Model.load(shipped.with_name("default.fp32.onnx")).metadata
    a, b = Model.load(shipped.with_name("default.fp32.onnx")), Model.load(shipped)
    assert a.copy_guard is not None and b.copy_guard is not None
    sa, sb, kls = a.initial_state(), b.initial_state(), []
    for token in np.random.default_rng(1).integers(0, a.vocab_size, 100):
        la, sa = a.step(int(token), sa, 0)
        lb, sb = b.step(int(token), sb, 0)
        kls.append(_kl(la, lb))
    assert math.isfinite(np.mean(kls)) and np.mean(kls) < 0.005
