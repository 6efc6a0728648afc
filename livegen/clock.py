"""Beats: following a DAW's MIDI beat clock; which grid a response follows.

:class:`MidiClock` follows MIDI beat clock as the MIDI 1.0 specification
defines it: Timing Clock (0xF8) 24 times per quarter note, Start (0xFA: the
next clock is song position 0), Stop (0xFC), Continue (0xFB: go on from the
position reached, or the one a Song Position Pointer set) and Song Position
Pointer (0xF2: position in MIDI beats, 1 MIDI beat = a 16th note = 6 clocks).

Each clock is stamped on arrival (by the port: from its frame on livegen's
one-client JACK port, up to a millisecond late through rtmidi's polled JACK
port; the JACK cycle and the thread's wake-up add their own), so single tick
intervals jitter by a millisecond or
more. The tempo and phase therefore come from a least-squares line through the
last :data:`WINDOW_TICKS` tick times (tick number -> seconds), refitted without
the ticks whose residual is far beyond the median absolute residual (a thread
woken late). At 120 BPM with 0.5 ms of stamping jitter, a 96-tick window puts a
beat 1 s ahead within about 0.1 ms. Clocks lost on the way are counted and a
phase step restarts the fit (see :data:`STEP_MIN_S`); a jump across a server
stall the input port reports is always a phase step (``MidiClock(stalled=)``).

A :class:`~livegen.grid.BeatGrid` is the result: a tick period and one
anchored tick. It answers where the next beat or bar line is and snaps onsets
to a note-value grid. Without a clock, the performer's own tempo gives one
(:class:`livegen.tempo.OnsetTempo`); :class:`GridSource` says which of the two
is in force for a preset.

All times are float seconds from the engine's monotonic clock.
"""

from __future__ import annotations

import itertools
import statistics
from collections import deque
from collections.abc import Callable

import mido
import numpy as np

from livegen.grid import BeatGrid
from livegen.midi import CLOCKS_PER_BEAT, CLOCKS_PER_SPP_UNIT
from livegen.tempo import OnsetTempo

__all__ = ["MidiClock", "GridSource"]

WINDOW_TICKS = 96  # ticks in the tempo fit: 4 beats (2 s at 120 BPM)
MIN_FIT_TICKS = 12  # below this (half a beat), keep the previous tempo and fit only the phase
#: A tick later than this many tick periods after the one before starts a new fit (the
#: clock paused: a Stop without its message, a DAW that stops sending while stopped).
GAP_TICK_PERIODS = 4.0
GAP_UNKNOWN_S = 0.25  # the same, before any tempo is known (30 BPM = 83 ms per tick)
#: A jump: one tick interval off the period by more than this, seconds, and the next two
#: within half of it. If the interval is 2-4 periods (within LOST_TOLERANCE), ticks were
#: lost (a JACK client that missed a cycle; a DAW that skipped ahead after a dropout): they
#: are counted. Otherwise the phase stepped (a clock that stalled and did not catch up, as a
#: starved JACK server's does): the fit restarts from the ticks after the step. A single late
#: tick (a long interval, then a short one) is neither: the fit drops it as an outlier.
STEP_MIN_S = 0.004
LOST_TOLERANCE = 0.2  # periods
MAX_LOST_TICKS = 3
PERIOD_GAPS = 8  # the tick period for gap and step checks: median of the last 8 intervals
PHASE_REF_TICKS = 8  # ticks whose median phase the last three are checked against
#: The last three ticks agree on a jump when their offsets from that phase differ by at
#: most this many periods (5.2 ms at 120 BPM: JACK's period plus polling is ~2.5 ms).
STEADY_PERIODS = 0.25
OUTLIER_MADS = 4.0  # residuals beyond this many robust standard deviations are dropped
OUTLIER_FLOOR_S = 0.001  # ... but never one within 1 ms (the stamping jitter itself)
MAD_TO_SIGMA = 1.4826  # normal distribution: sigma = 1.4826 x median absolute deviation


class MidiClock:
    """Follows MIDI beat clock: running state, song position, tempo and beat grid.

    Not thread-safe: the engine thread owns it. Feed every message with
    :meth:`handle` (or the per-message methods) in arrival order.

    Args:
        window_ticks: ticks in the tempo fit, >= 2.
        stalled: ``stalled(t0_s, t1_s)`` says whether the MIDI server stalled
            between two stamps (:meth:`livegen.ports.base.InputPort.stalled_between`);
            None when unknown. A tick one period late after a stall is a phase step,
            not a lost tick: a stalled JACK server's timeline, the clock source's
            included, moves on from where it stopped.

    Raises:
        ValueError: ``window_ticks`` < 2.

    Attributes:
        running: between Start/Continue and Stop.
        position: song position (ticks) of the last clock counted while running, or None.
        ticks: clocks received since construction.
    """

    def __init__(self, window_ticks: int = WINDOW_TICKS,
                 stalled: Callable[[float, float], bool] | None = None) -> None:
        if not isinstance(window_ticks, int) or window_ticks < 2:
            raise ValueError(f"window_ticks must be an integer >= 2 (received {window_ticks!r})")
        self.stalled = stalled
        self._times: deque[float] = deque(maxlen=window_ticks)
        self._seqs: deque[int] = deque(maxlen=window_ticks)
        self._seq = 0  # free-running tick counter (the fit's x axis)
        self._tick_s: float | None = None  # last fitted tick period
        self._period_s: float | None = None  # median of the recent tick intervals
        self._grid: BeatGrid | None = None
        self._stale = True
        self._next_position = 0  # song position the next clock gets once running
        self.running = False
        self.position: int | None = None
        self.ticks = 0

    def handle(self, msg: mido.Message, t_s: float) -> bool:
        """Feed one message; return whether it was a clock message (and so used).

        Args:
            msg: any mido message; ``clock``, ``start``, ``stop``, ``continue``
                and ``songpos`` are used.
            t_s: arrival time, seconds.
        """
        kind = msg.type
        if kind == "clock":
            self.tick(t_s)
        elif kind == "start":
            self.start()
        elif kind == "continue":
            self.resume()
        elif kind == "stop":
            self.stop()
        elif kind == "songpos":
            self.song_position(msg.pos)
        else:
            return False
        return True

    def start(self) -> None:
        """Start (0xFA): run from song position 0; the next clock is position 0."""
        self._next_position = 0
        self.running = True
        self.position = None
        self._stale = True

    def resume(self) -> None:
        """Continue (0xFB): run from the position reached (or set by :meth:`song_position`)."""
        self.running = True
        self.position = None
        self._stale = True

    def stop(self) -> None:
        """Stop (0xFC): positions stop advancing; the tempo is kept."""
        self.running = False
        self._stale = True

    def song_position(self, sixteenths: int) -> None:
        """Song Position Pointer (0xF2): the position Continue resumes from.

        Args:
            sixteenths: MIDI beats (16th notes) from the song's start, 0-16383.
        """
        self._next_position = int(sixteenths) * CLOCKS_PER_SPP_UNIT
        self._stale = True

    def tick(self, t_s: float) -> None:
        """Timing Clock (0xF8) arrived at ``t_s`` seconds."""
        self.ticks += 1
        times = self._times
        period = None
        if len(times) > PERIOD_GAPS:
            recent = list(itertools.islice(times, len(times) - PERIOD_GAPS - 1, None))
            period = self._period_s = statistics.median(b - a for a, b in zip(recent, recent[1:]))
        if times:
            gap_s = t_s - times[-1]
            if gap_s < 0 or gap_s > (GAP_UNKNOWN_S if period is None
                                     else GAP_TICK_PERIODS * period):
                times.clear()
                self._seqs.clear()
        self._seq += 1
        times.append(t_s)
        self._seqs.append(self._seq)
        if self.running:
            self.position = self._next_position
            self._next_position += 1
        if period is not None and len(times) > 3:
            self._check_jump(period)
        self._stale = True

    def _check_jump(self, period: float) -> None:
        """Count lost ticks, or restart the fit after a phase step, three ticks back.

        The last three ticks are placed against the robust line through the
        ticks before them (or, with fewer than :data:`MIN_FIT_TICKS`, the
        median phase of up to :data:`PHASE_REF_TICKS`), not against the single
        tick before, so stamping jitter of a few ms does not hide a lost tick
        (with 3 ms of jitter, comparing intervals missed one in three). All
        three must agree (within :data:`STEADY_PERIODS` of a period): a lost
        tick moves them all by one period, a phase step by the same fraction,
        a single late stamp only the first. A jump across a server stall
        (:attr:`stalled`) is a phase step whatever its size.
        """
        times, seqs = self._times, self._seqs
        n = len(times)
        if n - 3 >= MIN_FIT_TICKS:  # the line through the ticks before: precise phase and period
            x = np.fromiter(itertools.islice(seqs, n - 3), float, n - 3)
            y = np.fromiter(itertools.islice(times, n - 3), float, n - 3)
            slope, intercept = _robust_line(x - x[-1], y)
            if abs(slope - period) <= STEP_MIN_S / 2:
                period = slope
                offsets = [(times[i] - intercept) / period - (seqs[i] - x[-1])
                           for i in (n - 3, n - 2, n - 1)]
            else:
                return  # the tempo is changing: no jump to judge against
        else:
            ref_n = min(PHASE_REF_TICKS, n - 3)
            ref = statistics.median(times[i] - seqs[i] * period for i in range(n - 3 - ref_n, n - 3))
            offsets = [(times[i] - ref) / period - seqs[i] for i in (n - 3, n - 2, n - 1)]
        if abs(offsets[0]) * period <= STEP_MIN_S:
            return
        middle = statistics.median(offsets)
        if abs(middle) * period <= STEP_MIN_S:
            return  # one stamp late: the fit drops outliers
        if max(abs(o - middle) for o in offsets) > max(STEADY_PERIODS, STEP_MIN_S / period):
            return  # a late stamp, or not settled yet
        lost = round(middle)
        # a server stall between the jump's two ticks moved the phase: no tick was lost
        stall = self.stalled is not None and n >= 4 and self.stalled(times[n - 4], times[n - 3])
        if not stall and 1 <= lost <= MAX_LOST_TICKS and abs(middle - lost) <= LOST_TOLERANCE:
            for i in (-3, -2, -1):
                seqs[i] += lost
            self._seq += lost
            if self.running and self.position is not None:
                self.position += lost
                self._next_position += lost
        else:
            for _ in range(len(times) - 3):  # the phase jumped before the three: fit from there
                times.popleft()
                seqs.popleft()

    @property
    def tempo_bpm(self) -> float | None:
        """Quarter notes per minute from the fit (kept across Stop), or None before 2 ticks."""
        self.grid()
        return None if self._tick_s is None else 60.0 / (self._tick_s * CLOCKS_PER_BEAT)

    def grid(self) -> BeatGrid | None:
        """The beat grid now: None unless running with a counted clock and a known tempo."""
        if self._stale:
            self._grid = self._fit()
            self._stale = False
        return self._grid

    def next_beat_s(self, now_s: float) -> float | None:
        """Time of the next beat at or after ``now_s``, or None without a grid."""
        grid = self.grid()
        return None if grid is None else grid.next_beat_s(now_s)

    def next_bar_s(self, now_s: float, beats_per_bar: int = 4) -> float | None:
        """Time of the next bar line at or after ``now_s``, or None without a grid."""
        grid = self.grid()
        return None if grid is None else grid.next_bar_s(now_s, beats_per_bar)

    def grid_time(self, onset_s: float, division: str, swing: float = 0.0) -> float:
        """``onset_s`` moved to the nearest ``division`` line; unchanged without a grid."""
        grid = self.grid()
        return onset_s if grid is None else grid.grid_time(onset_s, division, swing)

    def _fit(self) -> BeatGrid | None:
        """Fit tick times, update the tempo; the grid if running with a counted clock."""
        n = len(self._times)
        if n == 0:
            return None
        times = np.fromiter(self._times, float, n)
        x = np.fromiter(self._seqs, float, n) - self._seq  # the last tick at x = 0
        known = self._tick_s if self._tick_s is not None else self._period_s
        if n >= MIN_FIT_TICKS or (n >= 2 and known is None):
            slope, last_s = _robust_line(x, times)
            if slope > 0:
                self._tick_s = slope
            else:
                last_s = times[-1]
        elif known is not None:  # too few ticks: the tempo known, the phase fitted
            self._tick_s = known
            last_s = float(np.mean(times - known * x))
        else:
            return None
        if not self.running or self.position is None or self._tick_s is None:
            return None
        return BeatGrid(float(last_s), self._tick_s, self.position)


def _line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares ``y = a + b x`` in closed form; returns ``(b, a)``.

    Not ``np.polyfit``: it goes through LAPACK, and the first fit in the daemon
    (at its first trigger) took 18 ms, far beyond the 2 ms budget of a beat.
    """
    x_mean, y_mean = x.mean(), y.mean()
    dx = x - x_mean
    b = float((dx * (y - y_mean)).sum() / (dx * dx).sum())
    return b, float(y_mean - b * x_mean)


def _median(values: np.ndarray) -> float:
    """Median by sorting (``np.median`` cost 14 ms on its first call in a process)."""
    ordered = np.sort(values)
    n = len(ordered)
    return float(0.5 * (ordered[(n - 1) // 2] + ordered[n // 2]))


def _robust_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares ``y = a + b x``, refitted once without outliers; returns ``(b, a)``."""
    b, a = _line(x, y)
    if len(x) > 4:
        residuals = y - (a + b * x)
        mad = _median(np.abs(residuals - _median(residuals)))
        keep = np.abs(residuals) <= max(OUTLIER_MADS * MAD_TO_SIGMA * mad, OUTLIER_FLOOR_S)
        if 2 <= keep.sum() < len(x):
            b, a = _line(x[keep], y[keep])
    return b, a


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
