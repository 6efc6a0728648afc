"""Where an answer's notes go: chords, one melodic line, the grid, the response's end.

One owner for the placement rules that the token-level generator
(:class:`livegen.generation.Generator`) and the response being scheduled
(:class:`livegen.response.Response`) both apply:

- **Chords.** Notes starting within :data:`CHORD_SPAN_S` of a chord's first
  note belong to that chord (:class:`Chord`). A chord never doubles a pitch
  and holds at most :func:`chord_limit` notes (``max_chord``; 1 when
  ``monophonic``); once full, the next onset is at least :data:`CHORD_SPAN_S`
  later (:data:`SHORT_SHIFTS` are the SHIFT tokens it may not draw).
- **One line.** A ``monophonic`` note ends by the next note's onset
  (:func:`end_by_next`).
- **The grid.** With ``quantize`` each onset moves ``quantize_strength`` of the
  way to its grid line, with ``swing`` (:func:`snap_onset`), never before the
  response's start (:class:`Placement`).
- **The end.** No note sounds past the response's end (:func:`fit_window`).
- **Articulation.** With ``articulation: legato`` a chord's top note lasts through the
  gap to the next onset where the player's notes of about that spacing do; with ``player``
  every note of it is also cut where theirs are detached (:class:`Articulation`).
- **The pace.** With ``density_limit`` an answer's notes per second, from its
  first onset, stay within that many times the player's (:class:`DensityLimit`).

Times are float seconds on the engine's clock.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import statistics
from collections.abc import Sequence

import numpy as np

from livegen.grid import BeatGrid
from livegen.notes import Note
from livegen.presets import Preset
from livegen.tokens import DURATION_BINS_S, MAX_SHIFT_S, SHIFT_BINS_S, SHIFT_OFFSET

__all__ = ["CHORD_SPAN_S", "DENSITY_GRACE_NOTES", "LEGATO_MIN_NOTES", "LEGATO_REACH", "LEGATO_SHARE",
           "LEGATO_SPAN", "SHORT_SHIFTS", "SHORTEST_DURATION_S", "Articulation", "Chord", "DensityLimit",
           "Placement", "chord_limit", "end_by_next", "fit_window", "notes_per_second", "snap_onset"]

#: Seconds: answer notes starting less than this after a chord's first note belong to
#: that chord (``max_chord`` counts them); a ``monophonic`` answer's shortest time
#: shift. 40 ms is the first 10 ms shift bin past the 30 ms within which the
#: evaluation counts onsets as one chord (:data:`livegen_train.metrics.CHORD_TOLERANCE_S`).
CHORD_SPAN_S = 0.04
#: Seconds: onsets are sums of 10 ms bins in floating point; closer than this is equal.
TIME_EPS_S = 1e-6
#: SHIFT token ids shorter than a chord's span: a full chord may not draw them.
SHORT_SHIFTS = SHIFT_OFFSET + np.flatnonzero(SHIFT_BINS_S < CHORD_SPAN_S - 1e-9)
assert len(SHORT_SHIFTS) > 0 and SHIFT_BINS_S[0] == 0.0  # shift 0 (a chord tone) is short
#: Notes an answer plays at its own pace before :class:`DensityLimit` holds it to the
#: player's: room for a first chord and a short figure.
DENSITY_GRACE_NOTES = 8
#: :class:`Articulation`: a spacing of the player's is "about" the answer's within this
#: factor either way (half an octave of log2 ratio); at least LEGATO_MIN_NOTES such notes, and
#: their median sounding share of the gap at least LEGATO_SHARE, make the answer hold through it.
#: Chosen on the out-of-corpus dev set (docs/adherence.md, "Twenty-third round").
LEGATO_SPAN = 2 ** 0.5
LEGATO_MIN_NOTES = 2
LEGATO_SHARE = 0.9
#: ... and a spacing with fewer such notes takes the player's LEGATO_MIN_NOTES + 1 spacings
#: nearest it (in log ratio) within this factor: a line moving faster or slower than the
#: player's chords still plays as they do (dev set: folk's rests on legato prompts 0.13 -> 0.08,
#: real 0.03; docs/adherence.md, "Twenty-fifth round").
LEGATO_REACH = 4.0
#: Seconds: the shortest note ``articulation: player`` cuts to (the shortest DUR bin).
SHORTEST_DURATION_S = float(DURATION_BINS_S[0])


def chord_limit(preset: Preset) -> int:
    """The most notes one chord of the answer holds: 1 if ``monophonic``, else ``max_chord``."""
    return 1 if preset.answer.monophonic else preset.answer.max_chord


def end_by_next(duration_s: float, gap_s: float) -> float:
    """A ``monophonic`` note's duration, cut to end by the next onset ``gap_s`` later.

    Args:
        duration_s: the note's duration, seconds.
        gap_s: seconds from its onset to the next note's onset; <= 0 (a chord
            tone, or no later onset) leaves the duration as it is.

    Returns:
        Seconds.
    """
    return min(duration_s, gap_s) if gap_s > 0 else duration_s


def snap_onset(onset_s: float, preset: Preset, grid: BeatGrid | None) -> float:
    """``onset_s`` moved ``quantize_strength`` of the way to its nearest ``quantize`` line.

    Args:
        onset_s: seconds.
        preset: ``quantize``, ``quantize_strength`` and ``swing``.
        grid: the beat grid, or None (``onset_s`` is returned as it is).

    Returns:
        Seconds.
    """
    if grid is None or preset.timing.quantize == "off" or preset.timing.quantize_strength == 0:
        return onset_s
    target = grid.grid_time(onset_s, preset.timing.quantize, preset.timing.swing)
    return onset_s + preset.timing.quantize_strength * (target - onset_s)


def fit_window(note: Note, end_s: float) -> Note | None:
    """``note`` cut to end by ``end_s`` seconds; None if it starts at or after ``end_s``."""
    if note.onset_s >= end_s:
        return None
    if note.end_s > end_s:
        return dataclasses.replace(note, duration_s=end_s - note.onset_s)
    return note


class Chord:
    """The chord being placed: its first onset, its size and its pitches.

    Not thread-safe: one owner (the generator, or a response).

    Attributes:
        start_s: the first note's onset, seconds (None: no chord yet).
        size: notes placed in it.
        pitches: their MIDI pitches (a chord never doubles one).
    """

    def __init__(self) -> None:
        self.start_s: float | None = None
        self.size = 0
        self.pitches: set[int] = set()

    def clear(self) -> None:
        """Forget the chord: the next note starts one."""
        self.start_s, self.size = None, 0
        self.pitches = set()

    def joins(self, onset_s: float) -> bool:
        """Whether a note at ``onset_s`` seconds belongs to this chord (within :data:`CHORD_SPAN_S`)."""
        return self.start_s is not None and onset_s - self.start_s <= CHORD_SPAN_S - TIME_EPS_S

    def add(self, onset_s: float) -> None:
        """Count a note at ``onset_s`` seconds: in this chord, or the first of a new one."""
        if not self.joins(onset_s):
            self.clear()
            self.start_s = onset_s
        self.size += 1

    def full(self, limit: int) -> bool:
        """Whether the chord holds ``limit`` notes or more (:func:`chord_limit`)."""
        return self.size >= limit


class Placement:
    """Places one response's notes: onto the grid, at most a full chord, one line, by its end.

    Not thread-safe: one per response, owned by it.

    Args:
        preset: ``quantize``, ``quantize_strength``, ``swing``, ``max_chord``, ``monophonic``.
        start_s: the response's first onset, seconds: no note is placed before it.
        end_limit_s: no note sounds past this, seconds.
    """

    def __init__(self, preset: Preset, start_s: float, end_limit_s: float) -> None:
        self.preset = preset
        self.start_s = start_s
        self.end_limit_s = end_limit_s
        self.chord = Chord()

    def snap(self, note: Note, next_onset_s: float | None, grid: BeatGrid | None) -> Note | None:
        """``note`` moved towards its grid line (``quantize``); None: skip it.

        Notes from several onsets can snap onto one grid line: one that would
        join a chord already holding :func:`chord_limit` notes, or its pitch,
        is skipped (one key struck twice at one instant is a doubled
        note_on), unless it is past the end anyway. A monophonic note ends by
        the next one's snapped onset; a note that lasted into the next onset
        lasts into its snapped onset.

        Args:
            note: as drawn.
            next_onset_s: the next note's onset as drawn, or None.
            grid: the beat grid to snap to, or None (onsets stay as drawn).
        """
        preset = self.preset
        onset_s = max(snap_onset(note.onset_s, preset, grid), self.start_s)
        chord = self.chord
        if (chord.joins(onset_s) and (chord.full(chord_limit(preset)) or note.pitch in chord.pitches)
                and note.onset_s < self.end_limit_s):
            return None
        if next_onset_s is not None:
            following_s = max(snap_onset(next_onset_s, preset, grid), self.start_s)
            duration_s = note.duration_s
            if note.end_s >= next_onset_s - TIME_EPS_S and following_s - onset_s > CHORD_SPAN_S:
                duration_s = max(duration_s, following_s - onset_s)  # held into the next: still is
            if preset.answer.monophonic:
                duration_s = end_by_next(duration_s, following_s - onset_s)
            note = dataclasses.replace(note, duration_s=duration_s)
        return dataclasses.replace(note, onset_s=onset_s)

    def place(self, note: Note, next_onset_s: float | None,
              grid: BeatGrid | None) -> tuple[Note | None, bool]:
        """Place a drawn note: snapped (with ``quantize``), cut at the end, counted in its chord.

        Args:
            note: as drawn.
            next_onset_s: the next note's onset as drawn, or None.
            grid: the beat grid to snap to, or None.

        Returns:
            ``(note, over)``: the placed note, or None when it is skipped (onto
            a full chord, or a chord already holding its pitch) or past the end;
            ``over`` is True when it is past the end (the response is complete).
        """
        if self.preset.timing.quantize != "off":
            snapped = self.snap(note, next_onset_s, grid)
            if snapped is None:
                return None, False
            note = snapped
        placed = fit_window(note, self.end_limit_s)
        if placed is None:
            return None, True
        self.chord.add(placed.onset_s)
        self.chord.pitches.add(placed.pitch)
        return placed, False


class Articulation:
    """The player's articulation at each spacing (``articulation: legato`` or ``player``).

    For each of the player's notes, the gap to the next later onset (more than
    :data:`CHORD_SPAN_S` after it) and the share of that gap the note sounds
    (at most 1). An answer note followed by a gap like the player's legato gaps
    (:data:`LEGATO_SPAN`, :data:`LEGATO_MIN_NOTES`, :data:`LEGATO_SHARE`) is
    lengthened to their median share of it; with ``detach``, a note followed by
    a gap the player detaches at is cut to their share. Fewer such gaps: the
    player's nearest ones within :data:`LEGATO_REACH` stand in; none there, the
    note is played as drawn. :meth:`hold` does it for a whole chord.
    """

    def __init__(self) -> None:
        self._gaps: list[float] = []  # seconds, ascending
        self._shares: list[float] = []  # the share of each gap its note sounded, 0-1

    def begin(self, answered: Sequence[Note]) -> None:
        """Learn the articulation of ``answered`` (the notes a new answer answers, any order)."""
        onsets = sorted({note.onset_s for note in answered})
        pairs = []
        for note in answered:
            later = bisect.bisect_right(onsets, note.onset_s + CHORD_SPAN_S)
            if later < len(onsets):
                gap_s = onsets[later] - note.onset_s
                pairs.append((gap_s, min(1.0, note.duration_s / gap_s)))
        pairs.sort()
        self._gaps, self._shares = [gap for gap, _ in pairs], [share for _, share in pairs]

    def hold(self, chord: Sequence[Note], next_onset_s: float | None, *, detach: bool = False) -> list[Note]:
        """A chord's notes as long as :meth:`length` makes them for their gaps to ``next_onset_s``.

        Where the player holds their notes through such gaps, only the chord's top note is
        lengthened (the line is joined, the other voices sound as drawn); with ``detach``, where
        the player detaches, every note is cut.

        Args:
            chord: the notes of one chord (onsets within :data:`CHORD_SPAN_S`), as drawn.
            next_onset_s: the next chord's onset, seconds; None leaves them as drawn.
            detach: as in :meth:`length`.
        """
        if next_onset_s is None:
            return list(chord)
        top = max(note.pitch for note in chord)
        return [dataclasses.replace(note, duration_s=self.length(note.duration_s, next_onset_s - note.onset_s,
                                                                 detach=detach, hold=note.pitch == top))
                for note in chord]

    def length(self, duration_s: float, gap_s: float, *, detach: bool = False, hold: bool = True) -> float:
        """Seconds: a note of ``duration_s`` whose next onset is ``gap_s`` later, held as the player would.

        Lengthened (if ``hold``) where the player holds their notes through such gaps, and with
        ``detach`` cut (to at least the shortest duration bin, 10 ms) where they detach; ``gap_s`` <= 0
        (a chord tone, or no later onset) or a gap unlike any of the player's (none within
        :data:`LEGATO_REACH`) leaves it as it is.
        """
        if gap_s <= 0:
            return duration_s
        near = self._shares[bisect.bisect_left(self._gaps, gap_s / LEGATO_SPAN):
                            bisect.bisect_right(self._gaps, gap_s * LEGATO_SPAN)]
        if len(near) < LEGATO_MIN_NOTES:
            near = self._nearest(gap_s)
            if len(near) < LEGATO_MIN_NOTES:
                return duration_s
        share = statistics.median(near)
        if share >= LEGATO_SHARE:
            return max(duration_s, share * gap_s) if hold else duration_s
        return max(min(duration_s, share * gap_s), SHORTEST_DURATION_S) if detach else duration_s

    def _nearest(self, gap_s: float) -> list[float]:
        """The shares of the player's LEGATO_MIN_NOTES + 1 gaps nearest ``gap_s`` (log ratio) within
        :data:`LEGATO_REACH`."""
        gaps, shares = self._gaps, self._shares
        low = bisect.bisect_left(gaps, gap_s)
        high = low  # gaps[low:high] taken so far
        while high - low < LEGATO_MIN_NOTES + 1:
            below = gap_s / gaps[low - 1] if low > 0 else math.inf  # >= 1: how far, as a factor
            above = gaps[high] / gap_s if high < len(gaps) else math.inf
            if min(below, above) > LEGATO_REACH:
                break
            if below <= above:
                low -= 1
            else:
                high += 1
        return shares[low:high]


def notes_per_second(notes: Sequence[Note]) -> float:
    """The player's pace: notes per second from the first onset to the last note end.

    A silence longer than :data:`~livegen.tokens.MAX_SHIFT_S` (4 s: between
    phrases, a pause) counts as 4 s, so a pause does not make the pace look slow.

    Args:
        notes: the notes (any order).

    Returns:
        Notes per second; 0.0 for fewer than 2 notes or no span.
    """
    ordered = sorted(notes, key=lambda n: n.onset_s)
    if len(ordered) < 2:
        return 0.0
    span, end_s = 0.0, ordered[0].onset_s  # end_s: the latest note end so far
    for note in ordered:
        if note.onset_s > end_s:
            span += min(note.onset_s - end_s, MAX_SHIFT_S)
            end_s = note.onset_s
        if note.onset_s + note.duration_s > end_s:
            span += note.onset_s + note.duration_s - end_s
            end_s = note.onset_s + note.duration_s
    return len(ordered) / span if span > 0 else 0.0


class DensityLimit:
    """Holds an answer's notes per second within ``limit`` times the player's (``density_limit``).

    From the answer's first onset, once it has played :data:`DENSITY_GRACE_NOTES`
    notes, the next onset may come no earlier than the one that keeps its
    notes per second at ``limit`` times the pace of the notes it answers
    (:func:`notes_per_second`). So a figure the answer keeps repeating (a
    tremolo of the player's, looped) is spaced out with rests, where the player
    left them, instead of running on at several times their pace.

    Args:
        limit: 0 (no limit) or the most notes per second, as a multiple of the player's.

    Attributes:
        limit: as given; may change mid-answer (a program change), the pace and count go on.
        notes: the notes the answer played so far.
    """

    def __init__(self, limit: float) -> None:
        self.limit = float(limit)
        self._pace = 0.0  # notes per second of the player
        self._start_s = 0.0
        self.notes = 0

    def begin(self, answered: Sequence[Note], onset_s: float) -> None:
        """A new answer to the notes ``answered``, its first onset at ``onset_s`` seconds."""
        self._pace = notes_per_second(answered)  # also when off: a new preset may set a limit
        self._start_s = onset_s
        self.notes = 0

    def add(self) -> None:
        """The answer played one more note."""
        self.notes += 1

    def too_soon(self, clock_s: float | None) -> np.ndarray | None:
        """The SHIFT token ids the next onset may not take after ``clock_s``, or None (any may).

        Always leaves the longest shift, so a draw is never impossible.
        """
        if self.limit <= 0 or self._pace <= 0 or clock_s is None or self.notes < DENSITY_GRACE_NOTES:
            return None
        earliest_s = self._start_s + (self.notes + 1) / (self.limit * self._pace)
        wait_s = min(earliest_s - clock_s, MAX_SHIFT_S)
        if wait_s <= 0:
            return None
        return SHIFT_OFFSET + np.flatnonzero(SHIFT_BINS_S < wait_s - 1e-9)
