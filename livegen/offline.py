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
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from livegen.errors import MidiFileError
from livegen.generation import Generator
from livegen.guidance import StepModel
from livegen.notes import Note, last_notes, read_midi, write_midi
from livegen.placement import Placement
from livegen.presets import Preset
from livegen.tempo import estimate_grid_from_onsets

__all__ = ["continue_notes", "continue_phrase", "continue_file", "Continuation"]


@dataclass(frozen=True)
class Continuation:
    """A phrase's continuation and why it ended (:func:`continue_phrase`).

    Attributes:
        notes: the generated notes in onset order, in the prompt's time base.
        asked: the most notes asked for (``n_notes``, or the preset's ``max_notes``).
        drawn: the notes drawn, placed or not (a note snapped onto a full chord counts).
        end_s: where ``answer.max_seconds`` of music ends, seconds.
        ended_by_time: True when the answer reached ``end_s`` before ``asked`` notes.
    """

    notes: list[Note]
    asked: int
    drawn: int
    end_s: float
    ended_by_time: bool


def continue_phrase(
    model: StepModel,
    preset: Preset,
    prompt: Sequence[Note],
    *,
    n_notes: int | None = None,
    seed: int | None = None,
    gap_s: float = 0.0,
) -> Continuation:
    """Continue a phrase offline, exactly as the daemon would answer it; say why it ended.

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
        The notes, with how many were asked and whether ``max_seconds`` ended them.

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
    over = False
    while drawn < count:
        note, over = placement.place(generator.next_note(), generator.next_onset_s, grid)
        drawn += 1  # a note snapped onto a full chord counts, as in the daemon
        if over:
            break
        if note is not None:
            notes.append(note)
    return Continuation(notes, count, drawn, start_s + preset.answer.max_seconds, over)


def continue_notes(
    model: StepModel,
    preset: Preset,
    prompt: Sequence[Note],
    *,
    n_notes: int | None = None,
    seed: int | None = None,
    gap_s: float = 0.0,
) -> list[Note]:
    """The notes of :func:`continue_phrase` (same arguments and errors), in onset order."""
    return continue_phrase(model, preset, prompt, n_notes=n_notes, seed=seed, gap_s=gap_s).notes


def continue_file(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    preset: Preset,
    load_model: Callable[[], StepModel],
    *,
    n_notes: int | None = None,
    at_s: float | None = None,
    seed: int | None = None,
    include_drums: bool = False,
    warn: Callable[[str], None] = lambda text: None,
) -> str:
    """``livegen continue``: a MIDI file's notes up to the prompt, plus its continuation.

    The prompt is the last ``preset.context_notes`` notes starting before
    ``at_s`` (default: the whole file); each input channel gets its own track,
    the continuation a track ``livegen``.

    Args:
        input_path, output_path: the MIDI file read and the one written.
        preset: the preset in use.
        load_model: called once the input is known to be good.
        n_notes: most notes to generate, >= 1; default ``preset.answer.max_notes``.
        at_s: continue from this time, seconds; past the end of the file: from the end.
        seed: int for a reproducible continuation.
        include_drums: keep channel 10 in the prompt.
        warn: called with one line for each oddity that does not stop the run (an
            ``at_s`` past the end; fewer notes than ``n_notes`` because the answer
            reached ``answer.max_seconds``).

    Returns:
        One line saying what was written.

    Raises:
        MidiFileError: ``n_notes`` < 1; the input is unreadable, holds no notes or none
            before ``at_s``; the output cannot be written.
        ModelError: from ``load_model``.
    """
    if n_notes is not None and n_notes < 1:
        raise MidiFileError(f"--notes must be at least 1 (received {n_notes})")
    notes = read_midi(input_path, include_drums=include_drums)
    if not notes:
        raise MidiFileError(f"{input_path}: holds no notes"
                            + ("" if include_drums else " (drums on channel 10 ignored)"))
    prompt = last_notes(notes, preset.context_notes, before_s=at_s)
    if not prompt:
        raise MidiFileError(f"{input_path}: no notes start before --at {at_s} s "
                            f"(the first starts at {notes[0].onset_s:.3f} s)")
    end_s = max(n.end_s for n in notes)
    if at_s is not None and at_s > end_s:
        warn(f"--at {at_s:g} s is past the end of {input_path} (its last note ends at "
             f"{end_s:.2f} s): continuing from the end")
    answer = continue_phrase(load_model(), preset, prompt, n_notes=n_notes, seed=seed)
    continuation = answer.notes
    if n_notes is not None and answer.ended_by_time:
        warn(f"wrote {len(continuation)} of the {n_notes} notes asked: the answer ends after the "
             f"preset's answer.max_seconds ({preset.answer.max_seconds:g} s of music)")
    cut_s = prompt[-1].onset_s
    kept = [n for n in notes if n.onset_s <= cut_s]  # everything up to the end of the prompt
    channels = sorted({n.channel for n in kept})
    tracks = [[n for n in kept if n.channel == ch] for ch in channels]
    names = [f"input ch {ch + 1}" for ch in channels]
    try:
        write_midi([*tracks, continuation], output_path, track_names=[*names, "livegen"])
    except OSError as err:
        raise MidiFileError(f"{output_path}: cannot write ({err.strerror or err})") from err
    start = f"{continuation[0].onset_s:.2f} s" if continuation else "-"
    return (f"wrote {output_path}: {len(kept)} input notes ({len(prompt)} as prompt) "
            f"+ {len(continuation)} livegen notes from {start} (preset {preset.name})")
