"""The bench's comparison rows that need the training side: ``python -m livegen_train.bench_torch``.

``livegen bench`` (the runtime) never imports torch or onnx, so the two rows
that do moved here:

* PyTorch eager, one step: the model's network (:mod:`livegen_train.network`,
  shape from the model's ``network`` metadata, random weights: the same shape
  costs the same), stepped with torch on 1 thread under ``inference_mode``;
* the stateless re-read in one run: the model's layers built with ``onnx`` as
  one sequence graph, so onnxruntime's LSTM op loops over the 200-token window
  in C++ in one ``run``: the best a windowed tool could do.

Both are judged against the onnxruntime step with the state carried, timed here
first (``livegen.bench.steps.bench_step``), and printed in ``livegen bench``'s
table (:func:`livegen.bench.report.format_report`).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from livegen import tokens
from livegen.bench.report import Figure, Report, format_report, load_avg, machine_context, time_ms, timing
from livegen.bench.steps import PHRASE, WINDOW_NOTES, bench_step, feed_tokens, style_index
from livegen.errors import LivegenError
from livegen.model import Model

__all__ = ["Settings", "FULL", "QUICK", "bench_torch", "bench_reread_one_call", "window_session",
           "run", "main"]

log = logging.getLogger(__name__)

ONNX_OPSET = 17  # the window graph's opset (LSTM, Expand, Squeeze with axes as input)
ONNX_IR_VERSION = 8  # an IR version every supported onnxruntime reads
EXIT_OK, EXIT_USAGE = 0, 2


@dataclass(frozen=True)
class Settings:
    """Sample counts: ``warmup`` untimed steps, then ``steps`` (onnxruntime), ``torch_steps``
    (PyTorch eager) and ``one_calls`` (one-run re-reads) timed."""

    warmup: int = 200
    steps: int = 5000
    torch_steps: int = 2000
    one_calls: int = 200


FULL = Settings()
QUICK = Settings(warmup=50, steps=1000, torch_steps=300, one_calls=30)


def _network(model: Model, key: str, label: str) -> dict[str, Any] | Figure:
    """The model's ``network`` shape, or the figure skipped for want of it."""
    net = model.metadata.get("network")
    return net if net else Figure(key, label, skipped="the model's metadata has no 'network' shape").judge()


def bench_torch(model: Model, steps: int, base: Figure, warmup: int = 200) -> Figure:
    """Time one PyTorch eager step of the model's network shape (1 thread, random weights).

    Args:
        model: its ``network`` metadata gives the shape.
        steps: timed steps; warmup: untimed steps first.
        base: the onnxruntime step the ratio is taken against.

    Returns:
        The ``torch`` figure (ms per step), skipped when the metadata has no shape
        or torch does not import.
    """
    key, label = "torch", "PyTorch eager, one step"
    net_shape = _network(model, key, label)
    if isinstance(net_shape, Figure):
        return net_shape
    try:
        import torch

        from livegen_train.network import EventLSTM, NetConfig, StepModule
    except ImportError as err:
        return Figure(key, label, skipped=f"{err.name or 'torch'} is not importable").judge()
    net = EventLSTM(NetConfig(**net_shape)).eval()
    step, feed, threads = StepModule(net).eval(), feed_tokens(4 * len(PHRASE)), torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.inference_mode():
            token, style = torch.zeros(1, dtype=torch.long), torch.tensor([style_index(model)])
            h = c = torch.zeros(net.config.layers, 1, net.config.hidden)

            def one(i: int) -> None:
                nonlocal h, c
                token[0] = feed[i % len(feed)]
                logits, h, c = step(token, style, h, c)
                logits[0].numpy()

            times = time_ms(one, steps, warmup)
    finally:
        torch.set_num_threads(threads)
    return timing(key, label, times, base=base,
                  note=f"torch {torch.__version__}, the model's shape with random weights")


def window_session(net: dict[str, Any], length: int):
    """onnxruntime (1 thread) running ``length`` tokens from a zero state in one ``run``.

    The graph is the exported network's (embeddings, LSTM layers, linear head)
    for a whole window, with random weights of the shape ``net`` gives: the
    same shape costs the same.

    Args:
        net: the model's ``network`` metadata (``vocab_size``, ``n_styles``,
            ``embed``, ``style_embed``, ``hidden``, ``layers``).
        length: the window, tokens.

    Returns:
        An ``onnxruntime.InferenceSession`` with inputs ``tokens`` (int64
        [length]) and ``style`` (int64 [1]), output ``logits`` (float32 [1, vocab]).

    Raises:
        ImportError: ``onnx`` is not installed.
    """
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng, make, hidden = np.random.default_rng(0), helper.make_node, int(net["hidden"])
    inits = {"E": rng.normal(size=(net["vocab_size"], net["embed"])),
             "S": rng.normal(size=(net["n_styles"], net["style_embed"])),
             "HW": rng.normal(size=(hidden, net["vocab_size"])), "HB": np.zeros(net["vocab_size"]),
             "shape": np.array([length, net["style_embed"]]), "ax0": np.array([0]),
             "ax1": np.array([1])}
    nodes = [make("Gather", ["E", "tokens"], ["x_tok"], axis=0),
             make("Gather", ["S", "style"], ["s_row"], axis=0),
             make("Expand", ["s_row", "shape"], ["s_rep"]),
             make("Concat", ["x_tok", "s_rep"], ["x"], axis=1),
             make("Unsqueeze", ["x", "ax1"], ["x0"])]  # [T, batch 1, features]
    width = net["embed"] + net["style_embed"]
    for k in range(int(net["layers"])):
        inits.update({f"W{k}": rng.normal(0, 0.1, (1, 4 * hidden, width if k == 0 else hidden)),
                      f"R{k}": rng.normal(0, 0.1, (1, 4 * hidden, hidden)),
                      f"B{k}": np.zeros((1, 8 * hidden))})
        nodes += [make("LSTM", [f"x{k}", f"W{k}", f"R{k}", f"B{k}"], [f"y{k}", f"yh{k}"],
                       hidden_size=hidden), make("Squeeze", [f"y{k}", "ax1"], [f"x{k + 1}"])]
    nodes += [make("Squeeze", [f"yh{int(net['layers']) - 1}", "ax0"], ["h_last"]),
              make("MatMul", ["h_last", "HW"], ["m"]), make("Add", ["m", "HB"], ["logits"])]
    arrays = [numpy_helper.from_array(v.astype(np.int64 if v.dtype.kind == "i" else np.float32), k)
              for k, v in inits.items()]
    graph = helper.make_graph(
        nodes, "window", [helper.make_tensor_value_info("tokens", TensorProto.INT64, [length]),
                          helper.make_tensor_value_info("style", TensorProto.INT64, [1])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, net["vocab_size"]])], arrays)
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", ONNX_OPSET)])
    proto.ir_version = ONNX_IR_VERSION
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    return ort.InferenceSession(proto.SerializeToString(), options,
                                providers=["CPUExecutionProvider"])


def bench_reread_one_call(model: Model, samples: int, base: Figure) -> Figure:
    """Time the stateless step as one ``run`` over the 200-token window.

    Args:
        model: its ``network`` metadata gives the shape.
        samples: timed runs (one untimed first).
        base: the onnxruntime step the ratio is taken against.

    Returns:
        The ``reread_one_call`` figure (ms per re-read), skipped when ``onnx`` is
        missing or the model's metadata has no ``network`` shape.
    """
    key, label = "reread_one_call", f"stateless: re-read {WINDOW_NOTES} notes, one run"
    net_shape = _network(model, key, label)
    if isinstance(net_shape, Figure):
        return net_shape
    window = np.asarray(feed_tokens(WINDOW_NOTES * tokens.TOKENS_PER_NOTE), np.int64)
    try:
        session = window_session(net_shape, len(window))
    except ImportError as err:
        return Figure(key, label, skipped=f"{err.name} is not installed").judge()
    feed = {"tokens": window, "style": np.array([style_index(model)], np.int64)}
    return timing(key, label, time_ms(lambda _: session.run(None, feed), samples, 1), base=base,
                  note="the model's layers as one sequence graph (random weights, same shape); "
                       "onnxruntime's LSTM op loops in C++")


def run(model_path: str | None = None, *, quick: bool = False,
        settings: Settings | None = None) -> Report:
    """Time the onnxruntime step, then the two comparison rows against it.

    Args:
        model_path: the ``.onnx`` model; default the packaged one (or ``$LIVEGEN_MODEL``).
        quick: use :data:`QUICK` instead of :data:`FULL`.
        settings: explicit counts (overrides ``quick``).

    Raises:
        ModelError: the model cannot be loaded.
    """
    settings = settings or (QUICK if quick else FULL)
    model = Model.load(model_path, threads=1)
    report = Report(machine_context(model, "quick" if quick else "full",
                                    title="python -m livegen_train.bench_torch"))
    log.info("one step x %d (onnxruntime), the base of the ratios", settings.steps)
    step = bench_step(model, settings.steps, settings.warmup)
    log.info("one run re-read x %d; PyTorch eager x %d", settings.one_calls, settings.torch_steps)
    report.figures += [step, bench_reread_one_call(model, settings.one_calls, step),
                       bench_torch(model, settings.torch_steps, step, settings.warmup)]
    if "torch" in sys.modules:
        report.context["torch"] = sys.modules["torch"].__version__
    report.context["load_avg_end"] = load_avg()
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m livegen_train.bench_torch [--model PATH] [--quick] [--json] [-v]``.

    Returns:
        0, or 2 with a one-line error when the model cannot be loaded.
    """
    parser = argparse.ArgumentParser(
        prog="python -m livegen_train.bench_torch",
        description="The comparison rows of `livegen bench` that need torch and onnx: PyTorch "
                    "eager and the stateless re-read in one run, against the onnxruntime step. "
                    "See docs/benchmark.md.")
    parser.add_argument("--model", metavar="PATH",
                        help="ONNX model (default: the packaged model, or $LIVEGEN_MODEL)")
    parser.add_argument("--quick", action="store_true", help="fewer samples (a few seconds)")
    parser.add_argument("--json", action="store_true", help="print one JSON object (for scripts)")
    parser.add_argument("-v", "--verbose", action="store_true", help="progress on stderr")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        report = run(args.model, quick=args.quick)
    except LivegenError as err:
        print(f"{parser.prog}: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    print(json.dumps(report.to_dict(), indent=2) if args.json else format_report(report), flush=True)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
