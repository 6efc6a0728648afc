"""End to end: the daemon's time-stamped output heard by a frame-accurate listener.

``livegen run`` (one-client JACK ports) hands each message to its C process
callback ahead of the deadline (livegen/handoff.py). A second one-client JACK
port listens to ``livegen out``; the keyboard is the rtmidi player of
test_jack_daemon.py. Barge-ins fall at random points of the answers. What the
listener hears must match what the daemon says it sent: every note_on once,
a note_off only for a note that sounded, nothing left sounding (issue 14; issue
15 item 8). When JACK itself ran cycles without a client (a non-realtime
server on a busy machine), it may repeat or lose a buffer (docs/benchmark.md):
the exact count is then printed, not asserted.
"""

from __future__ import annotations

import random
import re
import subprocess
import threading
import time

import pytest
from test_jack_daemon import (  # noqa: F401 - fixtures
    PHRASE,
    PRESET,
    Daemon,
    Player,
    is_off,
    is_on,
    model_path,
    no_other_livegen,
    sounding_after,
)

from livegen import ports
from livegen.presets import load_preset

pytestmark = [pytest.mark.jack, pytest.mark.flaky(reruns=2),
              pytest.mark.skipif(not ports.jack_shared_client(), reason="livegen._jackmidi is not built")]

LISTENER = "livegen-e2e-listener"
ROUNDS = 5
NOTES_SENT = re.compile(r"(\d+) notes sent")
MISSED = re.compile(r"JACK ran (\d+) cycles without livegen's client")
RESENT = re.compile(r"(\d+) note_offs were sent again after")


class Listener:
    """A one-client JACK input on ``livegen out``: frame-accurate stamps, no polling."""

    def __init__(self) -> None:
        self.events: list[tuple[float, list[int]]] = []
        self._lock = threading.Lock()
        self.port = ports.open_input("jack", client_name=LISTENER, handler=self._add)
        subprocess.run(["jack_connect", f"{ports.CLIENT_NAME}:{ports.OUT_PORT_NAME}",
                        f"{LISTENER}:{ports.IN_PORT_NAME}"], check=True, capture_output=True, timeout=10)
        time.sleep(0.2)  # a new connection carries data from a later cycle

    def _add(self, data: list[int], stamp_s: float) -> None:
        with self._lock:
            self.events.append((stamp_s, list(data)))

    def snapshot(self) -> list[tuple[float, list[int]]]:
        with self._lock:
            return list(self.events)


@pytest.mark.usefixtures("model_path", "no_other_livegen")
def test_what_the_listener_hears_is_what_the_daemon_sent(jack_server, tmp_path):
    preset = load_preset(PRESET)
    daemon = Daemon(tmp_path / "daemon.log")
    daemon.wait_ready()
    listener = player = None
    try:
        player = Player(jack_server)  # first: the listener's port is also named "livegen in"
        listener = Listener()
        rng = random.Random(14)
        for _ in range(ROUNDS):
            _, last_off_s = player.play(PHRASE)  # from the second round on, a barge-in
            ons = player.wait_for_note_ons(last_off_s, 1, preset.triggering.silence_s + 5.0)
            assert ons, f"no answer; daemon log:\n{daemon.log()}"
            time.sleep(rng.uniform(0.05, 0.8))  # cut the answer anywhere
        player.wait_until_quiet(last_off_s, preset.answer.max_seconds + 5.0)
        status = daemon.interrupt()
        time.sleep(0.2)
        missed = listener.port.missed_cycles
    finally:
        daemon.stop()
        if player is not None:
            player.close()
        if listener is not None:
            listener.port.close()
    log = daemon.log()
    assert status == 0 and "Traceback" not in log, log
    heard = listener.snapshot()
    assert not sounding_after(heard), f"left sounding: {sounding_after(heard)}"
    note_ons = sum(is_on(d) for _, d in heard)
    sent = [int(n) for n in NOTES_SENT.findall(log)]
    daemon_missed = [int(n) for n in MISSED.findall(log)]
    print(f"\n[e2e] the daemon sent {sent} note_ons; the listener heard {note_ons}; JACK cycles "
          f"missed: listener {missed}, daemon {daemon_missed or 0}")
    if missed or daemon_missed:
        pytest.skip("JACK ran cycles without a client: it may repeat or lose a buffer (not livegen's)")
    assert sent == [note_ons], "a note_on repeated or lost between the daemon and the listener"
    sounding: dict[tuple[int, int], bool] = {}
    silent_offs = []  # after an xrun report, livegen sends recent note_offs again (livegen/_jackmidi.c)
    for _, data in heard:
        key = (data[0] & 0x0F, data[1]) if len(data) == 3 else None
        if is_on(data):
            assert not sounding.get(key), f"a note_on for a sounding key: {data}"
            sounding[key] = True
        elif is_off(data) and not sounding.pop(key, False):
            silent_offs.append(data)
    resent = sum(int(n) for n in RESENT.findall(log))
    assert len(silent_offs) <= resent, (f"note_offs for notes not sounding: {silent_offs}; "
                                        f"{resent} sent again after xruns")
