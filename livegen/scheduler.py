"""Timed MIDI output: a deadline heap, a sounding-note ledger and panic.

:class:`Scheduler` keeps a heap of ``(due_s, seq, message)``. Its thread waits
on a :class:`threading.Condition` until the earliest absolute deadline (never a
sum of per-event sleeps, which drifts: STYLE.md point 9), sends everything due,
and records each message's lateness (send time minus due time, seconds).

The ledger counts, per ``(channel, pitch)``, the note_ons livegen has sent
without a note_off yet. It guarantees that every note_on livegen sends gets
its note_off:

* a note_on for a key that already sounds from livegen is preceded by a
  note_off (a re-strike, never a stuck double voice on the synth); the two
  overlapping notes then share one voice, whose note_off is sent when the
  *last* of them ends (earlier note_offs for that key are absorbed);
* a note_off for a key livegen does not sound is not sent;
* :meth:`Scheduler.cancel` drops every pending message and at once sends a
  note_off for each sounding key (and, with ``panic``, CC123 all-notes-off and
  CC120 all-sound-off on every channel used); :meth:`Scheduler.stop` always
  ends that way.

Every send happens with the lock held, so a cancel can never slip between a
note_on leaving and the ledger recording it. A send that raises is logged and
counted; it never stops the thread.

Without :meth:`Scheduler.start`, nothing is sent until :meth:`Scheduler.run_due`
is called: unit tests (and the engine's ``poll`` mode) drive it that way with a
fake clock.

A :class:`SchedulerObserver` (the bench's, a test's) is told when each message
is queued and when it has left; it runs after the ledger, and an error in it is logged.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable

import mido

from livegen.midi import CC_ALL_NOTES_OFF, CC_ALL_SOUND_OFF
from livegen.osthread import name_os_thread, request_realtime

__all__ = ["Scheduler", "SchedulerObserver"]

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
LATENESS_HISTORY = 4096  # lateness samples kept
_LOG_EVERY_N_ERRORS = 1000  # after the first, log one send error in this many


class SchedulerObserver:
    """Watches a :class:`Scheduler`. Both methods do nothing here: override what you need.

    They are called with the scheduler's lock held, from the thread that
    scheduled or sent: keep them short and never call back into the scheduler.
    Times are on the scheduler's ``now`` clock, in seconds.
    """

    def scheduled(self, due_s: float, at_s: float, msg: mido.Message) -> None:
        """``msg`` was queued at ``at_s`` to leave at ``due_s``."""

    def sent(self, due_s: float, sent_s: float, msg: mido.Message) -> None:
        """Queued ``msg``, due at ``due_s``, was handed to the port at ``sent_s``.

        Not called for what the scheduler sends of itself (re-strike and cancel
        note_offs, CC123/CC120), a note_off absorbed by an overlap, a failed send.
        """


class Scheduler:
    """Sends MIDI messages at absolute deadlines, and never leaves a note hanging.

    Thread-safe: any thread may schedule, cancel or stop.

    Args:
        send: sends one message (e.g. a mido output port's ``send``). It is
            called from the scheduler thread, or from the caller of
            :meth:`run_due`, :meth:`cancel` and :meth:`stop`, always with the
            scheduler's lock held.
        now: the clock deadlines are measured on, in seconds.
        realtime: the thread asks for real-time priority
            (:func:`livegen.osthread.request_realtime`); granted, it waits without the
            final spin.

    Attributes:
        realtime_granted: None until the thread has started (or without ``realtime``),
            then whether it runs at real-time priority.
        first_note_on_s: send time (``now`` clock, seconds) of the first note_on
            since :meth:`arm_first_note_on`, or None.
        messages_sent: messages sent successfully.
        notes_sent: note_ons sent successfully (re-strikes count once).
        send_errors: sends that raised.
    """

    def __init__(self, send: Callable[[mido.Message], None], *,
                 now: Callable[[], float] = time.monotonic, realtime: bool = False) -> None:
        self._send = send
        self._realtime = realtime
        self.realtime_granted: bool | None = None
        self._spin_s = SPIN_S
        self._now = now
        self._observers: tuple[SchedulerObserver, ...] = ()  # add_observer()
        self._cond = threading.Condition(threading.RLock())
        self._heap: list[tuple[float, int, mido.Message]] = []
        self._seq = itertools.count()
        self._ledger: dict[tuple[int, int], int] = {}
        self._channels: set[int] = set()  # channels livegen sent a note_on on
        self._lateness: deque[float] = deque(maxlen=LATENESS_HISTORY)
        self._armed = False
        self._thread: threading.Thread | None = None
        self._stopping = self._stopped = False
        self.first_note_on_s: float | None = None
        self.messages_sent = self.notes_sent = self.send_errors = 0

    # -- scheduling ---------------------------------------------------------------

    def schedule(self, due_s: float, msg: mido.Message) -> bool:
        """Queue ``msg`` to be sent at ``due_s`` (``now`` clock, seconds).

        Messages due at the same time leave in the order they were scheduled.
        A deadline already past is sent at the next opportunity (its lateness
        is recorded).

        Args:
            due_s: absolute deadline in seconds.
            msg: any mido message; note_on/note_off go through the ledger.

        Returns:
            True if queued; False once the scheduler is stopped (the message
            is dropped, so a shutdown race cannot leave a note hanging).
        """
        with self._cond:
            if self._stopped or self._stopping:
                return False
            earliest = self._heap[0][0] if self._heap else None
            heapq.heappush(self._heap, (due_s, next(self._seq), msg))
            if earliest is None or due_s < earliest:
                self._cond.notify()
            for observer in self._observers:
                try:
                    observer.scheduled(due_s, self._now(), msg)
                except Exception:  # an observer only watches: it never stops a schedule
                    log.exception("scheduler observer %r failed", observer)
            return True

    def add_observer(self, observer: SchedulerObserver) -> None:
        """Tell ``observer`` from now on what is queued and sent (see :class:`SchedulerObserver`)."""
        with self._cond:
            self._observers = (*self._observers, observer)

    def pending(self) -> int:
        """Number of messages waiting to be sent."""
        with self._cond:
            return len(self._heap)

    def next_due_s(self) -> float | None:
        """Deadline of the earliest pending message in seconds, or None."""
        with self._cond:
            return self._heap[0][0] if self._heap else None

    def sounding(self) -> dict[tuple[int, int], int]:
        """A copy of the ledger: ``{(channel, pitch): note_ons sent without note_off}``."""
        with self._cond:
            return dict(self._ledger)

    @property
    def lateness_s(self) -> list[float]:
        """Recent lateness samples (send time minus due time, seconds), oldest first."""
        with self._cond:
            return list(self._lateness)

    def arm_first_note_on(self) -> None:
        """Clear :attr:`first_note_on_s`; the next note_on sent sets it."""
        with self._cond:
            self.first_note_on_s = None
            self._armed = True

    def run_due(self, now_s: float | None = None) -> int:
        """Send every message due at or before ``now_s``, in deadline order.

        The thread calls this; without a thread, the owner calls it.

        Args:
            now_s: the current time in seconds; default ``now()``.

        Returns:
            How many messages were taken from the queue.
        """
        with self._cond:
            t = self._now() if now_s is None else now_s
            taken = 0
            while self._heap and self._heap[0][0] <= t:
                due_s, _, msg = heapq.heappop(self._heap)
                taken += 1
                self._dispatch(msg, due_s)
            return taken

    def cancel(self, panic: bool = False, *, channels: Iterable[int] = ()) -> int:
        """Drop every pending message and end every note livegen sounds, now.

        Args:
            panic: also send CC123 (all notes off) and CC120 (all sound off) on
                every channel livegen has played on, and on ``channels``.
            channels: extra channels (0-15) for the panic messages.

        Returns:
            How many pending messages were dropped.
        """
        with self._cond:
            dropped = len(self._heap)
            self._heap.clear()
            self._release_all()
            if panic:
                for channel in sorted(self._channels | set(channels)):
                    for control in (CC_ALL_NOTES_OFF, CC_ALL_SOUND_OFF):
                        self._transmit(mido.Message("control_change", channel=channel,
                                                    control=control, value=0))
            self._cond.notify()
            return dropped

    # -- thread -------------------------------------------------------------------

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

    def __enter__(self) -> Scheduler:
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
            else:
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
                if not self._heap:
                    self._cond.wait(IDLE_WAIT_S)  # schedule() and stop() notify
                    continue
                wait_s = self._heap[0][0] - self._now()
                if wait_s > self._spin_s:
                    self._cond.wait(min(wait_s - self._spin_s, MAX_WAIT_S))
                elif wait_s > 0:
                    self._spin_until(self._heap[0][0])

    def _spin_until(self, due_s: float) -> None:
        """Busy-wait (lock released, GIL yielded each turn) until ``due_s`` or a change.

        Returns early when the heap's earliest deadline changes (a schedule,
        a cancel) or on stop, so the loop re-reads it, and after ``2 * SPIN_S``
        of real time whatever ``now`` says (a test's frozen fake clock).
        """
        now, heap = self._now, self._heap
        give_up_s = time.monotonic() + 2 * SPIN_S
        self._cond.release()
        try:
            while now() < due_s and not self._stopping and time.monotonic() < give_up_s:
                time.sleep(0)  # yields the GIL to the engine thread; no oversleep
                if not heap or heap[0][0] != due_s:
                    break
        finally:
            self._cond.acquire()

    # -- sending (lock held) ------------------------------------------------------

    def _dispatch(self, msg: mido.Message, due_s: float) -> None:
        """Send one due message through the ledger, record its lateness, tell the observers."""
        note_on = msg.type == "note_on" and msg.velocity > 0
        note_off = msg.type == "note_off" or (msg.type == "note_on" and msg.velocity == 0)
        key = (msg.channel, msg.note) if note_on or note_off else None
        count = self._ledger.get(key, 0)
        if note_off and count != 1:  # 0: not sounding from livegen, nothing to end;
            if count:  # >1: an overlapping re-struck note still holds this voice
                self._ledger[key] = count - 1
            return
        if note_on and count:  # re-strike: end the sounding voice first
            self._transmit(mido.Message("note_off", channel=msg.channel, note=msg.note, velocity=0))
        sent_s = self._now()
        if not self._transmit(msg):  # a note_off's key stays: cancel/stop retry it
            if note_on and count:
                self._ledger.pop(key, None)
            return
        self._lateness.append(sent_s - due_s)
        if note_on:
            self._ledger[key] = count + 1
            self._channels.add(msg.channel)
            self.notes_sent += 1
            if self._armed:
                self._armed = False
                self.first_note_on_s = sent_s
        elif note_off:
            del self._ledger[key]
        for observer in self._observers:
            try:
                observer.sent(due_s, sent_s, msg)
            except Exception:  # an observer only watches: it never stops a send
                log.exception("scheduler observer %r failed", observer)

    def _release_all(self) -> None:
        """Send a note_off for every key in the ledger and empty it."""
        for channel, pitch in sorted(self._ledger):
            self._transmit(mido.Message("note_off", channel=channel, note=pitch, velocity=0))
        self._ledger.clear()

    def _transmit(self, msg: mido.Message) -> bool:
        try:
            self._send(msg)
        except Exception as err:  # a port may raise anything; never kill the thread
            self.send_errors += 1
            if self.send_errors == 1 or self.send_errors % _LOG_EVERY_N_ERRORS == 0:
                log.warning("MIDI send failed (%d so far): %s: %s", self.send_errors,
                            type(err).__name__, err)
            return False
        self.messages_sent += 1
        return True
