"""Messages handed to a timed output port ahead of their deadlines.

:class:`livegen.scheduler.Scheduler` uses a :class:`Handoff` when its port can
hold time-stamped messages (:attr:`livegen.ports.base.OutputPort.timed`: the
one-client JACK output). The scheduler then hands each message over up to
:data:`HANDOFF_LOOKAHEAD_S` before it is due, and the port's C process callback
places it at its frame: nothing of Python (nor its GIL) runs at the deadline.

Each message handed over is later either *played* (:meth:`Handoff.collect`
says so, with the time its frame stands for) or *dropped* by
:meth:`Handoff.cancel`, never both and never twice: the port decides with one
atomic compare-and-swap per message. So the scheduler's ledger of sounding
notes stays exact across a barge-in: a note_off for every note whose note_on
played, nothing for notes that never played.

Deadlines are nearly non-decreasing, but not per message: a note's note_on and
note_off are scheduled together, so the next note on the same key (a repeated
pitch that starts before the last one ends) can come with an earlier deadline
than a note_off already handed over. That note_off is then taken back
(:meth:`Handoff.retract`, if the port still holds it) and the scheduler runs
it through the ledger again in deadline order, exactly as without a timed
port. Any other message of a key that comes with an earlier deadline than one
already handed over for that key (channel, pitch) is held to that one's
deadline (counted in :attr:`Handoff.reordered`), so the messages of one key
always play in the order the ledger saw them.
"""

from __future__ import annotations

from collections.abc import Callable

import mido

from livegen.ports.base import OutputPort

__all__ = ["Handoff", "HANDOFF_LOOKAHEAD_S", "COLLECT_AFTER_S", "timed_port"]

#: How long before its deadline a message is handed to a timed port, seconds. It must
#: cover the scheduler thread's longest wait for Python's GIL on a busy machine, so the
#: message is in the port before it is due. Measured (docs/benchmark.md, "Time-stamped
#: output"): with both cores busy and a thread holding the GIL as generation does, the
#: hand-over came 7.5 ms (p50), 19 ms (p99), 28 ms (max) after the thread was due to
#: make it; 100 ms is over three times that, for busier machines. It delays no barge-in:
#: :meth:`Handoff.cancel` drops what the port holds at once; nor a controller change:
#: notes are generated a preset ``lookahead_s`` (1 s) ahead and a change never reaches
#: notes already scheduled. Its cost: up to this much music (at most the port's
#: ``timed_capacity`` messages) waits in the port, and a message arriving less than this
#: before its deadline behind a handed-over note_on of its key with a later deadline waits
#: for that one (:attr:`Handoff.reordered`; a repeated pitch's note_off is taken back).
HANDOFF_LOOKAHEAD_S = 0.1
#: The scheduler looks for played messages this long after the earliest is due, seconds.
COLLECT_AFTER_S = 0.003
TIMED_MAX_BYTES = 16  # longer messages (sysex) are sent when due, as on other ports

Key = tuple[int, int]


def timed_port(send: object) -> OutputPort | None:
    """The timed output behind ``send``: the port itself or its bound ``send``; else None.

    Anything with the timed port's interface counts (``timed`` True, ``send_at``,
    ``collect``, ``cancel_timed``, ``timed_stopped``, ``timed_capacity``,
    ``timed_clock``), e.g. :class:`livegen.outlet.Outlet`, which passes it on to
    whichever port is open.
    """
    port = send if hasattr(send, "send_at") else getattr(send, "__self__", None)
    return port if hasattr(port, "send_at") and getattr(port, "timed", False) else None


def note_key(msg: mido.Message) -> Key | None:
    """``(channel, pitch)`` of a note_on/note_off, else None."""
    return (msg.channel, msg.note) if msg.type in ("note_on", "note_off") else None


class Handoff:
    """What a scheduler has handed to a timed port and not yet heard back about.

    Not thread-safe: the scheduler calls it with its lock held.

    Args:
        port: a port whose :attr:`~livegen.ports.base.OutputPort.timed` is True.
        lookahead_s: how long before its deadline a message is handed over, s.

    Attributes:
        reordered: note messages held back to keep one key's messages in order.
        lost: messages handed over and never heard of again (the port closed).
    """

    def __init__(self, port: OutputPort, lookahead_s: float = HANDOFF_LOOKAHEAD_S) -> None:
        if not lookahead_s >= 0:
            raise ValueError(f"lookahead_s must be >= 0 seconds (received {lookahead_s!r})")
        self.port = port
        self.lookahead_s = lookahead_s
        self._inflight: dict[int, tuple[float, mido.Message, bool]] = {}
        self._key_due: dict[Key, float] = {}
        self._refused = False  # the port said it was full: no more until something played
        self.reordered = self.lost = 0

    def __len__(self) -> int:
        return len(self._inflight)

    def room(self) -> bool:
        """Whether the port can take two more messages (a re-strike's note_off and note_on)."""
        return not self._refused and len(self._inflight) <= self.port.timed_capacity - 2

    @staticmethod
    def fits(msg: mido.Message) -> bool:
        """Whether ``msg`` is short enough to be held (all channel messages are)."""
        return len(msg.bytes()) <= TIMED_MAX_BYTES

    def earliest_due_s(self) -> float | None:
        """The earliest deadline handed over and not yet heard back about, seconds; or None."""
        return min((due for due, _, _ in self._inflight.values()), default=None)

    def push(self, msg: mido.Message, due_s: float, *, own: bool = False) -> bool:
        """Hand ``msg`` over to sound at ``due_s`` (``time.monotonic()`` seconds).

        Args:
            msg: a message for which :meth:`fits` holds.
            due_s: its deadline, seconds.
            own: the scheduler's own message (a re-strike's note_off): not observed.

        Returns:
            False if the port refused it: full (then :meth:`room` is False until
            something has played) or closed.
        """
        key = note_key(msg)
        if key is not None:
            last_s = self._key_due.get(key)
            if last_s is not None and due_s < last_s:
                due_s = last_s
                self.reordered += 1
        token = self.port.send_at(msg.bytes(), due_s)
        if token is None:
            self._refused = not self.port.closed
            return False
        self._inflight[token] = (due_s, msg, own)
        if key is not None:
            self._key_due[key] = due_s
        return True

    def collect(self, played: Callable[[mido.Message, float, float, bool], None]) -> int:
        """Tell ``played(msg, due_s, played_s, own)`` of each message played, in play order.

        If the port has stopped (closed, or its server went away), every message
        still out is forgotten (counted in :attr:`lost`): nothing more will play.

        Returns:
            How many were played.
        """
        plays = self.port.collect()
        if plays:
            self._refused = False
        for token, played_s in plays:
            entry = self._inflight.pop(token, None)
            if entry is not None:
                due_s, msg, own = entry
                played(msg, due_s, played_s, own)
        if self._inflight and self.port.timed_stopped:
            self.lost += len(self._inflight)
            self._inflight.clear()
        if not self._inflight:
            self._key_due.clear()
        return len(plays)

    def retract(self, key: Key, before_s: float) -> list[tuple[float, mido.Message]]:
        """Take back the note_offs of ``key`` handed over with a deadline after ``before_s``.

        Only those the port still holds come back (one that has played
        stays played); the scheduler's own messages never; and none if a
        note_on of ``key`` was handed over after ``before_s`` too (then the
        message is held to the latest deadline instead, see :meth:`push`).

        Returns:
            ``(due_s, msg)`` of each note_off taken back, in deadline order.
        """
        later = [(msg, own) for due_s, msg, own in self._inflight.values()
                 if due_s > before_s and note_key(msg) == key]
        if any(msg.type == "note_on" and not own for msg, own in later):
            return []  # a later note_on too: its ledger step cannot be undone; held instead
        taken = []
        for token, (due_s, msg, own) in list(self._inflight.items()):
            if (not own and due_s > before_s and msg.type == "note_off" and note_key(msg) == key
                    and self.port.cancel_timed(token)):
                del self._inflight[token]
                taken.append((due_s, msg))
        if taken:
            latest = [due for due, msg, _ in self._inflight.values() if note_key(msg) == key]
            if latest:
                self._key_due[key] = max(latest)
            else:
                self._key_due.pop(key, None)
        return sorted(taken, key=lambda entry: entry[0])

    def later_than(self, key: Key, due_s: float) -> bool:
        """Whether a message of ``key`` was handed over with a deadline after ``due_s``."""
        last_s = self._key_due.get(key)
        return last_s is not None and last_s > due_s

    def cancel(self) -> int:
        """Drop every message the port holds and has not played; how many.

        Call :meth:`collect` after it: the messages the port played before the
        cancel took effect are left for it.
        """
        dropped = self.port.cancel_timed()
        for token in dropped:
            self._inflight.pop(token, None)
        return len(dropped)
