"""The shipped graph in 8-bit integers: a note in about two thirds of the time, the same distribution.

A generated note costs about four runs of the one-step graph, each under every
style the preset's guidance needs (up to the model's 6 styles in one batch).
At batch 6 the two ``LSTM`` nodes are compute-bound; with their weights and
the output layer's in int8 and the activations quantized at each step
(onnxruntime's dynamic quantization: ``DynamicQuantizeLSTM``,
``MatMulInteger``; weights per output channel) a batch-6 step takes about
half the time on a CPU with AVX-512 VNNI (measured: docs/benchmark.md).

The float32 graph stays the source of the weights: ``livegen evaluate`` and
``livegen train --init-from`` read it (its file name and SHA-1 are in the int8
graph's ``livegen`` metadata, key ``quantized``), and it stays loadable with
``livegen --model``. The activations are quantized per tensor, over the
batch: under style guidance a row's logits depend slightly on the other rows
(by quantization noise, not bit for bit as in the float graph).

Usage::

    python -m livegen_train.quantize livegen/models/default.fp32.onnx livegen/models/default.onnx
    python -m livegen_train.quantize --compare livegen/models/default.fp32.onnx livegen/models/default.onnx
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from livegen.copyguard import guard_path
from livegen.errors import ModelError
from livegen.model import METADATA_KEY, Model

__all__ = ["QUANTIZED_KEY", "quantize_model", "float_source", "compare", "main"]

log = logging.getLogger("livegen_train.quantize")

#: Key of the ``livegen`` metadata object that marks an int8 graph and names its float32 source.
QUANTIZED_KEY = "quantized"
#: The nodes whose weights become int8 (the two LSTM layers and the output layer).
QUANTIZED_OPS = ("LSTM", "MatMul")
#: Windows :func:`compare` measures the KL divergence on (every step of each).
KL_WINDOWS = 24


def _sha1(path: Path) -> str:
    return hashlib.sha1(path.read_bytes()).hexdigest()


def quantize_model(source: str | os.PathLike, target: str | os.PathLike) -> dict[str, Any]:
    """Write the int8 graph of the float32 livegen model ``source`` to ``target``.

    Args:
        source: a livegen ONNX model with float32 weights.
        target: where the int8 graph goes (same inputs, outputs and metadata, plus
            ``quantized``: ``{"method", "from" (source's file name), "from_sha1"}``); the
            source's copy guard is copied beside it when ``target`` has none
            (:func:`livegen.copyguard.guard_path`).

    Returns:
        The ``quantized`` metadata written.

    Raises:
        ModelError: ``source`` is not a livegen model, or is already quantized.
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source, target = Path(source), Path(target)
    meta = Model.load(source).metadata  # checks the contract and the vocabulary
    if QUANTIZED_KEY in meta:
        raise ModelError(f"{source}: already an int8 graph "
                         f"(quantized from {meta[QUANTIZED_KEY].get('from')})")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "q.onnx"
        quantize_dynamic(str(source), str(out), weight_type=QuantType.QInt8, per_channel=True,
                         op_types_to_quantize=list(QUANTIZED_OPS))
        proto = onnx.load(str(out))
    info = {"method": "onnxruntime quantize_dynamic: int8 weights per output channel of "
                      + ", ".join(QUANTIZED_OPS) + "; activations quantized per step",
            "from": source.name, "from_sha1": _sha1(source)}
    props = {p.key: p for p in proto.metadata_props}
    props[METADATA_KEY].value = json.dumps({**meta, QUANTIZED_KEY: info})
    target.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(proto, str(target))
    guard, target_guard = guard_path(source), guard_path(target)
    if guard.is_file() and not target_guard.is_file():  # the same runs are blocked on either graph
        shutil.copyfile(guard, target_guard)
    Model.load(target)  # loads as a livegen model
    return info


def float_source(path: str | os.PathLike) -> Path | None:
    """The float32 model an int8 graph was quantized from (next to it), or None if ``path`` is float.

    Raises:
        ModelError: the source is missing or is not the file the graph was made from (SHA-1).
    """
    path = Path(path)
    info = Model.load(path).metadata.get(QUANTIZED_KEY)
    if info is None:
        return None
    source = path.with_name(str(info.get("from", "")))
    if not source.is_file():
        raise ModelError(f"{path}: an int8 graph quantized from {info.get('from')!r}, "
                         f"which is not next to it; load the float32 model instead")
    if _sha1(source) != info.get("from_sha1"):
        raise ModelError(f"{path}: {source.name} is not the float32 model it was quantized from "
                         f"(SHA-1 differs); quantize it again")
    return source


def compare(source: str | os.PathLike, target: str | os.PathLike, *, max_windows: int = 40) -> dict[str, Any]:
    """NLL of the held-out test windows under both graphs, scored alike (onnxruntime, step by step).

    Windows: the 64-note test windows of ``livegen evaluate`` (music21 corpus, test
    split, rendered as played), at most ``max_windows`` per style, evenly spaced.

    Returns:
        ``{"windows", "float_bits", "int8_bits" (bits per note, mean over windows),
        "per_style": {style: [float_bits, int8_bits]}, "kl_nats" (mean KL(float || int8) per
        token over the steps of :data:`KL_WINDOWS` of those windows, evenly spaced),
        "kl_windows", "kl_steps"}``.
    """
    from livegen.tokens import TOKENS_PER_NOTE
    from livegen_train.baselines import StepScorer
    from livegen_train.corpus import DEFAULT_CAPS, load_music21_corpus, split_pieces
    from livegen_train.dataset import eval_windows
    from livegen_train.evaluate import NLL_WINDOW_NOTES, _subsample

    float_model, int8_model = Model.load(source), Model.load(target)
    styles = list(float_model.styles)
    pieces, _ = load_music21_corpus(styles, progress=False, folder_caps=DEFAULT_CAPS)
    test = split_pieces(pieces)["test"]
    x, s = eval_windows(test, styles, NLL_WINDOW_NOTES, max_windows_per_piece=10_000, performed=True)
    keep = np.sort(np.concatenate([_subsample(s == i, max_windows) for i in range(len(styles))]).astype(int))
    x, s = x[keep], s[keep]
    to_bits = TOKENS_PER_NOTE / math.log(2.0)
    started = time.monotonic()
    nats = {name: StepScorer(m).nll(x, s) for name, m in (("float", float_model), ("int8", int8_model))}
    bits = {name: v.mean(axis=1) * to_bits for name, v in nats.items()}
    spread = np.unique(np.linspace(0, len(x) - 1, min(len(x), KL_WINDOWS)).astype(int))
    kl, kl_steps = _mean_kl(float_model, int8_model, x[spread], s[spread])
    log.info("scored %d windows in %.0f s", len(x), time.monotonic() - started)
    return {"windows": len(x), "float_bits": round(float(bits["float"].mean()), 4),
            "int8_bits": round(float(bits["int8"].mean()), 4),
            "per_style": {st: [round(float(bits["float"][s == i].mean()), 4),
                               round(float(bits["int8"][s == i].mean()), 4)]
                          for i, st in enumerate(styles) if (s == i).any()},
            "kl_nats": kl, "kl_windows": len(spread), "kl_steps": kl_steps}


def _mean_kl(a: Model, b: Model, x: np.ndarray, s: np.ndarray) -> tuple[float, int]:
    """Mean KL(a || b) in nats of the next-token distributions along the windows ``x`` (one style
    each), and the number of steps it is the mean of."""
    total, steps = 0.0, 0
    for seq, style in zip(x, s):
        sa, sb = a.initial_state(), b.initial_state()
        for token in seq[:-1]:
            la, sa = a.step(int(token), sa, int(style))
            lb, sb = b.step(int(token), sb, int(style))
            pa, pb = _log_softmax(la), _log_softmax(lb)
            total += float(np.sum(np.exp(pa) * (pa - pb)))
            steps += 1
    return round(total / max(steps, 1), 6), steps


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64) - logits.max()
    return z - math.log(np.exp(z).sum())


def main(argv: list[str] | None = None) -> int:
    """``python -m livegen_train.quantize SOURCE TARGET`` (``--compare``: score both instead)."""
    parser = argparse.ArgumentParser(prog="python -m livegen_train.quantize",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("source", help="the float32 livegen model (.onnx)")
    parser.add_argument("target", help="the int8 graph to write (or, with --compare, to score)")
    parser.add_argument("--compare", action="store_true",
                        help="score the test windows under both graphs instead of writing")
    parser.add_argument("--max-windows", type=int, default=40, help="with --compare: windows per style")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    try:
        if args.compare:
            print(json.dumps(compare(args.source, args.target, max_windows=args.max_windows), indent=1))
        else:
            print(json.dumps(quantize_model(args.source, args.target), indent=1))
    except ModelError as exc:
        raise SystemExit(f"livegen_train.quantize: {exc}") from None
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
