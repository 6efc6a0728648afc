"""``livegen doctor`` end to end, as a user runs it, on a private JACK dummy server.

Each test runs ``python -m livegen doctor`` as a subprocess on the test's own
server (``own_jack_server``) and wires its ports with ``jack_connect`` while
it waits (``--wait``): a feedback loop (``livegen out`` to ``livegen in``), the
same loop routed on purpose (``--loopback``), nothing, or no server at all.
Run with ``-s`` to see the report and the round trip measured.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
import rtmidi

from livegen.loopback import PROBE_PITCH, PROBE_VELOCITY
from livegen.model import default_model_path
from livegen.ports import IN_PORT_NAME, OUT_PORT_NAME, find_port
from livegen.ports.backends import compiled_backends

pytestmark = [pytest.mark.jack, pytest.mark.flaky(reruns=2)]

WAIT_S = 20.0  # the doctor's --wait: generous, it stops waiting once both ports are connected
RUN_TIMEOUT_S = 90.0  # model load and all, on a busy 2-core machine
PORTS_TIMEOUT_S = 30.0
OUT = f"livegen:{OUT_PORT_NAME}"
IN = f"livegen:{IN_PORT_NAME}"
JACK_ENV = {"JACK_NO_START_SERVER": "1"}
EARS_POLL_S = 0.001


@pytest.fixture(autouse=True)
def _model():
    if not default_model_path().is_file():
        pytest.skip(f"no trained model at {default_model_path()}")


def jack(*command: str) -> str:
    return subprocess.run(command, capture_output=True, text=True, timeout=10,
                          env={**os.environ, **JACK_ENV}).stdout


def doctor(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "livegen", "doctor", *args],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def finish(process: subprocess.Popen) -> tuple[int, list[str], str]:
    out, err = process.communicate(timeout=RUN_TIMEOUT_S)
    print(f"\n[doctor] exit {process.returncode}\n{out}{err}")
    return process.returncode, out.splitlines(), err


def wait_for_ports(process: subprocess.Popen) -> None:
    deadline = time.monotonic() + PORTS_TIMEOUT_S
    while not {OUT, IN} <= set(jack("jack_lsp").split("\n")):
        if process.poll() is not None or time.monotonic() > deadline:
            code, out, err = finish(process)
            pytest.fail(f"the doctor's ports never appeared (exit {code}): {out} {err}")
        time.sleep(0.05)


def line(lines: list[str], topic: str) -> str:
    found = [text for text in lines if text.split(":")[0].split()[-1] == topic]
    assert len(found) == 1, lines
    return found[0]


class Ears:
    """A JACK client listening to ``livegen out`` (connected before the loop is made)."""

    def __init__(self) -> None:
        self.heard: list[list[int]] = []
        self._stop = threading.Event()
        self.midi = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, "doctor-ears")
        self.midi.open_port(find_port(self.midi.get_ports(), OUT, direction="input"), "ears")
        self._thread = threading.Thread(target=self._listen, daemon=True)
        self._thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            event = self.midi.get_message()
            while event is not None:
                self.heard.append(event[0])
                event = self.midi.get_message()
            time.sleep(EARS_POLL_S)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.midi.close_port()
        self.midi.delete()


def test_a_feedback_loop_is_a_problem_with_its_fix_and_nothing_is_left(own_jack_server):
    process = doctor("--wait", str(WAIT_S))
    wait_for_ports(process)
    ears = Ears()  # livegen out -> ears first: no loop yet, the doctor still waits
    try:
        jack("jack_connect", OUT, IN)  # the loop a DAW's MIDI thru makes
        code, lines, _ = finish(process)
        time.sleep(0.05)
    finally:
        ears.close()
    assert code == 1, lines
    loop = line(lines, "loop-back")
    assert loop.startswith("PROBLEM") and "feedback loop" in loop and "| fix: " in loop
    route = loop[loop.index("later (") + len("later ("):loop.index(") | fix")]
    assert route.startswith(f"{OUT_PORT_NAME} -> ") and IN in route.split(";")[0], route  # names the loop
    assert OUT in route.split(";")[1], route
    assert lines[-1] == "livegen doctor: 1 problem(s)"
    # the probe was a note the doctor ended, and its ports are gone
    ons = [d for d in ears.heard if d[0] & 0xF0 == 0x90 and d[2] > 0]
    offs = [d for d in ears.heard if d[0] & 0xF0 == 0x80 or (d[0] & 0xF0 == 0x90 and d[2] == 0)]
    assert ons == [[0x90, PROBE_PITCH, PROBE_VELOCITY]], ears.heard
    assert offs and ears.heard[-1][0] & 0xF0 == 0x80, ears.heard
    assert not {OUT, IN} & set(jack("jack_lsp").split("\n"))


def test_no_loop_is_healthy(own_jack_server):
    process = doctor("--wait", "0.3")
    code, lines, _ = finish(process)
    assert code == 0, lines
    assert line(lines, "loop-back").startswith("ok") and "no feedback loop" in line(lines, "loop-back")
    assert line(lines, "backend").startswith("ok      backend: jack")
    assert f"{own_jack_server.period_frames} frames at {own_jack_server.rate_hz} Hz" in line(lines, "server")
    assert "real-time off" in line(lines, "server")  # the test server runs --no-realtime
    assert line(lines, "model").startswith("ok")
    assert lines[-1] == "livegen doctor: healthy"


def test_loopback_times_the_round_trip(own_jack_server):
    process = doctor("--loopback", "--wait", str(WAIT_S))
    wait_for_ports(process)
    jack("jack_connect", OUT, IN)  # routed back on purpose
    code, lines, _ = finish(process)
    assert code == 0, lines
    loop = line(lines, "loop-back")
    assert loop.startswith("ok") and "round trip" in loop and "over 10 probe(s)" in loop, loop


def test_loopback_with_nothing_routed_is_a_problem(own_jack_server):
    code, lines, _ = finish(doctor("--loopback", "--wait", "0.3"))
    assert code == 1 and line(lines, "loop-back").startswith("PROBLEM"), lines
    assert "jack_connect" in line(lines, "loop-back")


def test_a_missing_server_is_a_problem_with_its_fix(monkeypatch):
    if "jack" not in compiled_backends():
        pytest.skip("python-rtmidi has no JACK here")
    monkeypatch.setenv("JACK_DEFAULT_SERVER", f"livegen-no-such-server-{os.getpid()}")
    code, lines, err = finish(doctor("--backend", "jack"))
    assert code == 1, lines
    server = line(lines, "server")
    assert server.startswith("PROBLEM") and "livegen-no-such-server" in server and "| fix: " in server
    assert line(lines, "backend").startswith("PROBLEM") and "| fix: " in line(lines, "backend")
    assert "loop-back" not in "".join(lines)  # nothing to open
    assert "Cannot connect" not in err  # libjack's chatter stays hidden
