"""Read a livegen ONNX model back into the PyTorch network (:class:`livegen_train.network.EventLSTM`).

The shipped model is only an ONNX file; its training checkpoint is not
shipped. This puts the exported weights back into the torch network so that a
user can fine-tune from the shipped model (``livegen train --init-from
shipped``) and ``livegen evaluate`` can score in batches without the
checkpoint.

The one-step graph written by :func:`livegen_train.onnx_export.export_onnx` holds one
ONNX ``LSTM`` node per layer (opset 17). Its weights differ from PyTorch's in
layout only: ONNX stacks the gates as input, output, forget, cell
(``W`` [1, 4H, in], ``R`` [1, 4H, H], ``B`` [1, 8H] = input then recurrent
biases; ONNX operator spec, ``LSTM``), PyTorch as input, forget, cell, output
(``torch.nn.LSTM`` docs). The output layer is a ``MatMul`` by the transposed
``head.weight`` plus ``head.bias``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from livegen.errors import ModelError
from livegen.model import METADATA_KEY
from livegen_train.network import EventLSTM, NetConfig, config_from_dict
from livegen_train.quantize import QUANTIZED_KEY, float_source

__all__ = ["network_from_onnx", "load_init"]

#: PyTorch's gate blocks (i, f, g, o) as indices of ONNX's (i, o, f, c).
_TORCH_FROM_ONNX_GATES = (0, 2, 3, 1)


def _gates(w: np.ndarray, hidden: int) -> np.ndarray:
    """ONNX gate order -> PyTorch gate order along axis 0 ([4H, ...] -> [4H, ...])."""
    blocks = [w[k * hidden:(k + 1) * hidden] for k in _TORCH_FROM_ONNX_GATES]
    return np.concatenate(blocks, axis=0)


def network_from_onnx(path: str | os.PathLike) -> tuple[EventLSTM, list[str]]:
    """The torch network whose one-step graph ``path`` is, and its style names.

    Args:
        path: a livegen ONNX model written by :func:`livegen_train.onnx_export.export_onnx`,
            or an int8 graph of one (:mod:`livegen_train.quantize`): then its float32 source's.

    Returns:
        ``(net, styles)``: the network in eval mode with the file's weights
        (float32), and the style names in style-id order.

    Raises:
        ModelError: the file is not readable ONNX, has no livegen metadata, or
            its graph is not an exported :class:`EventLSTM` (one LSTM node per
            layer, embeddings and output layer as exported).
    """
    import onnx
    from onnx import numpy_helper

    path = Path(path)
    try:
        proto = onnx.load(str(path))
    except Exception as exc:  # noqa: BLE001 - onnx raises several types for a bad file
        raise ModelError(f"{path}: not an ONNX model ({exc})") from None
    meta = {p.key: p.value for p in proto.metadata_props}
    if METADATA_KEY not in meta:
        raise ModelError(f"{path}: no livegen metadata (not a livegen model)")
    info = json.loads(meta[METADATA_KEY])
    if QUANTIZED_KEY in info:  # an int8 graph: the float32 weights it was quantized from
        return network_from_onnx(float_source(path))
    if isinstance(info.get("network"), dict) and info["network"].get("kind") == "transformer":
        raise ModelError(f"{path}: a Transformer model; read its weights from the run's checkpoint.pt")
    try:
        config = NetConfig(**info["network"])
        styles = list(info["styles"])
    except (KeyError, TypeError) as exc:
        raise ModelError(f"{path}: livegen metadata lacks the network shape ({exc})") from None
    init = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    lstms = [n for n in proto.graph.node if n.op_type == "LSTM"]
    matmuls = [n for n in proto.graph.node if n.op_type == "MatMul" and n.input[1] in init]
    if len(lstms) != config.layers or len(matmuls) != 1:
        raise ModelError(f"{path}: graph has {len(lstms)} LSTM and {len(matmuls)} MatMul nodes; "
                         f"an exported EventLSTM has {config.layers} and 1")
    h = config.hidden
    state: dict[str, Any] = {}
    try:
        state["token_embed.weight"] = init["net.token_embed.weight"]
        state["style_embed.weight"] = init["net.style_embed.weight"]
        state["head.bias"] = init["net.head.bias"]
        state["head.weight"] = init[matmuls[0].input[1]].T
        for layer, node in enumerate(lstms):
            w, r, b = (init[name][0] for name in node.input[1:4])
            state[f"lstm.weight_ih_l{layer}"] = _gates(w, h)
            state[f"lstm.weight_hh_l{layer}"] = _gates(r, h)
            state[f"lstm.bias_ih_l{layer}"] = _gates(b[: 4 * h], h)
            state[f"lstm.bias_hh_l{layer}"] = _gates(b[4 * h:], h)
    except KeyError as exc:
        raise ModelError(f"{path}: initializer {exc} missing: not an exported EventLSTM") from None
    net = EventLSTM(config)
    try:
        net.load_state_dict({k: torch.tensor(np.array(v, dtype=np.float32)) for k, v in state.items()})
    except RuntimeError as exc:
        raise ModelError(f"{path}: weights do not fit its network shape ({exc})") from None
    return net.eval(), styles


def load_init(path: str | os.PathLike) -> tuple[dict[str, torch.Tensor], NetConfig, list[str]]:
    """Weights to start training from: a ``checkpoint.pt`` or a livegen ``.onnx`` model.

    Returns:
        ``(state_dict, config, styles)`` of the source network.

    Raises:
        ModelError: an ``.onnx`` file that :func:`network_from_onnx` cannot read.
        FileNotFoundError: ``path`` does not exist.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such checkpoint or model")
    if path.suffix == ".onnx":
        net, styles = network_from_onnx(path)
        return net.state_dict(), net.config, styles
    ckpt = torch.load(path, weights_only=False)
    return ckpt["model"], config_from_dict(ckpt["config"]), list(ckpt.get("styles", []))
