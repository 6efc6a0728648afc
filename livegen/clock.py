"""Beats: following a DAW's MIDI beat clock; which grid a response follows.

:class:`MidiClock` follows MIDI beat clock as the MIDI 1.0 specification
defines it: Timing Clock (0xF8) 24 times per quarter note, Start (0xFA: the
next clock is song position 0), Stop (0xFC), Continue (0xFB: go on from the
position reached, or the one a Song Position Pointer set) and Song Position
Pointer (0xF2: position in MIDI beats, 1 MIDI beat = a 16th note = 6 clocks).

Each clock is stamped on arrival (by the port: from its frame on livegen's
one-client JACK port, up to a millisecond late through rtmidi's polled JACK
port; the JACK cycle and the thread's wake-up add their own), and hardware,
USB and some DAW clocks jitter by +-3 ms on their own: single tick intervals
are useless at 300 BPM (8.3 ms a tick). The tempo and phase therefore come
from a line through up to :data:`WINDOW_TICKS` tick times, its window chosen
tick by tick (:func:`livegen.clockfit.fit_ticks`): the whole window while the
tempo holds, the ticks since a tempo change after one. Measured with seeded
jitter (tests/livegen/test_clock.py): under +-3 ms plus the stamping, the grid
a beat ahead stays within 2 ms at 60-300 BPM (the old 96-tick fit: 6.8 ms,
and false lost ticks); a tempo step is followed within 6 ms from 2 beats after
it and within 2 ms from 8 beats; a clean clock's within 12 ticks.

Clocks lost on the way are counted, and a phase step moves the ticks before it
so the line goes on (see :data:`STEP_MIN_S`). A jump is judged by two models
of the ticks around it (:func:`livegen.clockfit.measure_jump`: a step, or a
tempo change) and, across a server stall the input port reports
(``MidiClock(stalled=)``), net of the stall: a stalled non-real-time JACK
server pauses every client's timeline, the clock source's too, for 20 ms and
more at times, and loses ticks in its stalls (:func:`livegen.clockfit.lost_ticks`).

Ticks heard twice (a late JACK client read the buffer again) are not counted.
Two faults 2-12 ticks apart are both numbered at 120 BPM under +-3 ms (simulated);
at 300 BPM, where that jitter is a third of a tick, a pair is misnumbered about 1 time in 4.

A :class:`~livegen.grid.BeatGrid` is the result: a tick period and one
anchored tick. It answers where the next beat or bar line is and snaps onsets
to a note-value grid. Without a clock, the performer's own tempo gives one
(:class:`livegen.tempo.OnsetTempo`); :class:`livegen.grid.GridSource` says which of the two
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

from livegen.clockfit import fit_ticks, jump_ticks, lost_ticks, measure_jump, second_jump, stalled_for_s
from livegen.grid import BeatGrid
from livegen.midi import CLOCKS_PER_BEAT, CLOCKS_PER_SPP_UNIT

__all__ = ["MidiClock"]

WINDOW_TICKS = 192  # ticks kept for the tempo fit: 2 bars of 4/4 (4 s at 120 BPM)
MIN_FIT_TICKS = 12  # no jump is judged against a line through fewer ticks (half a beat)
#: A tick later than this many tick periods after the one before starts a new fit (the
#: clock paused: a Stop without its message, a DAW that stops sending while stopped).
GAP_TICK_PERIODS = 4.0
GAP_UNKNOWN_S = 0.25  # the same, before any tempo is known (30 BPM = 83 ms per tick)
#: A jump: the ticks after it off the line through the ticks before by more than this,
#: seconds, together (STEADY_PERIODS). If by 1-3 periods (within LOST_TOLERANCE), ticks were
#: lost (a JACK client that missed a cycle; a DAW that skipped ahead after a dropout): they
#: are counted. If by -1 to -3 periods, ticks were repeated (a non-real-time JACK server that
#: let a late client read the clock's buffer twice): they are not counted. Otherwise the phase
#: stepped (a clock that stalled and did not catch up, as a
#: starved JACK server's does): the ticks before the step move by it. A single late tick (a
#: long interval, then a short one) is neither: the fit drops it as an outlier.
STEP_MIN_S = 0.004
JUMP_JITTERS = 3.0  # ... or this many times the jitter measured, if more
LOST_TOLERANCE = 0.2  # periods (or LOST_JITTERS x the jitter, up to MAX_LOST_TOLERANCE)
LOST_JITTERS = 2.5
MAX_LOST_TOLERANCE = 0.45
MAX_LOST_TICKS = 3
#: Ticks before a jump that the step and tempo-change models of it are fitted to
#: (:func:`livegen.clockfit.measure_jump`): two beats (24: lost ticks missed under jitter).
JUMP_MODEL_TICKS = 48
JUMP_BASE_TICKS = 7  # a jump is measured from the median offset of this many ticks before it
#: A phase step the server did not report is taken only once the fit holds this many ticks.
STEP_RESTART_TICKS = 48
PERIOD_GAPS = 8  # the tick period for gap and step checks: median of the last 8 intervals
#: The ticks after a jump agree on it when their offsets from the line differ by at
#: most this many periods (5.2 ms at 120 BPM: JACK's period plus polling is ~2.5 ms).
STEADY_PERIODS = 0.25
#: A jump whose ticks after it have not settled is judged again as the next ticks come, up to
#: this many ticks after it (a second fault just after the first; a late stamp at the end).
HOLD_TICKS = 12


class MidiClock:
    """Follows MIDI beat clock: running state, song position, tempo and beat grid.

    Not thread-safe: the engine thread owns it. Feed every message with
    :meth:`handle` (or the per-message methods) in arrival order.

    Args:
        window_ticks: ticks in the tempo fit, >= 2.
        stalled: ``stalled(t0_s, t1_s)`` says whether the MIDI server stalled
            between two stamps (:meth:`livegen.ports.base.InputPort.stalled_between`);
            None when unknown. A stall is a phase step, not lost ticks: a stalled
            JACK server's timeline, the clock source's included, moves on from where
            it stopped; only what a jump across it holds beyond it is lost ticks.

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
        self._slope_se_s = float("inf")  # its standard error
        self._prior: tuple[float, float] | None = None  # (tick period, se) from before a restart
        self._jitter_s = 0.0  # the stamping jitter last measured
        self._after = 0  # ticks after the candidate jump in the last check
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
            period = statistics.median(b - a for a, b in zip(recent, recent[1:]))
            if period <= 0:  # ticks that came in bursts with one stamp: the fitted period
                period = self._tick_s
            self._period_s = period
        if times:
            gap_s = t_s - times[-1]
            if gap_s < 0 or gap_s > (GAP_UNKNOWN_S if period is None
                                     else GAP_TICK_PERIODS * period):
                self._restart(keep=0)
        self._seq += 1
        times.append(t_s)
        self._seqs.append(self._seq)
        if self.running:
            self.position = self._next_position
            self._next_position += 1
        if period is not None:
            self._check_jump(period)
        self._stale = True

    def _check_jump(self, period: float) -> None:
        """Judge each tick not yet judged as a candidate jump (:meth:`_judge`).

        The ticks a jump is judged by grow with the jitter (:func:`livegen.clockfit.jump_ticks`);
        when they shrink, the ticks the shorter window would pass over are judged first.
        """
        after = jump_ticks(self._jitter_s / period)
        last, self._after = self._after, after
        for count in range(max(last, after), after - 1, -1):
            verdict = self._judge(period, count)
            if verdict is None and count < HOLD_TICKS:  # not settled: judge that tick again
                self._after = count + 1
                return
            if verdict:
                return

    def _judge(self, period: float, after: int) -> bool | None:
        """Count lost ticks, or move the ticks before a phase step, ``after`` ticks back.

        Returns True if it did, None if the ticks after have not settled, else False.

        The ticks after a candidate jump (:func:`livegen.clockfit.jump_ticks` of
        them: more under more jitter) are placed against the line through the
        ticks before (:func:`livegen.clockfit.fit_ticks`; none is judged before
        :data:`MIN_FIT_TICKS`), not against the single tick before, so stamping
        jitter of a few ms does not hide a lost tick. A jump must stand out of
        the jitter measured (:data:`JUMP_JITTERS`), the ticks after it must agree
        (within :data:`STEADY_PERIODS` of a period, all but one), and a step must
        explain the :data:`JUMP_MODEL_TICKS` ticks around it better than a tempo
        change does (:func:`livegen.clockfit.measure_jump`). Its size in whole
        periods, net of a server stall, is lost ticks; the rest a phase step.
        """
        times, seqs = self._times, self._seqs
        n = len(times)
        k = n - after  # the ticks before the jump
        if k < MIN_FIT_TICKS:
            return False  # too few ticks to tell a jump from the jitter
        x = np.fromiter(itertools.islice(seqs, k), float, k)
        y = np.fromiter(itertools.islice(times, k), float, k)
        fit = fit_ticks(x - x[-1], y)  # the line through the ticks before: phase, period, jitter
        self._jitter_s = fit.jitter_s
        if fit.slope_s <= 0:
            return False
        period, intercept, jitter = fit.slope_s, fit.last_s, fit.jitter_s
        # measured from where the ticks just before stand: a tempo change drifts them all, a
        # jump (lost ticks, a phase step) moves only the latest
        before = x[-JUMP_BASE_TICKS:] - x[-1]
        base = statistics.median(y[-JUMP_BASE_TICKS:] - intercept - period * before) / period
        offsets = [(times[i] - intercept) / period - (seqs[i] - x[-1]) - base for i in range(k, n)]
        step_s = max(STEP_MIN_S, JUMP_JITTERS * jitter)  # a jump stands out of the jitter
        if abs(offsets[0]) * period <= step_s:
            return False
        middle = statistics.median(offsets)
        if abs(middle) * period <= step_s:
            return False  # one stamp late: the fit drops outliers
        steady = max(STEADY_PERIODS, step_s / period)
        tolerance = min(max(LOST_TOLERANCE, LOST_JITTERS * jitter / period), MAX_LOST_TOLERANCE)
        second = None  # a second fault within these ticks: where, counted from k
        off = [abs(o - middle) > steady for o in offsets]
        if any(off):
            second = second_jump(offsets, steady, step_s / period, tolerance)
        late = second is None and off[0] and not off[1] and (offsets[0] - middle) * middle < 0
        if second is None and (off[-1] or sum(off) - late > 1):
            return None  # late stamps, a second fault, or not settled yet
        # a tempo change is no jump: a step (the period kept) must explain the ticks around it
        # better than a tempo change does; its size is measured net of the stalls reported.
        # A late stamp just before the jump (k) is left out: the jump is at the next tick
        j = k + late
        window = [i for i in range(max(0, k - JUMP_MODEL_TICKS), n) if not (late and i == k)]
        u = np.array([seqs[i] - seqs[j] for i in window], float)
        stalls = [] if self.stalled is None else [seqs[i] - seqs[j] for i in range(window[0] + 1, n)
                                                  if i != j and self.stalled(times[i - 1], times[i])]
        if second is not None:  # a step of its own in both models; counted when the check reaches it
            stalls.append(seqs[k + second] - seqs[j])
        jump = measure_jump(u, np.array([times[i] for i in window]), stalls)
        if not jump.is_step:
            return False
        stall_s = 0.0 if self.stalled is None else stalled_for_s(self.stalled, times[j - 1], times[j])
        lost = lost_ticks(jump.size_s, period, tolerance, stall_s)
        if -MAX_LOST_TICKS <= lost <= -1:  # the same ticks heard twice (a buffer read again)
            for _ in range(-lost):
                del times[j], seqs[j]
            self._renumber(j, lost)
        elif 1 <= lost <= MAX_LOST_TICKS:
            self._renumber(j, lost)
            if stall_s:
                self._shift(j, jump.size_s - lost * period)
        elif stall_s or n >= STEP_RESTART_TICKS:
            self._shift(j, jump.size_s)  # the phase jumped: the ticks before move with it
        else:
            return False
        return True

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

    def _restart(self, keep: int) -> None:
        """Drop all but the last ``keep`` ticks from the fit; its tempo becomes the prior."""
        if self._tick_s is not None:
            self._prior = (self._tick_s, self._slope_se_s)
        elif self._period_s is not None:  # no fit yet: a tick interval's worth of certainty
            self._prior = (self._period_s, self._period_s)
        while len(self._times) > keep:
            self._times.popleft()
            self._seqs.popleft()

    def _renumber(self, k: int, count: int) -> None:
        """Number the ticks from the ``k``-th kept on, and the song position, ``count`` ticks on."""
        for i in range(k, len(self._seqs)):
            self._seqs[i] += count
        self._seq += count
        if self.running and self.position is not None:
            self.position += count
            self._next_position += count

    def _shift(self, k: int, step_s: float) -> None:
        """Move the ticks before the ``k``-th kept by ``step_s`` seconds: the phase stepped there.

        The line through them all stays one line, so the fit keeps its window (a restart
        would leave it a few poor ticks, and a lost tick among them uncounted).
        """
        times = self._times
        self._times = deque((t + step_s if i < k else t for i, t in enumerate(times)), maxlen=times.maxlen)

    def _fit(self) -> BeatGrid | None:
        """Fit tick times, update the tempo; the grid if running with a counted clock."""
        n = len(self._times)
        if n == 0:
            return None
        times = np.fromiter(self._times, float, n)
        x = np.fromiter(self._seqs, float, n) - self._seq  # the last tick at x = 0
        if n >= 2:
            fit = fit_ticks(x, times, self._prior)
            last_s = fit.last_s
            if fit.slope_s > 0:
                self._tick_s, self._slope_se_s = fit.slope_s, fit.slope_se_s
                if self._prior is not None and fit.used == n and fit.slope_se_s <= self._prior[1]:
                    self._prior = None  # the ticks since the restart know the tempo as well
            else:  # one stamp for them all (a burst): the phase of the last, the period known
                last_s = times[-1]
                self._tick_s = self._tick_s if self._tick_s is not None else self._period_s
        elif self._tick_s is not None or self._period_s is not None:  # one tick: its phase
            self._tick_s = self._tick_s if self._tick_s is not None else self._period_s
            last_s = times[-1]
        else:
            return None
        if not self.running or self.position is None or self._tick_s is None:
            return None
        return BeatGrid(float(last_s), self._tick_s, self.position)

