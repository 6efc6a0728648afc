"""The Transformer (issue 13's model that copies in context): its KV-cache step graph, ONNX export
under the LSTM's contract, and a tiny training run."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from livegen import tokens as tk  # noqa: E402
from livegen.model import Model  # noqa: E402
from livegen.notes import Note, write_midi  # noqa: E402
from livegen_train.onnx_export import build_metadata, export_onnx, parity  # noqa: E402
from livegen_train.transformer import (  # noqa: E402
    EventTransformer,
    TransformerConfig,
    TransformerStep,
    rotate,
    step_tables,
)

STYLES = ["baroque", "classical", "romantic", "modern", "folk", "renaissance"]
SMALL = dict(n_styles=len(STYLES), d_model=32, heads=4, layers=3, ff=64, context=16)


@pytest.mark.parametrize("sink", [False, True])
def test_the_step_graph_gives_the_whole_window_logits_while_filling_and_after_the_ring_wraps(sink):
    torch.manual_seed(0)
    net = EventTransformer(TransformerConfig(**SMALL, sink=sink)).eval()
    step = TransformerStep(net).eval()
    tokens = torch.randint(0, tk.VOCAB_SIZE, (50,))  # 50 > context 16: the ring wraps twice
    style = torch.tensor([2])
    h = torch.zeros(3, 1, net.config.state_hidden)
    c = torch.zeros_like(h)
    with torch.no_grad():
        whole, _ = net(tokens[None], style)
        for t in range(len(tokens)):
            logits, h, c = step(tokens[t:t + 1], style, h, c)
            np.testing.assert_allclose(logits[0].numpy(), whole[0, t].numpy(), atol=1e-4)
        # the window is a sliding one: past the context, the oldest token no longer counts
        moved = tokens.clone()
        moved[1] = (tokens[1] + 1) % tk.VOCAB_SIZE
        one_layer = EventTransformer(TransformerConfig(**{**SMALL, "layers": 1}, sink=sink)).eval()
        a, _ = one_layer(tokens[None], style)
        b, _ = one_layer(moved[None], style)
        last = 16 - int(sink)  # the last token whose window holds token 1
        assert not torch.allclose(a[0, last], b[0, last])
        assert torch.allclose(a[0, last + 1], b[0, last + 1])
        if sink:  # the first token stays in every window, at the distance training gave it
            window = torch.cat([tokens[:1], tokens[-15:]])
            alone, _ = one_layer(window[None], style)
            np.testing.assert_allclose(a[0, -1].numpy(), alone[0, -1].numpy(), atol=1e-4)


def test_the_exported_transformer_runs_under_the_lstm_contract_batched_by_style(tmp_path):
    torch.manual_seed(1)
    net = EventTransformer(TransformerConfig(**SMALL, sink=True))
    path = export_onnx(net, tmp_path / "t.onnx", build_metadata(net, STYLES))
    tokens = tk.encode([Note(60 + i % 12, 80, i * 0.2, 0.2) for i in range(10)], bos=True)  # 41 > 16
    assert parity(net, path, tokens, style=3) <= 1e-4
    model = Model.load(path)
    assert (model.layers, model.hidden) == (3, 16 * 33)
    assert model.metadata["network"]["kind"] == "transformer"
    singles = [model.initial_state() for _ in STYLES]
    batched = model.initial_style_states()
    for token in tokens[:20]:
        rows = [model.step(int(token), singles[k], k) for k in range(len(STYLES))]
        singles = [state for _, state in rows]
        every, batched = model.step_styles(int(token), batched)
        np.testing.assert_allclose(every, np.stack([logits for logits, _ in rows]), atol=1e-5)
    from livegen.errors import ModelError
    from livegen_train.onnx_import import network_from_onnx

    with pytest.raises(ModelError, match="a Transformer model; read its weights from the run's checkpoint"):
        network_from_onnx(path)  # the LSTM reader would misread it


def test_a_tiny_transformer_run_trains_resumes_and_exports(tmp_path):
    from livegen_train.train import main

    rng = np.random.default_rng(4)
    folder = tmp_path / "midi"
    folder.mkdir()
    for i in range(10):
        notes = [Note(int(p), 80, 0.25 * k, 0.2) for k, p in enumerate(rng.integers(55, 75, 40))]
        write_midi([notes], folder / f"take{i}.mid")
    out = tmp_path / "run"
    common = ["--midi-dir", str(folder), "--style", "mine", "--out", str(out), "--batch", "4",
              "--window-notes", "8", "--arch", "transformer", "--hidden", "16", "--layers", "2",
              "--heads", "2", "--eval-every", "2", "--checkpoint-every", "2", "--no-progress",
              "--threads", "1"]
    assert main(common + ["--steps", "4"]) == 0
    ckpt = torch.load(out / "checkpoint.pt", weights_only=False)
    assert ckpt["config"]["kind"] == "transformer" and ckpt["config"]["context"] == 32
    # resumed without --arch: the checkpoint's kind and shape win
    resumed = [a for a in common if a not in ("--arch", "transformer")]
    assert main(resumed + ["--steps", "6", "--resume", "--export", str(out / "t.onnx")]) == 0
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == [2, 4, 6]
    model = Model.load(out / "t.onnx")
    assert model.metadata["network"]["kind"] == "transformer"
    assert model.metadata["metrics"]["steps"] == 6 and (model.layers, model.hidden) == (2, 32 * 17)


def test_attention_scores_depend_on_distance_only_even_days_into_a_session():
    step = TransformerStep(EventTransformer(TransformerConfig(**SMALL)))
    torch.manual_seed(2)
    q, k = torch.randn(1, 1, 8), torch.randn(1, 1, 8)  # one head of width 8

    def score(q_at: float, k_at: float) -> float:
        qc, qs = step_tables(torch.tensor([[q_at]]), step.inv_freq)
        kc, ks = step_tables(torch.tensor([[k_at]]), step.inv_freq)
        return float((rotate(q, qc, qs) * rotate(k, kc, ks)).sum())

    start = score(40.0, 3.0)
    late = float(2 ** 24 - 100)  # the largest positions the float32 stamp holds exactly
    assert abs(score(late + 37, late) - start) < 1e-4
    assert abs(score(late + 36, late) - start) > 1e-3  # a distance off by one is seen
