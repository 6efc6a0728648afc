"""Keeping the model's state true to its context window: a rebuild in slices, paced by its cost.

An LSTM fed for ever drifts away from what a context-length window would
give. Once more than :data:`DRIFT_WINDOWS` windows of notes were primed, the
generator (:class:`livegen.generation.Generator`) rebuilds its state: a fresh
generator primes the current window a few notes at a time while the live one
carries on, is fed the notes primed meanwhile too, and when it has caught up
its state replaces the live one's. Only the last window of notes matters to
that state, so the notes still to prime never exceed a window: should the live
generator prime a whole window meanwhile (a flood), the fresh generator starts
again from that window, and a rebuild never has more than a window to replay.
Nor does a slice run while the performer outpaces it (more notes primed since
the last slice than a slice primes): its work would only be dropped again.
:class:`SlicedRebuild` keeps that fresh
generator, the notes it still has to prime and the running mean of what
priming one note costs on this machine, which says whether a slice fits
before the next trigger (:meth:`SlicedRebuild.margin_s`).
"""

from __future__ import annotations

import enum
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from livegen.notes import Note

__all__ = ["Rebuild", "Rebuildable", "SlicedRebuild", "REBUILD_SLICE_NOTES", "REBUILD_MARGIN_S",
           "REBUILD_SAFETY", "PRIME_COST_SMOOTHING", "DRIFT_WINDOWS"]

#: A rebuild re-primes the context window: context_notes x 4 model steps, 25 ms for 50
#: notes, 50 ms with style guidance's 6 styles on this project's 2-core machine. It runs
#: in slices of this many notes (:meth:`SlicedRebuild.run_slice`),
#: the engine handling its input between them, so a phrase that arrives meanwhile
#: waits for one slice at most, not the whole rebuild.
REBUILD_SLICE_NOTES = 4
#: A slice only runs if the trigger is at least this far away, seconds ...
REBUILD_MARGIN_S = 0.01
#: ... and at least this many times the slice's expected duration (the measured
#: time to prime one note, times the slice's notes), so a slower machine or a
#: costlier preset never runs one into the trigger.
REBUILD_SAFETY = 2.0
#: Weight of the newest sample in the running mean of the time to prime one note.
PRIME_COST_SMOOTHING = 0.2
#: A rebuild is due once more than this many context windows of notes were primed.
DRIFT_WINDOWS = 2


class Rebuild(enum.Enum):
    """What one :meth:`SlicedRebuild.run_slice` call did."""

    IDLE = "idle"  # nothing due, or no room before the trigger: nothing ran
    SLICED = "sliced"  # a slice ran and notes remain: call again after the input meanwhile
    DONE = "done"  # the rebuild is complete: the state is the window's


class SlicedRebuild:
    """A rebuild under way (or none), and the measured cost of priming a note.

    Not thread-safe: owned by one generator.

    Args:
        fresh: makes a generator at BOS for the same model and preset, one
            that never samples (its ``prime`` feeds a note).
    """

    def __init__(self, fresh: Callable[[], Any]) -> None:
        self._fresh = fresh
        self._shadow: Any = None  # the fresh generator being primed
        self._todo: deque[Note] = deque()  # the notes it has still to prime: a window at most
        self._fed = 0  # notes the fresh generator primed
        self._arrived = 0  # notes the live generator primed since the last slice
        self._prime_cost_s: float | None = None  # running mean: seconds to prime one note

    @property
    def running(self) -> bool:
        """True while a rebuild is under way."""
        return self._shadow is not None

    @property
    def prime_cost_s(self) -> float | None:
        """Running mean of the time to prime one note, seconds (None before any)."""
        return self._prime_cost_s

    @staticmethod
    def drifted(primed_since_reset: int, context_notes: int) -> bool:
        """Whether enough notes were primed for a rebuild to be due (:data:`DRIFT_WINDOWS`)."""
        return primed_since_reset > DRIFT_WINDOWS * context_notes

    @property
    def backlog(self) -> int:
        """Notes the rebuild under way has still to prime (0: none under way); at most a window."""
        return len(self._todo)

    def start(self, window: Iterable[Note], context_notes: int) -> None:
        """Begin: a fresh generator (one model step, BOS) is to prime ``window``.

        Args:
            window: the notes of the context window, in onset order.
            context_notes: the window's length (the preset's), >= 1: the most notes
                the rebuild ever has to prime.
        """
        self._shadow, self._todo = self._fresh(), deque(window, maxlen=context_notes)
        self._fed = 0
        self._arrived = 0

    def abandon(self) -> None:
        """Give the rebuild under way up (the window or the preset changed)."""
        self._shadow = None
        self._todo = deque()

    def primed(self, note: Note) -> None:
        """The live generator primed ``note``: the rebuild under way primes it too, later.

        Were a whole window waiting already, the oldest waiting note no longer
        counts: it drops out, and a fresh generator that primed notes before it
        starts again (one model step, BOS), so that it primes the live window alone.
        """
        if self._shadow is None:
            return
        self._arrived += 1
        todo = self._todo
        if len(todo) == todo.maxlen and self._fed:
            self._shadow, self._fed = self._fresh(), 0
        todo.append(note)  # a full window: the oldest drops out

    def step(self, notes: int) -> Any:
        """Prime up to ``notes`` notes into the fresh generator.

        Returns:
            The fresh generator once it has caught up (the rebuild is then
            over: adopt its state), else None.
        """
        shadow, todo = self._shadow, self._todo
        for _ in range(min(notes, len(todo))):
            shadow.prime(todo.popleft())
            self._fed += 1
        if todo:
            return None
        self._shadow = None
        return shadow

    def note_cost(self, per_note_s: float) -> None:
        """Fold one measurement of the time to prime a note, seconds, into the running mean."""
        if self._prime_cost_s is None:  # the first: no bias towards a made-up start
            self._prime_cost_s = per_note_s
        else:
            self._prime_cost_s += PRIME_COST_SMOOTHING * (per_note_s - self._prime_cost_s)

    def run_slice(self, generator: Any, until_trigger_s: float | None) -> Rebuild:
        """Run one slice of the generator's rebuild, if one is due and it fits before the trigger.

        A rebuild is due once more than :data:`DRIFT_WINDOWS` context windows
        of notes were primed since the last (it then begins), and while one is
        under way. A slice primes :data:`REBUILD_SLICE_NOTES` notes; it runs
        only if the trigger is :meth:`margin_s` away or more, and not while
        more notes were primed since the last slice than a slice primes (a
        flood: the rebuild would fall behind, and its work be dropped). Never
        during a response.

        Args:
            generator: the generator this rebuild belongs to
                (:class:`livegen.generation.Generator`).
            until_trigger_s: seconds until the trigger fires; None: no trigger is due.

        Returns:
            What ran.

        Raises:
            RuntimeError: called during a response (the generator's ``rebuild_step``).
        """
        due = self.running or self.drifted(generator.primed_since_reset,
                                           generator.preset.context_notes)
        if not due or (until_trigger_s is not None
                       and until_trigger_s < self.margin_s(len(generator.history))):
            return Rebuild.IDLE
        if not self.running:
            generator.start_rebuild()
        elif self._arrived > REBUILD_SLICE_NOTES:  # outpaced: the next slice, once it slows
            self._arrived = 0
            return Rebuild.IDLE
        self._arrived = 0
        started = time.perf_counter()
        if generator.rebuild_step(REBUILD_SLICE_NOTES):
            return Rebuild.DONE
        self.note_cost((time.perf_counter() - started) / REBUILD_SLICE_NOTES)
        return Rebuild.SLICED

    def margin_s(self, window_notes: int) -> float:
        """How far the trigger must be for a slice to run now, seconds.

        :data:`REBUILD_SAFETY` times the slice's expected duration (the running
        mean of the time to prime one note, times the notes of a slice of a
        ``window_notes`` window), and at least :data:`REBUILD_MARGIN_S`.
        """
        expected_s = (self._prime_cost_s or 0.0) * min(REBUILD_SLICE_NOTES, window_notes)
        return max(REBUILD_MARGIN_S, REBUILD_SAFETY * expected_s)


class Rebuildable:
    """The rebuild half of :class:`livegen.generation.Generator`: its state made the context
    window's again, at once (:meth:`rebuild`) or in slices (:meth:`rebuild_slice`).

    A mixin: the generator holds the attributes below and ``reset()``, ``_prime(note)``.
    """

    preset: Any
    primed_since_reset: int
    _rebuild: SlicedRebuild
    _history: deque[Note]
    _in_response: bool
    _state: Any
    _logits: np.ndarray
    _pending: int | None
    _expect: int
    _clock_s: float | None

    def reset(self) -> None:  # the generator's
        raise NotImplementedError

    def _prime(self, note: Note) -> None:  # the generator's
        raise NotImplementedError

    @property
    def rebuilding(self) -> bool:
        """True while a :meth:`start_rebuild` is under way."""
        return self._rebuild.running

    def start_rebuild(self) -> None:
        """Begin :meth:`rebuild` in slices (:mod:`livegen.rebuild`; :meth:`rebuild_step`): the same as
        :meth:`rebuild` then the notes primed meanwhile. The generator's ``reset``, ``set_preset`` and a
        ``restore`` to another window abandon it; a response only pauses it."""
        self._rebuild.start(self._history, self.preset.context_notes)

    def rebuild_step(self, notes: int) -> bool:
        """Prime up to ``notes`` notes into the rebuild; adopt it when caught up.

        Returns:
            True when complete (its state is now this generator's) or none is under way.

        Raises:
            RuntimeError: called during a response (between the generator's ``begin_response``
                and ``restore``): the state under a response is never swapped.
        """
        if not self._rebuild.running:
            return True
        if self._in_response:
            raise RuntimeError("rebuild_step() during a response; restore() first")
        shadow = self._rebuild.step(notes)
        if shadow is None:
            return False
        self._state, self._logits, self._pending = shadow._state, shadow._logits, shadow._pending
        self._expect, self._clock_s = shadow._expect, shadow._clock_s
        self.primed_since_reset = shadow.primed_since_reset
        return True

    @property
    def rebuild_margin_s(self) -> float:
        """How far the trigger must be for a rebuild slice to run now, seconds (measured)."""
        return self._rebuild.margin_s(len(self._history))

    def rebuild_slice(self, until_trigger_s: float | None) -> Rebuild:
        """Run one slice of a rebuild if due and it fits (:meth:`livegen.rebuild.SlicedRebuild.run_slice`).

        Args:
            until_trigger_s: seconds until the trigger fires; None: no trigger is due.
        Raises:
            RuntimeError: called during a response (see :meth:`rebuild_step`).
        """
        return self._rebuild.run_slice(self, until_trigger_s)

    def rebuild(self) -> None:
        """Reset, then prime the last ``preset.context_notes`` notes again, at once: the
        LSTM's drift undone, its state is exactly the window's again."""
        notes = list(self._history)
        self.reset()
        for note in notes:
            self._prime(note)
