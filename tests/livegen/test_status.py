"""Tests of livegen.status: the status line, its log handler, and the engine's Activity it reads."""

from __future__ import annotations

import io
import logging
import math

import pytest
from rig import PHRASE, PRESET, make_rig

from livegen.stats import Activity, State
from livegen.status import (
    CLEAR_LINE,
    CLOCK_LOST_S,
    LIVELY_S,
    RATE_WINDOW_S,
    RECENT_S,
    STATUS_INTERVAL_S,
    ConsoleHandler,
    LogStatus,
    StatusLine,
    View,
    note_name,
    open_display,
    render,
)


class Terminal(io.StringIO):
    """A stream that says it is a terminal; :meth:`screen` plays its bytes as one would."""

    def isatty(self) -> bool:
        return True

    def screen(self) -> list[str]:
        """The lines a terminal shows: ``\\r`` goes to column 0, ``CSI K`` erases to the end."""
        lines, line, col = [], [], 0
        text = self.getvalue()
        i = 0
        while i < len(text):
            if text.startswith("\x1b[K", i):
                del line[col:]
                i += 3
                continue
            char = text[i]
            if char == "\r":
                col = 0
            elif char == "\n":
                lines.append("".join(line))
                line, col = [], 0
            else:
                if col < len(line):
                    line[col] = char
                else:
                    line.append(char)
                col += 1
            i += 1
        return [*lines, "".join(line)]


def tick(activity: Activity, **changes) -> Activity:
    for name, value in changes.items():
        setattr(activity, name, value)
    return activity


@pytest.fixture
def console():
    """A ConsoleHandler on a fake terminal, on a logger of its own (no propagation)."""
    stream = Terminal()
    handler = ConsoleHandler(stream)
    handler.setFormatter(logging.Formatter("livegen: %(levelname)s: %(message)s"))
    logger = logging.getLogger("livegen.test_status")
    logger.addHandler(handler)
    logger.propagate, logger.level = False, logging.INFO
    yield stream, handler, logger
    logger.removeHandler(handler)


# --- what one line says -------------------------------------------------------------------------


@pytest.mark.parametrize("pitch, name", [(60, "C4"), (61, "C#4"), (21, "A0"), (0, "C-1"), (127, "G9"),
                                         (69, "A4")])
def test_note_names_put_middle_c_at_c4(pitch, name):
    assert note_name(pitch) == name


def test_a_line_says_state_preset_input_clock_and_controller():
    view = View(State.ANSWERING, "baroque", previous="romantic", notes_per_s=3.5, last_pitch=60,
                tempo_bpm=120.04, locked=True, control=(1, 64))
    assert render(view, 200) == ("answering | romantic -> baroque | in 3.5 notes/s, last C4 | "
                                 "clock 120.0 BPM locked | CC1 64")
    quiet = View(State.LISTENING, "romantic")
    assert render(quiet, 200) == "listening | romantic | in 0.0 notes/s | no clock"
    stopped = View(State.OFF, "folk", tempo_bpm=90.0, locked=False)
    assert "off | folk" in render(stopped, 200) and "clock 90.0 BPM stopped" in render(stopped, 200)


@pytest.mark.parametrize("columns", [1, 10, 40, 80])
def test_a_line_never_fills_the_terminals_last_column(columns):
    view = View(State.ANSWERING, "romantic", notes_per_s=12.0, last_pitch=61, tempo_bpm=133.3,
                locked=True, control=(74, 127))
    text = render(view, columns)
    assert len(text) == min(columns - 1, len(render(view, 1000)))


# --- the engine publishes ------------------------------------------------------------------------


def test_the_engine_publishes_notes_state_and_preset_without_being_asked():
    other = PRESET.replace(name="other", temperature=0.5)
    rig = make_rig(PRESET.replace(cc_map={23: "enabled"}), programs={3: other})
    activity = rig.engine.activity
    assert activity.state is State.LISTENING and activity.preset == PRESET.name
    rig.play(PHRASE)
    assert activity.notes_in == len(PHRASE) and activity.last_pitch == 74  # the last one struck
    trigger_s = rig.run_until_responding()
    assert activity.state is State.PREPARING and activity.answer_s == trigger_s
    assert activity.state_at(trigger_s - 0.001) is State.PREPARING
    assert activity.state_at(trigger_s) is State.ANSWERING
    rig.poll_for(0.3)
    rig.engine.feed([0x92, 50, 70], rig.clock())  # the performer cuts in
    rig.poll()
    assert activity.state_at(rig.clock()) is State.LISTENING and activity.last_pitch == 50
    rig.engine.feed([0xB2, 23, 0], rig.clock())  # enabled off
    rig.poll()
    assert activity.state is State.OFF and activity.control == (23, 0, rig.clock())
    rig.engine.feed([0xB2, 23, 127], rig.clock())
    rig.poll()
    assert activity.state is State.LISTENING
    rig.engine.feed([0xC2, 3], rig.clock())  # program 3
    rig.poll()
    assert activity.preset == "other"
    assert activity.messages_in == 2 * len(PHRASE) + 4


def test_the_engine_publishes_the_clocks_tempo_and_transport():
    rig = make_rig()
    activity = rig.engine.activity
    rig.add_midi_clock(bpm=100.0)
    rig.poll_for(1.0)
    assert activity.clock_running and rig.clock() - activity.clock_s < 60 / 100 / 24
    assert activity.tempo_bpm == pytest.approx(100.0, abs=0.5)
    rig.engine.feed([0xFC], rig.clock())  # Stop
    rig.poll()
    assert not activity.clock_running


# --- the reader: rates, recent changes, the clock -------------------------------------------------


def test_the_line_counts_notes_per_second_and_forgets_old_controllers_and_clocks(console):
    stream, handler, _ = console
    activity = Activity("romantic")
    status = StatusLine(handler, activity, columns=lambda: 200)
    t = 100.0
    status.update(t)
    for i in range(8):  # 4 notes a second for 2 s
        t += 0.25
        tick(activity, notes_in=i + 1, last_pitch=60 + i)
        status.update(t)
    assert stream.screen()[-1].startswith("listening | romantic | in 4.0 notes/s, last G4")
    tick(activity, control=(7, 100, t), clock_s=t, tempo_bpm=120.0, clock_running=True,
         preset="baroque")
    status.update(t + 0.1)  # 8 notes in the 2.1 s since the oldest sample kept
    assert stream.screen()[-1] == ("listening | romantic -> baroque | in 3.8 notes/s, last G4 | "
                                   "clock 120.0 BPM locked | CC7 100")
    status.update(t + CLOCK_LOST_S + 0.01)  # no tick since: the clock is lost
    assert "no clock" in stream.screen()[-1]
    status.update(t + max(RECENT_S, RATE_WINDOW_S) + 0.2)
    assert stream.screen()[-1] == "listening | baroque | in 0.0 notes/s, last G4 | no clock"


def test_the_line_is_written_only_when_it_changes(console):
    stream, handler, _ = console
    status = StatusLine(handler, Activity("romantic"), columns=lambda: 80)
    status.update(1.0)
    written = stream.getvalue()
    assert written == CLEAR_LINE + "listening | romantic | in 0.0 notes/s | no clock"
    status.update(1.1)
    status.update(1.2)
    assert stream.getvalue() == written


def test_the_line_wakes_the_daemon_often_only_while_it_moves(console):
    _, handler, _ = console
    activity = Activity("romantic")
    status = StatusLine(handler, activity, columns=lambda: 80)
    status.update(1.0)
    assert status.interval_s == STATUS_INTERVAL_S
    status.update(1.0 + LIVELY_S / 2)
    assert status.interval_s == STATUS_INTERVAL_S
    status.update(1.0 + LIVELY_S)  # unchanged for LIVELY_S: at the port watch's pace
    assert status.interval_s == math.inf
    tick(activity, notes_in=1, last_pitch=60)
    status.update(3.0)
    assert status.interval_s == STATUS_INTERVAL_S


# --- log records and the line never share a line ---------------------------------------------------


def test_a_log_record_clears_the_line_is_written_whole_and_the_line_comes_back(console):
    stream, handler, logger = console
    stream.write("listening on livegen in -> livegen out (preset romantic, backend jack)\n")
    activity = Activity("romantic")
    status = StatusLine(handler, activity, columns=lambda: 80)
    status.update(1.0)
    logger.warning("the jack server went away: waiting for it to come back")
    tick(activity, notes_in=1, last_pitch=64)
    status.update(1.1)
    logger.warning("a second warning")
    assert stream.screen() == [
        "listening on livegen in -> livegen out (preset romantic, backend jack)",
        "livegen: WARNING: the jack server went away: waiting for it to come back",
        "livegen: WARNING: a second warning",
        "listening | romantic | in 1.0 notes/s, last E4 | no clock",
    ]
    stream.write("^C")  # the terminal's echo of Ctrl-C, after the line
    status.close()  # the daemon stops: the last line stays, whole and ended; the exit log below
    logger.warning("JACK ran 3 cycles without livegen's client")
    assert stream.screen()[-3:] == ["listening | romantic | in 1.0 notes/s, last E4 | no clock",
                                    "livegen: WARNING: JACK ran 3 cycles without livegen's client",
                                    ""]
    assert stream.getvalue().endswith("\n")


def test_a_terminal_that_went_away_ends_the_line_quietly(console):
    _, handler, logger = console

    class Gone(Terminal):
        def write(self, text):
            raise OSError(5, "Input/output error")

    handler.stream = Gone()
    status = StatusLine(handler, Activity("romantic"), columns=lambda: 80)
    status.update(1.0)  # no exception
    assert handler.status is None
    status.close()


# --- where the line goes ---------------------------------------------------------------------------


def test_the_line_is_drawn_only_where_the_console_is_a_terminal(console):
    _, handler, logger = console
    activity = Activity("romantic")
    assert isinstance(open_display(activity, logger), StatusLine) and handler.status is not None
    handler.status = None
    handler.stream = io.StringIO()  # a pipe or a file
    assert isinstance(open_display(activity, logger), LogStatus)
    assert isinstance(open_display(activity, logging.getLogger("livegen.nothing")), LogStatus)


def test_without_a_terminal_changes_are_info_log_lines(caplog):
    caplog.set_level(logging.INFO, logger="livegen.status")
    activity = Activity("romantic")
    display = LogStatus(activity)
    display.update(1.0)
    tick(activity, notes_in=5, last_pitch=60, state=State.PREPARING, answer_s=1.0)
    display.update(1.5)
    assert caplog.records == []  # notes and answers are not a line each (the engine logs answers)
    tick(activity, control=(1, 64, 1.6), preset="baroque", clock_s=1.7, tempo_bpm=121.0,
         clock_running=True)
    display.update(1.75)
    display.update(2.0)  # nothing new: nothing said
    tick(activity, clock_running=False)
    display.update(2.1)
    display.update(2.1 + CLOCK_LOST_S)
    assert [r.getMessage() for r in caplog.records] == [
        "preset baroque (was romantic)", "CC1 64", "MIDI clock locked at 121.0 BPM",
        "MIDI clock stopped"]
    assert {r.levelno for r in caplog.records} == {logging.INFO}
