"""The performer's side of the engine: their keys and pedal, tempo and phrase, primed as they finish.

:class:`Listener` routes the performer's notes and the controllers that act
on keys and pedal to the :class:`~livegen.buffer.PerformanceBuffer`, their
onsets to the :class:`~livegen.tempo.OnsetTempo`, counts the note_ons of the
phrase a response will answer, and primes each note the buffer finishes into
the :class:`~livegen.generation.Generator` at once, or, while a response is
active (the grammar is mid-response), right after it (:meth:`Listener.flush`).
Keys whose note_off was lost are released once the performer's playing
contradicts them (:data:`livegen.buffer.HELD_KEY_S`), or after
:data:`livegen.buffer.STUCK_KEY_S` without any input; the warning says whether
keys or the sustain pedal held.
"""

from __future__ import annotations

import logging

from livegen.buffer import HELD_KEY_S, PerformanceBuffer
from livegen.generation import Generator
from livegen.notes import Note
from livegen.response import Response
from livegen.tempo import OnsetTempo

__all__ = ["Listener"]

log = logging.getLogger(__name__)


class Listener:
    """What the performer plays, on its way to the model.

    Not thread-safe: the engine thread owns it (under the engine's lock).

    Args:
        generator: primes each finished note.
        buffer: pairs note_on/note_off, follows the pedal.
        tempo: the performer's onsets.
        response: while it is active, finished notes wait for its end.

    Attributes:
        phrase_notes: performer note_ons since the last response began.
    """

    def __init__(self, generator: Generator, buffer: PerformanceBuffer, tempo: OnsetTempo,
                 response: Response) -> None:
        self._generator = generator
        self._buffer = buffer
        self._tempo = tempo
        self._response = response
        self._deferred: list[Note] = []  # finished during a response: primed after it
        self.phrase_notes = 0

    def key_down(self, pitch: int, velocity: int, t_s: float, channel: int) -> None:
        """A performer note_on (velocity 1-127) at ``t_s`` seconds: a note of the phrase."""
        self.phrase_notes += 1
        self._tempo.add(t_s)
        self._take(self._buffer.note_on(pitch, velocity, t_s, channel))

    def key_up(self, pitch: int, t_s: float, channel: int) -> None:
        """A performer note_off (or note_on with velocity 0) at ``t_s`` seconds."""
        self._take(self._buffer.note_off(pitch, t_s, channel))

    def key_pressure(self, pitch: int, t_s: float, channel: int) -> None:
        """Polyphonic key pressure at ``t_s`` seconds: the key is still down."""
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
        were struck), and, after :data:`~livegen.buffer.STUCK_KEY_S` without any
        input, whatever keys or the sustain pedal still hold. Each is a warning
        that names what held: the keys, or the pedal.

        Returns:
            True if notes were taken as ended.
        """
        buffer = self._buffer
        released = False
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
        deferred, self._deferred = self._deferred, []
        for note in deferred:
            self._generator.prime(note)

    def drop(self) -> None:
        """Forget the notes waiting for the response (after an unexpected error)."""
        self._deferred = []

    def _take(self, ready: list[Note]) -> None:
        """Prime finished performer notes, or keep them for after the response."""
        if self._response.active:
            self._deferred.extend(ready)  # the grammar is mid-response: prime after it
            return
        for note in ready:
            self._generator.prime(note)
