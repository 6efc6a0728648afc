"""The scheduler's sending thread: when it wakes, how it waits, how it stops.

:class:`SchedulerThread` is the thread half of :class:`livegen.scheduler.Scheduler`
(its only subclass), kept apart so each module holds one concept: the
scheduler owns the deadline heap and the ledger; this owns the thread that
calls :meth:`~livegen.scheduler.Scheduler.run_due` at the right times.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable

from livegen import timebase
from livegen.handoff import COLLECT_AFTER_S
from livegen.osthread import REALTIME_SUPPORTED, name_os_thread, request_realtime

__all__ = ["SchedulerThread", "SPIN_S", "MAX_WAIT_S", "IDLE_WAIT_S"]

log = logging.getLogger(__name__)

#: Longest single wait of the thread, seconds: it re-reads ``now`` at least this often,
#: so a clock other than time.monotonic (the Condition's own) cannot make it oversleep.
MAX_WAIT_S = 0.1
#: The thread's wait with nothing to send, seconds: every schedule() and stop() wakes it,
#: so this only bounds an idle daemon's wake-ups (1 a second, not 10).
IDLE_WAIT_S = 1.0
#: The thread's timed wait ends this long before a deadline, seconds, and it spins the
#: rest (yielding the GIL every turn): a timed wait oversleeps by 0.2 ms at the median
#: and over 1 ms at p99 on a shared VM (measured with ``livegen bench``); the spin costs
#: at most this much CPU per deadline, and only while notes are playing. A thread
#: granted real-time priority does not spin: its timed wait wakes within 0.2 ms at p99
#: even with both cores busy (measured: 0.16 ms; normal priority 1.9 ms).
SPIN_S = 0.0015


class SchedulerThread:
    """The sending thread of a :class:`~livegen.scheduler.Scheduler` (its base class).

    It uses the scheduler's lock (``_cond``), heap, hand-off and clock, and
    calls its ``run_due`` and ``cancel``.
    """

    def start(self) -> None:
        """Start the sending thread (a daemon thread; idempotent while running).

        Raises:
            RuntimeError: the scheduler was stopped; make a new one.
        """
        with self._cond:
            if self._stopped or self._stopping:
                raise RuntimeError("scheduler is stopped; create a new Scheduler")
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="livegen-scheduler",
                                            daemon=True)
            self._thread.start()

    @property
    def running(self) -> bool:
        """True while the sending thread runs."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def spin_s(self) -> float:
        """The thread's busy-wait before each deadline, seconds: :data:`SPIN_S`, 0 at real-time priority."""
        return self._spin_s

    def stop(self, timeout_s: float = 1.0, *, channels: Iterable[int] = ()) -> None:
        """Stop the thread, drop pending messages, end sounding notes, then CC123/CC120.

        Idempotent: only the first call does anything. Works whether or not
        :meth:`start` was called.

        Args:
            timeout_s: how long to wait for the thread to finish, seconds.
            channels: channels (0-15) to send CC123/CC120 on besides those used.
        """
        with self._cond:
            if self._stopped or self._stopping:
                return
            self._stopping = True
            self._cond.notify_all()
        try:
            thread = self._thread
            if thread is not None and thread is not threading.current_thread():
                thread.join(timeout_s)
                if thread.is_alive():
                    log.warning("scheduler thread did not stop within %.1f s", timeout_s)
        finally:
            with self._cond:
                self._stopped = True
                self.cancel(panic=True, channels=channels)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _run(self) -> None:
        name_os_thread("scheduler")
        if self._realtime:
            self.realtime_granted = request_realtime()
            if self.realtime_granted:
                self._spin_s = 0.0
                log.info("scheduler thread: real-time priority (SCHED_FIFO)")
            elif REALTIME_SUPPORTED:  # the README's fix is Linux's (rtprio); nothing to do elsewhere
                log.info("scheduler thread: real-time priority not permitted; normal priority "
                         "(see README: real-time priority)")
        with self._cond:
            while not self._stopping:
                try:
                    self.run_due()
                except Exception:  # the thread's top loop: log and carry on
                    log.exception("scheduler: unexpected error; carrying on")
                if self._stopping:
                    break
                wait_s = self._wait_s()
                if wait_s is None:
                    self._cond.wait(IDLE_WAIT_S)  # schedule() and stop() notify
                    continue
                if wait_s > self._spin_s:
                    self._cond.wait(min(wait_s - self._spin_s, MAX_WAIT_S))
                elif wait_s > 0:
                    self._spin_until(self._heap[0][0])

    def _wait_s(self) -> float | None:
        """Seconds until the thread has work (lock held): a deadline, a hand-over or a collect."""
        handoff, heap = self.handoff, self._heap
        if handoff is None:
            return heap[0][0] - self._now() if heap else None
        now_s, waits = self._now(), []
        if heap and handoff.room():
            waits.append(heap[0][0] - handoff.lookahead_s - now_s)
        earliest_s = handoff.earliest_due_s()
        if earliest_s is not None:  # look for it after it played; never a busy loop
            waits.append(max(earliest_s - now_s, 0.0) + COLLECT_AFTER_S)
        elif heap:  # the port is full: look again soon
            waits.append(COLLECT_AFTER_S)
        return min(waits) if waits else None

    def _spin_until(self, due_s: float) -> None:
        """Busy-wait (lock released, GIL yielded each turn) until ``due_s`` or a change.

        Returns early when the heap's earliest deadline changes (a schedule,
        a cancel) or on stop, so the loop re-reads it, and after ``2 * SPIN_S``
        of real time whatever ``now`` says (a test's frozen fake clock).
        """
        now, heap = self._now, self._heap
        give_up_s = timebase.now() + 2 * SPIN_S
        self._cond.release()
        try:
            while now() < due_s and not self._stopping and timebase.now() < give_up_s:
                time.sleep(0)  # yields the GIL to the engine thread; no oversleep
                if not heap or heap[0][0] != due_s:
                    break
        finally:
            self._cond.acquire()
