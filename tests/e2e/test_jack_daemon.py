"""End to end over real JACK ports: the daemon as a user runs it, a second client as the keyboard.

``python -m livegen run --preset romantic --backend jack`` runs as a subprocess;
this test is a second JACK client (python-rtmidi) that plays a phrase of a Bach
chorale into ``livegen in`` and listens to ``livegen out``, as a keyboard and a
synth would. Times are ``time.monotonic()`` in this process, which is the same
clock (CLOCK_MONOTONIC) the daemon stamps its input with.

Run with ``-s`` to see the measured numbers. The latency acceptance check
(first response note_on within ``silence_s`` + 50 ms of the phrase's last
note_off) allows a few JACK periods on top: JACK moves MIDI once per period,
and the round trip crosses it twice.
"""

from __future__ import annotations

import os
import queue
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import rtmidi

from livegen.model import default_model_path
from livegen.ports import IN_PORT_NAME, OUT_PORT_NAME, find_port, jack_shared_client
from livegen.ports.backends import list_ports
from livegen.presets import load_preset
from livegen.tokens import MAX_SHIFT_S

_jackmidi = pytest.importorskip("livegen._jackmidi", reason="the test's ears are a one-client JACK client")

# A non-realtime JACK dummy server (1.3 ms periods) drops a client's MIDI for a cycle it
# misses now and then, and a lost program change or note_off fails a run that livegen did
# not fail: each test may run up to 3 times (pytest-rerunfailures).
pytestmark = [pytest.mark.jack, pytest.mark.flaky(reruns=2)]

PRESET = "romantic"
READY_TIMEOUT_S = 60.0  # model load on a busy 2-core machine
EXIT_TIMEOUT_S = 15.0
ENGINE_BUDGET_S = 0.050  # the acceptance criterion: silence_s + 50 ms
JACK_ALLOWANCE_PERIODS = 4  # two hops of one period each, and as much again for jitter
BARGE_IN_LIMIT_S = 0.1  # generous: no response note_on this long after a barge-in
RESPONSE_LISTEN_S = 1.0  # how long an answer plays before the performer cuts in
# nothing sounding and nothing sent for longer than the longest time shift the vocabulary
# has (onset to onset): the response is over
RESPONSE_IDLE_S = MAX_SHIFT_S + 0.5
MIN_RESPONSE_NOTES = 8
CONNECT_SETTLE_S = 0.2  # generous on a loaded machine
EARS_POLL_S = 0.0005  # the allowance for the ears' stamps (JACK's, frame-accurate: none needed)
EARS_WAIT_S = 0.05  # the ears' reader wakes at least this often to see that it should stop

# J. S. Bach, chorale BWV 66.6 (music21 corpus, bach/bwv66.6), all four voices, the first
# five beats at quarter note = 0.4 s, unisons merged: (pitch, velocity, onset_s, duration_s)
PHRASE = [(73, 84, 0.0, 0.19), (64, 72, 0.0, 0.38), (57, 70, 0.0, 0.19), (71, 84, 0.2, 0.19),
          (59, 66, 0.2, 0.19), (56, 70, 0.2, 0.19), (69, 84, 0.4, 0.38), (66, 72, 0.4, 0.38),
          (61, 66, 0.4, 0.38), (54, 70, 0.4, 0.38), (71, 84, 0.8, 0.38), (64, 72, 0.8, 0.38),
          (59, 66, 0.8, 0.38), (56, 70, 0.8, 0.38), (73, 84, 1.2, 0.38), (64, 72, 1.2, 0.38),
          (57, 66, 1.2, 0.38), (76, 84, 1.6, 0.38), (64, 72, 1.6, 0.38), (59, 66, 1.6, 0.38),
          (56, 70, 1.6, 0.38)]
NOTE_ON, NOTE_OFF, CONTROL = 0x90, 0x80, 0xB0
ALL_NOTES_OFF, ALL_SOUND_OFF = 123, 120


@dataclass
class Heard:
    """What arrived from ``livegen out``: ``(monotonic_s, bytes)`` in order of arrival.

    The stamps are the ears' JACK stamps (:class:`Player`): frame-accurate, on
    ``time.monotonic()``'s clock, equal for the messages of one JACK cycle.
    """

    events: list[tuple[float, list[int]]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, data: list[int], at_s: float) -> None:
        with self.lock:
            self.events.append((at_s, list(data)))

    def snapshot(self, since_s: float = 0.0) -> list[tuple[float, list[int]]]:
        with self.lock:
            return [e for e in self.events if e[0] >= since_s]

    def key_messages(self, channel: int, pitch: int, since_s: float) -> list[str]:
        """One key's messages since ``since_s``, stamped (seconds after it) to 0.1 ms."""
        with self.lock:
            return [f"{t - since_s:.4f}s {data}" for t, data in self.events
                    if t >= since_s and len(data) > 1 and data[0] < 0xF0
                    and data[0] & 0x0F == channel and data[1] == pitch]


def hanging_detail(heard: Heard, hanging, since_s: float, still=None) -> str:
    """For each hanging (channel, pitch): its messages (:meth:`Heard.key_messages`) and, if
    ``still`` (what sounds once the daemon stopped) is given, whether the daemon ended it only
    as it stopped (it held the note) or never (its note_off was lost on the way, or never sent).
    A note_on heard twice at one JACK time came in one cycle (livegen sent it twice); one period
    later, the server may have played a cycle again."""
    parts = []
    for channel, pitch in hanging:
        ended = ("" if still is None else " ended only as the daemon stopped" if (channel, pitch) not in still
                 else " no note_off even after the daemon stopped")
        parts.append(f"({channel}, {pitch}){ended}: {heard.key_messages(channel, pitch, since_s)}")
    return "; ".join(parts)


def is_on(data: list[int]) -> bool:
    return data[0] & 0xF0 == NOTE_ON and len(data) == 3 and data[2] > 0


def is_off(data: list[int]) -> bool:
    return (data[0] & 0xF0 == NOTE_OFF) or (data[0] & 0xF0 == NOTE_ON and data[2] == 0)


def _endings(events) -> tuple[list[bool], dict[tuple[int, int], int]]:
    """For each event, whether it is a note_off that ends a sounding note; and then
    (channel, pitch) -> how many note_ons are still without a note_off."""
    open_notes: dict[tuple[int, int], int] = {}
    ends = []
    for _, data in events:
        key = (data[0] & 0x0F, data[1]) if len(data) > 1 else None
        ended = is_off(data) and open_notes.get(key, 0) > 0
        if is_on(data) or ended:
            open_notes[key] = open_notes.get(key, 0) + (-1 if ended else 1)
        ends.append(ended)
    return ends, {k: v for k, v in open_notes.items() if v}


def sounding_after(events) -> dict[tuple[int, int], int]:
    """(channel, pitch) -> how many note_ons are still without a note_off."""
    return _endings(events)[1]


def ending_times(events, since_s: float) -> list[float]:
    """Times (from ``since_s`` on) of the note_offs that end a sounding note, counted as
    :func:`sounding_after` counts. After a JACK xrun livegen sends recent note_offs again
    (livegen/_jackmidi.c); one for a silent key ends nothing and is not the answer playing on."""
    ends, _ = _endings(events)
    return [t for (t, _), ended in zip(events, ends) if ended and t >= since_s]


class Daemon:
    """``python -m livegen run ...`` as a subprocess, its stdout read line by line."""

    def __init__(self, log_path: Path, *args: str) -> None:
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "livegen", "run", "--preset", PRESET, "--backend", "jack",
             "-v", *args],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._log, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        self.ready = ""
        self.lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_ready(self) -> str:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.5)
            except queue.Empty:
                continue
            if line is None:
                break
            if line.startswith("listening on"):
                return line
        self.stop()
        pytest.fail(f"no ready line from the daemon; its log:\n{self.log()}")

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def interrupt(self, signum: int = signal.SIGINT) -> int:
        self.process.send_signal(signum)
        return self.process.wait(timeout=EXIT_TIMEOUT_S)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=EXIT_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


class Player:
    """A second JACK client: keys into ``livegen in`` (python-rtmidi), ears on ``livegen out``.

    The ears are a one-client JACK client of livegen's C extension
    (``livegen._jackmidi``, port ``ears``): its process callback copies each
    message with a frame-accurate stamp into a lock-free ring that a thread
    drains. python-rtmidi's input cannot serve: a Python callback waits for the
    GIL on JACK's process thread and misses cycles, and its polled queue is not
    thread-safe (thestk/rtmidi#352: the suite once died in ``get_message`` with
    a segmentation fault).
    """

    CLIENT = "livegen-e2e"

    def __init__(self, jack) -> None:
        self.heard = Heard()
        self._stop = threading.Event()
        self.keys = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, self.CLIENT)
        self.keys.open_port(find_port(self.keys.get_ports(), ":" + IN_PORT_NAME,
                                      direction="output"), "keys")
        sources, _ = list_ports("jack")
        self.ears = _jackmidi.Client(self.CLIENT)
        ears_port = self.ears.add_input("ears")
        self.ears.activate()
        self.ears.connect(sources[find_port(sources, ":" + OUT_PORT_NAME, direction="input")], ears_port)
        self._reader = threading.Thread(target=self._listen, daemon=True)
        self._reader.start()
        jack.wait_connected(":" + IN_PORT_NAME, self.CLIENT)  # before the first note
        jack.wait_connected(":" + OUT_PORT_NAME, self.CLIENT)
        time.sleep(CONNECT_SETTLE_S)  # a new connection carries data from a later JACK cycle

    def _listen(self) -> None:
        while not self._stop.is_set():
            for data, stamp_s in self.ears.read(EARS_WAIT_S):
                self.heard.add(list(data), stamp_s)

    def play(self, phrase, *, channel: int = 0) -> tuple[float, float]:
        """Play ``phrase`` on its absolute schedule; return (first note_on, last note_off) times."""
        events = sorted([(t, 1, p, v) for p, v, t, _ in phrase]
                        + [(t + d, 0, p, 0) for p, _, t, d in phrase])
        start_s = time.monotonic() + 0.01
        first_on_s = last_off_s = 0.0
        for offset_s, kind, pitch, velocity in events:
            delay = start_s + offset_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if kind:
                self.keys.send_message([NOTE_ON | channel, pitch, velocity])
                first_on_s = first_on_s or time.monotonic()
            else:
                self.keys.send_message([NOTE_OFF | channel, pitch, 0])
                last_off_s = time.monotonic()
        return first_on_s, last_off_s

    def wait_for_note_ons(self, since_s: float, count: int, timeout_s: float) -> list[float]:
        deadline = time.monotonic() + timeout_s
        while True:
            ons = [t for t, data in self.heard.snapshot(since_s) if is_on(data)]
            if len(ons) >= count or time.monotonic() > deadline:
                return ons
            time.sleep(0.005)

    def wait_until_quiet(self, since_s: float, timeout_s: float) -> None:
        """Until nothing sounds and nothing arrived for RESPONSE_IDLE_S (or the timeout)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            events = self.heard.snapshot(since_s)
            last_s = events[-1][0] if events else since_s
            if not sounding_after(events) and time.monotonic() - last_s > RESPONSE_IDLE_S:
                return
            time.sleep(0.05)

    def close(self) -> None:
        self._stop.set()
        self.ears.wake()
        self._reader.join(timeout=2)
        self.ears.close()
        self.keys.close_port()
        self.keys.delete()


def allowance_s(jack_server) -> float:
    return JACK_ALLOWANCE_PERIODS * jack_server.period_s


def check_latency(label: str, latency_s: float, jack_server) -> None:
    silence_s = load_preset(PRESET).triggering.silence_s
    limit_s = silence_s + ENGINE_BUDGET_S + allowance_s(jack_server)
    print(f"\n[e2e] {label}: last note_off -> first response note_on {latency_s * 1000:.1f} ms "
          f"= silence {silence_s * 1000:.0f} ms + {(latency_s - silence_s) * 1000:.1f}"
          f" ms (limit {limit_s * 1000:.1f} ms = silence + {ENGINE_BUDGET_S * 1000:.0f} ms + "
          f"{JACK_ALLOWANCE_PERIODS} JACK periods of {jack_server.period_s * 1000:.2f} ms)")
    assert latency_s <= limit_s, (
        f"{label}: first response note_on {latency_s * 1000:.1f} ms after the last note_off; "
        f"limit {limit_s * 1000:.1f} ms (silence_s {silence_s * 1000:.0f} ms + "
        f"{ENGINE_BUDGET_S * 1000:.0f} ms + JACK allowance {allowance_s(jack_server) * 1000:.1f} ms)")


@pytest.fixture(scope="module")
def model_path():
    path = default_model_path()
    if not path.is_file():
        pytest.skip(f"no trained model at {path} yet (the lead ships livegen/models/default.onnx)")
    return path


@pytest.fixture
def no_other_livegen(jack_server):
    probe = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "livegen-e2e-probe")
    try:
        others = [p for p in probe.get_ports() if p.endswith(":" + IN_PORT_NAME)]
    finally:
        probe.delete()
    if others:
        pytest.skip(f"another livegen already runs on this JACK server ({', '.join(others)})")


@pytest.fixture
def daemon(jack_server, model_path, no_other_livegen, tmp_path):
    running = Daemon(tmp_path / "daemon.log")
    running.ready = running.wait_ready()
    print(f"\n[e2e] daemon: {running.ready}")
    yield running
    running.stop()
    log = running.log()
    assert "Traceback" not in log, f"the daemon logged an exception:\n{log}"


@pytest.fixture
def player(daemon, jack_server):
    client = Player(jack_server)
    yield client
    client.close()


def livegen_clients() -> set[str]:
    """The JACK clients that hold a ``livegen in`` or ``livegen out`` port (``jack_lsp``)."""
    out = subprocess.run(["jack_lsp"], capture_output=True, text=True, timeout=10, check=True,
                         env={**os.environ, "JACK_NO_START_SERVER": "1"}).stdout
    return {name.rsplit(":", 1)[0] for name in out.splitlines()
            if name.endswith((":" + IN_PORT_NAME, ":" + OUT_PORT_NAME))}


def test_ready_line(daemon):
    assert daemon.ready == (f"listening on {IN_PORT_NAME} -> {OUT_PORT_NAME} "
                            f"(preset {PRESET}, backend jack)")
    assert daemon.process.poll() is None
    # `--jack-client shared` (the default): both ports in one JACK client where it is built
    assert len(livegen_clients()) == (1 if jack_shared_client() else 2)


def test_answers_on_rtmidi_jack_clients_when_asked(jack_server, model_path, no_other_livegen,
                                                   tmp_path):
    """``--jack-client rtmidi``: python-rtmidi's ports, one JACK client each, answer as well."""
    preset = load_preset(PRESET)
    running = Daemon(tmp_path / "daemon.log", "--jack-client", "rtmidi")
    try:
        running.wait_ready()
        assert len(livegen_clients()) == 2, livegen_clients()
        player = Player(jack_server)
        try:
            _, last_off_s = player.play(PHRASE)
            ons = player.wait_for_note_ons(last_off_s, 1, preset.triggering.silence_s + 5.0)
            assert ons, f"no response; daemon log:\n{running.log()}"
            check_latency("rtmidi's JACK clients", ons[0] - last_off_s, jack_server)
        finally:
            player.close()
        assert running.interrupt() == 0
    finally:
        running.stop()
    assert "Traceback" not in running.log(), running.log()


def test_answers_after_the_silence(daemon, player, jack_server):
    preset = load_preset(PRESET)
    _, last_off_s = player.play(PHRASE)
    ons = player.wait_for_note_ons(last_off_s, 1, preset.triggering.silence_s + 5.0)
    assert ons, f"no response within {preset.triggering.silence_s + 5.0} s; daemon log:\n{daemon.log()}"
    check_latency("first phrase", ons[0] - last_off_s, jack_server)

    player.wait_until_quiet(last_off_s, preset.answer.max_seconds + 5.0)
    response = player.heard.snapshot(last_off_s)
    note_ons = [data for _, data in response if is_on(data)]
    print(f"[e2e] response: {len(note_ons)} notes over {response[-1][0] - ons[0]:.2f} s, "
          f"pitches {[d[1] for d in note_ons]}")
    assert len(note_ons) >= MIN_RESPONSE_NOTES, daemon.log()
    hanging = sounding_after(response)
    assert not hanging, f"hanging notes: {hanging_detail(player.heard, hanging, last_off_s)}"
    assert all(d[0] & 0x0F == preset.channel for d in note_ons)
    assert all(preset.sampling.pitch_low <= d[1] <= preset.sampling.pitch_high for d in note_ons)


def test_barge_in_stops_the_response(daemon, player, jack_server):
    """Play, let the answer start, play again: the answer stops at once, then a new one comes."""
    preset = load_preset(PRESET)
    latencies, cuts_s = [], []
    for round_ in range(4):
        barge_s, last_off_s = player.play(PHRASE)  # from round 1 on, this cuts the response
        if round_:
            # until the new answer may start, nothing of the old one may begin
            quiet_until = last_off_s + preset.triggering.silence_s - 0.02
            ons = player.wait_for_note_ons(barge_s, 1, quiet_until - time.monotonic())
            late_ons = [round(t - barge_s, 3) for t in ons if t > barge_s + BARGE_IN_LIMIT_S]
            assert not late_ons, f"response note_ons this many s after the barge-in: {late_ons}"
            hanging = sounding_after([e for e in player.heard.snapshot(0.0) if e[0] <= last_off_s])
            assert not hanging, (f"notes left sounding after the barge-in: "
                                 f"{hanging_detail(player.heard, hanging, barge_s)}")
            cuts_s.append(max([t for t in ending_times(player.heard.snapshot(0.0), barge_s)
                               if t <= last_off_s] or [barge_s]) - barge_s)
        ons = player.wait_for_note_ons(last_off_s, 1, preset.triggering.silence_s + 5.0)
        assert ons, f"round {round_}: no response; daemon log:\n{daemon.log()}"
        latencies.append(ons[0] - last_off_s)
        time.sleep(RESPONSE_LISTEN_S)  # let the answer get going before cutting it

    status = daemon.interrupt()
    time.sleep(0.2)
    assert status == 0 and not sounding_after(player.heard.snapshot(0.0))
    over_ms = sorted((t - preset.triggering.silence_s) * 1000 for t in latencies)
    print(f"[e2e] {len(latencies)} responses: latency beyond silence_s "
          f"{', '.join(f'{x:.1f}' for x in over_ms)} ms (p50 {statistics.median(over_ms):.1f}); "
          f"after a barge-in every response note was off within "
          f"{', '.join(f'{x * 1000:.1f}' for x in cuts_s)} ms")
    for i, latency_s in enumerate(latencies):
        check_latency(f"response {i}", latency_s, jack_server)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT],
                         ids=lambda s: signal.Signals(s).name)
def test_a_stop_signal_exits_0_with_nothing_sounding(daemon, player, signum):
    """Ctrl-C, kill, a closed terminal (SIGHUP) and Ctrl+backslash (SIGQUIT) all end every note."""
    preset = load_preset(PRESET)
    _, last_off_s = player.play(PHRASE)
    ons = player.wait_for_note_ons(last_off_s, 1, preset.triggering.silence_s + 5.0)
    assert ons, daemon.log()
    time.sleep(RESPONSE_LISTEN_S)
    status = daemon.interrupt(signum)  # mid-response
    time.sleep(0.2)  # let the last JACK periods arrive
    events = player.heard.snapshot(0.0)
    assert status == 0, daemon.log()
    assert not sounding_after(events), f"hanging notes after {signum!r}: {sounding_after(events)}"
    panic = [d for _, d in events if d[0] & 0xF0 == CONTROL and d[1] == ALL_NOTES_OFF]
    assert panic and all(d[0] & 0x0F == preset.channel for d in panic[:1])
    assert any(d[0] & 0xF0 == CONTROL and d[1] == ALL_SOUND_OFF for _, d in events)
    summary = [line for line in daemon.log().splitlines() if "responses," in line]
    print(f"[e2e] the daemon's own summary: {summary}")
