"""Generation shared by the daemon and offline continuation.

:class:`Generator` wraps a step model (under the preset's style:
:class:`~livegen.guidance.StyledModel`) and a :class:`~livegen.sampling.Sampler`:
it primes the performer's notes one at a time (4 tokens each), snapshots and
restores the model state, and generates response notes token by token under
the note grammar and the chord rules of :mod:`livegen.placement`.
:func:`livegen.offline.continue_notes` (``livegen continue``) and the daemon's :class:`~livegen.engine.Engine`
both use it, so they sound the same. Its state is rebuilt now and then (:mod:`livegen.rebuild`).
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import numpy as np

from livegen import tokens
from livegen.follow import Follower
from livegen.guidance import StepModel, StyledModel
from livegen.notes import Note
from livegen.phrases import answer_preset
from livegen.placement import SHORT_SHIFTS, Articulation, Chord, DensityLimit, chord_limit, end_by_next
from livegen.presets import Preset
from livegen.rebuild import Rebuildable, SlicedRebuild
from livegen.sampling import Sampler
from livegen.session import SessionContext, SessionModel
from livegen.tokens import Kind, NoteDecoder

__all__ = ["Generator", "GeneratorSnapshot"]


@dataclass(frozen=True)
class GeneratorSnapshot:
    """A :class:`Generator`'s position: model state, clock and primed history."""

    state: Any
    logits: np.ndarray
    pending: int | None
    expect: int
    clock_s: float | None
    history: tuple[Note, ...]
    primed_since_reset: int
    follow_context: SessionContext


class Generator(Rebuildable):
    """A model plus a sampler: prime performer notes, then generate a response.

    Token grammar: every note is SHIFT, PITCH, VEL, DUR (:mod:`livegen.tokens`). The generator
    follows the time base of the notes it is given; its clock is the last onset primed or generated.

    Args:
        model: a step model (:class:`livegen.model.Model` or a test double).
        preset: the style, sampling settings, channel and limits to use.
        seed: int for reproducible sampling, or None.
        session: what the performer played, learnt as they play (:mod:`livegen.follow`); default: a new one.

    Raises:
        ModelError: the model has no style ``preset.conditioning.style`` (or one named in ``style_contrast``).

    Attributes:
        model: the step model.
        preset: the preset in use (:meth:`set_preset`).
        answer_preset: ``preset`` with ``monophonic: auto`` decided by :meth:`begin_response`.
        sampler: draws each token.
        follower: the session model and its ``follow*`` weights (``preset.conditioning``).
        primed_since_reset: notes primed since the last :meth:`reset`.
    """

    def __init__(self, model: StepModel, preset: Preset, *, seed: int | None = None,
                 session: SessionModel | None = None) -> None:
        self.model = model
        self.preset, self.answer_preset = preset, answer_preset(preset, ())
        self._styled = StyledModel(model, preset)
        self._rebuild = SlicedRebuild(self._fresh)  # a rebuild in slices (start_rebuild)
        self._chord = Chord()  # the chord being generated: never doubles a pitch
        self._density = DensityLimit(preset.answer.density_limit)  # the answer's pace
        self._articulation = Articulation()  # the player's articulation (articulation: legato, player)
        self._copy_guard = getattr(model, "copy_guard", None) if preset.answer.copy_guard else None
        self._response: list[int] = []  # pitches generated since begin_response (copy guard)
        self.sampler = Sampler.from_preset(preset, seed)
        self._decoder = NoteDecoder(channel=preset.channel)
        self._history: deque[Note] = deque(maxlen=preset.context_notes)
        self.follower = Follower(model=session, **Follower.weights_of(preset.conditioning))
        self._learning = False  # prime(): the performer's tokens are learnt
        self.reset()

    @property
    def clock_s(self) -> float | None:
        """Onset in seconds of the last note primed or generated (None after reset)."""
        return self._clock_s

    @property
    def history(self) -> tuple[Note, ...]:
        """The last ``preset.context_notes`` notes primed, in onset order."""
        return tuple(self._history)

    def reset(self) -> None:
        """Zero the state, forget the primed notes, and feed BOS."""
        self._state = self._styled.initial_state()
        self._pending: int | None = None  # a sampled token not yet fed to the model
        self._heard: int | None = None  # duration_feedback own: the model hears this DUR instead
        self._next_shift: int | None = None  # monophonic: the next note's SHIFT, drawn early
        self._ready: deque[Note] = deque()  # articulation: the chord's notes not yet given
        self.follower.reset_context()
        self._feed(tokens.BOS)
        self._expect = Kind.SHIFT
        self._clock_s: float | None = None
        self._chord.clear()
        self._response = []
        self._history.clear()
        self.sampler.set_context(())
        self.primed_since_reset = 0
        self._rebuild.abandon()
        self._in_response = False  # from begin_response to restore

    def _fresh(self) -> Generator:  # the rebuild's: BOS (one model step), never samples
        return Generator(self.model, self.preset, seed=0)

    def prime(self, note: Note) -> None:
        """Feed one performer note (4 model steps; the follower learns it), in onset order.

        The shift is measured from the previous note's decoded onset (as
        :func:`livegen.tokens.encode` does); after a gap longer than the longest
        shift, the clock jumps to the note's real onset. Its cost paces the rebuilds.

        Args:
            note: the finished note, times in the engine's clock.

        Raises:
            RuntimeError: called between :meth:`begin_response` and the first
                :meth:`next_note` (the grammar expects a PITCH there).
        """
        started = time.perf_counter()
        self._learning = True
        try:
            self._prime(note)
        finally:  # a rebuild's replay (_prime alone) learns nothing twice
            self._learning = False
        self._rebuild.note_cost(time.perf_counter() - started)

    def _prime(self, note: Note) -> None:
        """:meth:`prime` without measuring its cost."""
        if self._expect != Kind.SHIFT:
            raise RuntimeError("prime() after begin_response(); call next_note(), restore() or reset() first")
        self._flush()
        self._next_shift = None  # the performer's own shift comes instead
        shift_s = 0.0 if self._clock_s is None else note.onset_s - self._clock_s
        note_tokens = tokens.encode_note(note, shift_s)
        for token in note_tokens:
            self._feed(token)
        if self._clock_s is None or shift_s > tokens.MAX_SHIFT_S:
            self._clock_s = note.onset_s
        else:
            self._clock_s += tokens.shift_seconds(note_tokens[0])
        self._history.append(note)
        self.sampler.add_context(note)  # key estimate, repetition guard
        self.primed_since_reset += 1
        self._rebuild.primed(note)

    def snapshot(self) -> GeneratorSnapshot:
        """The current position, to :meth:`restore` after a response (no model step)."""
        return GeneratorSnapshot(self._state.copy(), self._logits, self._pending, self._expect,
                                 self._clock_s, tuple(self._history), self.primed_since_reset,
                                 self.follower.snapshot())

    def restore(self, snap: GeneratorSnapshot) -> None:
        """Return to a :meth:`snapshot` (it may be restored again later)."""
        if tuple(self._history) != snap.history:  # a rebuild is only good for its own window
            self._rebuild.abandon()
        self._in_response = False
        self._state = snap.state.copy()
        self._logits = snap.logits
        self._pending, self._heard = snap.pending, None
        self._next_shift = None
        self._ready.clear()
        self._expect = snap.expect
        self._clock_s = snap.clock_s
        self._history = deque(snap.history, maxlen=self.preset.context_notes)
        self.sampler.set_context(self._history)  # forget the response's notes
        self.primed_since_reset = snap.primed_since_reset
        self.follower.restore(snap.follow_context)
        self._chord.clear()
        self._response = []

    def begin_response(self, onset_s: float) -> None:
        """Start a response whose first note begins at ``onset_s`` (1 model step).

        Feeds the SHIFT token for ``onset_s`` minus the previous onset (0 after reset;
        clipped to the vocabulary's 4 s), then sets the clock to exactly ``onset_s``. Decides
        ``monophonic: auto`` (:attr:`answer_preset`) and the pace (``density_limit``) from the primed notes.

        Args:
            onset_s: the first response note's onset, seconds.

        Raises:
            RuntimeError: called twice without a :meth:`next_note` in between.
        """
        if self._expect != Kind.SHIFT:
            raise RuntimeError("begin_response() called twice without next_note()")
        self._in_response = True  # a rebuild under way waits for the restore
        self.answer_preset = answer_preset(self.preset, self._history)  # monophonic: auto, decided
        self._flush()
        self._next_shift = None
        self._ready.clear()
        shift_s = 0.0 if self._clock_s is None else onset_s - self._clock_s
        self._feed(tokens.SHIFT_OFFSET + tokens.quantize_shift(shift_s))
        self._clock_s = onset_s
        self._chord.clear()
        self._density.begin(self._history, onset_s)
        self._articulation.begin(self._history)  # also when off: a program change may turn it on
        self._response = []
        self._expect = Kind.PITCH

    def next_note(self, avoid: Collection[int] = ()) -> Note:
        """Generate one note: sample (SHIFT,) PITCH, VEL, DUR, feeding each back.

        The SHIFT is sampled unless :meth:`begin_response` just fixed the onset. The DUR
        token is fed lazily, at the start of the next call, so the first note after
        :meth:`begin_response` costs 2 more model steps. With ``monophonic`` or an ``articulation``
        but ``model`` the DUR is fed at once and the next SHIFT drawn (the next call uses it), so that
        the note can end by, or last to, the next onset (:attr:`next_onset_s`); with an ``articulation``
        a whole chord is drawn at its first note, and its later notes are given by the next calls. With
        ``duration_feedback: own`` the model hears a DUR of its own, drawn without ``follow``.

        Args:
            avoid: MIDI pitches the PITCH draw must not take (the keys the performer
                holds); should every allowed pitch be avoided, the draw is uniform over
                the allowed ones and the caller must check. Also avoided: the pitches of
                the current chord (:class:`livegen.placement.Chord`: a chord never doubles
                a note) and, with a copy guard on, those that would complete a 13-note run
                copied from a training piece (:mod:`livegen.copyguard`). The SHIFT
                obeys the placement rules (:meth:`_draw_shift`).

        Returns:
            The note, with absolute onset (previous onset + sampled shift), velocity times
            ``preset.answer.velocity_scale`` (clipped to 1-127), duration at most
            ``preset.sampling.max_duration_s`` (``monophonic``: ending by the next onset; ``articulation``:
            as :class:`~livegen.placement.Articulation` holds it), on ``preset.channel``.
        """
        if self._ready:
            return self._ready.popleft()
        chord = [self._draw_note(avoid)]
        articulation = self.answer_preset.answer.articulation
        if articulation == "model":
            return chord[0]
        while self._chord.joins(self.next_onset_s):  # the chord's other notes (the next onset is drawn)
            chord.append(self._draw_note(avoid))
        # each held (or cut) to the next onset as the player's notes are
        first, *rest = self._articulation.hold(chord, self.next_onset_s, detach=articulation == "player")
        self._ready.extend(rest)
        return first

    def _draw_note(self, avoid: Collection[int]) -> Note:
        self._flush()
        sample, mix = self.sampler.sample, self.follower.mix
        if self._expect == Kind.SHIFT:
            token = self._next_shift if self._next_shift is not None else self._draw_shift()
            self._next_shift = None
            self._feed(token)
            self._clock_s = (self._clock_s or 0.0) + tokens.shift_seconds(token)
        chord = self._chord
        chord.add(self._clock_s)
        decoder = self._decoder
        decoder.clock_s = self._clock_s
        excluded = chord.pitches.union(avoid)
        guard = self._copy_guard
        if guard is not None and len(self._response) >= guard.notes - 1:
            excluded.update(guard.blocked(self._response, self.preset.sampling.pitch_low,
                                          self.preset.sampling.pitch_high))
        for kind in (Kind.PITCH, Kind.VEL):
            logits = self._logits
            if kind == Kind.PITCH and excluded:
                logits = logits.copy()
                logits[[tokens.PITCH_OFFSET + pitch for pitch in excluded]] = -np.inf
            token = sample(mix(logits, kind), kind)
            decoder.feed(token)
            self._feed(token)
            if kind == Kind.PITCH:
                pitch = token - tokens.PITCH_OFFSET
                chord.pitches.add(pitch)
                self.sampler.remember(pitch)
                if guard is not None:
                    self._response.append(pitch)
                    if len(self._response) > 2 * guard.notes:
                        del self._response[:guard.notes]
        duration = self._pending = sample(mix(self._logits, Kind.DUR), Kind.DUR)
        if self.preset.conditioning.duration_feedback == "own":  # the model's own draw, unmixed
            self._heard = sample(self._logits, Kind.DUR)
        self._expect = Kind.SHIFT
        self._density.add()
        note = decoder.feed(duration)
        assert note is not None
        preset = self.answer_preset
        duration_s = min(note.duration_s, preset.sampling.max_duration_s)
        if preset.answer.monophonic or preset.answer.articulation != "model":  # the next onset, now
            self._flush()
            self._next_shift = self._draw_shift()
            if preset.answer.monophonic:
                duration_s = end_by_next(duration_s, tokens.shift_seconds(self._next_shift))
        return Note(note.pitch,
                    min(max(round(note.velocity * preset.answer.velocity_scale), 1), 127),
                    note.onset_s, duration_s, preset.channel)

    def _draw_shift(self) -> int:
        """Sample a SHIFT token: once the chord is full (:func:`livegen.placement.chord_limit`
        notes), one of at least ``CHORD_SPAN_S``; none the ``density_limit`` forbids."""
        logits, too_soon = self._logits, self._density.too_soon(self._clock_s)
        if self._chord.full(chord_limit(self.answer_preset)):
            too_soon = SHORT_SHIFTS if too_soon is None else np.union1d(too_soon, SHORT_SHIFTS)
        if too_soon is not None:
            logits = logits.copy()
            logits[too_soon] = -np.inf
        return self.sampler.sample(self.follower.mix(logits, Kind.SHIFT), Kind.SHIFT)

    @property
    def queued(self) -> int:
        """Notes of the current chord already drawn, which the next :meth:`next_note` calls give."""
        return len(self._ready)

    @property
    def next_onset_s(self) -> float | None:
        """Seconds: the onset :meth:`next_note` gives next if it was drawn early, else None."""
        if self._ready:
            return self._ready[0].onset_s
        if self._next_shift is None or self._clock_s is None:
            return None
        return self._clock_s + tokens.shift_seconds(self._next_shift)

    def set_preset(self, preset: Preset, model: StepModel | None = None) -> None:
        """Use another preset (and ``model``, default the one in use); :meth:`rebuild` if the
        model, style or context length differs. The random stream carries on.

        Raises:
            ModelError: the model has no style ``preset.conditioning.style`` or one named in
                ``style_contrast`` (nothing changes).
        """
        model = self.model if model is None else model
        styled = StyledModel(model, preset)
        self._rebuild.abandon()  # a rebuild under way was for the old preset
        rebuild = (model is not self.model or not styled.same_state(self._styled)
                   or preset.context_notes != self.preset.context_notes)
        self.model = model
        self.sampler = self.sampler.with_preset(preset)  # same random stream and memory
        self._copy_guard = getattr(model, "copy_guard", None) if preset.answer.copy_guard else None
        self._decoder = NoteDecoder(channel=preset.channel)
        self._density.limit = float(preset.answer.density_limit)  # its pace and count go on
        self.follower.set_weights(**Follower.weights_of(preset.conditioning))
        self.preset, self.answer_preset = preset, answer_preset(preset, self._history)
        self._styled = styled
        self._history = deque(self._history, maxlen=preset.context_notes)
        if rebuild:
            self.rebuild()

    def _feed(self, token: int, heard: int | None = None) -> None:  # the model hears `heard` if given
        self._logits, self._state = self._styled.step(token if heard is None else heard, self._state)
        self.follower.observe(token, self._learning)

    def _flush(self) -> None:
        if self._pending is not None:
            token, heard, self._pending, self._heard = self._pending, self._heard, None, None
            self._feed(token, heard)
