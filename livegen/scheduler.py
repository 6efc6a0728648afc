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

On a port that can hold time-stamped messages (the one-client JACK output,
:attr:`livegen.ports.base.OutputPort.timed`) and on ``time.monotonic``, each
message is handed over :data:`~livegen.handoff.HANDOFF_LOOKAHEAD_S` before its
deadline (by :meth:`Scheduler.schedule` itself when it is that close) and the
port's C code plays it at its frame: no Python runs at the deadline, so a
thread holding the GIL cannot make it late (:mod:`livegen.handoff`). The
ledger then counts what was handed over; a cancel drops what the port still
holds, learns exactly which messages played, and sends a note_off for each key
whose last played message was a note_on. Sent, lateness and the observers'
``sent`` then mean *played*, with the time the message's frame stands for.

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
from collections import deque
from collections.abc import Callable, Iterable

import mido

from livegen import timebase
from livegen.handoff import HANDOFF_LOOKAHEAD_S, Handoff, note_key, timed_port
from livegen.midi import CC_ALL_NOTES_OFF, CC_ALL_SOUND_OFF
from livegen.schedthread import SPIN_S, SchedulerThread

__all__ = ["Scheduler", "SchedulerObserver"]

log = logging.getLogger(__name__)

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

    def cancelled(self, at_s: float) -> None:
        """Everything pending was dropped at ``at_s`` (:meth:`Scheduler.cancel`): it will not be sent."""


class Scheduler(SchedulerThread):
    """Sends MIDI messages at absolute deadlines, and never leaves a note hanging.

    Thread-safe: any thread may schedule, cancel or stop.

    Args:
        send: sends one message (e.g. a mido output port's ``send``). It is
            called from the scheduler thread, or from the caller of
            :meth:`run_due`, :meth:`cancel` and :meth:`stop`, always with the
            scheduler's lock held. A livegen output port, or its bound
            ``send``: if the port is timed (and ``now`` is its ``timed_clock``,
            ``time.monotonic``), messages are handed to it ahead of their deadlines.
        now: the clock deadlines are measured on, in seconds.
        realtime: the thread asks for real-time priority
            (:func:`livegen.osthread.request_realtime`); granted, it waits without the
            final spin.
        lookahead_s: on a timed port, how long before its deadline a message is
            handed over, seconds (:data:`~livegen.handoff.HANDOFF_LOOKAHEAD_S`).

    Attributes:
        realtime_granted: None until the thread has started (or without ``realtime``),
            then whether it runs at real-time priority.
        first_note_on_s: send time (``now`` clock, seconds) of the first note_on
            since :meth:`arm_first_note_on`, or None.
        messages_sent: messages sent successfully.
        notes_sent: note_ons sent successfully (re-strikes count once).
        send_errors: sends that raised.
        handoff: the messages handed to a timed port, or None (sent at their deadlines).
    """

    def __init__(self, send: Callable[[mido.Message], None], *,
                 now: Callable[[], float] = timebase.now, realtime: bool = False,
                 lookahead_s: float = HANDOFF_LOOKAHEAD_S) -> None:
        port = timed_port(send)
        self._send = port.send if port is not None else send
        self.handoff = Handoff(port, lookahead_s) if port is not None and now is port.timed_clock else None
        self._realtime = realtime
        self.realtime_granted: bool | None = None
        self._spin_s = 0.0 if self.handoff is not None else SPIN_S
        self._now = now
        self._observers: tuple[SchedulerObserver, ...] = ()  # add_observer()
        self._cond = threading.Condition(threading.RLock())
        self._heap: list[tuple[float, int, mido.Message]] = []
        self._seq = itertools.count()
        self._ledger: dict[tuple[int, int], int] = {}
        self._on_air: set[tuple[int, int]] = set()  # keys whose last message played was a note_on
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
            at_s = self._now()
            for observer in self._observers:
                try:
                    observer.scheduled(due_s, at_s, msg)
                except Exception:  # an observer only watches: it never stops a schedule
                    log.exception("scheduler observer %r failed", observer)
            if self.handoff is not None and due_s <= at_s + self.handoff.lookahead_s:
                self.run_due(at_s)  # hand it over now: the scheduler thread may wait for the GIL
            elif earliest is None or due_s < earliest:
                self._cond.notify()
            return True

    def add_observer(self, observer: SchedulerObserver) -> None:
        """Tell ``observer`` from now on what is queued and sent (see :class:`SchedulerObserver`)."""
        with self._cond:
            self._observers = (*self._observers, observer)

    def pending(self) -> int:
        """Number of messages waiting to be sent (or handed to a timed port, not yet played)."""
        with self._cond:
            if self.handoff is None:
                return len(self._heap)
            self.handoff.collect(self._played)
            return len(self._heap) + len(self.handoff)

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
            handoff, heap, taken = self.handoff, self._heap, 0
            if handoff is None:
                while heap and heap[0][0] <= t:
                    due_s, _, msg = heapq.heappop(heap)
                    taken += 1
                    self._dispatch(msg, due_s)
                return taken
            handoff.collect(self._played)
            horizon_s = t + handoff.lookahead_s
            while heap and heap[0][0] <= horizon_s and handoff.room():
                if not handoff.fits(heap[0][2]) and heap[0][0] > t:
                    break  # a long message (sysex) goes when due, and nothing after it before
                entry = heapq.heappop(heap)
                if not self._dispatch(entry[2], entry[0]):
                    heapq.heappush(heap, entry)  # the port is full: it goes once some have played
                    break
                taken += 1
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
            if self.handoff is not None:
                dropped += self.handoff.cancel()
                self.handoff.collect(self._played)  # what played before the cancel took effect
            self._release_all()
            self._tell_cancelled()
            if panic:
                for channel in sorted(self._channels | set(channels)):
                    for control in (CC_ALL_NOTES_OFF, CC_ALL_SOUND_OFF):
                        self._transmit(mido.Message("control_change", channel=channel,
                                                    control=control, value=0))
            self._cond.notify()
            return dropped

    # -- sending (lock held) ------------------------------------------------------

    def _dispatch(self, msg: mido.Message, due_s: float) -> bool:
        """Send one due message through the ledger, record its lateness, tell the observers.

        Returns False only when a timed port is full: nothing was done, send it later.
        """
        note_on = msg.type == "note_on" and msg.velocity > 0
        note_off = msg.type == "note_off" or (msg.type == "note_on" and msg.velocity == 0)
        key = (msg.channel, msg.note) if note_on or note_off else None
        count = self._ledger.get(key, 0)
        if note_off and count != 1:  # 0: not sounding from livegen, nothing to end;
            if count:  # >1: an overlapping re-struck note still holds this voice
                self._ledger[key] = count - 1
            return True
        handoff = self.handoff
        if handoff is not None and key is not None and handoff.later_than(key, due_s):
            # a note_off of this key handed over with a later deadline: take it back and
            # run it through the ledger again after this message, as in deadline order
            for later_s, later in handoff.retract(key, due_s):
                self._ledger[key] = self._ledger.get(key, 0) + 1  # it had ended a count of 1
                heapq.heappush(self._heap, (later_s, next(self._seq), later))
            count = self._ledger.get(key, 0)
            if note_off and count != 1:
                if count:
                    self._ledger[key] = count - 1
                return True
        if note_on and count:  # re-strike: end the sounding voice first
            restrike = mido.Message("note_off", channel=msg.channel, note=msg.note, velocity=0)
            if handoff is None:
                self._transmit(restrike)
            elif not handoff.push(restrike, due_s, own=True) and not handoff.port.closed:
                return False  # full: nothing done yet
        sent_s = self._now()
        if handoff is not None and handoff.fits(msg):
            sent = handoff.push(msg, due_s)
            if not sent and not handoff.port.closed:  # full: later (after a re-strike's note_off,
                if note_on and count:  # the key no longer sounds)
                    self._ledger.pop(key, None)
                return False
            self.send_errors += not sent
        else:
            sent = self._transmit(msg)
        if not sent:  # a note_off's key stays: cancel/stop retry it
            if note_on and count:
                self._ledger.pop(key, None)
            return True
        if note_on:
            self._ledger[key] = count + 1
            self._channels.add(msg.channel)
        elif note_off:
            del self._ledger[key]
        if handoff is None or not handoff.fits(msg):
            self._played(msg, due_s, sent_s, False)
        return True

    def _played(self, msg: mido.Message, due_s: float, sent_s: float, own: bool) -> None:
        """Record a message that has left (or, on a timed port, played at ``sent_s``)."""
        key = note_key(msg)
        note_on = msg.type == "note_on" and msg.velocity > 0
        if key is not None:
            if note_on:
                self._on_air.add(key)
            else:
                self._on_air.discard(key)
        if self.handoff is not None and self.handoff.fits(msg):
            self.messages_sent += 1
        if own:
            return
        self._lateness.append(sent_s - due_s)
        if note_on:
            self.notes_sent += 1
            if self._armed:
                self._armed = False
                self.first_note_on_s = sent_s
        for observer in self._observers:
            try:
                observer.sent(due_s, sent_s, msg)
            except Exception:  # an observer only watches: it never stops a send
                log.exception("scheduler observer %r failed", observer)

    def _tell_cancelled(self) -> None:
        at_s = self._now()
        for observer in self._observers:
            try:
                observer.cancelled(at_s)
            except Exception:  # an observer only watches
                log.exception("scheduler observer %r failed", observer)

    def _release_all(self) -> None:
        """Send a note_off for every key sounding and empty the ledger.

        Sounding: in the ledger; on a timed port, whose last message played was a
        note_on (a note_on handed over but dropped never sounded).
        """
        keys = self._on_air if self.handoff is not None else self._ledger
        for channel, pitch in sorted(keys):
            self._transmit(mido.Message("note_off", channel=channel, note=pitch, velocity=0))
        self._ledger.clear()
        self._on_air.clear()

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
