"""The feedback guard: livegen's own notes, echoed back to its input, are not the performer's.

A DAW track that records ``livegen out`` with MIDI thru or input monitoring on,
and that also feeds ``livegen in`` (or a patchbay connecting the two), sends
every note livegen plays straight back to it. Without a guard the first echoed
note_on is taken for the performer cutting in: the answer stops after one note.

:class:`FeedbackGuard` watches what the scheduler queues and cancels (a
:class:`~livegen.scheduler.SchedulerObserver`) and recognises an incoming
note_on or note_off as an echo when it is the same message as one livegen
sent: the same status (note_on, note_off), channel, pitch and velocity (livegen
ends its notes with note_off velocity 0), stamped between :data:`ECHO_EARLY_S`
before and :data:`ECHO_WINDOW_S` after that message's deadline. Each message
sent excuses one echo; what a cancel dropped (a barge-in) was never sent and
excuses none. Echoes are dropped before the engine sees them, and the first
one logs one warning naming the loop and its delay.

The window. On JACK an echo arrives one period later, through a plain
connection or through a client forwarding each message as a DAW's thru does
(measured at 48 kHz: 1.2-1.4 ms at 64 frames, 21.2-21.6 ms at 1024 frames,
``livegen doctor --loopback``); a DAW's own buffering may add a period or two,
and desktop periods are long: PipeWire's default quantum is 1024 frames
(21.3 ms at 48 kHz). :data:`ECHO_WINDOW_S` covers three such periods. The one-client JACK output
plays a message at the frame of its deadline and its input stamps each
message from its frame, so an echo cannot precede its deadline by more than a
period's rounding: :data:`ECHO_EARLY_S` allows 5 ms.

The trade-off. A performer note is taken for an echo only when it repeats,
within that window, the very pitch, velocity (1 of 127) and channel of a note
livegen just played: rare, and then one key is ignored (a note_on; its
note_off then ends nothing). Echoes the DAW changes (a velocity curve, a
transposition, another channel, a note_off turned into a note_on with velocity
0) are not recognised; an unrecognised echoed note_off is harmless, an echoed
note_on is a barge-in as before. Messages livegen sends of itself (a
re-strike's note_off, the note_offs and CC123/CC120 of a cancel) are not
watched.

Work per incoming message is constant: a dict look-up and a scan of at most
:data:`MAX_PENDING_PER_KEY` deadlines; stale entries are swept every
:data:`SWEEP_EVERY` scheduled messages, and a cancel drops what it dropped.
"""

from __future__ import annotations

import logging
from collections import deque
from typing import Any

import mido

from livegen.scheduler import SchedulerObserver

__all__ = ["FeedbackGuard", "ECHO_WINDOW_S", "ECHO_EARLY_S", "MAX_PENDING_PER_KEY", "SWEEP_EVERY"]

log = logging.getLogger(__name__)

#: An echo may arrive this long after the deadline of the message it echoes, seconds:
#: about three periods of PipeWire's default 1024-frame quantum at 48 kHz (21.3 ms each).
ECHO_WINDOW_S = 0.065
#: An echo may be stamped this long before its message's deadline, seconds (frame rounding).
ECHO_EARLY_S = 0.005
#: Deadlines kept per (kind, channel, pitch, velocity); older ones are forgotten.
MAX_PENDING_PER_KEY = 16
#: Stale keys are swept once per this many scheduled messages (amortised constant time).
SWEEP_EVERY = 4096
_NOTE_OFF, _NOTE_ON = 0x80, 0x90

Key = tuple[int, int, int, int]  # (status nibble, channel, pitch, velocity)


def _key_of_message(msg: mido.Message) -> Key | None:
    if msg.type == "note_on":
        return (_NOTE_ON, msg.channel, msg.note, msg.velocity)
    if msg.type == "note_off":
        return (_NOTE_OFF, msg.channel, msg.note, msg.velocity)
    return None


def _key_of_input(data: Any) -> Key | None:
    """The key of an input item (rtmidi's list of ints, bytes, or a mido message); None if no note."""
    if isinstance(data, mido.Message):
        return _key_of_message(data)
    try:
        if len(data) != 3:
            return None
        status, pitch, velocity = data[0], data[1], data[2]
    except (TypeError, IndexError, KeyError):
        return None
    kind = status & 0xF0 if isinstance(status, int) else None
    if kind in (_NOTE_ON, _NOTE_OFF):
        return (kind, status & 0x0F, pitch, velocity)
    return None


class FeedbackGuard(SchedulerObserver):
    """Recognises livegen's own note_on/note_off coming back on its input.

    Add it to the scheduler (:meth:`~livegen.scheduler.Scheduler.add_observer`)
    and ask :meth:`is_echo` for every input item before the engine handles it.
    The engine thread makes both calls (the scheduler calls :meth:`scheduled`
    from the thread that schedules, the engine's); :meth:`cancelled` may come
    from another thread (a stop), so it replaces a key's deadlines rather than
    changing them in place.

    Args:
        window_s: how long after a message's deadline its echo may arrive, seconds.
        early_s: how long before its deadline an echo may be stamped, seconds.
        loop: how the warning names the loop (the ports involved).

    Attributes:
        echoes: incoming messages recognised as echoes (and dropped).
        last_delay_s: the last echo's arrival minus its message's deadline, seconds (None: none yet).
    """

    def __init__(self, window_s: float = ECHO_WINDOW_S, early_s: float = ECHO_EARLY_S, *,
                 loop: str = "'livegen out' -> 'livegen in'") -> None:
        if not window_s > 0 or not early_s >= 0:
            raise ValueError(f"window_s must be > 0 and early_s >= 0 seconds "
                             f"(received {window_s!r}, {early_s!r})")
        self.window_s = window_s
        self.early_s = early_s
        self.loop = loop
        self._pending: dict[Key, deque[float]] = {}
        self._scheduled = 0
        self.echoes = 0
        self.last_delay_s: float | None = None

    def scheduled(self, due_s: float, at_s: float, msg: mido.Message) -> None:
        """Remember a note_on/note_off livegen will send at ``due_s`` (seconds)."""
        key = _key_of_message(msg)
        if key is None:
            return
        dues = self._pending.get(key)
        if dues is None:
            dues = self._pending[key] = deque(maxlen=MAX_PENDING_PER_KEY)
        dues.append(due_s)
        self._scheduled += 1
        if self._scheduled % SWEEP_EVERY == 0:
            self._sweep(at_s)

    def cancelled(self, at_s: float) -> None:
        """The scheduler dropped everything pending at ``at_s``: what was due later was never sent."""
        for key in list(self._pending):
            kept = [due_s for due_s in self._pending[key] if due_s <= at_s]
            if kept:
                self._pending[key] = deque(kept, maxlen=MAX_PENDING_PER_KEY)
            else:
                del self._pending[key]

    def is_echo(self, timestamp_s: float, data: Any) -> bool:
        """Whether an input item is the echo of a message livegen sent (then it is used up).

        Args:
            timestamp_s: the item's arrival stamp, seconds (the scheduler's clock).
            data: the message: rtmidi's list of ints, bytes, or a mido message.

        Returns:
            True for an echo (the caller drops it); False for anything else,
            malformed input included (the engine counts and drops that).
        """
        key = _key_of_input(data)
        if key is None:
            return False
        dues = self._pending.get(key)
        if not dues:
            return False
        try:
            t = float(timestamp_s)
        except (TypeError, ValueError):
            return False
        while dues and dues[0] + self.window_s < t:  # too old to come back now
            dues.popleft()
        for i, due_s in enumerate(dues):
            if due_s - self.early_s <= t <= due_s + self.window_s:
                del dues[i]
                self._echo(t - due_s)
                return True
        return False

    def _echo(self, delay_s: float) -> None:
        self.echoes += 1
        self.last_delay_s = delay_s
        if self.echoes == 1:
            log.warning("MIDI feedback loop: livegen's own notes come back on its input "
                        "(%s, %.1f ms after they were sent), through MIDI thru or input "
                        "monitoring in the DAW, or a direct connection; they are ignored. Fix: "
                        "turn off MIDI thru/input monitoring on the track that records livegen, "
                        "or do not route that track back to livegen in", self.loop,
                        delay_s * 1000)

    def _sweep(self, now_s: float) -> None:
        """Forget the keys whose every deadline is too old to be echoed still."""
        stale = [key for key, dues in self._pending.items()
                 if not dues or max(dues) + self.window_s < now_s]
        for key in stale:
            del self._pending[key]
