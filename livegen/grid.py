"""The beat grid: where beats, bar lines and note-value grid lines fall, in seconds.

A :class:`BeatGrid` is a tick period and the time of one song position, in the
units of MIDI beat clock (24 ticks per quarter note, MIDI 1.0). The MIDI clock
follower and the performer's tempo estimate (:mod:`livegen.clock`) both make
one; the triggers and the response (:mod:`livegen.triggers`,
:mod:`livegen.response`) ask it for the next beat or bar line and snap onsets
to it. Times are float seconds from the engine's monotonic clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from livegen.midi import CLOCKS_PER_BEAT

if TYPE_CHECKING:
    from livegen.clock import MidiClock
    from livegen.tempo import OnsetTempo

__all__ = ["BeatGrid", "GridSource", "DIVISIONS", "TICKS_PER_WHOLE", "division_ticks"]

TICKS_PER_WHOLE = 4 * CLOCKS_PER_BEAT  # clock ticks in a whole note
#: Grid step of each note value a preset may quantize to, in clock ticks (``t``: triplet).
DIVISIONS: dict[str, int] = {"1/1": 96, "1/2": 48, "1/4": 24, "1/8": 12, "1/16": 6,
                             "1/32": 3, "1/4t": 16, "1/8t": 8, "1/16t": 4}
assert all(TICKS_PER_WHOLE % ticks == 0 for ticks in DIVISIONS.values())  # lines meet bar lines


def division_ticks(division: str) -> int:
    """Clock ticks per grid step of a note value such as ``1/16`` or ``1/8t``.

    Raises:
        ValueError: ``division`` is not one of :data:`DIVISIONS`.
    """
    try:
        return DIVISIONS[division]
    except (KeyError, TypeError):
        raise ValueError(f"division must be one of {', '.join(DIVISIONS)} "
                         f"(received {division!r})") from None


@dataclass(frozen=True)
class BeatGrid:
    """A steady beat: tick period and the time of one song position.

    Attributes:
        anchor_s: time of song position ``anchor_tick``, seconds.
        tick_s: seconds per clock tick (1/24 quarter note), > 0.
        anchor_tick: song position at ``anchor_s`` in ticks from the song's start.
    """

    anchor_s: float
    tick_s: float
    anchor_tick: int = 0

    @property
    def beat_s(self) -> float:
        """Seconds per quarter note."""
        return self.tick_s * CLOCKS_PER_BEAT

    @property
    def bpm(self) -> float:
        """Quarter notes per minute."""
        return 60.0 / self.beat_s

    def position(self, t_s: float) -> float:
        """Song position at ``t_s``, in ticks (fractional)."""
        return self.anchor_tick + (t_s - self.anchor_s) / self.tick_s

    def time_of(self, tick: float) -> float:
        """Time in seconds of song position ``tick``."""
        return self.anchor_s + (tick - self.anchor_tick) * self.tick_s

    def next_line_s(self, now_s: float, step_ticks: int) -> float:
        """The first grid line at or after ``now_s`` (lines every ``step_ticks`` from position 0)."""
        index = math.ceil(self.position(now_s) / step_ticks - 1e-9)
        return self.time_of(index * step_ticks)

    def next_beat_s(self, now_s: float) -> float:
        """Time of the first quarter-note beat at or after ``now_s``."""
        return self.next_line_s(now_s, CLOCKS_PER_BEAT)

    def next_bar_s(self, now_s: float, beats_per_bar: int = 4, every: int = 1) -> float:
        """Time of the first bar line at or after ``now_s``.

        Args:
            now_s: seconds.
            beats_per_bar: quarter notes per bar; bars start at song position 0.
            every: only every ``every``-th bar line (bars 0, every, 2 x every, ...).
        """
        return self.next_line_s(now_s, CLOCKS_PER_BEAT * beats_per_bar * every)

    def grid_time(self, onset_s: float, division: str, swing: float = 0.0) -> float:
        """The grid line nearest ``onset_s``.

        Args:
            onset_s: seconds.
            division: note value of the grid, one of :data:`DIVISIONS` (``1/16``).
            swing: 0-0.5; every second grid line is delayed by this fraction of
                a step (1/3: triplet swing, 0.5: dotted).

        Raises:
            ValueError: ``division`` is unknown.
        """
        step = division_ticks(division)
        pos = self.position(onset_s) / step
        best_tick, best_gap = 0.0, math.inf
        for index in range(math.floor(pos) - 1, math.floor(pos) + 2):
            line = index + (swing if index % 2 else 0.0)
            if abs(line - pos) < best_gap:
                best_tick, best_gap = line * step, abs(line - pos)
        return self.time_of(best_tick)


class GridSource:
    """The beat grid in force: a followed MIDI clock's, else the performer's own tempo's.

    Built once by the engine with its clock follower and tempo estimate;
    the preset in use says whether the clock is followed (``clock: midi``).

    Args:
        clock: the MIDI beat clock follower.
        tempo: the performer's onsets.
    """

    def __init__(self, clock: MidiClock, tempo: OnsetTempo) -> None:
        self.clock = clock
        self.tempo = tempo

    def grid(self, follow_clock: bool) -> BeatGrid | None:
        """The followed clock's grid when it has one, else the performer's (None: no tempo known).

        Args:
            follow_clock: the preset follows a MIDI clock (``clock: midi``).
        """
        return (follow_clock and self.clock.grid()) or self.tempo.grid()

    def followed(self, follow_clock: bool) -> BeatGrid | None:
        """The followed clock's grid now; None without one, or when no clock is followed.

        Args:
            follow_clock: the preset follows a MIDI clock (``clock: midi``).
        """
        return self.clock.grid() if follow_clock else None
