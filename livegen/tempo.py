"""The performer's own tempo: a beat grid from their note onsets, when no clock is followed.

Without a MIDI clock, :func:`estimate_grid_from_onsets` derives a
:class:`~livegen.grid.BeatGrid` from the performer's inter-onset intervals
(:class:`OnsetTempo` keeps the recent onsets as they arrive), and
:func:`estimate_tempo_from_onsets` gives its tempo in BPM. The adaptive
silence trigger (:mod:`livegen.triggers`) reads the median interval.

All times are float seconds from the engine's monotonic clock.
"""

from __future__ import annotations

import bisect
import math
import statistics
from collections import deque
from collections.abc import Sequence

from livegen.grid import BeatGrid
from livegen.midi import CLOCKS_PER_BEAT

__all__ = ["OnsetTempo", "estimate_tempo_from_onsets", "estimate_grid_from_onsets"]

CHORD_WINDOW_S = 0.03  # onsets this close are one chord: one onset for tempo purposes
MIN_IOI_S = 0.06  # shorter intervals are ornaments, not the beat's subdivisions
MAX_IOI_S = 2.0  # longer intervals are pauses; they also end a phrase
MIN_IOIS = 3  # intervals needed before a tempo is estimated
CLUSTER_TOLERANCE = 0.08  # intervals within 8 % of a cluster's mean belong to it
MULTIPLE_TOLERANCE = 0.12  # an interval is n units if within 0.12 units of n
PHASE_TOLERANCE = 0.1  # an onset is "on the beat" within 10 % of a beat
#: The beat is folded into this tempo octave (BPM): 150 stays 150, 160 becomes 80, 70 is 140.
#: Which metrical level is "the beat" is ambiguous from onsets alone (Dixon 2001, "Automatic
#: Extraction of Tempo and Beat from Expressive Performances", J. New Music Research 30(1));
#: livegen takes the octave around 100 BPM.
FOLD_BPM = (75.0, 150.0)
ONSET_HISTORY = 32  # distinct onsets an OnsetTempo keeps


def _distinct(onsets_s: Sequence[float]) -> list[float]:
    """Sorted onsets with chord tones (within CHORD_WINDOW_S of a chord's first) merged."""
    distinct: list[float] = []
    for t in sorted(onsets_s):
        if not distinct or t - distinct[-1] > CHORD_WINDOW_S:
            distinct.append(t)
    return distinct


def _unit_s(iois: list[float]) -> float:
    """The most frequent interval (a cluster mean; ties: the shorter), refined by all multiples."""
    clusters: list[list[float]] = []
    for ioi in sorted(iois):
        if clusters and ioi <= statistics.fmean(clusters[-1]) * (1 + CLUSTER_TOLERANCE):
            clusters[-1].append(ioi)
        else:
            clusters.append([ioi])
    unit = statistics.fmean(max(clusters, key=len))  # max() keeps the first (shortest) of ties
    pairs = [(ioi, round(ioi / unit)) for ioi in iois
             if ioi / unit > 1 - MULTIPLE_TOLERANCE
             and abs(ioi / unit - round(ioi / unit)) <= MULTIPLE_TOLERANCE]
    return sum(i * n for i, n in pairs) / sum(n * n for _, n in pairs)


def _fold_beat_s(unit_s: float) -> float:
    """``unit_s`` doubled or halved into the FOLD_BPM tempo octave."""
    shortest, longest = 60.0 / FOLD_BPM[1], 60.0 / FOLD_BPM[0]
    beat = unit_s
    while beat < shortest - 1e-12:
        beat *= 2.0
    while beat >= longest:
        beat /= 2.0
    return beat


def _beat_s(distinct: list[float]) -> float | None:
    iois = [b - a for a, b in zip(distinct, distinct[1:]) if MIN_IOI_S <= b - a <= MAX_IOI_S]
    if len(iois) < MIN_IOIS:
        return None
    return _fold_beat_s(_unit_s(iois))


def estimate_tempo_from_onsets(onsets_s: Sequence[float]) -> float | None:
    """The performer's tempo from their inter-onset intervals.

    Chord tones are merged, intervals outside 60 ms-2 s dropped, and the most
    frequent interval (clustered within 8 %) is refined by least squares over
    every interval that is a whole multiple of it, then doubled or halved into
    75-150 BPM (see :data:`FOLD_BPM`). Binary rhythms (quarters, eighths,
    halves...) come out right; mostly-dotted or triplet rhythms may give a
    tempo 2/3 or 3/2 of the felt one.

    Args:
        onsets_s: note onsets in seconds, any order.

    Returns:
        Quarter notes per minute, or None with fewer than 3 usable intervals.
    """
    beat = _beat_s(_distinct(onsets_s))
    return None if beat is None else 60.0 / beat


def estimate_grid_from_onsets(onsets_s: Sequence[float]) -> BeatGrid | None:
    """A beat grid from the performer's onsets (no clock).

    The tempo is :func:`estimate_tempo_from_onsets`'s. The phase is the one
    shared by most onsets of the last phrase (onsets after the last pause
    longer than 2 s), within 10 % of a beat, averaged over those onsets; the
    beat nearest the phrase's first onset is song position 0, so bars count
    from there.

    Returns:
        The grid, or None with fewer than 3 usable intervals.
    """
    distinct = _distinct(onsets_s)
    beat = _beat_s(distinct)
    if beat is None:
        return None
    phrase = distinct
    for i in range(len(distinct) - 1, 0, -1):
        if distinct[i] - distinct[i - 1] > MAX_IOI_S:
            phrase = distinct[i:]
            break
    anchor, most = phrase[0], 0
    for ref in phrase:  # the candidate phase through each onset; most support wins
        offsets = [_wrap((t - ref) / beat) for t in phrase]
        support = [o for o in offsets if abs(o) <= PHASE_TOLERANCE]
        if len(support) > most:
            anchor, most = ref + statistics.fmean(support) * beat, len(support)
    first_beat = anchor + round((phrase[0] - anchor) / beat) * beat
    return BeatGrid(first_beat, beat / CLOCKS_PER_BEAT, 0)


def _wrap(cycles: float) -> float:
    """A phase in cycles, wrapped to [-0.5, 0.5)."""
    return cycles - math.floor(cycles + 0.5)


class OnsetTempo:
    """The performer's recent distinct onsets: inter-onset intervals and a beat grid.

    Args:
        capacity: distinct onsets kept, >= 2.
    """

    def __init__(self, capacity: int = ONSET_HISTORY) -> None:
        self._onsets: deque[float] = deque(maxlen=capacity)
        self._grid: BeatGrid | None = None
        self._stale = False

    def add(self, onset_s: float) -> None:
        """A performer note_on at ``onset_s`` seconds (chord tones count once)."""
        onsets = self._onsets
        if onsets and onset_s - onsets[-1] <= CHORD_WINDOW_S:
            return
        if onsets and onset_s < onsets[-1]:
            bisect.insort(onsets, onset_s)  # out of order stamps: keep it sorted
        else:
            onsets.append(onset_s)
        self._stale = True

    def clear(self) -> None:
        """Forget every onset."""
        self._onsets.clear()
        self._grid = None
        self._stale = False

    def median_ioi_s(self) -> float | None:
        """Median of the usable inter-onset intervals (60 ms-2 s), or None with fewer than 3."""
        onsets = self._onsets
        iois = [b - a for a, b in zip(onsets, list(onsets)[1:]) if MIN_IOI_S <= b - a <= MAX_IOI_S]
        return statistics.median(iois) if len(iois) >= MIN_IOIS else None

    def grid(self) -> BeatGrid | None:
        """:func:`estimate_grid_from_onsets` of the kept onsets (cached until the next add)."""
        if self._stale:
            self._grid = estimate_grid_from_onsets(self._onsets)
            self._stale = False
        return self._grid
