"""The engine's thread and input queue: constant-time feed, every step under one lock, errors survived.

:class:`EngineLoop` runs a state machine (:class:`Machine`, the engine's): the
MIDI callback only timestamps and enqueues (:meth:`EngineLoop.feed`); the
engine thread waits on the queue with a timeout equal to the time until the
machine's next job, hands it every queued item, then lets it do its timed
work. Without threads (tests, a host with its own loop), :meth:`EngineLoop.poll`
does the same once, and sends the scheduler's due messages itself.

livegen's own notes echoed back to its input (a DAW's MIDI thru) are dropped
before the machine sees them (:class:`~livegen.feedback.FeedbackGuard`, which
watches what the scheduler queues): they are not the performer cutting in.

An unexpected error in a step is the daemon's one catch-all: logged, the
machine recovers (panic), and the loop carries on after :data:`ERROR_BACKOFF_S`.

Work is bounded: the queue holds at most :data:`INPUT_QUEUE_LIMIT` items (more
are dropped and counted, :attr:`EngineLoop.dropped`); a step hands over at most
:data:`MAX_ITEMS_PER_STEP` of them before the machine's timed work, so a flood
never starves it; and a stop is seen between any two items, so the thread ends
within one item's work of :meth:`EngineLoop.halt`.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from typing import Any, Protocol

from livegen.feedback import FeedbackGuard
from livegen.osthread import name_os_thread, request_realtime
from livegen.scheduler import Scheduler

__all__ = ["EngineLoop", "Machine", "MAX_IDLE_WAIT_S", "ERROR_BACKOFF_S", "INPUT_QUEUE_LIMIT",
           "MAX_ITEMS_PER_STEP"]

log = logging.getLogger(__name__)

MAX_IDLE_WAIT_S = 0.5  # longest queue wait of the engine thread, seconds
ERROR_BACKOFF_S = 0.01  # pause after an unexpected error in the engine, seconds
#: Most input items waiting for the engine; more are dropped (and counted). A MIDI 1.0
#: cable carries at most ~1,040 three-byte messages a second (31,250 baud, 10 bits a
#: byte): this is about 4 s of a saturated cable, 2 s of the 2,000 msg/s flood the
#: daemon keeps up with, and at most ~1 MB of queued items.
INPUT_QUEUE_LIMIT = 4096
#: Most input items one step hands over before the machine's timed work (a response's
#: lookahead, the trigger) gets its turn; the rest wait for the next step, at once.
MAX_ITEMS_PER_STEP = 256
OVERFLOW_LOG_S = 1.0  # at most one "queue full" warning this often, seconds
_WAKE = object()  # queue sentinel that wakes the engine thread (stop)


class Machine(Protocol):
    """What the loop runs (:class:`livegen.engine.Engine` is one). Called with the lock held."""

    def handle(self, timestamp_s: float, data: Any) -> None:
        """Act on one input item (:meth:`EngineLoop.feed`'s arguments)."""

    def tick(self, now_s: float) -> float | None:
        """Do the timed work due at ``now_s``; return seconds until the next (None: none)."""

    def recover(self) -> None:
        """After an unexpected error in a step: panic and return to a sound state."""


class EngineLoop:
    """The engine's thread, input queue and lock.

    Args:
        machine: handles input and timed work.
        scheduler: the timed output (started and stopped with the loop's
            thread by the engine; run by :meth:`poll` while it has no thread).
        now: the monotonic clock, seconds.

    Attributes:
        lock: held while the machine moves (re-entrant).
        feedback: drops livegen's own notes echoed back to its input (:mod:`livegen.feedback`).
        dropped: input items not queued because :data:`INPUT_QUEUE_LIMIT` were waiting.
    """

    def __init__(self, machine: Machine, scheduler: Scheduler, now: Callable[[], float]) -> None:
        self._machine = machine
        self._scheduler = scheduler
        self._now = now
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self.lock = threading.RLock()
        self._lifecycle = threading.Lock()
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self.dropped = 0
        self.feedback = FeedbackGuard()
        scheduler.add_observer(self.feedback)
        self._overflow_logged = (0, float("-inf"))  # (dropped, when) at the last warning

    def feed(self, data: Any, timestamp_s: float) -> None:
        """Enqueue one input item; constant time, never blocks (the MIDI callback's job).

        Dropped and counted in :attr:`dropped` while :data:`INPUT_QUEUE_LIMIT` items wait.
        """
        if self._queue.qsize() >= INPUT_QUEUE_LIMIT:
            self.dropped += 1
            return
        self._queue.put_nowait((timestamp_s, data))

    def queued(self) -> int:
        """Input items waiting in the queue (approximate while the callback feeds)."""
        return self._queue.qsize()

    def poll(self) -> float | None:
        """Do all work due at ``now()`` without blocking; see :meth:`livegen.engine.Engine.poll`.

        Returns:
            Seconds until the machine or the scheduler next has work (None: only new input).
        """
        scheduler = self._scheduler
        with self.lock:
            own_scheduler = not scheduler.running
            if own_scheduler:
                scheduler.run_due()
            wait = self._step(None)
            if own_scheduler:
                scheduler.run_due()
                due = scheduler.next_due_s()
                if due is not None:
                    until_due = max(due - self._now(), 0.0)
                    wait = until_due if wait is None else min(wait, until_due)
            return wait

    def start(self, priority: int | None = None) -> None:
        """Start the scheduler and engine threads (idempotent while running).

        Args:
            priority: the engine thread's SCHED_FIFO priority (1-99), None: normal priority
                (:func:`livegen.osthread.engine_priority` decides it for the daemon).

        Raises:
            RuntimeError: the loop was stopped; make a new engine.
        """
        with self._lifecycle:
            if self._stopped:
                raise RuntimeError("engine is stopped; create a new Engine")
            if self._thread is None:
                self._scheduler.start()
                self._thread = threading.Thread(target=self._run, args=(priority,),
                                                name="livegen-engine", daemon=True)
                self._thread.start()

    def halt(self, timeout_s: float) -> bool:
        """Stop the engine thread (not the scheduler's); no step runs after it.

        Args:
            timeout_s: how long to wait for the thread, seconds.

        Returns:
            False if the loop was already stopped (the caller has nothing to do).
        """
        with self._lifecycle:
            if self._stopped:
                return False
            self._stopped = True
        self._stop_event.set()
        self._queue.put_nowait(_WAKE)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)
            if thread.is_alive():
                log.warning("engine thread did not stop within %.1f s", timeout_s)
        return True

    def _run(self, priority: int | None) -> None:
        if priority is not None:  # asked before the name: a thread named lg-engine has asked
            if not request_realtime(priority):
                log.info("engine thread: real-time priority not permitted; normal priority")
        name_os_thread("engine")
        wait: float | None = 0.0
        while not self._stop_event.is_set():
            timeout = MAX_IDLE_WAIT_S if wait is None else min(max(wait, 0.0), MAX_IDLE_WAIT_S)
            try:
                item = self._queue.get(timeout=timeout)
            except queue.Empty:
                item = None
            if not self._stop_event.is_set():
                wait = self._step(item)

    def _step(self, item: Any) -> float | None:
        """Handle ``item`` and up to :data:`MAX_ITEMS_PER_STEP` queued items, then the timed work.

        Survives any error. Stops handing over input as soon as :meth:`halt` is called.

        Returns:
            Seconds until the next step (0.0 while input remains queued; None: only new input).
        """
        machine, stopping, queued = self._machine, self._stop_event, self._queue
        try:
            with self.lock:
                handled = 0
                while not stopping.is_set():
                    if item is not None and item is not _WAKE:
                        if not self.feedback.is_echo(*item):
                            machine.handle(*item)
                        handled += 1
                    if handled >= MAX_ITEMS_PER_STEP:
                        break
                    try:
                        item = queued.get_nowait()
                    except queue.Empty:
                        break
                if stopping.is_set():
                    return None
                now = self._now()
                self._warn_overflow(now)
                wait = machine.tick(now)
                return 0.0 if handled >= MAX_ITEMS_PER_STEP and not queued.empty() else wait
        except Exception:  # the daemon's one catch-all: log, panic, carry on
            log.exception("engine: unexpected error; panic and carry on")
            with self.lock:
                machine.recover()
            return ERROR_BACKOFF_S

    def _warn_overflow(self, now_s: float) -> None:
        """Say when input was dropped at the full queue (once per :data:`OVERFLOW_LOG_S`)."""
        logged, when_s = self._overflow_logged
        dropped = self.dropped
        if dropped != logged and now_s - when_s >= OVERFLOW_LOG_S:
            log.warning("engine: %d MIDI message(s) dropped: %d were waiting (an input flood)",
                        dropped - logged, INPUT_QUEUE_LIMIT)
            self._overflow_logged = (dropped, now_s)
