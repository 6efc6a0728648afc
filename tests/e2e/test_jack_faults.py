"""Faults end to end (issue 15 items 2, 3, 9): the JACK server dies, the output is re-routed, a second daemon.

Each test runs ``python -m livegen run`` on a private JACK dummy server of its
own (``own_jack_server``), which it may kill and start again under the same
name, and plays into it from a second JACK client, as a keyboard and a synth
would (the helpers of ``test_jack_daemon``).

Run with ``-s`` to see the measured numbers.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest
from test_jack_daemon import EXIT_TIMEOUT_S, PHRASE, PRESET, Daemon, Player, is_on, sounding_after

from livegen.buffer import STUCK_KEY_S
from livegen.model import default_model_path
from livegen.ports import IN_PORT_NAME, OUT_PORT_NAME, jack_running, jack_shared_client
from livegen.ports.backends import JACK_PROBE_TIMEOUT_S
from livegen.presets import load_preset
from livegen.stopsignals import CLOSE_WATCHDOG_S

pytestmark = [pytest.mark.jack, pytest.mark.flaky(reruns=2)]

JACK_OPTIONS = ["--no-realtime", "-d", "dummy", "-r", "48000", "-p", "64"]
RESTART_TIMEOUT_S = 10.0
LOSS_LINE = "server went away"
BACK_LINE = "server is back"
RESPONSE_LINE = re.compile(r"response (\d+) \(([^)]*)\): (\d+) note\(s\) played")
ANSWER_START_S = 5.0  # the answer's first note_on comes within this after the phrase
HEAR_BEFORE_FAULT_S = 0.5  # how much of the answer plays before the fault
ANSWER_OVER_S = load_preset(PRESET).answer.max_seconds + 5.0


@pytest.fixture
def model_path():
    path = default_model_path()
    if not path.is_file():
        pytest.skip(f"no trained model at {path}")
    return path


class Crashes:
    """Kill the test's own JACK server (SIGKILL: a crash) and start it again under its name.

    A killed jackd leaves its entry in JACK's machine-wide registry of servers
    (8 at most), and only a server started under the same name reclaims it:
    whatever this kills, :meth:`close` starts again and stops cleanly (SIGTERM).
    """

    def __init__(self, server, log_dir) -> None:
        self.server, self.log_dir = server, log_dir
        self.running: subprocess.Popen | None = server.process
        self.started: list[subprocess.Popen] = []

    def kill(self) -> float:
        """SIGKILL the server (only one this test started); the monotonic time it happened."""
        process, self.running = self.running, None
        killed_s = time.monotonic()
        process.kill()
        process.wait(timeout=10)
        return killed_s

    def restart(self) -> subprocess.Popen:
        """Start the server again under its name and wait until it answers."""
        assert self.running is None, "the server still runs"
        with open(self.log_dir / f"jackd-{len(self.started) + 1}.log", "wb") as log:
            process = subprocess.Popen(["jackd", "-n", self.server.name, *JACK_OPTIONS],
                                       stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                       env={**os.environ, "JACK_NO_AUDIO_RESERVATION": "1"})
        self.started.append(process)
        self.running = process
        deadline = time.monotonic() + RESTART_TIMEOUT_S
        while not jack_running():
            assert process.poll() is None and time.monotonic() < deadline, "jackd did not restart"
            time.sleep(0.1)
        return process

    def close(self) -> None:
        if self.running is None:
            self.restart()  # reclaims the killed server's registry entry
        for process in self.started:  # only the processes this started
            if process.poll() is None:
                process.terminate()
                process.wait(timeout=10)


@pytest.fixture
def crashes(own_jack_server, tmp_path):
    crashes = Crashes(own_jack_server, tmp_path)
    yield crashes
    crashes.close()


def wait_for_line(daemon: Daemon, text: str, timeout_s: float) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        lines = [line for line in daemon.log().splitlines() if text in line]
        if lines:
            return lines[0]
        time.sleep(0.05)
    pytest.fail(f"no {text!r} line within {timeout_s} s; daemon log:\n{daemon.log()}")


def answered(player: Player, since_s: float) -> list[float]:
    """The answer's first note_on. The dummy server (not real-time) may skip a cycle of livegen's
    client on a busy machine and lose a note_off of the phrase (seen: 38 of its 42 messages came
    through): livegen then answers once its stuck-key release lets go of that key."""
    preset = load_preset(PRESET)
    return player.wait_for_note_ons(since_s, 1, preset.triggering.silence_s + ANSWER_START_S + STUCK_KEY_S)


def test_server_death_without_reconnect_exits_1_with_one_line(crashes, model_path, tmp_path):
    daemon = Daemon(tmp_path / "daemon.log", "--no-reconnect")
    try:
        daemon.wait_ready()
        killed_s = crashes.kill()
        try:
            status = daemon.process.wait(timeout=EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            pytest.fail(f"the daemon still runs {EXIT_TIMEOUT_S} s after its server died; "
                        f"log:\n{daemon.log()}")
        print(f"\n[faults] server killed -> daemon exited {time.monotonic() - killed_s:.2f} s later")
    finally:
        daemon.stop()
    log = daemon.log()
    assert status == 1, log
    ours = [line for line in log.splitlines() if "livegen" in line and LOSS_LINE in line]
    assert len(ours) == 1 and "exiting" in ours[0], log
    assert "Traceback" not in log, log


@pytest.mark.parametrize("jack_client", ["shared", "rtmidi"])
def test_server_death_then_return_answers_again(own_jack_server, crashes, model_path, tmp_path,
                                                jack_client):
    if not jack_shared_client():
        pytest.skip("needs livegen._jackmidi (the one-client ports; rtmidi's watch client)")
    daemon = Daemon(tmp_path / "daemon.log", "--jack-client", jack_client)
    player = None
    try:
        daemon.wait_ready()
        player = Player(own_jack_server)
        _, last_off_s = player.play(PHRASE)
        ons = answered(player, last_off_s)
        assert ons, daemon.log()
        time.sleep(HEAR_BEFORE_FAULT_S)
        killed_s = crashes.kill()  # mid-answer
        line = wait_for_line(daemon, LOSS_LINE, EXIT_TIMEOUT_S)
        heard_ons = len([t for t, d in player.heard.snapshot(last_off_s) if is_on(d)])  # all there are
        print(f"\n[faults] server killed; the daemon said so: {line!r}")
        assert "livegen.serve" in line and "waiting for it to come back" in line
        player.close()
        player = None
        # the answer that was playing is counted by what reached the server, not what was left
        played = wait_for_line(daemon, "note(s) played", ANSWER_OVER_S)
        notes_played = int(RESPONSE_LINE.search(played).group(3))
        print(f"[faults] heard {heard_ons} note_ons of the answer, the daemon logged "
              f"{notes_played} as played; its loss line came "
              f"{_stamp(line) - _wall(killed_s):.2f} s after the kill")
        # Sends succeed until JACK tells livegen: while the kernel tears the killed jackd down
        # (its locked memory first, its sockets last) a chord may still go into livegen's queue
        # (seen: 0-7 notes in 9 runs, the loss line 0.04-0.14 s after the kill). Before the fix the whole
        # answer was logged as played (48 notes).
        assert notes_played <= heard_ons + load_preset(PRESET).answer.max_chord, daemon.log()
        said = [line for line in daemon.log().splitlines() if " livegen." in line and "went away" in line]
        assert len(said) == 1, said  # one line, though the answer went on into no server

        crashes.restart()
        back = wait_for_line(daemon, BACK_LINE, EXIT_TIMEOUT_S)
        assert f"{IN_PORT_NAME} -> {OUT_PORT_NAME}" in back
        player = Player(own_jack_server)
        _, last_off_s = player.play(PHRASE)
        assert answered(player, last_off_s), f"no answer after the server came back:\n{daemon.log()}"
        assert daemon.process.poll() is None
        assert daemon.interrupt() == 0
    finally:
        if player is not None:
            player.close()
        daemon.stop()
    assert "Traceback" not in daemon.log(), daemon.log()


@pytest.mark.skipif(not jack_shared_client(), reason="needs livegen._jackmidi (JACK's connect callback)")
def test_output_reconnected_mid_answer_ends_every_note(own_jack_server, model_path, tmp_path):
    """A DAW re-routes livegen out mid-answer: the notes left on at the synth end on reconnection."""
    daemon = Daemon(tmp_path / "daemon.log")
    player = None
    try:
        daemon.wait_ready()
        player = Player(own_jack_server)
        out = f"livegen:{OUT_PORT_NAME}"
        ears = next(p for p in own_jack_server.connections()[out] if p.startswith(Player.CLIENT))
        _, last_off_s = player.play(PHRASE)
        assert answered(player, last_off_s), daemon.log()
        # disconnect while the synth holds a note of the answer: right after a note_on, so that
        # the note outlasts jack_disconnect's start-up; a note that still ended first is retried
        # on the next note_on (the answer goes on) rather than leaving nothing to test
        deadline = time.monotonic() + ANSWER_OVER_S
        left_on: dict = {}
        while not left_on:
            since_s = time.monotonic()
            assert player.wait_for_note_ons(since_s, 1, deadline - since_s), \
                f"no note of the answer sounded on when the synth was disconnected:\n{daemon.log()}"
            subprocess.run(["jack_disconnect", out, ears], check=True, timeout=10)
            time.sleep(0.3)  # the answer goes on into no connection
            left_on = sounding_after(player.heard.snapshot(0.0))
            reconnected_s = time.monotonic()
            subprocess.run(["jack_connect", out, ears], check=True, timeout=10)
        player.wait_until_quiet(reconnected_s, ANSWER_OVER_S)
        events = player.heard.snapshot(0.0)
        after = [d for t, d in events if t >= reconnected_s]
        print(f"\n[faults] left on at the disconnection: {sorted(left_on)}; after the "
              f"reconnection {len(after)} messages, sounding at the end: {sounding_after(events)}")
        hanging = sounding_after(events)
        story = [(round(t - reconnected_s, 4), d) for t, d in events
                 if len(d) > 1 and ((d[0] & 0x0F, d[1]) in hanging or d[0] & 0xF0 == 0xB0)]
        assert not hanging, f"hanging notes at the synth: {hanging}: {story}\n{daemon.log()}"
        assert any(d[0] & 0xF0 == 0xB0 and d[1] == 123 for d in after), "no CC123 after reconnecting"
        assert daemon.interrupt() == 0
    finally:
        if player is not None:
            player.close()
        daemon.stop()
    assert "Traceback" not in daemon.log(), daemon.log()


@pytest.mark.parametrize("jack_client", ["shared", "rtmidi"])
def test_a_stopped_server_does_not_hold_the_daemon(own_jack_server, model_path, tmp_path, jack_client):
    """Ctrl-C while the JACK server is stopped (SIGSTOP, a wedged driver): the daemon still exits.

    The one-client ports leave their ports to the server (exit 0, one warning);
    python-rtmidi's hold the GIL while they wait, so the closing watchdog ends
    the process (exit 1, the threads' stacks). Before either, it waited for good.
    """
    if jack_client == "shared" and not jack_shared_client():
        pytest.skip("needs livegen._jackmidi (the one-client ports)")
    daemon = Daemon(tmp_path / "daemon.log", "--jack-client", jack_client)
    server = own_jack_server.process  # the server this test started, and no other
    try:
        daemon.wait_ready()
        assert server.poll() is None, "the test's JACK server exited"
        os.kill(server.pid, signal.SIGSTOP)
        try:
            status = daemon.interrupt()  # waits EXIT_TIMEOUT_S, then fails the test
        finally:
            os.kill(server.pid, signal.SIGCONT)
        print(f"\n[faults] {jack_client}: exit {status} under a stopped server")
        if jack_client == "shared":
            assert status == 0, daemon.log()
            assert "the JACK server did not answer for 2 s" in daemon.log()
            assert "Traceback" not in daemon.log(), daemon.log()
        else:
            assert status == 1 and f"Timeout (0:00:{CLOSE_WATCHDOG_S:02.0f})!" in daemon.log(), daemon.log()
    finally:
        daemon.stop()


#: ``livegen run`` as if ``livegen._jackmidi`` had not been built: python-rtmidi probes (holding the GIL).
UNBUILT = ("import runpy, sys; sys.modules['livegen._jackmidi'] = None; "
           "sys.argv = ['livegen', 'run', '--preset', sys.argv[1]]; "
           "runpy.run_module('livegen', run_name='__main__')")


@pytest.mark.parametrize("probe", [
    pytest.param(["-m", "livegen", "run", "--preset", PRESET], id="extension", marks=pytest.mark.skipif(
        not jack_shared_client(), reason="needs livegen._jackmidi (it probes without the GIL)")),
    pytest.param(["-c", UNBUILT, PRESET], id="rtmidi")])
def test_starting_on_a_stopped_server_is_refused_in_one_line(own_jack_server, model_path, probe):
    """Start livegen while the JACK server is stopped: one line and exit 2, not a silent wait."""
    server = own_jack_server.process  # the server this test started, and no other
    assert server.poll() is None, "the test's JACK server exited"
    os.kill(server.pid, signal.SIGSTOP)
    try:
        done = subprocess.run([sys.executable, *probe], capture_output=True, text=True,
                              timeout=EXIT_TIMEOUT_S)
    finally:
        os.kill(server.pid, signal.SIGCONT)
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"livegen: error: the JACK server does not answer (for {JACK_PROBE_TIMEOUT_S:g} s): "
        "it is stopped or hung; restart it"], done.stderr


def test_a_second_daemon_is_refused_in_one_line(own_jack_server, model_path, tmp_path):
    first = Daemon(tmp_path / "first.log")
    try:
        first.wait_ready()
        second = Daemon(tmp_path / "second.log")
        try:
            status = second.process.wait(timeout=EXIT_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            second.stop()
            pytest.fail(f"a second daemon ran beside the first; its log:\n{second.log()}")
        second.stop()
        errors = second.log().strip().splitlines()
        assert status == 2 and len(errors) == 1, second.log()
        assert errors[0].startswith("livegen: error: another livegen is running on jack")
        assert f"livegen:{IN_PORT_NAME}" in errors[0] and "--client-name" in errors[0]
        # a second one on purpose: a name of its own, and the ready line says which ports are its
        named = Daemon(tmp_path / "named.log", "--client-name", "livegen2")
        try:
            ready = named.wait_ready()
            assert ready.startswith(f"listening on livegen2:{IN_PORT_NAME} -> livegen2:{OUT_PORT_NAME}")
        finally:
            named.stop()
        assert first.process.poll() is None
    finally:
        first.stop()


def _stamp(line: str) -> float:
    """The wall-clock time of a log line (``%(asctime)s``), seconds since the epoch."""
    stamp = time.strptime(line[:19], "%Y-%m-%d %H:%M:%S")
    return time.mktime(stamp) + int(line[20:23]) / 1000


def _wall(monotonic_s: float) -> float:
    """A ``time.monotonic()`` instant on the wall clock."""
    return time.time() - (time.monotonic() - monotonic_s)
