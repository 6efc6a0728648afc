"""The answer: notes generated ahead of playback, placed, and scheduled by deadline.

The engine builds one :class:`Response` with its generator, scheduler, grid
source and the performer's buffer, calls :meth:`Response.begin` when its
trigger fires and :meth:`Response.advance` whenever it wakes: notes are
generated one at a time and handed to the scheduler once they are within the
horizon (``lookahead_s``) of sounding, so generation runs ahead of playback by
at most that much and every note leaves on an absolute deadline.

Placement (:mod:`livegen.placement`): with ``quantize`` each onset moves
towards its grid line, chords hold at most ``max_chord`` notes, a
``monophonic`` line never overlaps, and nothing sounds past the response's
end. With a followed MIDI clock the note's place is kept as a song position
(in clock ticks) and turned into seconds only when it is scheduled, with the
clock's latest fit, and the horizon shortens to :data:`FOLLOW_HORIZON_S`: a
clock whose tempo or phase wanders (a DAW's tempo ramp, a starved JACK server)
moves the notes with it instead of leaving them where an older fit put them.

A response may be prepared before its start (the silence trigger fires
:data:`livegen.engine.PREPARE_S` before the deadline): until the start only
the notes of its first onset are generated and scheduled, then the engine
waits until :data:`SEND_FIRST_S` after the start, so the scheduler thread
sends the first note on time before generation takes the interpreter again.
Not with a timed port (the scheduler's ``handoff``): the first notes are in the
port once scheduled, so generation goes on at once (issue 14: a note due 10 ms
after the start, left until then, was late now and then on a busy machine).

No note takes a pitch the performer holds: the pitch is drawn without the held
keys, and a note whose pitch is held by the time it is scheduled is skipped.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import mido

from livegen.buffer import PerformanceBuffer
from livegen.generation import Generator, GeneratorSnapshot
from livegen.grid import GridSource
from livegen.notes import Note
from livegen.placement import Placement, fit_window
from livegen.scheduler import Scheduler

__all__ = ["Response", "Outcome", "FOLLOW_HORIZON_S", "SEND_FIRST_S", "END_TICK_TOLERANCE"]

#: With a followed clock, notes are placed on its grid and scheduled this long before they
#: sound, seconds (or ``lookahead_s`` if shorter): room for a chord's model steps (about
#: 1 ms a note) and a late engine wake-up, short enough that the fit is fresh.
FOLLOW_HORIZON_S = 0.1
#: A prepared response resumes generating this long after its start, seconds: the
#: scheduler thread sends the first notes first (both threads share Python's GIL).
SEND_FIRST_S = 0.0005
#: A note within this many clock ticks of the response's end (a bar line, with
#: ``response_bars``) belongs to the bar after it: dropped (24 ticks a beat).
END_TICK_TOLERANCE = 0.5


@dataclass(frozen=True)
class Outcome:
    """How a response ended (:meth:`Response.end`).

    Attributes:
        phrase_notes: the performer's note_ons in the phrase it answered.
        notes_played: note_ons the scheduler sent during it.
        latency_ms: trigger instant -> first note_on sent, ms (None: none sent).
    """

    phrase_notes: int
    notes_played: int
    latency_ms: float | None


@dataclass
class _Answer:
    """One response in progress (times in seconds); see :class:`Response`'s properties."""

    trigger_s: float
    start_s: float
    end_limit_s: float
    snapshot: GeneratorSnapshot
    notes_sent_before: int
    last_end_s: float
    phrase_notes: int
    placement: Placement
    generating: bool = True
    held: Note | None = None  # a generated note waiting for the horizon
    held_tick: float | None = None  # its song position (clock ticks) when a clock is followed
    count: int = 0  # notes generated (scheduled or skipped)
    end_tick: float | None = None  # with a followed clock: end_limit_s as a song position


class Response:
    """Generates, places and schedules the answer; one response at a time.

    Not thread-safe: the engine thread owns it (under the engine's lock).
    The preset in force is the generator's (``generator.preset``).

    Args:
        generator: primes the performer and draws the answer's notes.
        scheduler: takes the note_on/note_off pairs.
        grids: the beat grid to snap to, and the followed clock's.
        buffer: the performer's notes (the keys held now).
    """

    def __init__(self, generator: Generator, scheduler: Scheduler, grids: GridSource,
                 buffer: PerformanceBuffer) -> None:
        self._generator = generator
        self._scheduler = scheduler
        self._grids = grids
        self._buffer = buffer
        self._answer: _Answer | None = None

    @property
    def active(self) -> bool:
        """True from :meth:`begin` to :meth:`end` (generating, or its last notes playing)."""
        return self._answer is not None

    @property
    def generating(self) -> bool:
        """True while notes remain to be generated (False once the last is scheduled)."""
        return self._answer is not None and self._answer.generating

    @property
    def trigger_s(self) -> float | None:
        """When the first note should sound, seconds (None: no response).

        The trigger instant (the silence deadline, a bar line, a footswitch
        press) or the grid line the preset asks for after it; latency is
        measured from here.
        """
        return None if self._answer is None else self._answer.trigger_s

    @property
    def end_limit_s(self) -> float | None:
        """No note of the response sounds past this, seconds (None: no response)."""
        return None if self._answer is None else self._answer.end_limit_s

    @property
    def last_end_s(self) -> float | None:
        """The latest note end scheduled so far, seconds (None: no response)."""
        return None if self._answer is None else self._answer.last_end_s

    def begin(self, trigger_s: float, start_s: float, end_limit_s: float, *,
              phrase_notes: int) -> None:
        """Start a response: snapshot the generator, then its first SHIFT (1 model step).

        Args:
            trigger_s: when the first note should sound, seconds (see :attr:`trigger_s`).
            start_s: the first note's onset, seconds (``trigger_s``, or later if
                the engine woke late).
            end_limit_s: no note sounds past this, seconds.
            phrase_notes: the performer's note_ons in the phrase it answers.

        Raises:
            RuntimeError: a response is already active.
        """
        if self._answer is not None:
            raise RuntimeError("begin() while a response is active; end() it first")
        generator = self._generator
        snapshot = generator.snapshot()
        generator.begin_response(start_s)
        self._scheduler.arm_first_note_on()
        self._answer = _Answer(trigger_s, start_s, end_limit_s, snapshot,
                               self._scheduler.notes_sent, start_s, phrase_notes,
                               Placement(generator.answer_preset, start_s, end_limit_s))

    def prepared_only(self, t_s: float) -> bool:
        """True if the response has not sounded and a performer note at ``t_s`` comes before it."""
        answer = self._answer
        return (answer is not None and t_s < answer.start_s
                and self._scheduler.notes_sent == answer.notes_sent_before)

    def end(self, *, cancel: bool = True) -> Outcome | None:
        """End the response: cancel its output, return the generator to the performer's context.

        Args:
            cancel: cancel every message still scheduled (note_offs of sounding
                notes are sent now); False lets them play out.

        Returns:
            How it went, or None if no response was active.
        """
        answer, self._answer = self._answer, None
        if answer is None:
            return None
        scheduler = self._scheduler
        if cancel:
            scheduler.cancel()
        if answer.generating:
            self._generator.restore(answer.snapshot)
        first_s = scheduler.first_note_on_s
        return Outcome(answer.phrase_notes, scheduler.notes_sent - answer.notes_sent_before,
                       None if first_s is None else (first_s - answer.trigger_s) * 1000.0)

    def abandon(self) -> None:
        """Forget the response at once, without touching the generator or scheduler.

        After an unexpected error: the caller panics the scheduler and rebuilds
        the generator.
        """
        self._answer = None

    def wait_s(self, now_s: float) -> float:
        """Seconds until the response next has work at ``now_s`` (0: now).

        While generating: until the held note is due to be scheduled (or, when
        prepared, until just after the start). Afterwards: until the last note ends.

        Raises:
            RuntimeError: no response is active.
        """
        answer = self._active()
        if not answer.generating:
            return max(answer.last_end_s - now_s, 0.0)
        if self._send_first(answer, now_s):  # prepared: let the first notes leave first
            return answer.start_s - now_s + SEND_FIRST_S
        return max(answer.held.onset_s - self._horizon_s(answer) - now_s, 0.0)

    def advance(self, now_s: float) -> int:
        """Generate and schedule the notes due by ``now_s`` plus the horizon.

        When the last note is scheduled, :attr:`generating` turns False and
        the generator returns to the performer's context.

        Args:
            now_s: seconds.

        Returns:
            Notes skipped because the performer held their pitch.

        Raises:
            RuntimeError: no response is active.
        """
        answer = self._active()
        scheduler = self._scheduler
        follow_clock = self._generator.preset.timing.clock == "midi"
        skipped = 0
        while answer.generating:
            if answer.held is None and not self._generate(answer, follow_clock):
                break
            note = answer.held
            limit_s = (answer.start_s if self._send_first(answer, now_s)
                       else now_s + self._horizon_s(answer))
            if (answer.count > 0 or answer.held_tick is not None) and note.onset_s > limit_s:
                break
            clock = self._grids.followed(follow_clock) if answer.held_tick is not None else None
            if clock is not None:  # late binding: the clock's latest fit
                note = fit_window(dataclasses.replace(note, onset_s=clock.time_of(answer.held_tick)),
                                  answer.end_limit_s)
                if note is None:
                    self._finish(answer)
                    break
            answer.held = None
            answer.count += 1
            if note.pitch in self._buffer.sounding:  # held since drawn (or every pitch held)
                skipped += 1
                continue
            scheduler.schedule(note.onset_s, mido.Message(
                "note_on", channel=note.channel, note=note.pitch, velocity=note.velocity))
            scheduler.schedule(note.end_s, mido.Message(
                "note_off", channel=note.channel, note=note.pitch, velocity=0))
            answer.last_end_s = max(answer.last_end_s, note.end_s)
        return skipped

    def _active(self) -> _Answer:
        if self._answer is None:
            raise RuntimeError("no response is active; begin() one first")
        return self._answer

    def _send_first(self, answer: _Answer, now_s: float) -> bool:
        """Before the start, with messages sent when due: only the first onset until it leaves."""
        return now_s < answer.start_s and self._scheduler.handoff is None

    def _horizon_s(self, answer: _Answer) -> float:
        lookahead_s = self._generator.preset.answer.lookahead_s
        return lookahead_s if answer.held_tick is None else min(lookahead_s, FOLLOW_HORIZON_S)

    def _generate(self, answer: _Answer, follow_clock: bool) -> bool:
        """Draw the next note into ``answer.held``; False (and finish) if the response is over."""
        generator, preset = self._generator, self._generator.preset
        note = None
        while answer.count < preset.answer.max_notes:
            drawn = generator.next_note(avoid=self._buffer.sounding)
            grid = self._grids.grid(follow_clock) if preset.timing.quantize != "off" else None
            note, over = answer.placement.place(drawn, generator.next_onset_s, grid)
            if note is None and not over:  # snapped onto a full chord or its own pitch
                answer.count += 1
                continue
            break
        if note is None:
            self._finish(answer)
            return False
        clock = self._grids.followed(follow_clock)
        tick = None
        if clock is not None:
            if answer.end_tick is None:
                answer.end_tick = clock.position(answer.end_limit_s)
            tick = clock.position(note.onset_s)
            if tick > answer.end_tick - END_TICK_TOLERANCE:  # on the next bar line: not ours
                self._finish(answer)
                return False
        answer.held, answer.held_tick = note, tick
        return True

    def _finish(self, answer: _Answer) -> None:
        answer.generating = False
        answer.held = answer.held_tick = None
        self._generator.restore(answer.snapshot)
