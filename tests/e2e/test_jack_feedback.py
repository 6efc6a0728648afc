"""The feedback guard end to end: ``livegen out`` connected straight back to ``livegen in``.

A DAW's MIDI thru (or input monitoring) on the track that records livegen and
feeds it sends every note livegen plays back to it. Here the loop is a plain
JACK connection on a private dummy server (``own_jack_server``), the fastest
such loop there is. The same phrase is played with and without it, the
answer's note_ons counted at a second client (the ``Player`` of
``test_jack_daemon``): with the loop the answer must play to its end as
without, and the daemon must warn once, naming the loop.

Run with ``-s`` to see the counts and the echo delay JACK measured.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import yaml
from test_jack_daemon import PHRASE, Daemon, Player, hanging_detail, is_on, sounding_after

from livegen.model import default_model_path
from livegen.ports import IN_PORT_NAME, OUT_PORT_NAME
from livegen.presets import list_presets

pytestmark = [pytest.mark.jack, pytest.mark.flaky(reruns=2)]

#: a shorter answer than romantic's, so two runs take seconds
SHORT = {"max_seconds": 5.0, "max_notes": 24}
ANSWER_START_S = 5.0
ANSWER_OVER_S = SHORT["max_seconds"] + 6.0
MIN_NOTES = 8  # an answer cut by its first echo has 1
STOP_HEARD_S = 0.3  # what the daemon sends as it stops reaches the test's ears within this
SEED = "7"
RESPONSE_LINE = re.compile(r"response (\d+) \(([^)]*)\): (\d+) note\(s\) played")
LOOP_LINE = re.compile(r"MIDI feedback loop.*\('livegen out' -> 'livegen in', ([\d.]+) ms after")


@pytest.fixture
def preset_file(tmp_path) -> Path:
    if not default_model_path().is_file():
        pytest.skip(f"no trained model at {default_model_path()}")
    values = yaml.safe_load(list_presets()["romantic"].read_text())
    path = tmp_path / "short.yaml"
    path.write_text(yaml.safe_dump({**values, **SHORT}))
    return path


def loop_back(server) -> None:
    """Connect the daemon's output to its input, as a DAW's MIDI thru would."""
    out = server.wait_port(":" + OUT_PORT_NAME, "livegen")
    into = server.wait_port(":" + IN_PORT_NAME, "livegen")
    subprocess.run(["jack_connect", out, into], check=True, timeout=10,
                   env={**os.environ, "JACK_NO_START_SERVER": "1"})
    server.wait_connected(":" + IN_PORT_NAME, out)


def answer(server, preset_file: Path, log_path: Path, *, looped: bool) -> tuple[int, str]:
    """Play the phrase into a fresh daemon; return the answer's note_ons heard and the daemon's log."""
    daemon = Daemon(log_path, "--preset", str(preset_file), "--seed", SEED)
    try:
        daemon.wait_ready()
        player = Player(server)
        try:
            if looped:
                loop_back(server)
            _, last_off_s = player.play(PHRASE)
            ons = player.wait_for_note_ons(last_off_s, 1, ANSWER_START_S)
            assert ons, f"no answer; daemon log:\n{daemon.log()}"
            player.wait_until_quiet(last_off_s, ANSWER_OVER_S)
            heard = player.heard.snapshot(last_off_s)
            assert daemon.interrupt() == 0, daemon.log()
            time.sleep(STOP_HEARD_S)  # the ears stay open: what the daemon ends as it stops is heard
            detail = hanging_detail(player.heard, sounding_after(heard), last_off_s,
                                    sounding_after(player.heard.snapshot(last_off_s)))
        finally:
            player.close()
    finally:
        daemon.stop()
    hanging = sounding_after(heard)
    assert not hanging, f"hanging notes: {hanging}; {detail}"
    return sum(1 for _, data in heard if is_on(data)), daemon.log()


def test_a_looped_output_answers_to_the_end_and_warns_once(own_jack_server, preset_file, tmp_path):
    alone, alone_log = answer(own_jack_server, preset_file, tmp_path / "alone.log", looped=False)
    looped, looped_log = answer(own_jack_server, preset_file, tmp_path / "looped.log", looped=True)
    responses = RESPONSE_LINE.findall(looped_log)
    delays = [float(ms) for ms in LOOP_LINE.findall(looped_log)]
    print(f"\n[e2e] answer note_ons: {alone} without the loop, {looped} with it; "
          f"responses with the loop {responses}; first echo {delays} ms after its deadline "
          f"(JACK period {own_jack_server.period_s * 1000:.2f} ms)")
    assert "Traceback" not in looped_log, looped_log
    assert alone >= MIN_NOTES, alone_log
    assert looped >= MIN_NOTES and looped >= alone // 2, looped_log
    assert [reason for _, reason, _ in responses] == ["done"], looped_log  # no barge-in, no echo phrase
    assert len(delays) == 1, looped_log
    assert not LOOP_LINE.findall(alone_log)
