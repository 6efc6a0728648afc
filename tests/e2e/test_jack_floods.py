"""End to end over real JACK ports: floods of program changes and of notes (issue 15, items 4 and 5).

The daemon runs the ``jam`` preset (it follows a MIDI clock; its program map
switches between six presets of different styles, each switch a rebuild of the
model state); a second JACK client sends the clock, the burst and the phrase,
as a DAW and a keyboard would. Before the fix, the phrase after 600 program
changes was not answered (every change rebuilt the state: ~18 s of CPU in
all), and a Ctrl-C right after such a burst and a flood of 1,000 notes did not
end the daemon within 15 s (its engine thread worked the whole queue through).

After a flood of notes (2,000 messages a second for 5 s), the daemon goes idle
(its CPU, from /proc, compared with its own idle CPU) and answers the next
phrase on time; before, it replayed the flood in its rebuild for many seconds.

The stop is timed inside the daemon, from its ``stopping`` log line to its
summary line (the engine's stop, the ports' close), with a generous bound: the
machine is shared and noisy.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import threading
import time
from datetime import datetime

import pytest
import rtmidi
import test_jack_daemon as e2e

from livegen.ports import IN_PORT_NAME, find_port
from livegen.presets import load_preset

pytestmark = [pytest.mark.jack, pytest.mark.flaky(reruns=2)]
model_path = e2e.model_path  # the daemon tests' fixtures
no_other_livegen = e2e.no_other_livegen

PRESET = "jam"
BURST = 600
PROGRAM_CHANGE = 0xC0
CLOCK, START = 0xF8, 0xFA
BPM = 120.0
#: the phrase is answered within its silence, the wait for the next bar (2 s at 120 BPM)
#: and this much more: generous, the machine is shared
ANSWER_SLACK_S = 5.0
#: the daemon's stop (its "stopping" line to its summary line) within this, seconds:
#: 4x the issue's 0.5 s, as the machine is shared; before the fix, up to 9 s
STOP_BOUND_S = 2.0
KEY_FLOOD = 1000  # note_on/note_off pairs right before the Ctrl-C
KEY_FLOOD_CHUNK = 200
KEY_FLOOD_PAUSE_S = 0.005
_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")


class ClockSource:
    """A third JACK client: MIDI beat clock (Start, then 24 clocks a beat) into ``livegen in``."""

    CLIENT = "livegen-e2e-clock"

    def __init__(self, jack_server) -> None:
        self.out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, self.CLIENT)
        self.out.open_port(find_port(self.out.get_ports(), ":" + IN_PORT_NAME, direction="output"),
                           "clock")
        jack_server.wait_connected(":" + IN_PORT_NAME, self.CLIENT)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        tick_s = 60.0 / BPM / 24
        self.out.send_message([START])
        due = time.monotonic()
        while not self._stop.is_set():
            due += tick_s
            time.sleep(max(0.0, due - time.monotonic()))
            self.out.send_message([CLOCK])

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.out.close_port()
        self.out.delete()


def _stamp_s(line: str) -> float:
    return datetime.strptime(_STAMP.match(line).group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp()


def stop_duration_s(log: str) -> float:
    """From the daemon's ``stopping`` line to its summary line, seconds."""
    lines = [line for line in log.splitlines() if _STAMP.match(line)]
    stopping = [line for line in lines if line.endswith(": stopping")]
    summary = [line for line in lines if "responses (" in line]
    assert stopping and summary, f"no stopping/summary lines in the daemon's log:\n{log}"
    return _stamp_s(summary[-1]) - _stamp_s(stopping[-1])


def burst(player: e2e.Player, programs: int) -> None:
    for i in range(BURST):  # as fast as the client sends them; the last is program 5 (jam)
        player.keys.send_message([PROGRAM_CHANGE, i % programs])


def key_flood(player: e2e.Player) -> None:
    """Notes as fast as JACK takes them, each to be primed (4 model steps or more)."""
    for i in range(KEY_FLOOD):
        pitch = 40 + i % 40
        player.keys.send_message([e2e.NOTE_ON, pitch, 80])
        player.keys.send_message([e2e.NOTE_OFF, pitch, 0])
        if i % KEY_FLOOD_CHUNK == KEY_FLOOD_CHUNK - 1:
            time.sleep(KEY_FLOOD_PAUSE_S)  # rtmidi's JACK output buffer holds ~16 KB


def test_a_program_change_burst_then_a_phrase_is_answered_and_ctrl_c_stops_promptly(
        jack_server, model_path, no_other_livegen, tmp_path):
    preset = load_preset(PRESET)
    programs = len(preset.controls.program_map)
    assert dict(preset.controls.program_map)[(BURST - 1) % programs] == PRESET  # the last: jam
    daemon = e2e.Daemon(tmp_path / "daemon.log", "--preset", PRESET)
    clock = player = None
    try:
        daemon.wait_ready()
        player = e2e.Player(jack_server)
        clock = ClockSource(jack_server)
        time.sleep(1.0)  # the clock follower locks on
        wait_s = preset.triggering.silence_max_s + 4 * 60.0 / BPM + ANSWER_SLACK_S
        _, last_off_s = player.play(e2e.PHRASE)  # a full context: every switch rebuilds it
        assert player.wait_for_note_ons(last_off_s, 1, wait_s), daemon.log()
        player.wait_until_quiet(last_off_s, preset.answer.max_seconds + 5.0)

        burst(player, programs)
        _, last_off_s = player.play(e2e.PHRASE)
        ons = player.wait_for_note_ons(last_off_s, 1, wait_s)
        assert ons, f"no answer within {wait_s:.1f} s after {BURST} program changes:\n{daemon.log()}"
        print(f"\n[e2e] after {BURST} program changes: answered {ons[0] - last_off_s:.2f} s after "
              f"the phrase's last note_off (silence, then the next bar)")
        player.wait_until_quiet(last_off_s, preset.answer.max_seconds + 5.0)

        burst(player, programs)  # and Ctrl-C while the engine has these to work through
        key_flood(player)
        status = daemon.interrupt(signal.SIGINT)
        time.sleep(0.2)  # the last JACK periods
        assert status == 0, daemon.log()
        assert not e2e.sounding_after(player.heard.snapshot(0.0))
    finally:
        for client in (clock, player):
            if client is not None:
                client.close()
        daemon.stop()
    log = daemon.log()
    assert "Traceback" not in log, log
    took_s = stop_duration_s(log)
    print(f"[e2e] Ctrl-C right after {BURST} program changes and {KEY_FLOOD} notes: the daemon stopped in "
          f"{took_s * 1000:.0f} ms (stopping -> summary)")
    assert took_s <= STOP_BOUND_S, log


NOTE_FLOOD_S = 5.0  # seconds of ...
NOTE_FLOOD_RATE = 1000  # ... note_on/note_off pairs a second: 2,000 messages a second
CPU_WINDOW_S = 4.0  # the daemon's CPU is measured over this long, idle and after the flood
SETTLE_S = 1.0  # ... from this long after the flood (its catch-up, its answer's first notes)
#: after the flood, the daemon may use this much more of a core than when idle: generous
#: (the flood's own answer plays meanwhile); before, the engine thread replayed the whole
#: flood in its rebuild (the issue: ~95 % of a core for ~40 s; 0.69 here, 0.01 idle)
AFTER_FLOOD_EXTRA_CPU = 0.1
#: the phrase after the flood is answered within its silence and this much more: generous
#: (the issue 15 acceptance is silence + 50 ms), the machine is shared
FLOOD_ANSWER_SLACK_S = 2.0


def cpu_s(pid: int) -> float:
    """CPU time (user + system) of process ``pid`` so far, seconds (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_share(pid: int, seconds: float) -> float:
    """The share of one core process ``pid`` used over the next ``seconds``."""
    before_cpu, before_s = cpu_s(pid), time.monotonic()
    time.sleep(seconds)
    return (cpu_s(pid) - before_cpu) / (time.monotonic() - before_s)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_after_a_note_flood_the_daemon_goes_idle_and_answers_the_next_phrase_on_time(
        jack_server, model_path, no_other_livegen, tmp_path):
    preset = load_preset(e2e.PRESET)
    daemon = e2e.Daemon(tmp_path / "daemon.log")
    player = None
    try:
        daemon.wait_ready()
        player = e2e.Player(jack_server)
        pid = daemon.process.pid
        idle = cpu_share(pid, CPU_WINDOW_S)
        start_s = time.monotonic()
        sent = 0
        while sent < NOTE_FLOOD_S * NOTE_FLOOD_RATE:  # paced: rtmidi's JACK buffer holds ~16 KB
            time.sleep(max(0.0, start_s + sent / NOTE_FLOOD_RATE - time.monotonic()))
            pitch = 40 + sent % 40
            player.keys.send_message([e2e.NOTE_ON, pitch, 80])
            player.keys.send_message([e2e.NOTE_OFF, pitch, 0])
            sent += 1
        time.sleep(SETTLE_S)
        after = cpu_share(pid, CPU_WINDOW_S)
        print(f"\n[e2e] the daemon's CPU, share of a core over {CPU_WINDOW_S:.0f} s: idle {idle:.2f}, "
              f"after a {sent}-note flood ({2 * NOTE_FLOOD_RATE} msg/s) {after:.2f}")
        assert after <= idle + AFTER_FLOOD_EXTRA_CPU, daemon.log()
        player.wait_until_quiet(start_s, preset.answer.max_seconds + 5.0)
        _, last_off_s = player.play(e2e.PHRASE)
        limit_s = preset.triggering.silence_s + FLOOD_ANSWER_SLACK_S
        ons = player.wait_for_note_ons(last_off_s, 1, limit_s + 5.0)
        assert ons, f"no answer after a {sent}-note flood:\n{daemon.log()}"
        latency_s = ons[0] - last_off_s
        print(f"[e2e] then a phrase: answered {latency_s * 1000:.0f} ms after its last note_off "
              f"(silence {preset.triggering.silence_s * 1000:.0f} ms)")
        assert latency_s <= limit_s, daemon.log()
        assert daemon.interrupt() == 0
    finally:
        if player is not None:
            player.close()
        daemon.stop()
    assert "Traceback" not in daemon.log(), daemon.log()
