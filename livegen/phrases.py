"""What a phrase is and how it is played: its notes, its span, whether it is one line.

Read by the triggers (``answer_length: match``), the generator
(``monophonic: auto``), the listener (``monophonic: true`` follows one voice of
the player's chords, :func:`voice_line`) and offline continuation, so the daemon and
``livegen continue`` measure a phrase the same way.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Sequence

from livegen.notes import Note
from livegen.placement import CHORD_SPAN_S
from livegen.presets import Preset

__all__ = ["last_phrase", "phrase_span_s", "notes_per_onset", "plays_one_line", "with_line",
           "answer_preset", "melody_line", "middle_line", "voice_line", "LINE_NOTES_PER_ONSET"]

#: A phrase with at most this many notes per onset (chord tones within
#: :data:`livegen.placement.CHORD_SPAN_S` are one onset) is one line: a grace
#: note or one double stop in ten onsets still is.
LINE_NOTES_PER_ONSET = 1.1


def last_phrase(notes: Iterable[Note], silence_s: float) -> list[Note]:
    """The notes after the last silence of at least ``silence_s`` seconds, in onset order.

    What the ``silence`` trigger would have answered last: a silence is a gap
    between a note's onset and the end of every note before it.
    """
    ordered = sorted(notes, key=lambda n: (n.onset_s, n.pitch))
    first, end_s = 0, -math.inf
    for i, note in enumerate(ordered):
        if note.onset_s - end_s >= silence_s:
            first = i
        end_s = max(end_s, note.end_s)
    return ordered[first:]


def phrase_span_s(notes: Sequence[Note]) -> float | None:
    """How long a phrase lasts: its first onset to its last note's end, seconds (None: no notes)."""
    if not notes:
        return None
    return max(n.end_s for n in notes) - min(n.onset_s for n in notes)


def notes_per_onset(notes: Iterable[Note]) -> float | None:
    """Mean notes per onset: a note starting within ``CHORD_SPAN_S`` of an onset's first note
    belongs to it (1.0: one line; None: no notes)."""
    onsets = sorted(n.onset_s for n in notes)
    if not onsets:
        return None
    groups, first = 0, -math.inf
    for onset_s in onsets:
        if onset_s - first >= CHORD_SPAN_S:
            groups, first = groups + 1, onset_s
    return len(onsets) / groups


def plays_one_line(notes: Iterable[Note]) -> bool:
    """Whether a phrase is one line: at most :data:`LINE_NOTES_PER_ONSET` notes per onset.

    No notes: False (chords stay allowed).
    """
    ratio = notes_per_onset(notes)
    return ratio is not None and ratio <= LINE_NOTES_PER_ONSET


def with_line(preset: Preset, one_line: bool) -> Preset:
    """``preset`` with ``monophonic: auto`` made ``one_line`` (true or false); other presets unchanged."""
    if preset.answer.monophonic != "auto":
        return preset
    return preset.replace(monophonic=one_line)


def answer_preset(preset: Preset, heard: Iterable[Note]) -> Preset:
    """The preset an answer to ``heard`` is drawn with: ``monophonic: auto`` made true when the
    last phrase of ``heard`` (after its last silence of ``silence_s``) is one line, else false."""
    if preset.answer.monophonic != "auto":
        return preset
    return with_line(preset, plays_one_line(last_phrase(heard, preset.triggering.silence_s)))


def _with_chords(notes: Iterable[Note], around: Iterable[Note] | None) -> Iterator[tuple[Note, list[Note]]]:
    """Each of ``notes`` in onset order (then pitch), with its chord: the notes of ``around``
    (default ``notes``) starting within :data:`livegen.placement.CHORD_SPAN_S` of it."""
    ordered = sorted(notes, key=lambda n: (n.onset_s, n.pitch))
    others = ordered if around is None else sorted(around, key=lambda n: (n.onset_s, n.pitch))
    onsets = [n.onset_s for n in others]
    for note in ordered:
        near = others[bisect_left(onsets, note.onset_s - CHORD_SPAN_S):
                      bisect_right(onsets, note.onset_s + CHORD_SPAN_S)]
        yield note, [o for o in near if abs(o.onset_s - note.onset_s) < CHORD_SPAN_S]


def melody_line(notes: Iterable[Note], around: Iterable[Note] | None = None) -> list[Note]:
    """The notes of ``notes`` that are the top of their chord: the melody a single line carries on.

    A note is left out when a higher note, or the same pitch earlier, starts
    within :data:`livegen.placement.CHORD_SPAN_S` of it (before or after) among
    ``around``. A ``monophonic: true`` preset is primed with this line only, so
    its answer to chords carries on their top line, not their chord tones: on
    out-of-corpus prompts (docs/adherence.md) folk's answers to chordal parts
    reused the prompt's motifs 0.77 of the time against 0.49, nearer the real 0.60.

    Args:
        notes: the notes to filter.
        around: every note that may be played with them (the listener's buffer);
            default ``notes`` themselves.

    Returns:
        The notes kept, in onset order (then pitch).
    """
    return [note for note, chord in _with_chords(notes, around)
            if not any(o.pitch > note.pitch or (o.pitch == note.pitch and o.onset_s < note.onset_s)
                       for o in chord)]


def middle_line(notes: Iterable[Note], around: Iterable[Note] | None = None) -> list[Note]:
    """The notes of ``notes`` that are the middle of their chord: a line in the register the hands span.

    A note's chord is every note of ``around`` starting within
    :data:`livegen.placement.CHORD_SPAN_S` of it (itself included); the note is
    kept when it is that chord's median by pitch (of an even count, the upper
    one of the two middle notes: of two notes the top). A single line keeps every
    note. On out-of-corpus chordal prompts (docs/adherence.md, eighth round) folk's
    one line answering this voice instead of the top one drifted 2.2 semitones
    from the prompt's register instead of 3.4 (the real continuation 1.7).

    Args:
        notes: the notes to filter.
        around: every note that may be played with them (the listener's buffer);
            default ``notes`` themselves.

    Returns:
        The notes kept, in onset order (then pitch).
    """
    kept = []
    for note, chord in _with_chords(notes, around):
        chord.sort(key=lambda n: (n.pitch, n.onset_s))
        if not chord or chord[len(chord) // 2] == note:
            kept.append(note)
    return kept


def voice_line(notes: Iterable[Note], voice: str, around: Iterable[Note] | None = None) -> list[Note]:
    """The line of ``notes`` a ``monophonic: true`` answer hears: ``voice`` ``"top"``
    (:func:`melody_line`) or ``"middle"`` (:func:`middle_line`) of each chord.

    Raises:
        ValueError: another ``voice`` (a preset checks ``chord_voice`` when it loads).
    """
    if voice == "top":
        return melody_line(notes, around)
    if voice == "middle":
        return middle_line(notes, around)
    raise ValueError(f"chord voice {voice!r}: top or middle")
