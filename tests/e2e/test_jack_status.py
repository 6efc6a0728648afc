"""End to end over JACK: what a musician sees of the daemon, on a terminal and off it.

``python -m livegen run --preset romantic --backend jack`` runs on a private
JACK server (``own_jack_server``). On a pseudo-terminal (the ``pty`` module;
stdout and stderr both on it, as in a terminal window) its status line is read
while this test plays a phrase into ``livegen in`` from one JACK client, runs a
MIDI beat clock at :data:`CLOCK_BPM` from another, and moves a controller: a
line drawn while livegen answers shows the notes, the answering state, the
locked clock's tempo and the controller. Without a terminal (pipes), a whole
start/answer/stop cycle prints the ready line and nothing else but warnings.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import sys
import termios
import threading
import time

import pytest
import rtmidi
from test_jack_daemon import EXIT_TIMEOUT_S, PHRASE, PRESET, READY_TIMEOUT_S, Player

from livegen.model import default_model_path
from livegen.ports import IN_PORT_NAME, find_port
from livegen.status import CLEAR_LINE, note_name

pytestmark = [pytest.mark.jack, pytest.mark.flaky(reruns=2)]

CLOCK_BPM = 120.0
CLOCK_SETTLE_S = 1.5  # the clock runs this long before the phrase: the daemon has its tempo
CONTROL = (1, 64)  # the modulation wheel, half way: romantic maps no CC, so nothing changes
ANSWER_TIMEOUT_S = 5.0
ANSWER_SHOWN_S = 0.6  # the line is drawn 10 times a second: several frames of the answer
COLUMNS = 160
LAST_PITCH = max(p for p, _, t, _ in PHRASE if t == max(t for _, _, t, _ in PHRASE))  # struck last
WARNING = "livegen: warning: "


@pytest.fixture
def model_path():
    path = default_model_path()
    if not path.is_file():
        pytest.skip(f"no trained model at {path} yet")
    return path


def daemon_command() -> list[str]:
    return [sys.executable, "-m", "livegen", "run", "--preset", PRESET, "--backend", "jack"]


class Terminal:
    """The daemon on a pseudo-terminal of :data:`COLUMNS` columns; everything it writes, kept."""

    def __init__(self) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, COLUMNS, 0, 0))
        self.process = subprocess.Popen(daemon_command(), stdin=slave, stdout=slave, stderr=slave,
                                        env={**os.environ, "PYTHONUNBUFFERED": "1"},
                                        start_new_session=True)
        os.close(slave)
        self._master = master
        self._lock = threading.Lock()
        self._data = b""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                chunk = os.read(self._master, 65536)
            except OSError:  # EIO: the daemon closed its side
                return
            if not chunk:
                return
            with self._lock:
                self._data += chunk

    def text(self) -> str:
        with self._lock:
            return self._data.decode(errors="replace")

    def wait_for(self, pattern: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not re.search(pattern, self.text()):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.stop()
                pytest.fail(f"no {pattern!r} on the terminal; it shows:\n{self.text()!r}")
            time.sleep(0.05)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=EXIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._reader.join(timeout=2)
        os.close(self._master)
        return self.process.returncode


def screen(text: str) -> list[str]:
    """The lines a terminal shows for ``text``: ``\\r`` to column 0, ``CSI K`` erases to the end."""
    lines, line = [], ""
    for part in re.split(r"(\r\n|\n|\r\x1b\[K|\r)", text):
        if part in ("\r\n", "\n"):
            lines.append(line)
            line = ""
        elif part in ("\r\x1b[K", "\r"):
            line = "" if part == "\r\x1b[K" else line
        else:
            line += part
    return [*lines, line]


class MidiClockSender:
    """A JACK client sending Start, then MIDI beat clock at ``bpm`` on an absolute schedule."""

    CLIENT = "livegen-e2e-clock"

    def __init__(self, jack, bpm: float) -> None:
        self.out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, self.CLIENT)
        self.out.open_port(find_port(self.out.get_ports(), ":" + IN_PORT_NAME, direction="output"),
                           "clock")
        jack.wait_connected(":" + IN_PORT_NAME, self.CLIENT)
        self._tick_s = 60.0 / bpm / 24
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self.out.send_message([0xFA])
        next_s = time.monotonic()
        while not self._stop.is_set():
            self.out.send_message([0xF8])
            next_s += self._tick_s
            delay = next_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.out.send_message([0xFC])
        self.out.close_port()
        self.out.delete()


def test_the_status_line_shows_notes_answering_clock_tempo_and_controller(own_jack_server, model_path):
    terminal = Terminal()
    player = clock = None
    try:
        terminal.wait_for(r"listening on .*\n", READY_TIMEOUT_S)
        player = Player(own_jack_server)
        clock = MidiClockSender(own_jack_server, CLOCK_BPM)
        time.sleep(CLOCK_SETTLE_S)
        _, last_off_s = player.play(PHRASE)
        player.keys.send_message([0xB0, *CONTROL])
        ons = player.wait_for_note_ons(last_off_s, 1, ANSWER_TIMEOUT_S)
        assert ons, f"no answer; the terminal shows:\n{terminal.text()!r}"
        time.sleep(ANSWER_SHOWN_S)
        frames = terminal.text().split(CLEAR_LINE)
    finally:
        for client in (clock, player):
            if client is not None:
                client.close()
        status = terminal.stop()
    answering = [f for f in frames if f.startswith("answering | ")]
    assert answering, f"no line said answering: {frames[-20:]}"
    wanted = re.compile(rf"^answering \| {PRESET} \| in (\d+\.\d) notes/s, last {note_name(LAST_PITCH)} "
                        rf"\| clock (\d+\.\d) BPM locked \| CC{CONTROL[0]} {CONTROL[1]}$")
    shown = [m for m in map(wanted.match, answering) if m]
    assert shown, f"no answering line shows the notes, the locked clock and CC{CONTROL[0]}: {answering}"
    assert any(float(m.group(1)) > 0 for m in shown)  # the phrase's notes, within the last 2 s
    print(f"\n[status] {shown[-1].group(0)}")
    # the clock's tempo (its ticks leave a Python thread on a busy machine: a few ms late at times)
    tempi = [float(m.group(2)) for m in shown]
    assert all(abs(bpm - CLOCK_BPM) < 0.025 * CLOCK_BPM for bpm in tempi), tempi
    assert all(len(f.rstrip("\r\n")) < COLUMNS for f in frames)
    assert status == 0
    text = terminal.text()
    assert text.endswith("\n")  # the line ended on exit: the shell's prompt starts clean
    lines = screen(text)
    assert lines[0].startswith("listening on ") and lines[-1] == ""
    # below the ready line: one status line (the last drawn), every other line a whole warning
    below = lines[1:-1]
    assert sum(line.startswith(("answering | ", "listening | ")) for line in below) == 1, lines
    assert all(line.startswith((WARNING, "answering | ", "listening | ")) for line in below), lines


def test_without_a_terminal_a_start_answer_stop_cycle_prints_only_the_ready_line(own_jack_server,
                                                                                  model_path):
    daemon = subprocess.Popen(daemon_command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True,
                              env={**os.environ, "PYTHONUNBUFFERED": "1"})
    player = None
    try:
        ready = daemon.stdout.readline()
        assert ready.startswith("listening on "), ready + daemon.stderr.read()
        player = Player(own_jack_server)
        _, last_off_s = player.play(PHRASE)
        ons = player.wait_for_note_ons(last_off_s, 1, ANSWER_TIMEOUT_S)
        assert ons, "no answer"
        player.wait_until_quiet(last_off_s, timeout_s=20.0)  # the answer plays to its end
    finally:
        if player is not None:
            player.close()
        daemon.send_signal(signal.SIGINT)
        out, err = daemon.communicate(timeout=EXIT_TIMEOUT_S)
    assert daemon.returncode == 0, err
    assert out == "", out  # after the ready line: nothing
    assert all(line.startswith(WARNING) for line in err.splitlines()), err
    print(f"\n[status] stderr of a start/answer/stop cycle: {err.splitlines() or 'empty'}")
