"""Line fits through MIDI clock tick times: the tempo and phase of a jittery clock.

A MIDI clock's ticks (24 a quarter note) arrive with jitter: a hardware or USB
clock, a DAW's sender thread and the port's stamping each add some, and
±3 ms per tick is common. Single tick intervals are then useless (at 300 BPM
a tick lasts 8.3 ms), but a line through many ticks (tick number -> seconds)
puts the grid within a fraction of the jitter.

How many ticks? A long window averages jitter away; a short one follows a
tempo change. :func:`fit_ticks` picks the window tick by tick with the
*intersection of confidence intervals* rule (Goldenshluger & Nemirovski,
"On spatially adaptive estimation of nonparametric regression", 1997;
Katkovnik, 1999): lines through the last 6, 12, 24, ... ticks each predict a
point half a beat ahead with a confidence interval (from the jitter measured
and the window's length); the longest window whose interval still meets all
the shorter ones' is used. A steady clock keeps the whole window (up to two
bars); after a tempo change the long windows disagree with the short ones and
are dropped, so the grid follows at once with the precision the new ticks
allow.

The jitter itself is measured without a fit: from second differences of the
tick times (``t[i-1] - 2 t[i] + t[i+1]``), which a tempo change barely moves
and whose median absolute value is robust to a few late stamps. A tick whose
own second difference is far beyond it (a reader thread woken late) is left
out of the fits.

All times are seconds; ``x`` is tick numbers (float), ``y`` stamps in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np

__all__ = ["TickFit", "Jump", "fit_ticks", "measure_jump", "jump_ticks", "second_jump", "lost_ticks",
           "stalled_for_s",
           "jitter_s", "line", "robust_line", "ICI_WINDOWS"]

#: Candidate fit windows, ticks (a quarter note is 24): the longest is capped by the data.
ICI_WINDOWS = (12, 24, 36, 48, 72, 96, 144, 192)
ICI_GAMMA = 3.0  # confidence interval half-width, in standard errors of the prediction
#: A window is a candidate only if it predicts within this standard error, seconds: with
#: +-3 ms of jitter the line through 6 or 12 ticks is too poor to follow (one such line,
#: off by chance, would end the intersection early and be used).
ICI_MAX_SE_S = 0.002
ICI_AHEAD_TICKS = 12.0  # the windows are compared where they predict the tick half a beat ahead
SIGMA_FLOOR_S = 0.0001  # jitter assumed at least 0.1 ms (a perfect clock still has float noise)
BURST_PERIODS = 0.25  # a tick this soon before the next (in periods) came in a burst
OUTLIER_MADS = 4.0  # residuals beyond this many robust standard deviations are dropped
OUTLIER_FLOOR_S = 0.001  # ... but never one within 1 ms (the stamping jitter itself)
MAD_TO_SIGMA = 1.4826  # normal distribution: sigma = 1.4826 x median absolute deviation
#: A second difference of independent stamps with jitter sigma has sigma x sqrt(6).
SECOND_DIFF_SIGMAS = math.sqrt(6.0)
#: Ticks after a jump that judge it (the detection's delay; all but one must agree): at
#: least JUMP_TICKS, more when the jitter is a larger part of the period (:func:`jump_ticks`).
JUMP_TICKS = 4
MAX_JUMP_TICKS = 12
JUMP_SLOPE_SE = 0.02  # periods per tick: the standard error of the slope through them
STALL_BISECTIONS = 24  # halvings of a tick interval that find a stall's start and end
#: Between stalls, the server ran where a window this long holds no stall (:func:`stalled_for_s`;
#: at most STALL_WINDOWS windows, longer ones over a long stretch).
STALL_GAP_S = 0.0005
STALL_WINDOWS = 128
RIDGE = 1e-12  # added to the normal equations of :func:`measure_jump`'s fits


def line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares ``y = a + b x`` in closed form; returns ``(b, a)``.

    Not ``np.polyfit``: it goes through LAPACK, and the first fit in the daemon
    (at its first trigger) took 18 ms, far beyond the 2 ms budget of a beat.

    Args:
        x, y: float arrays of the same shape ``(n,)``, n >= 2, x not all equal.
    """
    x_mean, y_mean = x.mean(), y.mean()
    dx = x - x_mean
    b = float((dx * (y - y_mean)).sum() / (dx * dx).sum())
    return b, float(y_mean - b * x_mean)


def median(values: np.ndarray) -> float:
    """Median by sorting (``np.median`` cost 14 ms on its first call in a process)."""
    ordered = np.sort(values)
    n = len(ordered)
    return float(0.5 * (ordered[(n - 1) // 2] + ordered[n // 2]))


def robust_line(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Least-squares ``y = a + b x``, refitted once without outliers; returns ``(b, a)``.

    Args:
        x, y: float arrays of shape ``(n,)``, n >= 2.
    """
    b, a = line(x, y)
    if len(x) > 4:
        residuals = y - (a + b * x)
        mad = median(np.abs(residuals - median(residuals)))
        keep = np.abs(residuals) <= max(OUTLIER_MADS * MAD_TO_SIGMA * mad, OUTLIER_FLOOR_S)
        if 2 <= keep.sum() < len(x):
            b, a = line(x[keep], y[keep])
    return b, a


def _second_differences(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each inner stamp minus the line through its two neighbours, seconds; shape ``(n-2,)``."""
    w = (x[1:-1] - x[:-2]) / (x[2:] - x[:-2])  # neighbours may be more than a tick apart
    return y[1:-1] - (y[:-2] + w * (y[2:] - y[:-2]))


def jitter_s(x: np.ndarray, y: np.ndarray) -> float:
    """The stamping jitter of tick times: a robust standard deviation, seconds (>= the floor).

    Args:
        x: tick numbers, increasing, shape ``(n,)``.
        y: their stamps, seconds, shape ``(n,)``.
    """
    if len(x) < 5:
        return SIGMA_FLOOR_S
    d2 = _second_differences(x, y)
    # the inner stamp minus its neighbours' mean: sigma x sqrt(1.5) for evenly spaced ticks;
    # in units of a full second difference (t[i-1] - 2 t[i] + t[i+1]) that is sqrt(6) / 2
    sigma = 2.0 * MAD_TO_SIGMA * median(np.abs(d2)) / SECOND_DIFF_SIGMAS
    return max(sigma, SIGMA_FLOOR_S)


def _late_mask(x: np.ndarray, y: np.ndarray, sigma_s: float) -> np.ndarray:
    """True for stamps to keep: not far off the line through their neighbours (a late stamp)."""
    keep = np.ones(len(x), bool)
    if len(x) >= 5:
        d2 = np.abs(_second_differences(x, y))
        limit = max(OUTLIER_MADS * sigma_s * SECOND_DIFF_SIGMAS / 2.0, OUTLIER_FLOOR_S)
        keep[1:-1] = d2 <= limit
        # the latest stamp against the line through the two before it (6 sigma^2 of variance)
        w = (x[-1] - x[-2]) / (x[-2] - x[-3])
        keep[-1] = abs(y[-1] - y[-2] - w * (y[-2] - y[-3])) <= 2.0 * limit
    return keep


class TickFit(NamedTuple):
    """A line through tick stamps (:func:`fit_ticks`).

    Attributes:
        slope_s: seconds per tick (> 0 for a running clock).
        last_s: the fitted time of tick ``x = 0``, seconds.
        used: how many of the latest ticks the line went through.
        jitter_s: the stamping jitter measured (:func:`jitter_s`), seconds.
        slope_se_s: the standard error of ``slope_s``, seconds per tick.
        kept: the ticks not left out as late stamps; ``used < kept`` means the older ones
            disagree: the tempo changed.
    """

    slope_s: float
    last_s: float
    used: int
    jitter_s: float
    slope_se_s: float
    kept: int


def fit_ticks(x: np.ndarray, y: np.ndarray, prior: tuple[float, float] | None = None) -> TickFit:
    """The line through the recent ticks, its window chosen by intersecting confidence intervals.

    Args:
        x: tick numbers, increasing, float, shape ``(n,)``, n >= 2; the last at 0.
        y: their stamps, seconds, shape ``(n,)``.
        prior: ``(slope_s, slope_se_s)``, a tempo known from before a restart, or None.
            If the ticks' own slope agrees with it and is less precise, the two are
            averaged by precision and the phase fitted with the result: a few ticks
            after a restart give a poor tempo.
    """
    # a tick stamped together with the next one (a client that missed cycles gets them in a
    # burst) was stamped late: only the last of a burst keeps its stamp
    burst = np.zeros(len(x), bool)
    if len(x) >= 3 and x[-1] > x[0]:
        period = (y[-1] - y[0]) / (x[-1] - x[0])
        burst[:-1] = np.diff(y) < BURST_PERIODS * period * np.diff(x)
    if len(x) - burst.sum() >= 2:
        x, y = x[~burst], y[~burst]
    sigma = jitter_s(x, y)
    keep = _late_mask(x, y, sigma)
    xs, ys = (x[keep], y[keep]) if keep.sum() >= 2 else (x[-2:], y[-2:])
    n = len(xs)
    # sums over the last m ticks, m = 1..n: every window's line in O(1)
    rx, ry = xs[::-1], ys[::-1]
    s1 = np.arange(1, n + 1, dtype=float)
    sx, sy = np.cumsum(rx), np.cumsum(ry)
    sxx, sxy = np.cumsum(rx * rx), np.cumsum(rx * ry)
    lower, upper = -math.inf, math.inf
    best: tuple[float, float, int, float] | None = None
    for window in ICI_WINDOWS:
        m = max(n - int(np.searchsorted(xs, -window, side="right")), 2)
        if (best is not None and m == best[2]) or (best is None and m > n):
            continue
        i = m - 1
        mean_x = sx[i] / s1[i]
        spread = sxx[i] - sx[i] * mean_x
        if spread <= 0:
            continue
        slope = (sxy[i] - sx[i] * sy[i] / s1[i]) / spread
        intercept = sy[i] / s1[i] - slope * mean_x
        se = sigma * math.sqrt(1.0 / m + (ICI_AHEAD_TICKS - mean_x) ** 2 / spread)
        if se > ICI_MAX_SE_S and m < n:
            continue  # too few ticks for this jitter: its line is no candidate
        predicted = intercept + slope * ICI_AHEAD_TICKS
        lower = max(lower, predicted - ICI_GAMMA * se)
        upper = min(upper, predicted + ICI_GAMMA * se)
        if lower > upper:
            break
        best = (float(slope), float(intercept), m, sigma / math.sqrt(spread))
        if m >= n:
            break
    if best is None:  # every window degenerate (one tick number): keep the last stamp
        return TickFit(prior[0] if prior else 0.0, float(ys[-1]), 1, sigma, math.inf, n)
    slope, intercept, used, se = best
    if prior is not None and prior[0] > 0 and prior[1] < se:
        if abs(slope - prior[0]) <= ICI_GAMMA * math.hypot(se, prior[1]):
            weight = se * se / (se * se + prior[1] * prior[1])  # the prior's share
            slope = weight * prior[0] + (1.0 - weight) * slope
            intercept = float(np.mean(ys[-used:] - slope * xs[-used:]))
            se = 1.0 / math.sqrt(1.0 / (se * se) + 1.0 / (prior[1] * prior[1]))
    return TickFit(slope, intercept, used, sigma, se, n)


class Jump(NamedTuple):
    """A jump in tick stamps, measured by :func:`measure_jump`.

    Attributes:
        size_s: the step at the jump, seconds (lost ticks: whole periods).
        period_s: the tick period on both sides of it, seconds.
        is_step: a step explains the stamps better than a change of tempo does.
    """

    size_s: float
    period_s: float
    is_step: bool


def _rss(designs: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least squares of ``y`` on each design at once (normal equations, one batched solve).

    Args:
        designs: shape ``(m, n, p)``, m designs of p columns; y: shape ``(n,)``.

    Returns:
        the coefficients, shape ``(m, p)``, and each residual sum of squares, shape ``(m,)``.
    """
    gram = np.einsum("mnp,mnq->mpq", designs, designs)
    gram += RIDGE * np.eye(designs.shape[2])  # two columns alike (a stall at a hinge): no error
    coef = np.linalg.solve(gram, np.einsum("mnp,n->mp", designs, y)[..., None])[..., 0]
    residual = y - np.einsum("mnp,mp->mn", designs, coef)
    return coef, np.einsum("mn,mn->m", residual, residual)


def measure_jump(u: np.ndarray, y: np.ndarray, stalls: Sequence[float] = ()) -> Jump:
    """Is there a step between the ticks before ``u = 0`` and from it, and how large?

    Two models of the stamps are compared by their residuals: a *step* (one period
    throughout, the stamps from ``u = 0`` on shifted: lost ticks, a phase step) and a
    *tempo change* (one period up to a tick, another after it, no shift; the tick
    that fits best, anywhere in the window). A lost tick is a step of a whole period
    and a tempo change none: under +-3 ms of jitter at 300 BPM the offsets from a
    line can make a tempo change look like a lost tick, not the two models.
    Stalls the server reported inside the window are steps of their own, free in both
    models (a stalled dummy JACK server shifts every later tick by a few ms).

    Args:
        u: tick numbers relative to the first tick after the jump (u < 0 before it),
            increasing, float, shape ``(n,)``; at least 3 on each side.
        y: their stamps, seconds, shape ``(n,)``.
        stalls: tick numbers (as ``u``) from which a reported stall shifted the stamps.

    Returns:
        the step's size and the period, from the step model; whether it wins.
    """
    y = y - y[0]  # precision: stamps are seconds since boot
    steps = sorted({float(s) for s in stalls if u[0] < s < u[-1] and s != 0.0})
    base = [np.ones_like(u), u] + [(u >= s).astype(float) for s in steps]
    hinges = u[1:-1]
    step = np.stack(base + [(u >= 0).astype(float)], axis=1)[None]
    kinks = np.stack([np.broadcast_to(c, (len(hinges), len(u))) for c in base]
                     + [np.maximum(u[None, :] - hinges[:, None], 0.0)], axis=2)
    coef, step_rss = _rss(step, y)
    _, kink_rss = _rss(kinks, y)
    return Jump(float(coef[0, -1]), float(coef[0, 1]), bool(step_rss[0] < kink_rss.min()))


def jump_ticks(jitter_periods: float) -> int:
    """How many ticks after a jump judge it, for a jitter of ``jitter_periods`` tick periods.

    Enough that the slope through them tells a lost tick (the period kept) from a tempo
    change of a quarter of the period per tick: ``sigma x sqrt(12 / (J (J^2 - 1)))`` at most
    0.05 periods, J in :data:`JUMP_TICKS`-:data:`MAX_JUMP_TICKS` (4 at 120 BPM with 2 ms of
    jitter, 7 at 300 BPM).
    """
    needed = math.ceil((12.0 * (jitter_periods / JUMP_SLOPE_SE) ** 2) ** (1.0 / 3.0))
    return min(max(JUMP_TICKS, needed), MAX_JUMP_TICKS)


def second_jump(offsets: Sequence[float], steady: float, least: float, whole: float) -> int | None:
    """Where a second jump starts in the ticks after a first one, or None.

    Two clock faults a few ticks apart (two lost ticks, a lost and a repeated one)
    leave the ticks between them at one offset from the line through the ticks
    before, and the ticks after the second at another: a staircase.

    Args:
        offsets: each tick's offset from that line, tick periods, from the first jump on.
        steady: how far from its level's median a tick may be, periods.
        least: the first level, and the step between the two, must exceed this, periods.
        whole: the step between the two must be within this of a whole number of periods
            (ticks lost or repeated), periods.

    Returns:
        m: ``offsets[:m]`` is the first level, ``offsets[m:]`` the second (2 ticks or
        more each); None when the offsets are no such staircase.
    """
    for m in range(2, len(offsets) - 1):
        first, rest = np.asarray(offsets[:m]), np.asarray(offsets[m:])
        a, b = median(first), median(rest)
        if (abs(a) > least and abs(b - a) > least and abs(b - a - round(b - a)) <= whole
                and np.all(np.abs(first - a) <= steady) and np.all(np.abs(rest - b) <= steady)):
            return m
    return None


def lost_ticks(size_s: float, period_s: float, tolerance: float, stall_s: float = 0.0) -> int:
    """Ticks lost in a jump of ``size_s`` seconds beyond one period (0: a phase step).

    Without a stall: the whole number of periods the jump is, if within ``tolerance``
    periods of it. Across server stalls of ``stall_s`` seconds (their spans the input
    port reports, added up: :func:`stalled_for_s`): they paused the clock source too,
    and the spans hold the pause and the cycles the port missed in them (their ticks
    lost to it); the pause lies in ``[0, stall_s]``, so the fewest ticks the rest of
    the jump allows were lost.
    Measured on JACK clocks recorded with their frames (tests/livegen/clock_traces):
    the pause was the span less 1-10 ms.

    Args:
        size_s: the jump, seconds; period_s: the tick period, seconds (> 0).
        tolerance: how far from a whole number of periods a jump may be, periods.
        stall_s: the time stalled between the jump's two ticks, seconds (0.0: none).
    """
    periods = size_s / period_s
    if not stall_s:
        lost = round(periods)
        return lost if abs(periods - lost) <= tolerance else 0
    lost = max(math.ceil((size_s - stall_s) / period_s - tolerance), 0)
    return lost if lost <= periods + tolerance else 0


def stalled_for_s(stalled: Callable[[float, float], bool], start_s: float, end_s: float) -> float:
    """How long the server stalled between two stamps: the stalls' own spans there, added up, seconds.

    ``stalled(a, b)`` (:meth:`livegen.ports.base.InputPort.stalled_between`) only says
    whether a stall overlaps ``(a, b)``; the first stall's start and the last one's end
    are found by bisection (:data:`STALL_BISECTIONS` halvings each way: well under a
    microsecond), and the stretches between them where the server ran (no stall in a
    window of :data:`STALL_GAP_S`) are left out: its frames, and a clock source's timeline
    with them, moved on there. A starved server stalls several times within one tick
    interval: test_jack_sync's input recorded 2-4 stalls of 3-7 ms spread over 20-28 ms
    of an interval whose phase stepped by 6-9 ms; that whole stretch taken for the stall
    left a tick lost in it uncounted (:func:`lost_ticks`: the pause lies within the stall).

    Returns:
        0.0 if no stall overlaps ``(start_s, end_s)``.
    """
    if not stalled(start_s, end_s):
        return 0.0
    lo, hi = start_s, end_s  # the first stall starts in [lo, hi): stalled(start_s, hi) holds
    for _ in range(STALL_BISECTIONS):
        mid = 0.5 * (lo + hi)
        lo, hi = (lo, mid) if stalled(start_s, mid) else (mid, hi)
    first_s = lo
    lo, hi = start_s, end_s  # the last stall ends in (lo, hi]: stalled(lo, end_s) holds
    for _ in range(STALL_BISECTIONS):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if stalled(mid, end_s) else (lo, mid)
    width = max(hi - first_s, 0.0)
    step = max(STALL_GAP_S, width / STALL_WINDOWS)
    ran = sum(not stalled(first_s + i * step, first_s + (i + 1) * step) for i in range(int(width / step)))
    return width - ran * step
