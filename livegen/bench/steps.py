"""The model's cost in this process: one onnxruntime step with the state carried, and
the stateless re-read of a 50-note window that older tools pay per predicted token.

Also the bench's workload (a real phrase, its tokens, the style timed), which the
other parts and the training side's comparison rows reuse.
"""

from __future__ import annotations

import numpy as np

from livegen import tokens
from livegen.bench.report import Figure, time_ms, timing
from livegen.model import Model
from livegen.notes import Note

__all__ = ["PHRASE", "WINDOW_NOTES", "BENCH_STYLE", "feed_tokens", "style_index",
           "bench_step", "bench_reread"]

# (pitch, velocity, onset_s, duration_s): the soprano of J. S. Bach's chorale BWV 66.6
# (music21 corpus, bach/bwv66.6), first 8 notes, quarter note = 0.5 s
PHRASE = ((73, 80, 0.0, 0.25), (71, 76, 0.25, 0.25), (69, 78, 0.5, 0.5), (71, 80, 1.0, 0.5),
          (73, 84, 1.5, 0.5), (76, 90, 2.0, 0.5), (73, 84, 2.5, 0.5), (71, 78, 3.0, 0.5))
WINDOW_NOTES = 50  # the performer context a windowed model re-reads (DESIGN.md)
BENCH_STYLE = "romantic"  # the style timed and the daemon's preset (any style costs the same)


def feed_tokens(count: int) -> list[int]:
    """``count`` realistic token ids: :data:`PHRASE` encoded and repeated (4-token aligned)."""
    phrase = tokens.encode(Note(p, v, t, d) for p, v, t, d in PHRASE)
    return [int(t) for t in np.resize(phrase, count)]


def style_index(model: Model) -> int:
    """The index of :data:`BENCH_STYLE` among the model's styles (0 if it has none of that name)."""
    return model.styles.index(BENCH_STYLE) if BENCH_STYLE in model.styles else 0


def bench_step(model: Model, steps: int, warmup: int = 200) -> Figure:
    """Time ``model.step`` (onnxruntime, state carried) on a real phrase's tokens.

    Args:
        model: loaded as the daemon loads it (1 thread).
        steps: timed steps; warmup: untimed steps before them.

    Returns:
        The ``step`` figure, milliseconds per step.
    """
    feed, style, state = feed_tokens(4 * len(PHRASE)), style_index(model), model.initial_state()

    def one(i: int) -> None:
        nonlocal state
        _, state = model.step(feed[i % len(feed)], state, style)

    return timing("step", "one step, onnxruntime, state carried", time_ms(one, steps, warmup))


def bench_reread(model: Model, samples: int, base: Figure) -> Figure:
    """Time the stateless step: from a zero state, the 200-token window step by step.

    Args:
        model: as for :func:`bench_step`.
        samples: timed re-reads (one untimed first).
        base: the ``step`` figure the ratio is taken against.

    Returns:
        The ``reread`` figure, milliseconds per re-read.
    """
    window, style = feed_tokens(WINDOW_NOTES * tokens.TOKENS_PER_NOTE), style_index(model)

    def one(_: int) -> None:
        state = model.initial_state()
        for token in window:
            _, state = model.step(token, state, style)

    return timing("reread", f"stateless: re-read {WINDOW_NOTES} notes, {len(window)} steps",
                  time_ms(one, samples, 1), base=base)
