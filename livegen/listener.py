"""The performer's side of the engine: their keys and pedal, tempo and phrase, primed as they finish.

:class:`Listener` routes the performer's notes and the controllers that act
on keys and pedal to the :class:`~livegen.buffer.PerformanceBuffer`, their
onsets to the :class:`~livegen.tempo.OnsetTempo`, counts the note_ons of the
phrase a response will answer, and primes each note the buffer finishes into
the :class:`~livegen.generation.Generator` at once, or, while a response is
active (the grammar is mid-response), right after it (:meth:`Listener.flush`).
While a flood of input waits in the engine's queue (``backlog``), finished notes
wait too. Notes that wait, for a response or a flood, are a window at most:
only the last ``context_notes`` matter to the model's state, so should more
have waited, the state is rebuilt from that window (:meth:`Listener.catch_up`),
never primed note by note through the whole flood.
Keys whose note_off was lost are released once the performer's playing
contradicts them (:data:`livegen.buffer.HELD_KEY_S`), or after
:data:`livegen.buffer.STUCK_KEY_S` without any input; the warning says whether
keys or the sustain pedal held. A key still down :data:`OUTLASTED_S` after every
key struck after it is up again is released if the input lost messages since it
went down (``losses``: a JACK client's missed cycles drop what they carried).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable

from livegen.buffer import HELD_KEY_S, PerformanceBuffer
from livegen.generation import Generator
from livegen.notes import Note
from livegen.phrases import voice_line
from livegen.response import Response
from livegen.tempo import OnsetTempo

__all__ = ["Listener", "BACKLOG_ITEMS_PER_NOTE", "OUTLASTED_S"]

log = logging.getLogger(__name__)

#: Finished notes wait for :meth:`Listener.catch_up` while the engine's queue holds at
#: least this many items per note of the context window: a note_on and its note_off,
#: so at least a window of notes may be on its way, and the notes now would drop out of it.
BACKLOG_ITEMS_PER_NOTE = 2
#: A key down this long, seconds, after every key struck since it went down is up again
#: (:meth:`~livegen.buffer.PerformanceBuffer.outlasted`), with the input's losses grown since
#: (its note_off may have been one), is taken as released: the answer comes 2 s late instead
#: of 8 (HELD_KEY_S). A bass note held into the phrase's last notes, as most are, ends well
#: within it; a non-real-time JACK server misses cycles every second or so, most carrying
#: nothing. A key held alone for real that long while the input lost messages is answered
#: over: keep it under aftertouch, or the pedal.
OUTLASTED_S = 2.0


class Listener:
    """What the performer plays, on its way to the model.

    Not thread-safe: the engine thread owns it (under the engine's lock).

    Args:
        generator: primes each finished note.
        buffer: pairs note_on/note_off, follows the pedal.
        tempo: the performer's onsets.
        response: while it is active, finished notes wait for its end (:meth:`flush`).
        backlog: how many input items wait in the engine's queue; while there
            are at least two per note of the context window
            (:data:`BACKLOG_ITEMS_PER_NOTE`), finished notes wait for
            :meth:`catch_up`. Default: none ever wait.
        losses: how many input messages or cycles the input port has lost so far
            (a count that only grows); default: never any.

    Attributes:
        phrase_notes: performer note_ons since the last response began.
    """

    def __init__(self, generator: Generator, buffer: PerformanceBuffer, tempo: OnsetTempo,
                 response: Response, backlog: Callable[[], int] = lambda: 0,
                 losses: Callable[[], int] = lambda: 0) -> None:
        self._generator = generator
        self._buffer = buffer
        self._tempo = tempo
        self._response = response
        self._backlog = backlog
        self._losses = losses
        # (channel, pitch) -> losses at its last event; at most 16 x 128 keys (key_down overwrites)
        self._losses_at: dict[tuple[int, int], int] = {}
        self._waiting: deque[Note] = deque()  # finished during a response or a flood: a window
        self._overflowed = False  # notes left _waiting unprimed: catch_up rebuilds the window
        self.phrase_notes = 0

    def key_down(self, pitch: int, velocity: int, t_s: float, channel: int) -> None:
        """A performer note_on (velocity 1-127) at ``t_s`` seconds: a note of the phrase."""
        self.phrase_notes += 1
        self._tempo.add(t_s)
        self._losses_at[(channel, pitch)] = self._losses()
        self._take(self._buffer.note_on(pitch, velocity, t_s, channel))

    def key_up(self, pitch: int, t_s: float, channel: int) -> None:
        """A performer note_off (or note_on with velocity 0) at ``t_s`` seconds."""
        self._losses_at.pop((channel, pitch), None)
        self._take(self._buffer.note_off(pitch, t_s, channel))

    def key_pressure(self, pitch: int, t_s: float, channel: int) -> None:
        """Polyphonic key pressure at ``t_s`` seconds: the key is still down."""
        self._losses_at[(channel, pitch)] = self._losses()
        self._buffer.touch(pitch, t_s, channel)

    def control_change(self, control: int, value: int, t_s: float, channel: int) -> bool:
        """A performer controller; True if it acted on keys or pedal (CC64, 120, 121, 123).

        Args:
            control: controller number 0-127.
            value: its value 0-127.
            t_s: seconds.
            channel: 0-15.

        Returns:
            False when the controller is not the buffer's (a live control, perhaps).
        """
        ready = self._buffer.control_change(control, value, t_s, channel)
        if ready is None:
            return False
        self._take(ready)
        return True

    def release_stuck(self, now_s: float) -> bool:
        """Release what a lost note_off (or pedal lift) left sounding.

        Keys the performer's playing contradicts (:meth:`~livegen.buffer.PerformanceBuffer.contradicted`:
        down :data:`~livegen.buffer.HELD_KEY_S` without the pedal while other keys
        were struck; :data:`OUTLASTED_S` after every key struck after it is up again, if
        the input lost messages since it went down: :meth:`~livegen.buffer.PerformanceBuffer.outlasted`),
        and, after :data:`~livegen.buffer.STUCK_KEY_S` without any
        input, whatever keys or the sustain pedal still hold. Each is a warning
        that names what held: the keys, or the pedal.

        Returns:
            True if notes were taken as ended.
        """
        buffer = self._buffer
        released = False
        outlasted = buffer.outlasted()
        if outlasted and now_s - (buffer.last_activity_s or now_s) >= OUTLASTED_S:
            losses = self._losses()
            lost = [key for key in outlasted if self._losses_at.get(key, losses) < losses]
            if lost:
                log.warning("performer key(s) %s still down %.0f s after the keys played since were "
                            "released, and the input lost messages meanwhile: taken as released "
                            "(a lost note_off)", sorted(pitch for _, pitch in lost), OUTLASTED_S)
                self._take(buffer.release_keys(lost, now_s))
                released = True
        held = buffer.contradicted(now_s)
        if held:
            log.warning("performer key(s) %s down %.0f s or more without the sustain pedal while "
                        "other keys played: taken as released (a lost note_off?)",
                        sorted(pitch for _, pitch in held), HELD_KEY_S)
            self._take(buffer.release_keys(held, now_s))
            released = True
        if buffer.stuck(now_s):
            idle_s = now_s - buffer.last_activity_s
            if buffer.keys_down:
                log.warning("performer key(s) %s held %.0f s with no other input: taken as "
                            "released (a lost note_off?)", sorted(buffer.keys_down), idle_s)
            if buffer.pedal_held:
                log.warning("the sustain pedal held note(s) %s %.0f s with no other input: "
                            "taken as lifted (a lost pedal lift, CC64 below 64?)",
                            sorted(buffer.pedal_held), idle_s)
            self._take(buffer.release_all(now_s))
            released = True
        return released

    def answered(self) -> int:
        """A response begins: return the phrase's note_ons and start counting the next."""
        notes, self.phrase_notes = self.phrase_notes, 0
        return notes

    def flush(self) -> None:
        """Prime the notes that finished during the response (call after it ends)."""
        self.catch_up()

    def drop(self) -> None:
        """Forget the notes waiting for the response or a flood's end (after an unexpected error)."""
        self._waiting.clear()
        self._overflowed = False

    @property
    def flooded(self) -> bool:
        """Whether the engine's queue holds a window's worth of notes or more (notes wait)."""
        window = self._generator.preset.context_notes
        return self._backlog() >= BACKLOG_ITEMS_PER_NOTE * window

    def catch_up(self) -> int:
        """Prime the notes that waited (for a response's or a flood's end): all, or the last window.

        Had more than a context window of notes waited, the model's state is
        rebuilt from the last window (history and waiting notes): a reset
        and ``context_notes`` primed notes, whatever the flood's length.
        Nothing while a response is active (its grammar is mid-note).

        Returns:
            How many notes were primed.
        """
        waiting, generator = self._waiting, self._generator
        if not waiting or self._response.active:
            return 0
        notes = list(waiting)
        waiting.clear()
        if self._overflowed:
            self._overflowed = False
            notes = (list(generator.history) + notes)[-generator.preset.context_notes:]
            generator.reset()
        for note in notes:
            generator.prime(note)
        return len(notes)

    def _take(self, ready: list[Note]) -> None:
        """Prime finished performer notes, or keep them for after the response or the flood.

        A ``monophonic: true`` preset takes one note of each chord only, its ``chord_voice``
        (:func:`livegen.phrases.voice_line`, judged against the notes the buffer has seen).
        """
        answer = self._generator.preset.answer
        if ready and answer.monophonic is True:
            ready = voice_line(ready, answer.chord_voice, self._buffer.notes())
        if not ready:
            return
        # mid-response the grammar is mid-note; in a flood the note may soon be out of the window
        if self._response.active or self._waiting or self.flooded:
            window = self._generator.preset.context_notes
            for note in ready:
                if len(self._waiting) >= window:
                    self._waiting.popleft()  # out of the window before it would count
                    self._overflowed = True
                self._waiting.append(note)
            return
        for note in ready:
            self._generator.prime(note)
