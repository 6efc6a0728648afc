"""Train the style-conditioned event LSTM on a real corpus and export it to ONNX.

Usage (the shipped model; see docs/training.md for the exact command used)::

    livegen train --out runs/default --minutes 45 --export livegen/models/default.fp32.onnx

Checkpoints are written to ``OUT/checkpoint.pt`` every ``--checkpoint-every``
steps and at the end; ``--resume`` continues from there (model, optimiser,
step, elapsed time and RNG state). A JSON line per evaluation goes to
``OUT/log.jsonl`` and the loss curves to ``OUT/curves.png``.

Data-parallel (PyTorch DDP, gloo, CPU): ``torchrun --standalone --nproc-per-node N
-m livegen_train.train ...``; the effective batch is ``--batch`` x N and rank 0 writes
every file (docs/training.md, "More hardware: torchrun").
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from livegen.copyguard import GUARD_NOTES
from livegen_train.copies import write_copy_guard
from livegen_train.corpus import (
    DEFAULT_CAPS,
    STYLES,
    Piece,
    corpus_counts,
    load_midi_dir,
    load_music21_corpus,
    split_pieces,
)
from livegen_train.dataset import Augment, WindowSampler, eval_windows
from livegen_train.distributed import (
    Distributed,
    from_rank0,
    gather,
    mean_over_ranks,
    param_spread,
    rank0_first,
    sampler_state,
)
from livegen_train.network import EventLSTM, NetConfig, config_from_dict, grammar_mask, network_from_config
from livegen_train.onnx_export import build_metadata, export_onnx, parity

__all__ = ["main", "build_parser", "evaluate_nll", "load_pieces"]

log = logging.getLogger(__name__)
LN2 = math.log(2.0)

def build_parser(parser: argparse.ArgumentParser | None = None) -> argparse.ArgumentParser:
    """Arguments of ``livegen train`` (also used by ``python -m livegen_train.train``)."""
    p = parser or argparse.ArgumentParser(prog="livegen train", description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/default", help="run directory (checkpoints, logs)")
    p.add_argument("--styles", default=",".join(STYLES),
                   help="comma-separated music21 corpus styles (default: all)")
    p.add_argument("--midi-dir", help="train on a folder of MIDI files instead of the music21 corpus")
    p.add_argument("--style", help="style name for --midi-dir pieces (a new or existing style)")
    p.add_argument("--init-from", help="fine-tune from: 'shipped' (the installed model), a livegen "
                                        ".onnx model or a checkpoint.pt")
    p.add_argument("--max-files-per-composer", type=int, help="tiny corpus for tests")
    p.add_argument("--all-files", action="store_true",
                   help="parse every file of the big folk/renaissance collections (default: capped)")
    p.add_argument("--minutes", type=float, default=0.0, help="time budget (0 = use --steps)")
    p.add_argument("--steps", type=int, default=2000, help="optimiser steps (when --minutes is 0)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--window-notes", type=int, default=64, help="notes per training window")
    p.add_argument("--arch", choices=("lstm", "transformer"), default="lstm",
                   help="lstm (EventLSTM) or transformer (EventTransformer: --hidden is its width, "
                        "its context 4 x --window-notes tokens)")
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--heads", type=int, default=4, help="transformer attention heads")
    p.add_argument("--ff", type=int, default=0, help="transformer feed-forward width (0: 4 x --hidden)")
    p.add_argument("--embed", type=int, default=128)
    p.add_argument("--dropout", type=float, default=0.1)
    p.add_argument("--style-splice", type=float, default=0.0,
                   help="share of windows (0-1) that open with another style's music, weighted 0 "
                        "in the loss: teaches answering any phrase in the asked-for style")
    p.add_argument("--parts", type=float, default=0.0,
                   help="share of windows (0-1) of --parts-styles cut from one part of a score "
                        "alone, so a single line is learned as a line (0: full scores only)")
    p.add_argument("--parts-styles", default=",".join(STYLES),
                   help="comma-separated styles that get parts windows (their corpus files are "
                        "parsed again once for the parts; default: all)")
    p.add_argument("--staccato", type=float, default=0.0,
                   help="share of windows (0-1) played detached (durations x 0.25-0.7 instead of "
                        "0.8-1.0), so note lengths are learned apart from the pace (0: none)")
    p.add_argument("--staccato-openings", type=float, default=0.0,
                   help="share of spliced openings (0-1) played detached, the answer kept as its "
                        "style plays (0: none)")
    p.add_argument("--keep-key", action="store_true",
                   help="at each join in a window (a spliced opening, a short piece's end) move the "
                        "next piece into the key of the window's first notes, so an answer learns "
                        "to stay in the key of the phrase it answers")
    p.add_argument("--style-weight", action="append", default=[], metavar="STYLE=FACTOR",
                   help="multiply STYLE's share of the windows' draws by FACTOR (> 0), e.g. "
                        "baroque=4 to fine-tune mostly one style while the others are still seen; "
                        "repeatable")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2,
                   help="torch CPU threads (under torchrun: shared by the processes on this machine)")
    p.add_argument("--eval-every", type=int, default=250)
    p.add_argument("--checkpoint-every", type=int, default=250)
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument("--export", help="write the trained model to this .onnx path")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--eval-only", action="store_true",
                   help="load OUT/checkpoint.pt, evaluate, write metrics and export; no training")
    return p


def style_weights(parser: argparse.ArgumentParser, given: list[str]) -> dict[str, float]:
    """``--style-weight STYLE=FACTOR`` values as a dict; a malformed one is a parser error."""
    out: dict[str, float] = {}
    for text in given:
        name, _, factor = text.partition("=")
        try:
            value = float(factor)
        except ValueError:
            value = float("nan")
        if not name or not value > 0:
            parser.error(f"--style-weight wants STYLE=FACTOR with FACTOR > 0 (received {text!r})")
        out[name] = value
    return out


def load_pieces(args) -> tuple[list[Piece], list[str], Counter]:
    """The corpus named by the arguments and the style list of the model."""
    if args.midi_dir:
        if not args.style:
            raise SystemExit("livegen train: error: --midi-dir needs --style NAME")
        pieces, failures = load_midi_dir(args.midi_dir, args.style)
        styles = list(STYLES)
        if args.style not in styles:
            styles.append(args.style)
        return pieces, styles, failures
    wanted = [s for s in args.styles.split(",") if s]
    pieces, failures = load_music21_corpus(
        wanted, progress=not args.no_progress, max_files_per_composer=args.max_files_per_composer,
        folder_caps=None if args.all_files else DEFAULT_CAPS,
        parts_styles=[s for s in args.parts_styles.split(",") if s] if args.parts > 0 else ())
    return pieces, list(STYLES), failures


def _init_source(name: str) -> tuple[dict, NetConfig, list[str]]:
    """``--init-from``: ``shipped`` (the installed default model), an ``.onnx`` model or a
    ``checkpoint.pt``, as ``(state_dict, config, styles)``."""
    from livegen.errors import ModelError
    from livegen.model import default_model_path
    from livegen_train.onnx_import import load_init

    path = default_model_path() if name == "shipped" else Path(name)
    try:
        return load_init(path)
    except (FileNotFoundError, ModelError) as exc:
        raise SystemExit(f"livegen train: error: --init-from {name}: {exc}") from None


def masked_nll(logits: torch.Tensor, inputs: torch.Tensor, targets: torch.Tensor,
               mask: torch.Tensor) -> torch.Tensor:
    """Per-token NLL in nats [B, T], with the note grammar applied to the logits."""
    logits = logits + mask[inputs]
    return F.cross_entropy(logits.transpose(1, 2), targets, reduction="none")


@torch.no_grad()
def evaluate_nll(net: EventLSTM, tokens: np.ndarray, style: np.ndarray, styles: list[str],
                 batch: int = 64, ddp: Distributed = Distributed()) -> dict[str, dict[str, float]]:
    """Held-out NLL per style and for all: nats/token, perplexity, bits/note.

    Args:
        tokens: int64 [N, T] windows (BOS first), style: int64 [N].
        ddp: under torchrun every rank must call this; each evaluates every
            ``world_size``-th window and the per-window losses are gathered, so all
            ranks return the figures of the whole set.

    Returns:
        ``{style_or_"all": {"nll_token": nats, "perplexity": exp(nll), "bits_per_note": bits,
        "windows": n}}``
    """
    net.eval()
    mask = grammar_mask()
    sums: dict[int, list[float]] = {}
    tokens, style = tokens[ddp.rank::ddp.world_size], style[ddp.rank::ddp.world_size]
    for i in range(0, len(tokens), batch):
        x = torch.as_tensor(tokens[i:i + batch])
        s = torch.as_tensor(style[i:i + batch])
        logits, _ = net(x[:, :-1], s)
        nll = masked_nll(logits, x[:, :-1], x[:, 1:], mask).mean(dim=1)
        for sid, value in zip(s.tolist(), nll.tolist()):
            sums.setdefault(sid, []).append(value)
    net.train()
    if ddp.enabled:
        shards, sums = gather(sums, ddp), {}
        for shard in shards:
            for sid, values in shard.items():
                sums.setdefault(sid, []).extend(values)
    out = {}
    everything = []
    for sid, values in sorted(sums.items()):
        everything += values
        out[styles[sid]] = _summary(values)
    if everything:
        out["all"] = _summary(everything)
    return out


def _summary(values: list[float]) -> dict[str, float]:
    nll = float(np.mean(values))
    return {"nll_token": round(nll, 4), "perplexity": round(math.exp(nll), 3),
            "bits_per_note": round(4 * nll / LN2, 3), "windows": len(values)}


def main(argv: list[str] | None = None) -> int:
    """``livegen train``: one process, or one rank of a ``torchrun`` job (DDP, gloo, CPU).

    Under ``torchrun`` (``RANK``/``WORLD_SIZE`` set) each rank trains on its own
    windows (sampler seed = ``--seed`` + rank), gradients are averaged, all ranks stop
    at the same step, and rank 0 alone writes checkpoints, logs, curves and exports.

    Args:
        argv: command-line arguments (``sys.argv[1:]`` when None).

    Returns:
        Exit code 0 (one process). A torchrun rank does not return: it ends its
        process with ``os._exit`` once every rank has finished (see the code).

    Raises:
        SystemExit: bad arguments, no training pieces, or a failed ONNX parity check.
        ValueError: an inconsistent torchrun environment.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    args.style_weights = style_weights(parser, args.style_weight)
    unknown = sorted(set(args.style_weights) - set(STYLES) - {args.style})
    if unknown:
        parser.error(f"--style-weight names {', '.join(unknown)}; the styles are "
                     f"{', '.join(STYLES)}{' and ' + args.style if args.style else ''}")
    for share in ("style_splice", "staccato", "staccato_openings", "parts"):
        if not 0.0 <= getattr(args, share) <= 1.0:
            parser.error(f"--{share.replace('_', '-')} must be in [0, 1] (received {getattr(args, share)})")
    ddp = Distributed.from_env()
    if not ddp.enabled:
        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
        return _train(args, argv, ddp)
    logging.basicConfig(level=logging.INFO if ddp.is_main else logging.WARNING,
                        format=f"%(asctime)s [rank {ddp.rank}] %(message)s")
    if not ddp.is_main:
        args.no_progress = True
    dist.init_process_group("gloo")
    try:
        code = _train(args, argv, ddp)
        dist.barrier()  # every rank leaves together, once rank 0 has written everything
    finally:
        dist.destroy_process_group()
    # A torchrun rank that exits normally aborts now and then while the interpreter shuts
    # down (torch 2.13, gloo: "terminate called without an active exception", SIGABRT
    # with no Python frame, about 1 run in 5 here), failing the whole job after its work
    # is done and written. So a rank ends without the C++ static teardown.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _train(args: argparse.Namespace, argv: list[str] | None, ddp: Distributed) -> int:
    torch.set_num_threads(ddp.threads(args.threads))
    torch.manual_seed(args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    t0 = time.time()
    with rank0_first(ddp):
        pieces, styles, failures = load_pieces(args)
    parse_s = time.time() - t0
    ckpt_path = out / "checkpoint.pt"
    init = None
    if args.init_from and not ((args.resume or args.eval_only) and ckpt_path.exists()):
        init = _init_source(args.init_from)
        styles = init[2] + [s for s in styles if s not in init[2]]  # the source's style ids first
    splits = split_pieces(pieces)  # near-duplicates dropped, variants kept in one split
    counts = corpus_counts(splits)
    log.info("corpus: %d pieces (%d notes) in %.0f s; skipped files: %s", len(pieces),
             sum(len(p) for p in pieces), parse_s, dict(failures) or "none")
    for style, row in counts.items():
        log.info("  %-12s %s", style, row)
    if not splits["train"]:
        raise SystemExit("livegen train: error: no training pieces found")
    val_pieces = splits["validation"] or splits["train"][:4]
    eval_notes = args.window_notes
    val_x, val_s = eval_windows(val_pieces, styles, eval_notes, performed=True)
    if len(val_x) == 0:
        eval_notes = 16
        val_x, val_s = eval_windows(val_pieces, styles, eval_notes, performed=True)

    config = NetConfig(n_styles=len(styles), embed=args.embed, hidden=args.hidden,
                       layers=args.layers, dropout=args.dropout)
    if args.arch == "transformer":
        from livegen_train.transformer import TransformerConfig

        config = TransformerConfig(n_styles=len(styles), d_model=args.hidden, heads=args.heads,
                                   layers=args.layers, ff=args.ff or 4 * args.hidden,
                                   context=4 * args.window_notes, dropout=args.dropout)
    if init is not None:  # fine-tuning keeps the source's shape, whatever --hidden etc. say
        config = type(init[1])(**{**init[1].to_dict(), "n_styles": len(styles), "dropout": args.dropout})
    ckpt = None
    if (args.resume or args.eval_only) and ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=False)
        config = config_from_dict(ckpt["config"])  # the checkpoint's own shape and kind
    net = network_from_config(config.to_dict())
    sampler = WindowSampler(splits["train"], styles, args.window_notes, Augment(staccato=args.staccato),
                           seed=args.seed + ddp.rank, splice=args.style_splice, parts=args.parts,
                           style_weights=args.style_weights, opening_staccato=args.staccato_openings,
                           keep_key=args.keep_key)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=0.01)
    step, elapsed_s, history = 0, 0.0, []
    trained_with = vars(args)
    if ckpt is not None:
        net.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        step, elapsed_s, history = ckpt["step"], ckpt["elapsed_s"], ckpt["history"]
        trained_with = ckpt.get("args", {})
        sampler.rng.bit_generator.state = sampler_state(ckpt, ddp, args.seed)
        log.info("resumed from %s at step %d (%.0f s trained)", ckpt_path, step, elapsed_s)
    elif init is not None:
        state, _, source_styles = init
        own = net.state_dict()
        for key, value in state.items():  # a new style row is initialised from the mean style
            if key == "style_embed.weight" and value.shape != own[key].shape:
                own[key][: value.shape[0]] = value
                own[key][value.shape[0]:] = value.mean(0)
            else:
                own[key] = value
        net.load_state_dict(own)
        new = [s for s in styles if s not in source_styles]
        log.info("fine-tuning from %s (styles %s%s)", args.init_from, ", ".join(source_styles),
                 f"; new: {', '.join(new)}" if new else "")
    model: torch.nn.Module = net
    if ddp.enabled:
        torch.manual_seed(args.seed + ddp.rank)  # own dropout masks; the weights are already equal
        model = DistributedDataParallel(net)  # neither network has buffers to sync
        log.info("DDP: %d processes x %d threads, effective batch %d", ddp.world_size,
                 torch.get_num_threads(), args.batch * ddp.world_size)

    mask = grammar_mask()
    budget_s = args.minutes * 60.0
    total_steps = args.steps
    start = time.time() - elapsed_s
    bar = None
    if not args.no_progress:
        from tqdm import tqdm
        bar = tqdm(total=total_steps if not budget_s else None, initial=step, unit="step",
                   mininterval=5)
    net.train()
    train_losses: list[float] = []

    def save() -> None:  # every rank calls this (their sampler states are gathered)
        rng_per_rank = gather(sampler.rng.bit_generator.state, ddp)
        if not ddp.is_main:
            return
        torch.save({"model": net.state_dict(), "optimizer": opt.state_dict(), "step": step,
                    "elapsed_s": time.time() - start, "history": history,
                    "rng": sampler.rng.bit_generator.state, "rng_per_rank": rng_per_rank,
                    "world_size": ddp.world_size, "config": config.to_dict(),
                    "styles": styles, "args": vars(args)}, ckpt_path.with_suffix(".tmp"))
        os.replace(ckpt_path.with_suffix(".tmp"), ckpt_path)

    while not args.eval_only:
        elapsed = time.time() - start
        progress = elapsed / budget_s if budget_s else step / max(total_steps, 1)
        if budget_s and ddp.enabled:
            progress = from_rank0(progress)  # one clock decides: same lr, same last step
        if progress >= 1.0:
            break
        lr = args.lr * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))
        lr *= min(1.0, (step + 1) / 100)  # warm-up
        for group in opt.param_groups:
            group["lr"] = lr
        x, s, w = sampler.batch_weighted(args.batch)
        x, s, w = torch.as_tensor(x), torch.as_tensor(s), torch.as_tensor(w)
        logits, _ = model(x[:, :-1], s)
        loss = (masked_nll(logits, x[:, :-1], x[:, 1:], mask) * w).sum() / w.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        step += 1
        train_losses.append(loss.item())
        if bar is not None:
            bar.update(1)
            bar.set_postfix(loss=f"{np.mean(train_losses[-50:]):.3f}", lr=f"{lr:.1e}")
        if step % args.eval_every == 0:
            val = evaluate_nll(net, val_x, val_s, styles, ddp=ddp)
            train_nll = float(np.mean(train_losses[-args.eval_every:]))
            if ddp.enabled:
                train_nll = mean_over_ranks(train_nll)
            row = {"step": step, "elapsed_s": round(time.time() - start, 1),
                   "train_nll_token": round(train_nll, 4),
                   "val_nll_token": val.get("all", {}).get("nll_token"), "lr": lr,
                   "world_size": ddp.world_size}
            history.append(row)
            if ddp.is_main:
                with open(out / "log.jsonl", "a") as f:
                    f.write(json.dumps(row) + "\n")
            log.info("step %d: train %.4f val %.4f nats/token", step, row["train_nll_token"],
                     row["val_nll_token"] or float("nan"))
        if step % args.checkpoint_every == 0:
            save()
    if bar is not None:
        bar.close()
    if args.eval_only:
        train_s = elapsed_s
    else:
        save()
        train_s = time.time() - start

    metrics = {"validation": evaluate_nll(net, val_x, val_s, styles, ddp=ddp), "steps": step,
               "train_seconds": round(train_s, 1),
               "tokens_seen": step * args.batch * ddp.world_size * (1 + 4 * args.window_notes),
               "eval_window_notes": eval_notes,
               "note": "validation/test: windows rendered as in training (velocity curve, "
                       "tempo, jitter; seeded); *_score: flat scores, velocity 80"}
    score_x, score_s = eval_windows(val_pieces, styles, eval_notes)
    metrics["validation_score"] = evaluate_nll(net, score_x, score_s, styles, ddp=ddp)
    test_x, test_s = eval_windows(splits["test"], styles, eval_notes, performed=True)
    if len(test_x):
        metrics["test"] = evaluate_nll(net, test_x, test_s, styles, ddp=ddp)
    if ddp.enabled:
        metrics["world_size"] = ddp.world_size
        metrics["param_spread_across_ranks"] = param_spread(net)
        if not ddp.is_main:
            return 0
    manifest = {"source": "midi-dir" if args.midi_dir else "music21",
                "counts": counts, "skipped_files": dict(failures), "parse_seconds": round(parse_s)}
    try:
        import music21
        manifest["music21"] = music21.__version__
    except ImportError:
        pass
    (out / "metrics.json").write_text(json.dumps({"metrics": metrics, "corpus": manifest,
                                                  "args": vars(args)}, indent=1))
    log.info("validation: %s", json.dumps(metrics["validation"]))
    _plot(history, out / "curves.png")
    if args.export:
        meta = build_metadata(net, styles, corpus=manifest, metrics=metrics,
                              training={"args": trained_with, "config": config.to_dict(),
                                        "exported_by": "livegen train " + " ".join(argv or [])})
        path = export_onnx(net, args.export, meta)
        probe = val_x[0][:200] if len(val_x) else np.arange(1, 50)
        diff = parity(net, path, probe, int(val_s[0]) if len(val_s) else 0)
        log.info("exported %s (%.1f MB); torch vs onnxruntime max |diff| = %.2e",
                 path, path.stat().st_size / 1e6, diff)
        if diff > 1e-4:
            raise SystemExit(f"livegen train: error: ONNX parity failed (max |diff| {diff:.2e})")
        guard, runs = write_copy_guard(splits["train"], path)
        log.info("copy guard %s: %d runs of %d notes", guard, runs, GUARD_NOTES)
    return 0


def _plot(history: list[dict], path: Path) -> None:
    if not history:
        return
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    steps = [h["step"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, [h["train_nll_token"] for h in history], label="train")
    ax.plot(steps, [h["val_nll_token"] for h in history], label="validation")
    ax.set_xlabel("step")
    ax.set_ylabel("NLL (nats / token)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
