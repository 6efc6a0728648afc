"""The performer's recent notes: note_on/note_off pairing, sustain pedal, chords.

A :class:`PerformanceBuffer` turns the incoming key and pedal events into
:class:`~livegen.notes.Note` objects and keeps the last ``capacity`` of them.

The model needs each note's duration, so a note is handed on for priming when
it *ends* (key up, or pedal lift for a key released while the pedal was down),
and always in onset order, because every token sequence the model was trained
on is in onset order (:func:`livegen.tokens.encode`). A note that ends while an
earlier one is still held waits for it; chord tones come out as notes with the
same (or nearly the same) onset, i.e. shift 0. Every feeding method therefore
returns the list, possibly empty, of notes that just became ready for priming.

Should a key be held "forever" (a lost note_off), the queue of notes waiting
for it is bounded by ``capacity``: beyond that the held note is handed on with
its duration so far, so nothing grows without limit. A key the performer's
later playing contradicts is taken as released: struck again (its previous note
ends), or down :data:`HELD_KEY_S` without the pedal and without an event of its
own while other keys were struck (:meth:`~PerformanceBuffer.contradicted`). And
after :data:`STUCK_KEY_S` with no event at all, whatever sounds, by key or
pedal, is :meth:`~PerformanceBuffer.stuck` (the engine then releases it).

The sustain pedal follows the MIDI 1.0 spec's CC64 (0-63 up, 64-127 down) and
is kept per channel; :meth:`PerformanceBuffer.control_change` takes the
controllers that act on the keys and the pedal (CC64, and the channel mode
messages All Sound Off, Reset All Controllers and All Notes Off). Re-striking
a key ends its previous note at the new onset, whether that note was held by
the key or by the pedal (note-seq's sustain handling does the same).

Times are float seconds from the engine's monotonic clock; an event stamped
earlier than the one before it is treated as simultaneous with it.
"""

from __future__ import annotations

from collections import deque

from livegen.midi import (
    CC_ALL_NOTES_OFF,
    CC_ALL_SOUND_OFF,
    CC_RESET_CONTROLLERS,
    CC_SUSTAIN,
    SUSTAIN_DOWN_MIN,
)
from livegen.notes import Note
from livegen.tokens import MAX_DURATION_S

__all__ = ["PerformanceBuffer", "MIN_DURATION_S", "STUCK_KEY_S", "HELD_KEY_S"]

#: Shortest duration a note gets (a note_off at its own onset), seconds; as in notes.read_midi.
MIN_DURATION_S = 1e-3
#: A performer key still down after this long without any other performer event,
#: seconds, is taken as released: its note_off was lost (a dropped message, a cable
#: pulled), and without this livegen would wait for silence for ever.
STUCK_KEY_S = 10.0
#: A key down this long, seconds, without the sustain pedal of its channel and without
#: an event of its own (its note_on, its polyphonic key pressure), while the performer
#: struck other keys since, is taken as released: its note_off was lost, and without
#: this a performer who plays on would never be answered. Twice the longest note the
#: vocabulary holds (:data:`livegen.tokens.MAX_DURATION_S`, 4 s): the model is primed
#: with a note held longer as one of 4 s all the same, so the release changes none of
#: its tokens; the margin leaves alone a key really held by a finger while the other
#: hand plays (a whole note down to 30 BPM; a drone under a footswitch answer), and a
#: lost note_off delays an answer by 8 s at most instead of blocking it. Keys held for
#: real even longer stay down if the keyboard sends aftertouch for them.
HELD_KEY_S = 2 * MAX_DURATION_S


class _Entry:
    """A started note; ``end_s`` is None while it sounds."""

    __slots__ = ("pitch", "velocity", "onset_s", "channel", "end_s", "touched_s")

    def __init__(self, pitch: int, velocity: int, onset_s: float, channel: int) -> None:
        self.pitch = pitch
        self.velocity = velocity
        self.onset_s = onset_s
        self.channel = channel
        self.end_s: float | None = None
        self.touched_s = onset_s  # the key's own last event: note_on, key pressure

    def note(self, now_s: float) -> Note:
        end = self.end_s if self.end_s is not None else now_s
        return Note(self.pitch, self.velocity, self.onset_s,
                    max(end - self.onset_s, MIN_DURATION_S), self.channel)


class PerformanceBuffer:
    """The last ``capacity`` notes the performer started, and what still sounds.

    Not thread-safe: the engine thread owns it.

    Args:
        capacity: how many notes to keep, >= 1.

    Raises:
        ValueError: ``capacity`` is not an integer >= 1.

    Attributes:
        last_activity_s: time in seconds of the last note_on or note end; when
            nothing sounds, the time silence started. None before any note.
        notes_started: note_ons seen since construction or :meth:`clear`.
    """

    def __init__(self, capacity: int = 50) -> None:
        if not isinstance(capacity, int) or isinstance(capacity, bool) or capacity < 1:
            raise ValueError(f"capacity must be an integer >= 1 (received {capacity!r})")
        self._capacity = capacity
        self._history: deque[_Entry] = deque(maxlen=capacity)
        self._waiting: deque[_Entry] = deque()  # not yet handed on for priming, onset order
        self._keys: dict[tuple[int, int], _Entry] = {}  # (channel, pitch) -> key held down
        self._sustained: dict[tuple[int, int], _Entry] = {}  # key up, held by the pedal
        self._pedal: set[int] = set()  # channels whose sustain pedal is down
        self._last_t: float | None = None
        self._last_on_s: float | None = None  # the latest note_on, any key
        self.last_activity_s: float | None = None
        self.notes_started = 0

    @property
    def capacity(self) -> int:
        """The most notes kept."""
        return self._capacity

    def __len__(self) -> int:
        return len(self._history)

    @property
    def sounding(self) -> frozenset[int]:
        """Pitches sounding now: keys held down or held by the sustain pedal (any channel)."""
        return frozenset(p for _, p in self._keys) | frozenset(p for _, p in self._sustained)

    @property
    def keys_down(self) -> frozenset[int]:
        """Pitches whose key is down (any channel), whatever the pedal does."""
        return frozenset(p for _, p in self._keys)

    @property
    def pedal_held(self) -> frozenset[int]:
        """Pitches whose key is up but the sustain pedal holds (any channel)."""
        return frozenset(p for _, p in self._sustained)

    @property
    def silent(self) -> bool:
        """True when no key is down and no note is held by the pedal."""
        return not self._keys and not self._sustained

    def pedal_down(self, channel: int = 0) -> bool:
        """Whether the sustain pedal of ``channel`` (0-15) is down."""
        return channel in self._pedal

    def note_on(self, pitch: int, velocity: int, t_s: float, channel: int = 0) -> list[Note]:
        """A key goes down.

        Args:
            pitch: MIDI note number 0-127.
            velocity: MIDI velocity 1-127; 0 is treated as a note_off.
            t_s: event time in seconds.
            channel: MIDI channel 0-15.

        Returns:
            Notes that became ready for priming (a re-struck key ends its
            previous note), in onset order; usually empty.
        """
        if velocity <= 0:
            return self.note_off(pitch, t_s, channel)
        t = self._clock(t_s)
        key = (channel, pitch)
        for held in (self._keys.pop(key, None), self._sustained.pop(key, None)):
            if held is not None:
                held.end_s = t
        entry = _Entry(pitch, velocity, t, channel)
        self._keys[key] = entry
        self._history.append(entry)
        self._waiting.append(entry)
        self.notes_started += 1
        self.last_activity_s = self._last_on_s = t
        return self._release(t)

    def touch(self, pitch: int, t_s: float, channel: int = 0) -> None:
        """Key pressure (polyphonic aftertouch) on a key: it is still down, for :meth:`contradicted`.

        Args:
            pitch: MIDI note number 0-127 (a key not down is ignored).
            t_s: event time in seconds.
            channel: MIDI channel 0-15.
        """
        entry = self._keys.get((channel, pitch))
        if entry is not None:
            entry.touched_s = self._clock(t_s)

    def note_off(self, pitch: int, t_s: float, channel: int = 0) -> list[Note]:
        """A key goes up; with the pedal of ``channel`` down the note keeps sounding.

        A note_off for a key that is not down is ignored.

        Args:
            pitch: MIDI note number 0-127.
            t_s: event time in seconds.
            channel: MIDI channel 0-15.

        Returns:
            Notes that became ready for priming, in onset order.
        """
        t = self._clock(t_s)
        key = (channel, pitch)
        entry = self._keys.pop(key, None)
        if entry is None:
            return []
        if channel in self._pedal:
            self._sustained[key] = entry
            return []
        entry.end_s = t
        self.last_activity_s = t
        return self._release(t)

    def sustain(self, down: bool, t_s: float, channel: int = 0) -> list[Note]:
        """The sustain pedal (CC64) of ``channel`` goes down or up.

        Args:
            down: True for pedal down (CC64 value >= 64).
            t_s: event time in seconds.
            channel: MIDI channel 0-15.

        Returns:
            On lift, the notes it ended that became ready for priming, in onset
            order; otherwise empty.
        """
        t = self._clock(t_s)
        if down:
            self._pedal.add(channel)
            return []
        self._pedal.discard(channel)
        ended = [key for key in self._sustained if key[0] == channel]
        for key in ended:
            self._sustained.pop(key).end_s = t
        if ended:
            self.last_activity_s = t
        return self._release(t)

    def control_change(self, control: int, value: int, t_s: float,
                       channel: int = 0) -> list[Note] | None:
        """A controller from the performer, if it acts on keys or the pedal.

        CC64 (sustain pedal) goes to :meth:`sustain`; All Notes Off (CC123)
        ends the keys but not what the pedal holds; All Sound Off (CC120) ends
        both; Reset All Controllers (CC121) lifts the pedal.

        Args:
            control: controller number 0-127.
            value: its value 0-127.
            t_s: event time in seconds.
            channel: MIDI channel 0-15.

        Returns:
            Notes that became ready for priming, in onset order; None when
            the controller is not one of these (the caller's to interpret).
        """
        if control == CC_SUSTAIN:
            return self.sustain(value >= SUSTAIN_DOWN_MIN, t_s, channel)
        if control == CC_ALL_NOTES_OFF:
            return self.release_all(t_s, channel, pedal=False)
        if control == CC_ALL_SOUND_OFF:
            return self.release_all(t_s, channel)
        if control == CC_RESET_CONTROLLERS:
            return self.sustain(False, t_s, channel)
        return None

    def stuck(self, now_s: float) -> bool:
        """Whether keys have sounded :data:`STUCK_KEY_S` or more with no other event.

        Their note_offs were probably lost; :meth:`release_all` ends them.

        Args:
            now_s: seconds.
        """
        return (not self.silent and self.last_activity_s is not None
                and now_s - self.last_activity_s >= STUCK_KEY_S)

    def contradicted(self, now_s: float) -> list[tuple[int, int]]:
        """Keys whose note_off the performer's later playing says was lost.

        A key is: down :data:`HELD_KEY_S` or more since its own last event, its
        channel's pedal up, and another key struck since. :meth:`release_keys` ends them.

        Args:
            now_s: seconds.

        Returns:
            ``(channel, pitch)`` of each such key, oldest first.
        """
        last_on_s = self._last_on_s
        if last_on_s is None:
            return []
        return [key for key, entry in self._keys.items()
                if key[0] not in self._pedal and now_s - entry.touched_s >= HELD_KEY_S
                and last_on_s > entry.touched_s]

    def outlasted(self) -> list[tuple[int, int]]:
        """Keys down (their pedal up) struck before a later key, and every key struck since is up."""
        last_on_s = self._last_on_s
        if last_on_s is None or any(e.touched_s >= last_on_s for e in self._keys.values()):
            return []
        return [key for key in self._keys if key[0] not in self._pedal]

    def release_keys(self, keys: list[tuple[int, int]], t_s: float) -> list[Note]:
        """End the notes of keys whose note_off was lost (:meth:`contradicted`'s) at ``t_s``.

        Not the performer's activity: :attr:`last_activity_s` stays where their
        playing left it, so a silence already long enough triggers at once.

        Args:
            keys: ``(channel, pitch)`` pairs; keys not down are ignored.
            t_s: the notes' end, seconds.

        Returns:
            Notes that became ready for priming, in onset order.
        """
        t = self._clock(t_s)
        for key in keys:
            entry = self._keys.pop(key, None)
            if entry is not None:
                entry.end_s = t
        return self._release(t)

    def release_all(self, t_s: float, channel: int | None = None, *,
                    pedal: bool = True) -> list[Note]:
        """End every note held by a key (and, with ``pedal``, by the sustain pedal) at ``t_s``.

        For the performer's All Notes Off (CC123: keys only; the pedal still
        holds what it holds, as MIDI 1.0 says), All Sound Off (CC120) and for
        keys whose note_off was lost.

        Args:
            t_s: the notes' end, seconds.
            channel: only this channel (0-15); None: every channel.
            pedal: also lift the sustain pedal and end what it held.

        Returns:
            Notes that became ready for priming, in onset order.
        """
        t = self._clock(t_s)
        mine = (lambda key: True) if channel is None else (lambda key: key[0] == channel)
        ended = False
        for key in [k for k in self._keys if mine(k)]:
            entry = self._keys.pop(key)
            if entry.channel in self._pedal and not pedal:
                self._sustained[key] = entry
            else:
                entry.end_s = t
                ended = True
        if pedal:
            self._pedal = {c for c in self._pedal if not mine((c, 0))}
            for key in [k for k in self._sustained if mine(k)]:
                self._sustained.pop(key).end_s = t
                ended = True
        if ended:
            self.last_activity_s = t
        return self._release(t)

    def notes(self, now_s: float | None = None) -> list[Note]:
        """The last ``capacity`` notes started, in onset order.

        Args:
            now_s: time in seconds used as the end of notes still sounding;
                default the time of the latest event.

        Returns:
            Finished notes with their durations, sounding ones with their
            duration so far.
        """
        t = now_s if now_s is not None else (self._last_t or 0.0)
        return [entry.note(t) for entry in self._history]

    def clear(self) -> None:
        """Forget every note, key and pedal (e.g. after a port reconnects)."""
        self._history.clear()
        self._waiting.clear()
        self._keys.clear()
        self._sustained.clear()
        self._pedal.clear()
        self._last_t = None
        self._last_on_s = None
        self.last_activity_s = None
        self.notes_started = 0

    def _clock(self, t_s: float) -> float:
        if self._last_t is not None and t_s < self._last_t:
            return self._last_t
        self._last_t = t_s
        return t_s

    def _release(self, t: float) -> list[Note]:
        """Hand on the finished notes at the head of the queue (and overflow)."""
        ready: list[Note] = []
        waiting = self._waiting
        while waiting and (waiting[0].end_s is not None or len(waiting) > self._capacity):
            ready.append(waiting.popleft().note(t))
        return ready
