"""MIDI learn end to end (issue 16): ``livegen learn`` over real JACK ports.

``python -m livegen learn`` runs as a subprocess with a user preset folder of
the test's own (``$LIVEGEN_PRESETS``); a second JACK client, as a keyboard
would, plays a key, presses the sustain pedal (both passed over) and turns a
knob (CC74): the packaged preset is copied to the user folder, comments and
all, with the knob mapped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import rtmidi
import test_jack_daemon as e2e

from livegen.learn import EXIT_NOTHING_LEARNT
from livegen.ports import IN_PORT_NAME, find_port
from livegen.presets import PRESETS_ENV, list_presets, load_preset

pytestmark = [pytest.mark.jack, pytest.mark.flaky(reruns=2)]
no_other_livegen = e2e.no_other_livegen

CLIENT = "livegen-e2e-learn"
START_TIMEOUT_S = 30.0
LEARN_TIMEOUT_S = 30.0
KNOB = 74
NOTE_ON, CONTROL = 0x90, 0xB0


def _learn(tmp_path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "livegen", "learn", "--backend", "jack", *args],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, PRESETS_ENV: str(tmp_path / "presets"), "PYTHONUNBUFFERED": "1"})


def _wait_line(process: subprocess.Popen, start: str) -> str:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        if line.startswith(start):
            return line
    process.kill()
    pytest.fail(f"no {start!r} line from livegen learn; stderr:\n{process.communicate()[1]}")


def test_a_knob_moved_is_written_into_a_copy_of_the_packaged_preset(jack_server, no_other_livegen,
                                                                   tmp_path, monkeypatch):
    packaged_text = list_presets()["romantic"].read_text()
    process = _learn(tmp_path, "--preset", "romantic", "--target", "temperature",
                     "--timeout", str(LEARN_TIMEOUT_S))
    keys = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, CLIENT)
    try:
        _wait_line(process, "move a knob or pedal")
        keys.open_port(find_port(keys.get_ports(), ":" + IN_PORT_NAME, direction="output"), "keys")
        jack_server.wait_connected(":" + IN_PORT_NAME, CLIENT)
        time.sleep(e2e.CONNECT_SETTLE_S)
        for data in ([NOTE_ON, 60, 90], [NOTE_ON, 60, 0], [CONTROL, 64, 127], [CONTROL, 64, 0],
                     [CONTROL | 2, KNOB, 100]):
            keys.send_message(data)
            time.sleep(0.01)
        out, err = process.communicate(timeout=LEARN_TIMEOUT_S)
    finally:
        keys.delete()
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, f"livegen learn failed:\n{out}\n{err}"
    path = tmp_path / "presets" / "romantic.yaml"
    assert f"CC{KNOB} -> temperature in {path} (a copy of the packaged romantic)" in out
    assert "sustain pedal" in out  # CC64 passed over, with the reason
    packaged = load_preset(list_presets()["romantic"])
    assert list_presets()["romantic"].read_text() == packaged_text  # untouched
    monkeypatch.setenv(PRESETS_ENV, str(tmp_path / "presets"))
    mine = load_preset("romantic")  # the user's copy now shadows the packaged one
    assert mine == packaged.replace(cc_map={KNOB: "temperature"})
    assert "# temperature: softmax temperature" in path.read_text()  # the commented copy


def test_no_knob_moved_writes_nothing_and_exits_1(jack_server, no_other_livegen, tmp_path):
    process = _learn(tmp_path, "--preset", "romantic", "--target", "follow", "--timeout", "0.5")
    out, err = process.communicate(timeout=START_TIMEOUT_S)
    assert process.returncode == EXIT_NOTHING_LEARNT, f"{out}\n{err}"
    assert "no controller moved within 0.5 s; nothing written" in err
    assert not (tmp_path / "presets").exists()
