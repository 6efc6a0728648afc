"""The daemon's live status line on a terminal, and plain log lines where there is none.

On a terminal (livegen's stderr is a TTY) ``livegen run`` keeps one line up to
date below its ready line, e.g.::

    answering | romantic | in 3.5 notes/s, last C4 | clock 120.0 BPM locked | CC1 64

the state (listening / preparing / answering / off), the preset (``old ->
new`` for a while after a change), the performer's notes per second over the
last :data:`RATE_WINDOW_S` and the last note's name, the MIDI clock's tempo and
whether it is locked (ticks within :data:`CLOCK_LOST_S`, running), and the last
controller for :data:`RECENT_S` after it moves. The line goes to stderr, the
stream the log already uses, so a log record and the line never interleave: the
:class:`ConsoleHandler` clears the line, writes the record, and draws the line
again. stdout keeps only the ready line, for scripts that read it.

The line is drawn by the main thread, from the engine's
:class:`~livegen.stats.Activity` (read without a lock): the engine and
scheduler threads never write to the terminal for it. It is looked at every
:data:`STATUS_INTERVAL_S` while it changes, and at the daemon's port-watch pace
(0.25 s) once it has stood still for :data:`LIVELY_S`, and written only when its
text changed. It is cut to the terminal's width (less one column, so the
terminal never wraps it) and ended with a newline when the daemon stops.

Where stderr is not a terminal, :class:`LogStatus` says the changes worth a
line (a preset change, a controller, the MIDI clock locked or lost) as INFO
log records, seen with ``livegen run -v``.

What it costs an idle daemon (``livegen run --backend jack``, 64-frame dummy
server, 30 s idle, the main thread's CPU time from ``/proc/PID/task/PID/schedstat``,
3 runs each alternated with the code before the status line, 2026-12-02, this
2-core VM under other load): without it 0.043-0.057 % of a core; with the line on
a terminal, drawn every 0.1 s throughout, 0.18-0.20 %; drawn so only while it
moves (:data:`LIVELY_S`), 0.079-0.097 %; without a terminal, 0.059-0.076 % (one
run of 6: 0.147 %). The whole daemon took 0.7-1.6 % in every case (its JACK client's process thread
wakes 750 times a second), so the difference is within the run-to-run noise.
"""

from __future__ import annotations

import logging
import math
import os
from collections import deque
from collections.abc import Callable
from typing import Protocol, TextIO

from livegen.stats import Activity, State

__all__ = ["CLEAR_LINE", "CLOCK_LOST_S", "ConsoleHandler", "Display", "LIVELY_S", "LogStatus",
           "RATE_WINDOW_S",
           "RECENT_S", "STATUS_INTERVAL_S", "StatusLine", "View", "note_name", "open_display",
           "render"]

log = logging.getLogger(__name__)

#: How often the status line may be drawn, seconds (about 10 times a second).
STATUS_INTERVAL_S = 0.1
#: The line is drawn that often only while it changed within this, seconds; then it is
#: drawn as often as the daemon watches its ports (0.25 s): each wake-up of the main thread
#: costs CPU, and an idle daemon should cost next to none (see the module's figures).
LIVELY_S = 1.0
#: Notes per second are counted over this window, seconds.
RATE_WINDOW_S = 2.0
#: The MIDI clock is locked while its ticks come at most this far apart, seconds
#: (24 a beat: 83 ms apart at 30 BPM).
CLOCK_LOST_S = 0.5
#: A controller, or a preset change, is shown this long after it came, seconds.
RECENT_S = 5.0
#: Carriage return, then erase to the end of the line (ECMA-48 EL, ``CSI K``).
CLEAR_LINE = "\r\x1b[K"
_NAMES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
_FALLBACK_COLUMNS = 80


def note_name(pitch: int) -> str:
    """A MIDI pitch's name with its octave, middle C (60) being ``C4``, e.g. ``61`` -> ``C#4``."""
    return f"{_NAMES[pitch % 12]}{pitch // 12 - 1}"


class View:
    """What one status line shows (:func:`render` draws it).

    Attributes:
        state: the engine's state.
        preset: the preset in use; ``previous``: the one before it, while the change is recent.
        notes_per_s: the performer's note_ons per second over the last window.
        last_pitch: the last note_on's pitch (0-127), or None.
        tempo_bpm: the MIDI clock's tempo, or None (no clock heard lately).
        locked: the clock runs and its ticks come (False: heard, but stopped).
        control: the recent controller ``(control, value)``, or None.
    """

    def __init__(self, state: State, preset: str, *, previous: str | None = None,
                 notes_per_s: float = 0.0, last_pitch: int | None = None,
                 tempo_bpm: float | None = None, locked: bool = False,
                 control: tuple[int, int] | None = None) -> None:
        self.state, self.preset, self.previous = state, preset, previous
        self.notes_per_s, self.last_pitch = notes_per_s, last_pitch
        self.tempo_bpm, self.locked, self.control = tempo_bpm, locked, control


def render(view: View, columns: int) -> str:
    """The status line for ``view``, at most ``columns - 1`` characters (never wrapped)."""
    preset = view.preset if view.previous is None else f"{view.previous} -> {view.preset}"
    notes = f"in {view.notes_per_s:.1f} notes/s"
    if view.last_pitch is not None:
        notes += f", last {note_name(view.last_pitch)}"
    if view.tempo_bpm is None:
        clock = "no clock"
    else:
        clock = f"clock {view.tempo_bpm:.1f} BPM {'locked' if view.locked else 'stopped'}"
    parts = [view.state.value, preset, notes, clock]
    if view.control is not None:
        parts.append(f"CC{view.control[0]} {view.control[1]}")
    return " | ".join(parts)[:max(columns - 1, 0)]


class _Reader:
    """Turns the engine's :class:`Activity` into a :class:`View` (the main thread's, no lock)."""

    def __init__(self, activity: Activity) -> None:
        self.activity = activity
        self._counts: deque[tuple[float, int]] = deque()  # (now_s, notes_in) samples
        self._preset = activity.preset
        self._previous: tuple[str, float] | None = None  # (preset before, when it changed)

    def view(self, now_s: float) -> View:
        act = self.activity
        counts, notes = self._counts, act.notes_in
        counts.append((now_s, notes))
        while len(counts) > 1 and counts[1][0] <= now_s - RATE_WINDOW_S:
            counts.popleft()
        since_s, before = counts[0]
        rate = (notes - before) / max(now_s - since_s, RATE_WINDOW_S / 2) if notes != before else 0.0
        preset = act.preset
        if preset != self._preset:
            self._previous, self._preset = (self._preset, now_s), preset
        previous = self._previous
        if previous is not None and now_s - previous[1] > RECENT_S:
            previous = self._previous = None
        clock_s, tempo = act.clock_s, act.tempo_bpm
        heard = clock_s is not None and tempo is not None and now_s - clock_s <= CLOCK_LOST_S
        control = act.control
        recent = control if control is not None and now_s - control[2] <= RECENT_S else None
        return View(act.state_at(now_s), preset, previous=None if previous is None else previous[0],
                    notes_per_s=rate, last_pitch=act.last_pitch,
                    tempo_bpm=tempo if heard else None, locked=heard and act.clock_running,
                    control=None if recent is None else (recent[0], recent[1]))


class Display(Protocol):
    """How the daemon shows its activity: :meth:`update` every :attr:`interval_s`, then :meth:`close`."""

    interval_s: float

    def update(self, now_s: float) -> None:
        """Show the activity at ``now_s`` (seconds, the engine's clock)."""

    def close(self) -> None:
        """The daemon stops: leave the terminal clean."""


class ConsoleHandler(logging.StreamHandler):
    """The CLI's log handler (stderr): a record clears the status line, is written, and the line comes back.

    Attributes:
        status: the :class:`StatusLine` drawn on this stream, or None.
    """

    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self.status: StatusLine | None = None

    def emit(self, record: logging.LogRecord) -> None:
        status = self.status  # the lock is held (Handler.handle)
        if status is None:
            super().emit(record)
            return
        status.clear()
        super().emit(record)
        status.draw()


class StatusLine:
    """The status line on a terminal (see the module); made by :func:`open_display`.

    Args:
        handler: the console handler whose stream (a terminal) it is drawn on.
        activity: the engine's activity.
        columns: the terminal's width; default: asked of the terminal at each draw.
    """

    def __init__(self, handler: ConsoleHandler, activity: Activity, *,
                 columns: Callable[[], int] | None = None) -> None:
        self._handler, self._stream = handler, handler.stream
        self._reader = _Reader(activity)
        self._columns = columns or self._terminal_columns
        self._text = ""
        self._shown = False
        self._changed_s = self._last_s = -math.inf
        handler.status = self

    @property
    def interval_s(self) -> float:
        """Seconds until the next :meth:`update`: :data:`STATUS_INTERVAL_S` while the line moves.

        Once it has not changed for :data:`LIVELY_S`, ``inf``: no wake-ups of its own (the
        daemon's port watch calls :meth:`update`, every 0.25 s), until it changes again.
        """
        return STATUS_INTERVAL_S if self._last_s - self._changed_s < LIVELY_S else math.inf

    def _terminal_columns(self) -> int:
        try:
            return os.get_terminal_size(self._stream.fileno()).columns or _FALLBACK_COLUMNS
        except (OSError, ValueError):
            return _FALLBACK_COLUMNS

    def update(self, now_s: float) -> None:
        """Draw the line for ``now_s`` if its text changed (the main thread).

        A terminal that went away (a write fails: a closed window) ends the line quietly.
        """
        self._last_s = now_s
        text = render(self._reader.view(now_s), self._columns())
        if text == self._text and self._shown:
            return
        self._changed_s = now_s
        with self._handler.lock:
            self._text = text
            try:
                self.draw()
            except OSError:
                self._handler.status = None

    def clear(self) -> None:
        """Erase the line (the handler's lock held)."""
        if self._shown:
            self._stream.write(CLEAR_LINE)
            self._shown = False

    def draw(self) -> None:
        """Write the line over itself (the handler's lock held)."""
        if self._text:
            self._stream.write(CLEAR_LINE + self._text)
            self._stream.flush()
            self._shown = True

    def close(self) -> None:
        """Leave the last line on the terminal, ended with a newline; log records go below it.

        The line is written once more first: the terminal may have echoed a ``^C`` after it.
        """
        with self._handler.lock:
            self._handler.status = None
            if self._shown:
                self._shown = False
                try:
                    self._stream.write(f"{CLEAR_LINE}{self._text}\n")
                    self._stream.flush()
                except OSError:  # the terminal went away
                    pass


class LogStatus:
    """Where there is no terminal: a log line (INFO) for a preset change, a controller, the clock.

    Args:
        activity: the engine's activity.
    """

    interval_s = math.inf  # no wake-ups of its own: called as often as the daemon watches its ports

    def __init__(self, activity: Activity) -> None:
        self._reader = _Reader(activity)
        self._said = View(State.LISTENING, activity.preset)

    def update(self, now_s: float) -> None:
        """Log what changed since the last call."""
        view, said = self._reader.view(now_s), self._said
        if view.preset != said.preset:
            log.info("preset %s (was %s)", view.preset, said.preset)
        if view.control is not None and view.control != said.control:
            log.info("CC%d %d", *view.control)
        if view.locked and not said.locked:
            log.info("MIDI clock locked at %.1f BPM", view.tempo_bpm)
        elif said.locked and not view.locked:
            log.info("MIDI clock %s", "stopped" if view.tempo_bpm is not None else "lost")
        self._said = view

    def close(self) -> None:
        """Nothing to restore."""


def open_display(activity: Activity, logger: logging.Logger | None = None) -> Display:
    """A :class:`StatusLine` where the log's console is a terminal, else a :class:`LogStatus`.

    Args:
        activity: the engine's activity.
        logger: whose :class:`ConsoleHandler` (the CLI installs one on the root logger,
            the default) is looked for.
    """
    for handler in (logger or logging.getLogger()).handlers:
        if isinstance(handler, ConsoleHandler) and _is_terminal(handler.stream):
            return StatusLine(handler, activity)
    return LogStatus(activity)


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed, or not a file
        return False
