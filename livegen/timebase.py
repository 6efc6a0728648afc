"""The one clock of livegen's time stamps and deadlines: sub-millisecond on every OS.

``time.monotonic`` is the natural clock, but on Windows before Python 3.13 it
is ``GetTickCount64``, which ticks in steps of about 15.6 ms: a deadline read
on it can be missed by a whole step. ``time.perf_counter`` is
``QueryPerformanceCounter`` there (steps of 100 ns or less). On Linux both are
``CLOCK_MONOTONIC`` (1 ns), and macOS reports 1 ns for both.

:data:`now` is chosen once, at import, from the resolution each clock reports
(:func:`time.get_clock_info`): the first of :data:`CANDIDATES` that is
monotonic and at least as fine as :data:`MAX_RESOLUTION_S`, else the finest.
Where ``time.monotonic`` qualifies, :data:`now` *is* ``time.monotonic``, the
clock the one-client JACK port (``_jackmidi.c``, ``CLOCK_MONOTONIC``) stamps
its messages on, so its stamps and the engine's deadlines stay on one clock.
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["now", "CLOCK_NAME", "CANDIDATES", "MAX_RESOLUTION_S", "choose_clock"]

#: The clocks tried, in order of preference (``time`` module names).
CANDIDATES = ("monotonic", "perf_counter")
#: The coarsest resolution accepted, seconds: a tenth of the 1 ms the scheduler aims at.
MAX_RESOLUTION_S = 1e-4


def choose_clock(
    get_info: Callable[[str], object] = time.get_clock_info,
    lookup: Callable[[str], Callable[[], float]] = lambda name: getattr(time, name),
) -> tuple[str, Callable[[], float]]:
    """Pick the clock of time stamps and deadlines.

    Args:
        get_info: :func:`time.get_clock_info` (or a stand-in): returns an object
            with ``resolution`` (seconds) and ``monotonic`` (bool) for a clock name.
        lookup: the clock function of a name (default: the ``time`` module's).

    Returns:
        ``(name, clock)``: the first of :data:`CANDIDATES` that is monotonic with a
        reported resolution <= :data:`MAX_RESOLUTION_S`; if none is, the monotonic
        one with the finest resolution. ``clock()`` returns float seconds.
    """
    infos = {name: get_info(name) for name in CANDIDATES}
    steady = [name for name in CANDIDATES if infos[name].monotonic]
    for name in steady:
        if infos[name].resolution <= MAX_RESOLUTION_S:
            return name, lookup(name)
    name = min(steady, key=lambda n: infos[n].resolution)
    return name, lookup(name)


CLOCK_NAME, now = choose_clock()
"""``now()``: float seconds from an arbitrary origin, monotonic, sub-millisecond steps."""
