"""Conditional NLL of the real continuation given the prompt: network, session model, and both.

For each out-of-corpus prompt (:mod:`livegen_train.adherence`), the tokens
of the prompt are read (the network primed, the session model learning them),
then the real continuation is scored token by token, per token kind (SHIFT,
PITCH, VEL, DUR), under:

- ``net``: the shipped network alone (one style);
- ``session``: the prompt-only session model (:class:`livegen.session.SessionModel`),
  which is what Pachet's Continuator does live; it goes on learning the
  real continuation as it is scored (the performer keeps playing);
- ``mix f``: the product ``log p_net + f * log p_session``, renormalised over
  the kind's slice, for each ``follow`` weight ``f`` (DESIGN.md's form);
- ``geo f``: the weighted geometric mean ``(1 - f) log p_net + f log p_session``,
  renormalised (the network's weight falls as the session's rises);
- ``lin f``: the mixture ``(1 - f) p_net + f p_session``;
- ``corpus``: with ``--corpus``, the same variable-order Markov trained on the
  network's training split (every piece of the music21 corpus split, all
  styles), each piece rendered as the network sees it in training
  (:class:`livegen_train.dataset.Augment`: transposed, tempo-scaled, jittered,
  with synthesised velocities), ``--renderings`` times: the fair baseline, on
  the same data and viewpoints as the network, which does not learn the prompt.

The network sees the grammar: its logits are masked to the kind that comes
next. Scores are bits per note (the sum of a note's 4 tokens), averaged over
the continuation's notes.

Usage::

    python -m livegen_train.conditional --style classical --follow 0,0.25,0.5,1
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

import numpy as np

from livegen import tokens
from livegen.notes import Note
from livegen.session import SessionModel
from livegen.tokens import Kind

__all__ = ["score_prompt", "corpus_markov", "window_nll", "main", "KIND_NAMES", "CORPUS_RENDERINGS"]

KIND_NAMES = {Kind.SHIFT: "shift", Kind.PITCH: "pitch", Kind.VEL: "velocity", Kind.DUR: "duration"}
LN2 = math.log(2.0)


def _log_softmax_slice(logits: np.ndarray, mask: np.ndarray) -> np.ndarray:
    out = np.full(logits.shape, -math.inf)
    part = logits[mask].astype(np.float64)
    out[mask] = part - np.logaddexp.reduce(part)
    return out


CORPUS_RENDERINGS = 2  # renderings of each training piece the corpus Markov learns


def corpus_markov(pieces, renderings: int = CORPUS_RENDERINGS, seed: int = 0) -> SessionModel:
    """A :class:`SessionModel` that learnt every piece (each rendering from an empty context).

    Args:
        pieces: :class:`livegen_train.corpus.Piece` list (the training split).
        renderings: renderings per piece, each augmented as in training
            (:class:`livegen_train.dataset.Augment` defaults); 0 = the plain score
            rendering (one velocity where the score has no dynamics).
        seed: seeds the augmentation.
    """
    from livegen_train.dataset import Augment, encode_arrays, piece_arrays

    markov = SessionModel()
    rng = np.random.default_rng(seed)
    for piece in pieces:
        if renderings == 0:
            streams = [tokens.encode(piece.notes())]
        else:
            streams = []
            for _ in range(renderings):
                arrays = piece_arrays(piece, 0, len(piece.pitch), rng, Augment())
                order = np.lexsort((arrays[0], arrays[1]))
                streams.append(encode_arrays(*(a[order] for a in arrays)))
        for stream in streams:
            context = markov.new_context()
            for token in stream:
                markov.learn(context, int(token))
    return markov


def window_nll(markov: SessionModel, windows: np.ndarray) -> np.ndarray:
    """NLL in nats of each token after the first under a corpus Markov that learns nothing.

    Args:
        markov: a :func:`corpus_markov`.
        windows: int64 [N, T] token windows, each from its own empty context (the first
            token, BOS, is not scored).

    Returns:
        float64 [N, T-1], like :meth:`livegen_train.baselines.TokenScorer.nll`.
    """
    x = np.asarray(windows, dtype=np.int64)
    out = np.empty((len(x), x.shape[1] - 1), dtype=np.float64)
    for row, seq in enumerate(x):
        context = markov.new_context()
        for t, token in enumerate(int(v) for v in seq[1:]):
            out[row, t] = -markov.log_probs(tokens.token_kind(token), context)[token]
            context.push(token)
    return out


def score_prompt(model, style: int, prompt: Sequence[Note], real: Sequence[Note],
                 follows: Sequence[float], corpus: SessionModel | None = None) -> dict[str, np.ndarray]:
    """Bits of each real-continuation token kind under each scorer.

    Args:
        model: a :class:`livegen.model.Model`.
        style: the network's style index.
        prompt: the player's phrase; real: what the music really does next.
        follows: ``follow`` weights for the mixes.
        corpus: a corpus-trained :func:`corpus_markov`, scored as ``corpus`` (it learns nothing here).

    Returns:
        ``{scorer: float64 [4]}``: total bits of the continuation's SHIFT, PITCH, VEL and
        DUR tokens; scorers ``net``, ``session``, ``mix <f>``, ``geo <f>``, ``lin <f>``.
    """
    stream = tokens.encode([*prompt, *real], bos=True)
    n_prompt = 1 + tokens.TOKENS_PER_NOTE * len(prompt)
    session = SessionModel()
    context = session.new_context()
    state = model.initial_state()
    logits = None
    names = ["net", "session", *(f"{form} {f:g}" for form in ("mix", "geo", "lin") for f in follows)]
    if corpus is not None:
        names.append("corpus")
        corpus_context = corpus.new_context()
    totals = {name: np.zeros(4) for name in names}
    for i, token in enumerate(int(t) for t in stream):
        if i >= n_prompt and logits is not None:
            kind = tokens.token_kind(token)
            mask = tokens.KIND_MASKS[kind]
            net = _log_softmax_slice(logits, mask)
            own = session.log_probs(kind, context)
            col = kind - Kind.SHIFT
            totals["net"][col] -= net[token] / LN2
            totals["session"][col] -= own[token] / LN2
            if corpus is not None:
                totals["corpus"][col] -= corpus.log_probs(kind, corpus_context)[token] / LN2
            for f in follows:
                with np.errstate(invalid="ignore"):  # 0 * -inf outside the kind's slice, masked below
                    mixed_in, geo_in = net + f * own, (1 - f) * net + f * own
                mixed = _log_softmax_slice(np.where(mask, mixed_in, -math.inf), mask)
                totals[f"mix {f:g}"][col] -= mixed[token] / LN2
                geo = _log_softmax_slice(np.where(mask, geo_in, -math.inf), mask)
                totals[f"geo {f:g}"][col] -= geo[token] / LN2
                lin = np.logaddexp(math.log1p(-f) + net[token] if f < 1 else -math.inf,
                                   math.log(f) + own[token] if f > 0 else -math.inf)
                totals[f"lin {f:g}"][col] -= lin / LN2
        if i > 0:  # BOS is no performer token
            session.learn(context, token)
            if corpus is not None:
                corpus_context.push(token)
        logits, state = model.step(token, state, style)
    return totals


def main(argv: Sequence[str] | None = None) -> int:
    """Print bits per note of the real continuations, by scorer and token kind."""
    from livegen.model import Model
    from livegen_train.adherence import part_prompts, read_parts
    from livegen_train.outside import ROLES, fetch, sources_for

    parser = argparse.ArgumentParser(prog="python -m livegen_train.conditional",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--style", default="classical")
    parser.add_argument("--follow", default="0.25,0.5,1")
    parser.add_argument("--model")
    parser.add_argument("--limit", type=int, help="score only the first N prompts")
    parser.add_argument("--corpus", action="store_true",
                        help="also score a Markov trained on the corpus's training split (about 1 min)")
    parser.add_argument("--renderings", type=int, default=CORPUS_RENDERINGS,
                        help="augmented renderings of each training piece for --corpus (0: the plain score)")
    parser.add_argument("--set", dest="role", choices=ROLES, default="dev",
                        help="dev: the music knobs are tuned on; check: music they never were")
    args = parser.parse_args(argv)
    follows = [float(x) for x in args.follow.split(",")]
    paths = sorted(str(p) for folder in fetch(sources_for(args.role)).values() for p in folder.glob("*.mid"))
    prompts = part_prompts(read_parts(paths))[:args.limit]
    model = Model.load(args.model) if args.model else Model.load()
    style = model.style_id(args.style)
    corpus = None
    if args.corpus:
        from livegen_train.corpus import DEFAULT_CAPS, load_music21_corpus, split_pieces

        pieces, _ = load_music21_corpus(progress=False, folder_caps=DEFAULT_CAPS)
        corpus = corpus_markov(split_pieces(pieces)["train"], args.renderings)
    sums: dict[str, np.ndarray] = {}
    notes = 0
    for _, prompt, real in prompts:
        for name, bits in score_prompt(model, style, prompt, real, follows, corpus).items():
            sums[name] = sums.get(name, 0) + bits
        notes += len(real)
    print(f"{len(prompts)} prompts, {notes} continuation notes, style {args.style}: bits per note")
    print(f"{'':<10}{'total':>8}" + "".join(f"{KIND_NAMES[k]:>10}" for k in KIND_NAMES))
    for name, bits in sums.items():
        per = bits / notes
        print(f"{name:<10}{per.sum():>8.2f}" + "".join(f"{x:>10.2f}" for x in per))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
