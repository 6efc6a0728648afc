"""Trigger policies and response timing: when a response starts and where it ends.

The engine asks :func:`trigger_due` when the preset's trigger fires next:

``silence``
    call and response: ``silence_s`` after the performer's last note ends
    (nothing held by key or pedal). With ``silence_adaptive`` the threshold
    is twice the median inter-onset interval of the performer's recent notes,
    kept within ``silence_min_s``-``silence_max_s``, so a slow player is not
    cut off and a fast one need not wait.
``bars``
    every ``trigger_bars`` bars of the MIDI clock (bar lines 0, N, 2N, ...
    from song position 0), if the performer played since the last response;
    the response starts exactly on that bar line.
``continuous``
    plays alongside: whenever the performer has played since the last chunk
    began, the next chunk follows at once (no barge-in); chunks tile when
    ``quantize_start: bar`` and ``response_bars`` are set.
``cc`` / ``note``
    a footswitch (``trigger_cc`` pressed: value rising to >= 64) or the key
    ``trigger_note`` hands over (:class:`livegen.control.Controls` tells);
    pressing it again during a response ends it.

:func:`plan_response` places the start (the next beat or bar with
``quantize_start``, else the next grid line with ``quantize``, else at once)
and the end (``response_bars`` bars when a tempo is known, else
``max_seconds``; with ``answer_length: match``, the phrase's own length,
:func:`match_length_s`). Where each note of the response falls is
:mod:`livegen.placement`'s. The engine asks both through one :class:`Trigger`,
which also keeps what the plan needs between responses.
"""

from __future__ import annotations

from dataclasses import dataclass

from livegen.buffer import PerformanceBuffer
from livegen.grid import BeatGrid, GridSource, division_ticks
from livegen.midi import CLOCKS_PER_BEAT
from livegen.phrases import phrase_span_s
from livegen.presets import Preset
from livegen.tempo import OnsetTempo

__all__ = ["Due", "Trigger", "needs_fast_input", "trigger_due", "plan_response", "silence_threshold_s",
           "needs_grid", "match_length_s", "phrase_span_s", "BAR_PREROLL_S", "SILENCE_IOI_FACTOR"]

#: The ``bars`` trigger fires this long before its bar line, seconds: room for the
#: response's first model steps and a late engine wake-up, so the first note is on time.
BAR_PREROLL_S = 0.05
SILENCE_IOI_FACTOR = 2.0  # adaptive silence: this many median inter-onset intervals


def needs_grid(preset: Preset) -> bool:
    """Whether the preset uses a beat grid at all (else timing is exactly the clock-free one)."""
    return (preset.timing.quantize_start != "off" or preset.timing.quantize != "off"
            or preset.timing.response_bars > 0 or preset.triggering.trigger == "bars"
            or preset.answer.answer_length == "match")


def needs_fast_input(preset: Preset) -> bool:
    """Whether input must reach the engine at once even while no answer plays.

    A footswitch or hand-over key trigger (it starts an answer) or a MIDI clock
    to follow (its ticks are time-stamped as they arrive).
    """
    return preset.triggering.trigger in ("cc", "note") or preset.timing.clock == "midi"


def silence_threshold_s(preset: Preset, median_ioi_s: float | None) -> float:
    """The silence that triggers a response, seconds.

    Args:
        preset: ``silence_s``, ``silence_adaptive`` and its bounds.
        median_ioi_s: the performer's median inter-onset interval, or None
            (fewer than 3 intervals: ``silence_s`` is used).
    """
    if not preset.triggering.silence_adaptive or median_ioi_s is None:
        return preset.triggering.silence_s
    return min(
        max(SILENCE_IOI_FACTOR * median_ioi_s, preset.triggering.silence_min_s),
        preset.triggering.silence_max_s,
    )


def match_length_s(span_s: float, preset: Preset, grid: BeatGrid | None) -> float:
    """The length of an answer to a phrase ``span_s`` long (``answer_length: match``), seconds.

    With a pulse (``grid``), the span rounded to whole bars of ``beats_per_bar``
    (at least one bar); without one, the span itself. Never more than
    ``max_seconds`` (nor less than 1 ms).

    Args:
        span_s: the phrase's span (:func:`phrase_span_s`), seconds >= 0.
        preset: ``beats_per_bar``, ``max_seconds``.
        grid: the beat grid (a followed clock's or the performer's), or None.
    """
    length = span_s
    if grid is not None:
        bar_s = grid.beat_s * preset.timing.beats_per_bar
        length = max(round(span_s / bar_s), 1) * bar_s
    return min(max(length, 1e-3), preset.answer.max_seconds)


def plan_response(now_s: float, preset: Preset, grid: BeatGrid | None, *,
                  start_s: float | None = None,
                  not_before_s: float | None = None,
                  phrase_s: float | None = None) -> tuple[float, float]:
    """Where a response triggered at ``now_s`` starts and the time no note may reach.

    Args:
        now_s: the trigger instant, seconds: the first note is due no earlier.
        preset: ``quantize_start``, ``quantize``, ``response_bars``, ``beats_per_bar``,
            ``max_seconds``.
        grid: the beat grid, or None (no tempo known: start at once, ``max_seconds``).
        start_s: a start fixed by the trigger (a bar line), kept if not earlier
            than ``now_s``.
        not_before_s: the start is not earlier than this (the previous chunk's end).
        phrase_s: the span of the phrase answered, seconds (:func:`phrase_span_s`):
            with ``answer_length: match`` the answer lasts :func:`match_length_s` of it
            (None: no phrase known, the length is as with ``fixed``).

    Returns:
        ``(start_s, end_limit_s)``.
    """
    base = now_s
    if not_before_s is not None:
        base = max(base, not_before_s)
    if start_s is not None:
        start = max(start_s, base)
    elif grid is None:
        start = base
    elif preset.timing.quantize_start == "beat":
        start = grid.next_beat_s(base)
    elif preset.timing.quantize_start == "bar":
        start = grid.next_bar_s(base, preset.timing.beats_per_bar)
    elif preset.timing.quantize != "off":
        start = grid.next_line_s(base, division_ticks(preset.timing.quantize))
    else:
        start = base
    if preset.answer.answer_length == "match" and phrase_s is not None:
        return start, start + match_length_s(phrase_s, preset, grid)
    if grid is not None and preset.timing.response_bars > 0:
        length = grid.tick_s * CLOCKS_PER_BEAT * preset.timing.beats_per_bar * preset.timing.response_bars
        return start, start + length
    return start, start + preset.answer.max_seconds


@dataclass
class Due:
    """When a trigger fires, seconds.

    Attributes:
        fire_s: when the engine acts (prepares the response).
        start_s: the response's start, if the trigger fixes it (a bar line).
        instant_s: the trigger instant, if known ahead (the silence deadline):
            the response is planned from it, not from when the engine woke.
        phrase_s: the span of the phrase it answers, seconds (:func:`phrase_span_s`;
            None: not measured, as when ``answer_length`` is ``fixed``).
    """

    fire_s: float
    start_s: float | None = None
    instant_s: float | None = None
    phrase_s: float | None = None


def trigger_due(preset: Preset, now_s: float, prepare_s: float, *, phrase_notes: int,
                requested: bool, buffer: PerformanceBuffer, tempo: OnsetTempo,
                grid: BeatGrid | None) -> Due | None:
    """When the preset's trigger fires next, or None (waiting for input).

    Args:
        preset: the trigger and its settings.
        now_s: seconds.
        prepare_s: a trigger whose instant is known ahead (the silence deadline)
            fires this long before it, seconds, so the first note is ready on the instant.
        phrase_notes: performer note_ons since the last response began.
        requested: a hand-over (footswitch or key) is waiting (``cc``, ``note``).
        buffer: the performer's notes (silence, last activity).
        tempo: the performer's onsets (their spacing, for adaptive silence).
        grid: the beat grid (``bars``), or None.
    """
    trigger = preset.triggering.trigger
    if trigger == "silence":
        if phrase_notes and buffer.silent and buffer.last_activity_s is not None:
            median_ioi_s = tempo.median_ioi_s() if preset.triggering.silence_adaptive else None
            deadline_s = buffer.last_activity_s + silence_threshold_s(preset, median_ioi_s)
            return Due(deadline_s - prepare_s, instant_s=deadline_s)
    elif trigger == "bars":
        if phrase_notes and grid is not None:
            bar_s = grid.next_bar_s(now_s + prepare_s, preset.timing.beats_per_bar,
                                    preset.triggering.trigger_bars)
            return Due(bar_s - BAR_PREROLL_S, bar_s)
    elif trigger == "continuous":
        if phrase_notes:
            return Due(now_s)
    elif requested:  # cc, note
        return Due(now_s)
    return None


class Trigger:
    """The engine's trigger: when the next response fires, and where it is planned.

    Not thread-safe: the engine thread owns it.

    Args:
        grids: the beat grid in force (a followed clock's or the performer's).
        prepare_s: a trigger whose instant is known ahead (the silence
            deadline) fires this long before it, seconds > 0.

    Attributes:
        prepare_s: as given.
        enabled_s: when the ``enabled`` switch last went on, seconds: a
            silence deadline that passed while it was off is due from then.
        chunk_end_s: the last ``continuous`` chunk's end, seconds: the next
            starts no earlier (None: no chunk playing).
    """

    def __init__(self, grids: GridSource, prepare_s: float) -> None:
        self._grids = grids
        self.prepare_s = prepare_s
        self.enabled_s = float("-inf")
        self.chunk_end_s: float | None = None

    def due(self, preset: Preset, now_s: float, *, phrase_notes: int, requested: bool,
            buffer: PerformanceBuffer, tempo: OnsetTempo) -> Due | None:
        """When the preset's trigger fires next (:func:`trigger_due`), or None.

        Args:
            preset: the trigger and its settings.
            now_s: seconds.
            phrase_notes: performer note_ons since the last response began.
            requested: a hand-over (footswitch or key) is waiting (``cc``, ``note``).
            buffer: the performer's notes (silence, last activity).
            tempo: the performer's onsets (their spacing, for adaptive silence).
        """
        grid = self._grid(preset) if preset.triggering.trigger == "bars" else None  # no fit per tick else
        due = trigger_due(preset, now_s, self.prepare_s, phrase_notes=phrase_notes,
                          requested=requested, buffer=buffer, tempo=tempo, grid=grid)
        if due is not None and preset.answer.answer_length == "match" and phrase_notes:
            due.phrase_s = phrase_span_s(buffer.notes(now_s)[-phrase_notes:])
        return due

    def plan(self, preset: Preset, now_s: float, due: Due) -> tuple[float, float]:
        """Where the response fired at ``now_s`` by ``due`` starts, and where it ends.

        It is planned from the trigger instant (the silence deadline, else
        ``now_s``): its first note is due on that instant, or on the grid line
        after it that the preset asks for (:func:`plan_response`).

        Returns:
            ``(trigger_s, end_limit_s)``, seconds; ``trigger_s`` may be before
            ``now_s`` (the engine woke late): the response then starts at ``now_s``.
        """
        not_before = self.chunk_end_s if preset.triggering.trigger == "continuous" else None
        instant_s = now_s if due.instant_s is None else max(due.instant_s, self.enabled_s)
        return plan_response(instant_s, preset, self._grid(preset) if needs_grid(preset) else None,
                             start_s=due.start_s, not_before_s=not_before, phrase_s=due.phrase_s)

    def _grid(self, preset: Preset) -> BeatGrid | None:
        return self._grids.grid(preset.timing.clock == "midi")
