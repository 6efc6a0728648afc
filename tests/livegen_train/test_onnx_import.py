"""An exported model read back into torch: the same weights, fine-tuning from an .onnx file."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from livegen import tokens as tk  # noqa: E402
from livegen.errors import ModelError  # noqa: E402
from livegen.model import Model  # noqa: E402
from livegen.notes import Note, write_midi  # noqa: E402
from livegen_train.network import EventLSTM, NetConfig  # noqa: E402
from livegen_train.onnx_export import build_metadata, export_onnx  # noqa: E402
from livegen_train.onnx_import import load_init, network_from_onnx  # noqa: E402

STYLES = ["baroque", "classical", "romantic", "modern", "folk", "renaissance"]


@pytest.mark.parametrize("layers", [1, 2])
def test_every_weight_comes_back_exactly(tmp_path, layers):
    torch.manual_seed(layers)
    net = EventLSTM(NetConfig(n_styles=len(STYLES), embed=16, style_embed=4, hidden=24, layers=layers))
    path = export_onnx(net, tmp_path / "m.onnx", build_metadata(net, STYLES))
    back, styles = network_from_onnx(path)
    assert styles == STYLES and back.config == net.config
    original = net.state_dict()
    restored = back.state_dict()
    assert restored.keys() == original.keys()
    for key, value in original.items():
        assert torch.equal(restored[key], value), key  # gate blocks in PyTorch's order again
    state, config, names = load_init(path)
    assert config == net.config and names == STYLES and torch.equal(state["head.weight"],
                                                                      original["head.weight"])


def test_files_that_are_not_exported_livegen_networks_are_refused(tmp_path):
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x00not onnx")
    with pytest.raises(ModelError, match="garbage.onnx: not an ONNX model"):
        network_from_onnx(garbage)
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    onnx.save(helper.make_model(graph), str(tmp_path / "relu.onnx"))
    with pytest.raises(ModelError, match="relu.onnx: no livegen metadata"):
        network_from_onnx(tmp_path / "relu.onnx")
    with pytest.raises(FileNotFoundError, match="absent.pt"):
        load_init(tmp_path / "absent.pt")


def test_fine_tuning_starts_from_an_onnx_model_and_adds_a_style(tmp_path):
    from livegen_train.train import main

    torch.manual_seed(5)
    source_net = EventLSTM(NetConfig(n_styles=len(STYLES), embed=8, style_embed=4, hidden=16, layers=2))
    source = export_onnx(source_net, tmp_path / "source.onnx", build_metadata(source_net, STYLES))
    rng = np.random.default_rng(4)
    folder = tmp_path / "midi"
    folder.mkdir()
    for i in range(8):
        write_midi([[Note(int(p), 80, 0.25 * k, 0.2) for k, p in enumerate(rng.integers(55, 75, 40))]],
                   folder / f"take{i}.mid")
    # --hidden 64 is overruled by the source's shape; --eval-only takes no step: the export is the source
    assert main(["--midi-dir", str(folder), "--style", "mine", "--out", str(tmp_path / "run"),
                 "--init-from", str(source), "--hidden", "64", "--eval-only", "--window-notes", "8",
                 "--no-progress", "--threads", "1", "--export", str(tmp_path / "tuned.onnx")]) == 0
    tuned, before = Model.load(tmp_path / "tuned.onnx"), Model.load(source)
    assert tuned.styles == (*STYLES, "mine") and tuned.hidden == 16
    tokens = tk.encode([Note(60 + i % 5, 80, 0.3 * i, 0.2) for i in range(6)], bos=True)
    for style in ("baroque", "folk"):
        ours, _ = tuned.run_tokens(tokens, tuned.initial_state(), tuned.style_id(style))
        theirs, _ = before.run_tokens(tokens, before.initial_state(), before.style_id(style))
        np.testing.assert_allclose(ours, theirs, atol=1e-5)
    net, _ = network_from_onnx(tmp_path / "tuned.onnx")
    rows = net.style_embed.weight.detach()
    torch.testing.assert_close(rows[-1], rows[:-1].mean(0))  # the new style starts at the mean


def test_init_from_a_missing_file_is_one_clear_error(tmp_path):
    from livegen_train.train import main

    folder = tmp_path / "midi"
    folder.mkdir()
    write_midi([[Note(60 + k % 7, 80, 0.25 * k, 0.2) for k in range(40)]], folder / "a.mid")
    with pytest.raises(SystemExit, match="--init-from .*nothere.onnx: .*no such checkpoint or model"):
        main(["--midi-dir", str(folder), "--style", "mine", "--out", str(tmp_path / "run"),
              "--init-from", str(tmp_path / "nothere.onnx"), "--steps", "1", "--no-progress"])
