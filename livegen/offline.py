"""Offline continuation (``livegen continue``): a phrase answered exactly as the daemon would.

The same :class:`~livegen.generation.Generator` and placement rules as the
daemon's :class:`~livegen.engine.Engine`, without clock or ports: the prompt
is primed, the response begins after it and runs to ``n_notes`` notes or
``max_seconds`` of music. With ``quantize``, onsets snap to the grid of the
prompt's own pulse, as the daemon snaps to the performer's when it follows no
MIDI clock (:func:`livegen.tempo.estimate_grid_from_onsets`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from livegen.generation import Generator
from livegen.guidance import StepModel
from livegen.notes import Note
from livegen.placement import Placement
from livegen.presets import Preset
from livegen.tempo import estimate_grid_from_onsets

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
    of music (a note starting later is dropped; one ending later is cut). Notes
    are placed as the daemon places them (:class:`livegen.placement.Placement`):
    with ``quantize``, on the grid of the prompt's pulse, if it has one.

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
    placement = Placement(preset, start_s, start_s + preset.answer.max_seconds)
    grid = (estimate_grid_from_onsets([n.onset_s for n in ordered])
            if preset.timing.quantize != "off" else None)
    generator.begin_response(start_s)
    notes: list[Note] = []
    drawn = 0
    while drawn < count:
        note, over = placement.place(generator.next_note(), generator.next_onset_s, grid)
        drawn += 1  # a note snapped onto a full chord counts, as in the daemon
        if over:
            break
        if note is not None:
            notes.append(note)
    return notes
