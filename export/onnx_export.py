"""Export the one-step graph to ONNX with explicit state and livegen metadata; parity check.

The exported graph follows the model contract in livegen/model.py. Metadata
(``metadata_props['livegen']``) is JSON with the vocabulary spec, version and
hash, the style names, the context length, the corpus manifest and metrics.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from livegen import tokens as tk
from livegen.model import INPUT_NAMES, METADATA_KEY, OUTPUT_NAMES
from livegen_train.network import EventLSTM, state_shape

__all__ = ["export_onnx", "parity", "build_metadata"]

log = logging.getLogger(__name__)


def build_metadata(net: EventLSTM, styles: list[str], *, context_notes: int = 50,
                   corpus: dict | None = None, metrics: dict | None = None,
                   training: dict | None = None) -> dict[str, Any]:
    """The JSON metadata a livegen model carries."""
    layers, hidden = state_shape(net)
    return {
        "vocab": tk.vocab_spec(),
        "vocab_version": tk.VOCAB_VERSION,
        "vocab_hash": tk.VOCAB_HASH,
        "time_resolution_s": float(tk.SHIFT_BINS_S[1]),
        "styles": list(styles),
        "context_notes": context_notes,
        "state": {"names": ["h", "c"], "layers": layers, "hidden": hidden},
        "network": net.config.to_dict(),
        "corpus": corpus or {},
        "metrics": metrics or {},
        "training": training or {},
    }


#: The batch axis of every input and output is dynamic, so one run steps a sequence
#: under several styles at once (style guidance, :class:`livegen.generation.Generator`).
DYNAMIC_AXES = {"token": {0: "batch"}, "style": {0: "batch"}, "h": {1: "batch"}, "c": {1: "batch"},
                "logits": {0: "batch"}, "h_out": {1: "batch"}, "c_out": {1: "batch"}}


def export_onnx(net: EventLSTM, path: str | os.PathLike, metadata: dict[str, Any]) -> Path:
    """Write the one-step graph of ``net`` to ``path`` with ``metadata``.

    Returns:
        The path written.
    """
    import onnx

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    net = net.eval()
    step = net.step_graph().eval()
    layers, hidden = state_shape(net)
    args = (torch.zeros(1, dtype=torch.long), torch.zeros(1, dtype=torch.long),
            torch.zeros(layers, 1, hidden), torch.zeros(layers, 1, hidden))
    tmp = path.with_suffix(".tmp.onnx")
    with torch.no_grad():
        torch.onnx.export(step, args, str(tmp), input_names=list(INPUT_NAMES),
                          output_names=list(OUTPUT_NAMES), dynamo=False, opset_version=17,
                          dynamic_axes=DYNAMIC_AXES)
    model = onnx.load(str(tmp))
    del model.metadata_props[:]
    entry = model.metadata_props.add()
    entry.key, entry.value = METADATA_KEY, json.dumps(metadata)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    tmp.unlink(missing_ok=True)
    for extra in tmp.parent.glob(tmp.name + "*"):
        extra.unlink()
    return path


def parity(net: EventLSTM, path: str | os.PathLike, tokens: np.ndarray, style: int = 0) -> float:
    """Max abs difference of logits between torch and onnxruntime over a token sequence.

    Args:
        net: the torch network.
        path: its exported ONNX file.
        tokens: int64 [T] token ids fed one by one to both.
        style: style id.

    Returns:
        max |logits_torch - logits_onnx| over all steps (float).
    """
    from livegen.model import Model

    model = Model.load(path)
    net = net.eval()
    with torch.no_grad():
        ref, _ = net(torch.as_tensor(tokens[None, :], dtype=torch.long),
                     torch.tensor([style], dtype=torch.long))
    ref = ref[0].numpy()
    state = model.initial_state()
    worst = 0.0
    for t, token in enumerate(tokens):
        logits, state = model.step(int(token), state, style)
        worst = max(worst, float(np.abs(logits - ref[t]).max()))
    return worst
