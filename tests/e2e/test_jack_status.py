"""End to end over JACK: what a musician sees of the daemon, on a terminal and off it.

``python -m livegen run --preset romantic --backend jack`` runs on a private
JACK server (``own_jack_server``). On a pseudo-terminal (the ``pty`` module;
stdout and stderr both on it, as in a terminal window) its status line is read
while this test plays a phrase into ``livegen in`` from one JACK client, Debian's
``jack_midi_clock`` sends MIDI beat clock at :data:`CLOCK_BPM` from another (as a
DAW does, its ticks timed by JACK's frames), and a controller moves: a
line drawn while livegen answers shows the notes, the answering state, the
locked clock's tempo and the controller. Without a terminal (pipes), a whole
start/answer/stop cycle prints the ready line and nothing else but warnings.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import shutil
import signal
import struct
import subprocess
import sys
import termios
import threading
import time

import numpy as np
import pytest
from test_jack_daemon import EXIT_TIMEOUT_S, PHRASE, PRESET, READY_TIMEOUT_S, Player

from livegen.midi import CLOCKS_PER_BEAT
from livegen.model import default_model_path
from livegen.ports import IN_PORT_NAME
from livegen.status import CLEAR_LINE, note_name

pytestmark = [pytest.mark.jack, pytest.mark.flaky(reruns=2)]

CLOCK_BPM = 132.0  # not a default anywhere
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


def jack(*command: str, stdin: str | None = None) -> str:
    """A JACK tool's output, on this test's server (``JACK_DEFAULT_SERVER`` as set now)."""
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=10,
                          env={**os.environ, "JACK_NO_START_SERVER": "1"}).stdout


class DawClock:
    """Debian's ``jack_midi_clock`` at ``bpm``, wired to ``livegen in`` (and ``also``), rolling.

    It sends Start, then MIDI beat clock at JACK frame positions (as a DAW does)
    while the transport rolls. On a dummy server that runs behind the wall clock
    (a non-real-time server on a busy machine) its ticks come slower than ``bpm``
    in real time, as every JACK client hears them.
    """

    def __init__(self, jack_server, bpm: float, *also: str) -> None:
        binary = shutil.which("jack_midi_clock")
        if binary is None or shutil.which("jack_transport") is None:
            pytest.skip("jack_midi_clock/jack_transport are not installed (Debian/Ubuntu: "
                        "apt-get install jack-midi-clock jackd2)")
        livegen_in = jack_server.wait_port(":" + IN_PORT_NAME)
        self.process = subprocess.Popen([binary, "-b", str(bpm), "-B", livegen_in, *also],
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL,
                                        env={**os.environ, "JACK_NO_START_SERVER": "1"})
        jack_server.wait_connected(":" + IN_PORT_NAME, "jack_midi_clock")
        jack("jack_transport", stdin="locate 0\nplay\n")

    def close(self) -> None:
        jack("jack_transport", stdin="stop\n")
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def heard_tempo_range(events) -> tuple[float, float]:
    """The lowest and highest tempo (BPM) of the clock ticks heard, over each 2 beats in turn."""
    ticks = np.array([t for t, data in events if data == [0xF8]])
    window = 2 * CLOCKS_PER_BEAT + 1
    assert len(ticks) >= 2 * window, f"the test heard {len(ticks)} clock ticks"
    tempi = [60.0 / (np.polyfit(np.arange(window), ticks[i:i + window], 1)[0] * CLOCKS_PER_BEAT)
             for i in range(0, len(ticks) - window + 1, CLOCKS_PER_BEAT)]
    return min(tempi), max(tempi)


def test_the_status_line_shows_notes_answering_clock_tempo_and_controller(own_jack_server, model_path):
    terminal = Terminal()
    player = clock = None
    try:
        terminal.wait_for(r"listening on .*\n", READY_TIMEOUT_S)
        player = Player(own_jack_server)
        ears = own_jack_server.wait_port(":ears", Player.CLIENT)
        clock = DawClock(own_jack_server, CLOCK_BPM, ears)  # the test hears the clock too
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
    # the phrase's notes (those of the last 2 s), shown while it plays or as it is answered: on a
    # loaded machine the answer may begin more than 2 s after the phrase's last note
    rates = [float(m.group(1)) for frame in frames if frame.startswith(("listening | ", "answering | "))
             for m in [re.search(r" \| in (\d+\.\d) notes/s", frame)] if m]
    assert any(rate > 0 for rate in rates), frames[-20:]
    print(f"\n[status] {shown[-1].group(0)}")
    # the clock's tempo, as this test heard its ticks (in real time), over any two beats
    low, high = heard_tempo_range(player.heard.snapshot(0.0))
    tempi = [float(m.group(2)) for m in shown]
    print(f"[status] clock heard by the test: {low:.1f}-{high:.1f} BPM over any 2 beats; shown {tempi}")
    assert all(low - 0.01 * CLOCK_BPM <= bpm <= high + 0.01 * CLOCK_BPM for bpm in tempi), tempi
    # the status line never wraps; a warning is a log line of its own, as long as it needs
    wide = [f for f in frames[1:] if not f.startswith(WARNING) and len(f.rstrip("\r\n")) >= COLUMNS]
    assert not wide, f"frames as wide as the terminal ({COLUMNS} columns) or wider: {wide}"
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
