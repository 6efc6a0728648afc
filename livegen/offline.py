"""Offline continuation (``livegen continue``): a phrase answered exactly as the daemon would.

The same :class:`~livegen.generation.Generator` and placement rules as the
daemon's :class:`~livegen.engine.Engine`, without clock or ports: the prompt
is primed, the response begins after it and runs to ``n_notes`` notes or
``max_seconds`` of music. With ``quantize``, onsets snap to the grid of the
prompt's own pulse, as the daemon snaps to the performer's when it follows no
MIDI clock, measured over the same onsets the daemon's listener keeps
(:func:`prompt_grid`). With ``answer_length: match`` the answer lasts as long
as the prompt's last phrase (:func:`livegen.phrases.last_phrase`), in whole
bars of that pulse when it has one.

For a phrase of at most ``context_notes`` notes, played to the daemon after a
start or reset and ended by silence, both give the same notes at the same
times for the same seed. The daemon also carries what was played before
that window: its session model (``follow``) learns the whole session.
"""

from __future__ import annotations

import bisect
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import mido

from livegen.errors import MidiFileError
from livegen.generation import Generator
from livegen.grid import BeatGrid
from livegen.guidance import StepModel
from livegen.model import preset_model
from livegen.notes import DEFAULT_TEMPO_US, Note, last_notes, read_midi
from livegen.phrases import last_phrase, phrase_span_s, voice_line
from livegen.placement import Placement
from livegen.presets import Preset
from livegen.tempo import OnsetTempo
from livegen.triggers import match_length_s, needs_grid, plan_response, silence_threshold_s

__all__ = ["continue_notes", "continue_phrase", "continue_file", "prompt_grid", "daemon_gap_s",
           "answer_notes", "Continuation"]


@dataclass(frozen=True)
class Continuation:
    """A phrase's continuation and why it ended (:func:`continue_phrase`).

    Attributes:
        notes: the generated notes in onset order, in the prompt's time base.
        asked: the most notes asked for (``n_notes``, or the preset's ``max_notes``).
        drawn: the notes drawn, placed or not (a note snapped onto a full chord counts).
        end_s: where the answer's time ends (``answer.max_seconds``, or the matched length), seconds.
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
    onset, then pitch; with ``monophonic: true``, of its ``chord_voice`` line as the daemon's
    listener does, :func:`livegen.phrases.voice_line`), begins the response ``gap_s`` after the prompt's last
    note ends, and generates until ``n_notes`` notes or ``preset.answer.max_seconds``
    of music (a note starting later is dropped; one ending later is cut); with
    ``answer_length: match``, as much music as the prompt's last phrase lasts
    (:func:`livegen.phrases.last_phrase`, :func:`livegen.triggers.match_length_s`). Notes
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
    answer = preset.answer  # a single line hears one voice of the chords, as the listener does
    primed = voice_line(ordered, answer.chord_voice) if answer.monophonic is True else ordered
    for note in primed[-preset.context_notes:]:
        generator.prime(note)
    start_s = (max(n.end_s for n in ordered) if ordered else 0.0) + gap_s
    match = preset.answer.answer_length == "match" and bool(ordered)
    grid = prompt_grid(ordered) if preset.timing.quantize != "off" or match else None
    length_s = preset.answer.max_seconds
    if match:
        span_s = phrase_span_s(last_phrase(ordered, preset.triggering.silence_s))
        length_s = match_length_s(span_s, preset, grid)
    if preset.timing.quantize == "off":
        grid = None  # the pulse measured the phrase; onsets stay where the model put them
    generator.begin_response(start_s)
    placement = Placement(generator.answer_preset, start_s, start_s + length_s)
    notes: list[Note] = []
    drawn = 0
    over = False
    while drawn < count:
        note, over = placement.place(generator.next_note(), generator.next_onset_s, grid)
        drawn += 1  # a note snapped onto a full chord (or its pitch) counts, as in the daemon
        if over:
            break
        if note is not None:
            notes.append(note)
    return Continuation(notes, count, drawn, start_s + length_s, over)


def prompt_grid(prompt: Sequence[Note]) -> BeatGrid | None:
    """The beat grid the daemon's listener would hold after hearing ``prompt`` (no clock).

    The performer's onsets fed one by one to an :class:`~livegen.tempo.OnsetTempo`,
    as the listener feeds them: its grid comes from the last
    :data:`~livegen.tempo.ONSET_HISTORY` distinct onsets only.

    Returns:
        The grid, or None without a pulse (fewer than 3 usable intervals).
    """
    return _heard_tempo(prompt).grid()


def _heard_tempo(prompt: Sequence[Note]) -> OnsetTempo:
    """The listener's :class:`~livegen.tempo.OnsetTempo` after ``prompt``'s onsets, in order."""
    tempo = OnsetTempo()
    for note in sorted(prompt, key=lambda n: n.onset_s):
        tempo.add(note.onset_s)
    return tempo


def daemon_gap_s(prompt: Sequence[Note], preset: Preset) -> float:
    """The rest the daemon leaves between ``prompt``'s end and its answer, seconds >= 0.

    With ``trigger: silence`` it answers once the performer has been silent for
    the silence threshold (``silence_s``, or with ``silence_adaptive`` twice
    their median inter-onset interval within its bounds), on the next grid
    line, beat or bar of their pulse that ``quantize`` or ``quantize_start``
    asks for (:func:`livegen.triggers.plan_response`, the grid of
    :func:`prompt_grid`). Pass it as ``gap_s`` to :func:`continue_notes` for the
    answer the daemon plays. Other triggers: no silence, only the grid line.
    No MIDI clock is assumed, and no pedal (the prompt ends at its last note's end).

    Returns:
        0.0 for an empty prompt.
    """
    if not prompt:
        return 0.0
    end_s = max(n.end_s for n in prompt)
    tempo = _heard_tempo(prompt)
    instant_s = end_s
    if preset.triggering.trigger == "silence":
        median_ioi_s = tempo.median_ioi_s() if preset.triggering.silence_adaptive else None
        instant_s += silence_threshold_s(preset, median_ioi_s)
    start_s, _ = plan_response(instant_s, preset, tempo.grid() if needs_grid(preset) else None)
    return start_s - end_s


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


def answer_notes(model: StepModel, preset: Preset, prompt: Sequence[Note], *,
                 n_notes: int | None = None, seed: int | None = None) -> list[Note]:
    """The daemon's answer to ``prompt`` played to it: :func:`continue_notes` after :func:`daemon_gap_s`.

    What the evaluation measures (``livegen evaluate``): the daemon cannot
    answer before its trigger, and the rest it leaves is the first time shift
    the model is fed, so it shapes the whole answer. Same arguments and errors
    as :func:`continue_notes`; ``model`` may be a :class:`livegen.model.ModelSet`
    (each preset its own model).
    """
    return continue_notes(preset_model(model, preset), preset, prompt, n_notes=n_notes, seed=seed,
                          gap_s=daemon_gap_s(prompt, preset))


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
    plot: Callable[[Sequence[Note], Sequence[Note]], None] | None = None,
) -> str:
    """``livegen continue``: a MIDI file kept whole, plus its continuation on a track of its own.

    The prompt is the last ``preset.context_notes`` notes starting before
    ``at_s`` (default: the whole file). The output holds every input track
    unchanged (the same messages, drums included, with the same
    ``ticks_per_beat`` and tempo map; a type 0 file becomes type 1), then a
    track ``livegen`` with the continuation on ``preset.channel``, placed in
    ticks by the file's own tempo map. With ``at_s`` inside the file, the
    file's own continuation and livegen's sit on separate tracks.

    Args:
        input_path, output_path: the MIDI file read and the one written.
        preset: the preset in use.
        load_model: called once the input is known to be good.
        n_notes: most notes to generate, >= 1; default ``preset.answer.max_notes``.
        at_s: continue from this time, seconds; past the end of the file: from the end.
        seed: int for a reproducible continuation.
        include_drums: put channel 10 in the prompt (it is written back either way).
        warn: called with one line for each oddity that does not stop the run (an
            ``at_s`` past the end; fewer notes than ``n_notes`` because the answer
            reached ``answer.max_seconds``).
        plot: called with the prompt and the continuation (notes in seconds) after
            the file is written, e.g. to draw them (:func:`livegen.pianoroll.plot_piano_roll`).

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
        limit = ("the prompt's last phrase (answer_length: match)" if preset.answer.answer_length == "match"
                 else f"the preset's answer.max_seconds ({preset.answer.max_seconds:g} s of music)")
        warn(f"wrote {len(continuation)} of the {n_notes} notes asked: the answer ends after {limit}")
    midi = mido.MidiFile(os.fspath(input_path))  # read_midi has read it: it is a good file
    kept = len(midi.tracks)
    midi.tracks.append(_note_track(continuation, "livegen", midi))
    midi.type = 1
    try:
        midi.save(os.fspath(output_path))
    except OSError as err:
        raise MidiFileError(f"{output_path}: cannot write ({err.strerror or err})") from err
    if plot is not None:
        plot(prompt, continuation)
    start = f"{continuation[0].onset_s:.2f} s" if continuation else "-"
    return (f"wrote {output_path}: the input's {kept} track{'s' if kept != 1 else ''} unchanged "
            f"({len(prompt)} notes as prompt) + {len(continuation)} livegen notes from {start} "
            f"(preset {preset.name})")


def _tempo_map(midi: mido.MidiFile) -> list[tuple[int, float, int]]:
    """``[(tick, onset_s, tempo_us)]``: where each tempo starts, as mido plays the file.

    Tempo changes in any track apply to all (SMF 1.0, type 1: they belong in the
    first track, but mido honours them anywhere, and so do the seconds of :func:`read_midi`).
    """
    changes: list[tuple[int, int]] = []
    for track in midi.tracks:
        tick = 0
        for msg in track:
            tick += msg.time
            if msg.type == "set_tempo":
                changes.append((tick, msg.tempo))
    changes.sort(key=lambda change: change[0])  # stable: a track's own order holds at one tick
    segments = [(0, 0.0, DEFAULT_TEMPO_US)]
    for tick, tempo_us in changes:
        last_tick, last_s, last_tempo = segments[-1]
        onset_s = last_s + mido.tick2second(tick - last_tick, midi.ticks_per_beat, last_tempo)
        segments.append((tick, onset_s, tempo_us))
    return segments


def _note_track(notes: Sequence[Note], name: str, midi: mido.MidiFile) -> mido.MidiTrack:
    """One track named ``name`` holding ``notes`` (seconds), in ``midi``'s ticks and tempo map."""
    segments = _tempo_map(midi)
    starts_s = [onset_s for _, onset_s, _ in segments]

    def tick_at(time_s: float) -> int:
        tick, onset_s, tempo_us = segments[max(bisect.bisect_right(starts_s, time_s) - 1, 0)]
        return tick + round(mido.second2tick(max(time_s - onset_s, 0.0), midi.ticks_per_beat, tempo_us))

    events: list[tuple[int, int, mido.Message]] = []
    for note in notes:
        on_tick = tick_at(note.onset_s)
        off_tick = max(tick_at(note.end_s), on_tick + 1)
        # note_offs sort before note_ons at the same tick so a repeated pitch re-strikes
        events.append((on_tick, 1, mido.Message("note_on", note=note.pitch, velocity=note.velocity,
                                                 channel=note.channel)))
        events.append((off_tick, 0, mido.Message("note_off", note=note.pitch, velocity=0,
                                                  channel=note.channel)))
    events.sort(key=lambda event: (event[0], event[1]))
    track = mido.MidiTrack([mido.MetaMessage("track_name", name=name, time=0)])
    last = 0
    for tick, _, msg in events:
        track.append(msg.copy(time=tick - last))
        last = tick
    track.append(mido.MetaMessage("end_of_track", time=0))
    return track
