"""Offline continuation (``livegen continue``): a phrase answered exactly as the daemon would.

The same :class:`~livegen.generation.Generator` and placement rules as the
daemon's :class:`~livegen.engine.Engine`, without clock or ports: the prompt
is primed, the response begins after it and runs to ``n_notes`` notes or
``max_seconds`` of music.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from livegen.generation import Generator
from livegen.guidance import StepModel
from livegen.notes import Note
from livegen.placement import fit_window
from livegen.presets import Preset

__all__ = ["continue_notes"]


def continue_notes(
    model: StepModel,
    preset: Preset,
    prompt: Sequence[Note],
    *,
    n_notes: int | None = None,
    seed: int | None = None,
    gap_s: float = 0.0,
) -> list[Note]:
    """Continue a phrase offline, exactly as the daemon would answer it.

    Primes the last ``preset.context_notes`` notes of ``prompt`` (sorted by
    onset, then pitch), begins the response ``gap_s`` after the prompt's last
    note ends, and generates until ``n_notes`` notes or ``preset.answer.max_seconds``
    of music (a note starting later is dropped; one ending later is cut).

    Args:
        model: a step model.
        preset: style, sampling settings and limits.
        prompt: the phrase; may be empty (the response then starts at ``gap_s``).
        n_notes: most notes to generate, >= 1; default ``preset.answer.max_notes``.
        seed: int for a reproducible continuation.
        gap_s: rest between the end of the prompt and the response, seconds >= 0.

    Returns:
        The generated notes in onset order, in the prompt's time base.

    Raises:
        ValueError: ``n_notes`` < 1 or ``gap_s`` negative or not finite.
        ModelError: the model has no style ``preset.conditioning.style`` (or one named in ``style_contrast``).
    """
    count = preset.answer.max_notes if n_notes is None else n_notes
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"n_notes must be an integer >= 1 (received {n_notes!r})")
    if not isinstance(gap_s, (int, float)) or not math.isfinite(gap_s) or gap_s < 0:
        raise ValueError(f"gap_s must be >= 0 seconds (received {gap_s!r})")
    generator = Generator(model, preset, seed=seed)
    ordered = sorted(prompt, key=lambda n: (n.onset_s, n.pitch))
    for note in ordered[-preset.context_notes:]:
        generator.prime(note)
    start_s = (max(n.end_s for n in ordered) if ordered else 0.0) + gap_s
    end_s = start_s + preset.answer.max_seconds
    generator.begin_response(start_s)
    notes: list[Note] = []
    while len(notes) < count:
        note = fit_window(generator.next_note(), end_s)
        if note is None:
            break
        notes.append(note)
    return notes
