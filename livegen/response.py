"""One response: notes generated ahead of playback, placed on the beat grid, scheduled.

The engine starts a :class:`Response` when its trigger fires and calls
:meth:`Response.advance` whenever it wakes: notes are generated one at a time
and handed to the scheduler once they are within the horizon (``lookahead_s``)
of sounding, so generation runs ahead of playback by at most that much and
every note leaves on an absolute deadline.

Placement: with ``quantize`` each onset moves towards its grid line
(:func:`livegen.triggers.snap_onset`, never before the response's start).
With a followed MIDI clock the note's place is kept as a song position (in
clock ticks) and turned into seconds only when it is scheduled, with the
clock's latest fit, and the horizon shortens to :data:`FOLLOW_HORIZON_S`: a
clock whose tempo or phase wanders (a DAW's tempo ramp, a starved JACK server)
moves the notes with it instead of leaving them where an older fit put them.

A response may be prepared before its start (the silence trigger fires
:data:`livegen.engine.PREPARE_S` before the deadline): until the start only
the notes of its first onset are generated and scheduled, then the engine
waits until :data:`SEND_FIRST_S` after the start, so the scheduler thread
sends the first note on time before generation takes the interpreter again.

No note takes a pitch the performer holds: the pitch is drawn without the held
keys, and a note whose pitch is held by the time it is scheduled is skipped.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass

import mido

from livegen.generation import Generator, GeneratorSnapshot, fit_window
from livegen.grid import BeatGrid
from livegen.notes import Note
from livegen.presets import Preset
from livegen.sampling import CHORD_SPAN_S
from livegen.scheduler import Scheduler
from livegen.triggers import snap_onset

__all__ = ["Response", "FOLLOW_HORIZON_S", "SEND_FIRST_S"]

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

GridSource = Callable[[], "BeatGrid | None"]


@dataclass
class Response:
    """A response in progress. Times in seconds on the engine's clock.

    Attributes:
        trigger_s: when the first note should sound: the trigger instant (the
            silence deadline, a bar line, a footswitch press) or the grid line
            the preset asks for after it. Latency is measured from here.
        start_s: the first note's onset (``trigger_s``, or later if the engine
            woke late).
        end_limit_s: no note sounds past this.
        snapshot: the generator's position before the response (restored after it).
        notes_sent_before: the scheduler's note count when it began.
        last_end_s: the latest note end scheduled so far.
        generating: False once the last note is scheduled.
        held: a generated note waiting for the horizon.
        held_tick: its song position (clock ticks) when a clock is followed.
        count: notes generated (scheduled or skipped).
        phrase_notes: the performer's note_ons in the phrase it answers.
        end_tick: with a followed clock, :attr:`end_limit_s` as a song position
            (clock ticks), fixed with the first note: a note placed at or after it
            is dropped, however the clock's fit moves later.
        chord_start_s: the first onset of the chord of the last note placed.
        chord_notes: notes placed in that chord (``CHORD_SPAN_S`` from its start;
            with ``quantize``, no more than ``max_chord``, 1 if ``monophonic``).
    """

    trigger_s: float
    start_s: float
    end_limit_s: float
    snapshot: GeneratorSnapshot
    notes_sent_before: int
    last_end_s: float
    generating: bool = True
    held: Note | None = None
    held_tick: float | None = None
    count: int = 0
    phrase_notes: int = 0
    end_tick: float | None = None
    chord_start_s: float = float("-inf")
    chord_notes: int = 0

    def wait_s(self, now_s: float, preset: Preset) -> float:
        """Seconds until the held note is due to be scheduled (0: now)."""
        if now_s < self.start_s:  # prepared: let the first notes leave first
            return self.start_s - now_s + SEND_FIRST_S
        return max(self.held.onset_s - self._horizon_s(preset) - now_s, 0.0)

    def _horizon_s(self, preset: Preset) -> float:
        if self.held_tick is None:
            return preset.lookahead_s
        return min(preset.lookahead_s, FOLLOW_HORIZON_S)

    def advance(self, now_s: float, preset: Preset, generator: Generator, scheduler: Scheduler,
                held_keys: Callable[[], frozenset[int]], grid: GridSource,
                follow: GridSource) -> int:
        """Generate and schedule the notes due by ``now_s`` plus the horizon.

        When the last note is scheduled, :attr:`generating` turns False and
        the generator returns to :attr:`snapshot`.

        Args:
            now_s: seconds.
            preset: the response's settings.
            generator: primed, :meth:`~livegen.generation.Generator.begin_response` done.
            scheduler: takes the note_on/note_off pairs.
            held_keys: the pitches the performer holds now.
            grid: the beat grid to snap to (clock or performer), or None.
            follow: the followed clock's grid now, or None (no clock followed).

        Returns:
            Notes skipped because the performer held their pitch.
        """
        skipped = 0
        while True:
            if self.held is None and not self._generate(preset, generator, held_keys, grid, follow):
                return skipped
            note = self.held
            limit_s = self.start_s if now_s < self.start_s else now_s + self._horizon_s(preset)
            if (self.count > 0 or self.held_tick is not None) and note.onset_s > limit_s:
                return skipped
            clock = follow() if self.held_tick is not None else None
            if clock is not None:  # late binding: the clock's latest fit
                note = fit_window(dataclasses.replace(note, onset_s=clock.time_of(self.held_tick)),
                                  self.end_limit_s)
                if note is None:
                    self._finish(generator)
                    return skipped
            self.held = None
            self.count += 1
            if note.pitch in held_keys():  # held since it was drawn (or every pitch was held)
                skipped += 1
                continue
            scheduler.schedule(note.onset_s, mido.Message(
                "note_on", channel=note.channel, note=note.pitch, velocity=note.velocity))
            scheduler.schedule(note.end_s, mido.Message(
                "note_off", channel=note.channel, note=note.pitch, velocity=0))
            self.last_end_s = max(self.last_end_s, note.end_s)

    def _generate(self, preset: Preset, generator: Generator,
                  held_keys: Callable[[], frozenset[int]], grid: GridSource,
                  follow: GridSource) -> bool:
        """Draw the next note into :attr:`held`; False (and finish) if the response is over."""
        note = None
        while self.count < preset.max_notes:
            note = generator.next_note(avoid=held_keys())
            if preset.quantize != "off":
                note = self._snap(note, preset, generator, grid())
                if note is None:  # snapped onto a full chord
                    self.count += 1
                    continue
            note = fit_window(note, self.end_limit_s)
            break
        if note is None:
            self._finish(generator)
            return False
        clock = follow()
        tick = None
        if clock is not None:
            if self.end_tick is None:
                self.end_tick = clock.position(self.end_limit_s)
            tick = clock.position(note.onset_s)
            if tick > self.end_tick - END_TICK_TOLERANCE:  # on the next bar line: not ours
                self._finish(generator)
                return False
        self.held, self.held_tick = note, tick
        if note.onset_s < self.chord_start_s + CHORD_SPAN_S:
            self.chord_notes += 1
        else:
            self.chord_start_s, self.chord_notes = note.onset_s, 1
        return True

    def _snap(self, note: Note, preset: Preset, generator: Generator,
              beats: BeatGrid | None) -> Note | None:
        """``note`` moved towards its grid line; None: skip it.

        Notes from several onsets can snap onto one grid line: one that would
        join a chord already holding ``max_chord`` notes (1 when
        ``monophonic``) is skipped, unless it is past the end anyway. A
        monophonic note ends by the next one's snapped onset.
        """
        onset_s = max(snap_onset(note.onset_s, preset, beats), self.start_s)
        limit = 1 if preset.monophonic else preset.max_chord
        if (onset_s < self.chord_start_s + CHORD_SPAN_S and self.chord_notes >= limit
                and note.onset_s < self.end_limit_s):
            return None
        if preset.monophonic:
            following_s = generator.next_onset_s
            if following_s is not None:
                following_s = max(snap_onset(following_s, preset, beats), self.start_s)
                if following_s > onset_s:
                    note = dataclasses.replace(
                        note, duration_s=min(note.duration_s, following_s - onset_s))
        return dataclasses.replace(note, onset_s=onset_s)

    def _finish(self, generator: Generator) -> None:
        self.generating = False
        self.held = self.held_tick = None
        generator.restore(self.snapshot)
