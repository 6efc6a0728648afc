"""End to end over JACK with a real MIDI clock: the daemon in time with a "DAW".

Debian's ``jack_midi_clock`` plays the DAW: it sends MIDI beat clock (24 per
quarter note) and Start/Stop while JACK's transport rolls. Its output goes to
``livegen in`` and also to this test's own input, so the test computes the
beat grid from the very clock ticks it receives and measures each response
note_on against it. The daemon (``python -m livegen run --preset FILE
--backend jack``) runs with presets written to a temporary directory.

Run with ``-s`` to see the numbers. What the grid error holds, besides
livegen's own estimate and scheduling: JACK moves MIDI once per period, so a
note_on sent at the right moment leaves at the next period boundary (0 to 1
period late). livegen stamps the ticks from JACK's cycle (its one-client ports:
a message k frames into a cycle is stamped k frames into the period before,
which cancels most of that output delay; rtmidi's ports, the fallback: when its
reader polls, every 1 ms); this test's client stamps when its reader polls
(every 0.5 ms). The median error must be within the
2 ms target plus one period; every error within it plus
:data:`JACK_ALLOWANCE_PERIODS` periods and the two readers' poll intervals. The
numbers are printed. When the dummy JACK server's own cycles run late (the
clock's ticks jitter by more than :data:`CLEAN_CLOCK_JITTER_MS`, or stall: a
non-real-time server on a busy machine), notes already scheduled cannot follow
and the 2 ms target cannot be measured: the test says so and checks a limit
widened by that jitter or the worst stall instead (still below a 16th note).
With the jittery clock, a frame-accurate listener hears what JACK delivered of
the ticks sent: when the starved server lost or repeated ticks twice within a
beat (beyond what the follower numbers), accuracy is not measured either.
"""

from __future__ import annotations

import os
import shutil
import signal
import statistics
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import rtmidi
import yaml
from test_jack_daemon import (
    EARS_POLL_S,
    PHRASE,
    Daemon,
    Player,
    ending_times,
    hanging_detail,
    is_on,
    sounding_after,
)

from livegen import ports as livegen_ports
from livegen.clock import MAX_LOST_TICKS
from livegen.model import default_model_path
from livegen.ports import IN_PORT_NAME, JACK_POLL_INTERVAL_S

# A non-realtime JACK dummy server (1.3 ms periods) drops a client's MIDI for a cycle it
# misses now and then, and a lost program change or note_off fails a run that livegen did
# not fail: each test may run up to 3 times (pytest-rerunfailures).
pytestmark = [pytest.mark.jack, pytest.mark.flaky(reruns=2)]

CLOCK_BPM = 120
TICK_S = 60.0 / CLOCK_BPM / 24
GRID_TARGET_S = 0.002  # the acceptance target: onsets within 2 ms of the grid
JACK_ALLOWANCE_PERIODS = 2  # the output's period quantisation, and one more for the input's
POLL_ALLOWANCE_S = JACK_POLL_INTERVAL_S + EARS_POLL_S  # livegen's reader and this test's
#: A clock heard with more jitter than this (ms, stdev), or with a stall, comes from a starved
#: JACK server (the dummy driver's cycles run late); no follower can then land within 2 ms of
#: its ticks, so the limit widens by LOADED_JITTER_FACTOR x the jitter or by the worst stall.
CLEAN_CLOCK_JITTER_MS = 1.0
STALL_S = 0.005  # a tick interval this far off a whole number of periods: the server stalled
REPEAT_TICKS = 0.25  # of a period: a tick heard this soon after the last is that one again
LOADED_JITTER_FACTOR = 4.0
#: More stalls than this in one run (seen: 23-24 when the host starved this VM) and the
#: server's own timing, not livegen's, decides the result: the accuracy check is skipped.
MAX_STALLS_TO_MEASURE = 8
CLOCK_SETTLE_S = 1.5  # ticks the daemon hears before the phrase (a 72-tick fit)
BARGE_IN_LIMIT_S = 0.1  # no note_on of the cut response this long after the barge-in
ROLL_ATTEMPTS = 3
LOCAL_FIT_S = 1.0  # the test's grid near a note: a line through the ticks within 1 s of it
MIN_RESPONSE_NOTES = 4
JACK_ENV = {**os.environ, "JACK_NO_START_SERVER": "1"}
CLOCK_STATUS, START_STATUS = 0xF8, 0xFA
PROGRAM_CHANGE, CONTROL = 0xC0, 0xB0
CC_SUSTAIN = 64

SYNCED = {"style": "romantic", "clock": "midi", "quantize_start": "beat", "quantize": "1/16",
          "quantize_strength": 1.0, "response_bars": 2, "silence_s": 0.4, "max_notes": 48,
          "pitch_low": 36, "pitch_high": 96, "channel": 0, "lookahead_s": 0.3}


def jack(*command: str, stdin: str | None = None) -> str:
    return subprocess.run(command, input=stdin, capture_output=True, text=True, timeout=10,
                          env=JACK_ENV).stdout


def jack_ports() -> list[str]:
    return [line.strip() for line in jack("jack_lsp").splitlines() if line.strip()]


def transport(command: str) -> None:
    jack("jack_transport", stdin=command + "\n")
    time.sleep(0.1)  # the transport changes state in a later JACK cycle


def write_preset(path: Path, **values) -> Path:
    path.write_text(yaml.safe_dump({**SYNCED, **values}))
    return path


class Session:
    """The daemon, the clock and the player, wired together; the transport rolled by ``roll``."""

    def __init__(self, daemon: Daemon, player: Player, clock_port: str) -> None:
        self.daemon = daemon
        self.player = player
        self.clock_port = clock_port

    def roll(self) -> float:
        """Rewind and start the transport; return when the test heard Start.

        Tried up to :data:`ROLL_ATTEMPTS` times: the locate may not have taken effect
        (then jack_midi_clock sends Continue), or a JACK client may miss the cycle
        that carried Start.
        """
        for _ in range(ROLL_ATTEMPTS):
            transport("stop")
            transport("locate 0")
            asked_s = time.monotonic()
            transport("play")
            deadline = asked_s + 2.0
            while time.monotonic() < deadline:
                starts = [t for t, d in self.player.heard.snapshot(asked_s) if d == [START_STATUS]]
                if starts:
                    return starts[-1]
                time.sleep(0.01)
        pytest.fail(f"jack_midi_clock sent no Start after {ROLL_ATTEMPTS} x `jack_transport play`")

    def send(self, *data: int) -> float:
        self.player.keys.send_message(list(data))
        return time.monotonic()

    def note_ons(self, since_s: float = 0.0) -> list[tuple[float, list[int]]]:
        return [(t, d) for t, d in self.player.heard.snapshot(since_s) if is_on(d)]

    def output(self, until_s: float | None = None) -> list[tuple[float, list[int]]]:
        """livegen's messages (clock ticks left out), up to ``until_s``."""
        return [(t, d) for t, d in self.player.heard.snapshot(0.0)
                if d[0] < 0xF0 and (until_s is None or t <= until_s)]

    def wait_nothing_sounding(self, since_s: float, timeout_s: float = 2.0) -> float:
        """Seconds from ``since_s`` until nothing of livegen sounds (fails after ``timeout_s``)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            time.sleep(0.01)
            events = self.output()
            if not sounding_after(events) and time.monotonic() > since_s + BARGE_IN_LIMIT_S:
                return max(ending_times(events, since_s), default=since_s) - since_s
        # the daemon's last lines say whether it heard what was sent (-v logs preset changes)
        tail = "\n".join([line for line in self.daemon.log().splitlines() if line.strip()][-8:])
        pytest.fail(f"livegen notes still sounding {timeout_s} s later: "
                    f"{sounding_after(self.output())}; the daemon's last log lines:\n{tail}")

    def wait_quiet(self, since_s: float, idle_s: float, timeout_s: float) -> None:
        """Until nothing of livegen sounds and nothing came for ``idle_s`` (or the timeout)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            events = [e for e in self.output() if e[0] >= since_s]
            last_s = events[-1][0] if events else since_s
            if not sounding_after(events) and time.monotonic() - last_s > idle_s:
                return
            time.sleep(0.05)


@pytest.fixture(scope="module")
def clock_binary():
    path = shutil.which("jack_midi_clock")
    if path is None:
        pytest.skip("jack_midi_clock is not installed (Debian/Ubuntu: apt-get install "
                    "jack-midi-clock)")
    if shutil.which("jack_transport") is None or shutil.which("jack_connect") is None:
        pytest.skip("jack_transport/jack_connect are not installed (apt-get install jackd2)")
    return path


@pytest.fixture(scope="module")
def model_path():
    path = default_model_path()
    if not path.is_file():
        pytest.skip(f"no trained model at {path} yet")
    return path


@pytest.fixture
def session_for(jack_server, clock_binary, model_path, tmp_path):
    """Make a :class:`Session` for a preset file; everything is stopped in ``finally``."""
    if any(p.endswith(":" + IN_PORT_NAME) for p in jack_ports()):
        pytest.skip("another livegen already runs on this JACK server")
    started: list = []

    def make(preset: Path) -> Session:
        before = set(jack_ports())
        clock = subprocess.Popen([clock_binary, "-b", str(CLOCK_BPM), "-B"],
                                 stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, env=JACK_ENV)
        started.append(clock)
        deadline = time.monotonic() + 10.0
        while not (new := [p for p in set(jack_ports()) - before if p.endswith(":mclk_out")]):
            assert clock.poll() is None and time.monotonic() < deadline, "no jack_midi_clock port"
            time.sleep(0.05)
        daemon = Daemon(tmp_path / "daemon.log", "--preset", str(preset))  # the last --preset wins
        started.append(daemon)
        ready = daemon.wait_ready()
        print(f"\n[sync] daemon: {ready}")
        player = Player(jack_server)
        started.append(player)
        livegen_in = jack_server.wait_port(":" + IN_PORT_NAME)
        ears = jack_server.wait_port(":ears", Player.CLIENT)
        for destination in (livegen_in, ears):
            jack("jack_connect", new[0], destination)
        jack_server.wait_connected(":ears", new[0].split(":")[0])
        transport("stop")
        return Session(daemon, player, new[0])

    logs: list[str] = []
    try:
        yield make
    finally:
        transport("stop")
        for thing in reversed(started):  # everything stops, whatever fails
            if isinstance(thing, Player):
                thing.close()
            elif isinstance(thing, Daemon):
                thing.stop()
                logs.append(thing.log())
            else:
                thing.send_signal(signal.SIGINT)
                try:
                    thing.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    thing.kill()
                    thing.wait()
    for log in logs:
        assert "Traceback" not in log, f"the daemon logged an exception:\n{log}"


def clock_ticks(events, start_s: float) -> np.ndarray:
    """Arrival times of the clock ticks since the Start heard at ``start_s`` (tick 0 first).

    A tick heard again within :data:`REPEAT_TICKS` of a period of the one before is that
    tick read twice (after a missed cycle python-rtmidi's JACK input may hand a stale buffer
    over again, 0.5-1.1 ms later: see tests/livegen/ports/jackprobe.py), not the next tick.
    """
    ticks = np.array([t for t, d in events if t >= start_s and d == [CLOCK_STATUS]])
    if len(ticks) < 3:
        return ticks
    gaps = np.diff(ticks)
    return ticks[np.concatenate(([True], gaps > REPEAT_TICKS * np.median(gaps)))]


def tick_numbers(ticks: np.ndarray) -> np.ndarray:
    """The song position of each tick heard, counting ticks this client lost.

    A JACK client that misses a process cycle (likely with a 1.3 ms period and no
    real-time scheduling) loses that cycle's MIDI: an interval of 2-4 periods
    (within 20 %) counts as that many ticks.
    """
    intervals = np.diff(ticks) / np.median(np.diff(ticks))
    whole = np.round(intervals)
    counts = np.where((whole >= 2) & (whole <= 4) & (np.abs(intervals - whole) <= 0.2), whole, 1)
    return np.concatenate(([0], np.cumsum(counts))).astype(int)


def test_a_tick_read_twice_is_numbered_once_and_a_lost_one_is_counted():
    """What the test's own ears number (no JACK needed): the third tick heard again 0.8 ms
    later (CI: the answer then looked one tick late), and the fifth tick lost."""
    heard = [(1.0 + k * TICK_S, [CLOCK_STATUS]) for k in (0, 1, 2, 3, 4, 6, 7)]
    heard.insert(3, (1.0 + 2 * TICK_S + 0.0008, [CLOCK_STATUS]))
    heard.insert(0, (0.9, [0x90, 60, 64]))  # a note before the Start: not a tick
    ticks = clock_ticks(heard, 1.0)
    assert tick_numbers(ticks).tolist() == [0, 1, 2, 3, 4, 6, 7]


def clock_quality(ticks: np.ndarray, numbers: np.ndarray) -> tuple[float, int, float]:
    """``(jitter_ms, stalls, worst_ms)`` of the ticks heard.

    White jitter e makes second differences of tick times e[i+2] - 2 e[i+1] + e[i], of
    variance 6 sigma^2 (a slowly drifting tempo does not count); ``jitter_ms`` is its
    robust estimate (1.4826 x the median absolute deviation). ``worst_ms`` is the
    interval furthest off a whole number of periods; a stall is one more than
    :data:`STALL_S` off.
    """
    second = np.diff(np.diff(ticks) / np.diff(numbers))  # a lost tick's interval, shared out
    jitter_ms = 1.4826 * np.median(np.abs(second - np.median(second))) / np.sqrt(6) * 1000
    off = np.abs(np.diff(ticks) - np.diff(numbers) * np.median(np.diff(ticks)))
    return float(jitter_ms), int((off > STALL_S).sum()), float(off.max() * 1000)


def nearest_line(ticks: np.ndarray, numbers: np.ndarray, t: float, step: int) -> tuple[float, int]:
    """The grid line (every ``step`` ticks from tick 0) nearest ``t``: its time and tick number.

    The time is read off a line through the ticks within :data:`LOCAL_FIT_S` of ``t``.
    """
    near = np.abs(ticks - t) <= LOCAL_FIT_S
    slope, intercept = np.polyfit(numbers[near], ticks[near], 1)
    line = round((t - intercept) / slope / step) * step
    return float(intercept + slope * line), line


def test_clock_synced_response_lands_on_the_grid(session_for, jack_server, tmp_path):
    session = session_for(write_preset(tmp_path / "synced.yaml"))
    start_s = session.roll()
    time.sleep(CLOCK_SETTLE_S)
    _, last_off_s = session.player.play(PHRASE)
    response_s = 2 * 4 * 60.0 / CLOCK_BPM
    time.sleep(SYNCED["silence_s"] + 60.0 / CLOCK_BPM + response_s + 0.5)
    session.wait_quiet(last_off_s, 0.3, 5.0)
    heard = session.player.heard.snapshot(0.0)
    ticks = clock_ticks(heard, start_s)
    ons = [t for t, d in heard if is_on(d) and t > last_off_s]
    assert len(ons) >= MIN_RESPONSE_NOTES, f"{len(ons)} response notes; log:\n{session.daemon.log()}"

    numbers = tick_numbers(ticks)
    slope = np.polyfit(numbers, ticks, 1)[0]
    jitter_ms, stalls, worst_ms = clock_quality(ticks, numbers)
    lines = [nearest_line(ticks, numbers, t, 6) for t in ons]
    errors_ms = [(t - line_s) * 1000 for t, (line_s, _) in zip(ons, lines)]
    arrivals = dict(zip(numbers.tolist(), ticks))
    vs_tick_ms = [(t - arrivals[k]) * 1000 for t, (_, k) in zip(ons, lines) if k in arrivals]
    beat_error_ms = (ons[0] - nearest_line(ticks, numbers, ons[0], 24)[0]) * 1000
    period_ms = jack_server.period_s * 1000
    typical_ms = GRID_TARGET_S * 1000 + period_ms
    limit_ms = GRID_TARGET_S * 1000 + JACK_ALLOWANCE_PERIODS * period_ms + POLL_ALLOWANCE_S * 1000
    clean = jitter_ms <= CLEAN_CLOCK_JITTER_MS and not stalls
    if not clean:
        typical_ms = limit_ms = limit_ms + max(LOADED_JITTER_FACTOR * jitter_ms, worst_ms)
    magnitudes = sorted(abs(e) for e in errors_ms)
    print(f"[sync] clock as heard by the test: {60.0 / (24 * slope):.2f} BPM, tick jitter "
          f"{jitter_ms:.2f} ms (robust stdev), worst interval {worst_ms:.2f} ms off, {stalls} stalls, "
          f"{len(ticks)} ticks ({numbers[-1] + 1 - len(ticks)} lost by this test's own client)")
    print(f"[sync] {len(ons)} response note_ons vs the 1/16 grid: signed error ms "
          f"mean {statistics.fmean(errors_ms):+.2f}, median {statistics.median(errors_ms):+.2f}, "
          f"min {min(errors_ms):+.2f}, max {max(errors_ms):+.2f}; |error| p50 "
          f"{statistics.median(magnitudes):.2f}, max {magnitudes[-1]:.2f}")
    print(f"[sync] the same vs the arrival of the grid line's own tick (period quantised): "
          f"mean {statistics.fmean(vs_tick_ms):+.2f}, max |error| "
          f"{max(abs(e) for e in vs_tick_ms):.2f}")
    print(f"[sync] first note vs its beat {beat_error_ms:+.2f} ms; limits: median |error| "
          f"{typical_ms:.2f} ms, every note {limit_ms:.2f} ms = {GRID_TARGET_S * 1000:.0f} ms + "
          f"{JACK_ALLOWANCE_PERIODS} JACK periods of {period_ms:.2f} ms + "
          f"{POLL_ALLOWANCE_S * 1000:.1f} ms of reader polling"
          + ("" if clean else " + the clock's own jitter or worst stall"))
    if not clean:
        print(f"[sync] NOTE: the clock itself jitters by {jitter_ms:.1f} ms with {stalls} stalls "
              f"(worst {worst_ms:.1f} ms): "
              f"the JACK server is starved by other load, so the 2 ms target cannot be measured "
              f"in this run; checked against the wider limit")
    if stalls > MAX_STALLS_TO_MEASURE:
        pytest.skip(f"the JACK dummy server stalled {stalls} times (worst tick {worst_ms:.0f} ms off, "
                    f"clock heard at {60.0 / (24 * slope):.1f} BPM instead of 120): the host starves "
                    "it, so grid accuracy cannot be measured in this run")
    assert abs(beat_error_ms) <= limit_ms, "the response did not start on a beat"
    assert statistics.median(magnitudes) <= typical_ms, f"onsets off the grid by (ms): {errors_ms}"
    assert magnitudes[-1] <= limit_ms, f"onsets off the grid by (ms): {errors_ms}"
    assert ons[-1] - ons[0] < response_s, "longer than response_bars"
    hanging = sounding_after(session.output())
    assert not hanging, f"notes left sounding: {hanging_detail(session.player.heard, hanging, 0.0)}"


def test_barge_in_with_the_sustain_pedal_down(session_for, tmp_path):
    session = session_for(write_preset(tmp_path / "synced.yaml"))
    silence_s = SYNCED["silence_s"]
    session.roll()
    time.sleep(CLOCK_SETTLE_S)
    session.send(CONTROL, CC_SUSTAIN, 127)
    _, last_off_s = session.player.play(PHRASE)
    time.sleep(silence_s + 0.6)
    assert not session.note_ons(last_off_s), "answered while the pedal held the notes"
    lift_s = session.send(CONTROL, CC_SUSTAIN, 0)
    ons = session.player.wait_for_note_ons(lift_s, 2, silence_s + 3.0)
    assert ons and ons[0] >= lift_s + silence_s - 0.01, session.daemon.log()
    time.sleep(0.3)

    session.send(CONTROL, CC_SUSTAIN, 127)  # pedal down, then the performer cuts in
    barge_s, _ = session.player.play(PHRASE[:3])
    cut_s = session.wait_nothing_sounding(barge_s)
    time.sleep(silence_s + 0.6)  # keys up, the pedal still holds them: no answer
    late = [round(t - barge_s, 3) for t, _ in session.note_ons(barge_s + BARGE_IN_LIMIT_S)]
    assert not late, f"response note_ons this many s after the barge-in: {late}"
    hanging = sounding_after(session.output())
    assert not hanging, (f"livegen notes left sounding under the pedal: "
                         f"{hanging_detail(session.player.heard, hanging, barge_s)}")
    print(f"\n[sync] barge-in under the pedal: every livegen note off {cut_s * 1000:.1f} ms "
          f"after the performer's first note")

    lift_s = session.send(CONTROL, CC_SUSTAIN, 0)
    assert session.player.wait_for_note_ons(lift_s, 1, silence_s + 3.0), "no answer after lift"
    time.sleep(0.5)
    assert session.daemon.interrupt() == 0
    time.sleep(0.2)
    assert not sounding_after(session.output()), "notes left sounding after SIGINT"


def test_program_change_switches_preset_mid_response(session_for, tmp_path):
    other = write_preset(tmp_path / "other.yaml", style="baroque", channel=5, pitch_low=60,
                         pitch_high=72)
    session = session_for(write_preset(tmp_path / "first.yaml", program_map={1: str(other)}))
    silence_s = SYNCED["silence_s"]
    session.roll()
    time.sleep(CLOCK_SETTLE_S)
    _, last_off_s = session.player.play(PHRASE)
    ons = session.player.wait_for_note_ons(last_off_s, 2, silence_s + 3.0)
    assert ons, session.daemon.log()
    time.sleep(0.4)
    change_s = session.send(PROGRAM_CHANGE, 1)
    cut_s = session.wait_nothing_sounding(change_s)
    time.sleep(0.5)
    before = session.output()
    late = [round(t - change_s, 3) for t, d in before if is_on(d) and t > change_s + BARGE_IN_LIMIT_S]
    assert not late, f"note_ons of the old preset after the program change: {late}"
    assert not sounding_after(before), f"left sounding: {sounding_after(before)}"
    print(f"\n[sync] program change: every note off {cut_s * 1000:.1f} ms after it was sent")

    _, last_off_s = session.player.play(PHRASE)
    ons = session.player.wait_for_note_ons(last_off_s, MIN_RESPONSE_NOTES, silence_s + 5.0)
    assert len(ons) >= MIN_RESPONSE_NOTES, session.daemon.log()
    session.wait_quiet(last_off_s, 0.3, 8.0)
    new = [d for _, d in session.note_ons(last_off_s)]
    print(f"[sync] after the change: channels {sorted({d[0] & 0x0F for d in new})}, "
          f"pitches {sorted({d[1] for d in new})}")
    assert all(d[0] & 0x0F == 5 and 60 <= d[1] <= 72 for d in new), new
    assert session.daemon.interrupt() == 0
    time.sleep(0.2)
    assert not sounding_after(session.output())
    assert "program 1" in session.daemon.log()


# -- a jittery clock (issue 15 item 10) ------------------------------------------------------

JITTER_S = 0.003  # the sender's tick jitter: uniform in +-3 ms, as USB clocks and some DAWs
JITTER_SEED = 15


class JitteredClock:
    """A JACK client sending Start, then MIDI clock at CLOCK_BPM, each tick off by seeded jitter.

    jack_midi_clock cannot jitter; this sender keeps a nominal grid (``t0 + i x TICK_S``)
    and sends each tick at its nominal time plus a uniform draw in +-:data:`JITTER_S`.
    """

    CLIENT = "livegen-e2e-clock"

    def __init__(self, seed: int) -> None:
        self.out = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, self.CLIENT)
        self.out.open_virtual_port("clock")
        self.offsets_s = np.random.default_rng(seed).uniform(-JITTER_S, JITTER_S, 100_000)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.start_s = 0.0
        self.sent_s: list[float] = []  # when each tick was sent (its schedule plus the jitter)

    @property
    def first_tick_s(self) -> float:
        """When tick 0 is due, less its jitter (never before Start)."""
        return self.start_s + 0.01 + JITTER_S

    def run(self) -> float:
        """Send Start, then ticks from a thread until :meth:`close`; return Start's time."""
        self.start_s = time.monotonic() + 0.05
        self._thread = threading.Thread(target=self._send, daemon=True)
        self._thread.start()
        return self.start_s

    def _send(self) -> None:
        while time.monotonic() < self.start_s - 0.01:
            time.sleep(0.001)
        self.out.send_message([START_STATUS])
        for i, offset in enumerate(self.offsets_s):
            due = self.first_tick_s + i * TICK_S + offset
            while (wait := due - time.monotonic()) > 0:
                if self._stop.wait(wait):
                    return
            self.out.send_message([CLOCK_STATUS])
            self.sent_s.append(time.monotonic())

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.out.close_port()
        self.out.delete()  # its JACK client closes now, not when garbage collected


class ClockListener:
    """A one-client JACK input on the clock's port: the ticks JACK delivered, frame-accurate.

    A non-realtime dummy server on a starved host runs cycles without a client
    that is late, or lets it read a buffer late: the clock's own client can then
    lose or repeat ticks before any follower hears them. This listener, in the
    sender's process, hears what the server delivered.
    """

    CLIENT = "livegen-e2e-clock-listener"

    def __init__(self, source: str) -> None:
        self.stamps: list[float] = []
        self._lock = threading.Lock()
        self.port = livegen_ports.open_input("jack", client_name=self.CLIENT, handler=self._add)
        jack("jack_connect", source, f"{self.CLIENT}:{IN_PORT_NAME}")

    def _add(self, data: list[int], stamp_s: float) -> None:
        if list(data) == [CLOCK_STATUS]:
            with self._lock:
                self.stamps.append(stamp_s)

    def close(self) -> None:
        self.port.close()

    def snapshot(self) -> list[float]:
        with self._lock:
            return list(self.stamps)


#: Clock faults (ticks lost, or heard twice) closer than this, ticks, are beyond what
#: MidiClock is measured to number (tests/livegen/test_clock.py: two faults 2-12 ticks
#: apart); so is a run of more than MAX_LOST_TICKS lost in a row.
FAULTS_APART_TICKS = 12


def clock_faults(delivered_s: list[float], sent_s: list[float]) -> list[tuple[int, int]]:
    """The faults in what JACK delivered of the ticks sent: ``(first tick, ticks)`` each.

    Each delivered stamp is the tick sent nearest it (ticks are 20.8 ms apart, a
    stamp within a few ms of its send, a stall aside); a tick sent but never
    delivered is lost (``ticks`` > 0, a run of them one fault), one delivered
    twice repeated (``ticks`` < 0). Only ticks sent up to half a tick before the
    last stamp count (a tick on its way is not lost).
    """
    sent = np.asarray(sent_s)
    if not len(delivered_s) or not len(sent):
        return []
    cut = np.searchsorted(sent, delivered_s[-1] - TICK_S / 2)
    after = np.clip(np.searchsorted(sent, delivered_s), 1, len(sent) - 1)
    nearest = np.where(np.abs(sent[after] - delivered_s) < np.abs(sent[after - 1] - delivered_s),
                       after, after - 1)
    counts = np.bincount(nearest, minlength=len(sent))
    counts = counts[:cut]
    faults: list[tuple[int, int]] = []
    for i, c in enumerate(counts):
        if c == 0 and faults and faults[-1][1] > 0 and sum(faults[-1]) == i:
            faults[-1] = (faults[-1][0], faults[-1][1] + 1)  # the run of lost ticks goes on
        elif c != 1:
            faults.append((i, 1 if c == 0 else 1 - int(c)))
    # k ticks "lost", then the next one "heard k + 1 times": those k came late (a stall held
    # them), nearer the next send than their own; a follower drops a late stamp, loses nothing
    late = [k for k, ((a, n), (b, m)) in enumerate(zip(faults, faults[1:])) if n > 0 and b == a + n
            and m == -n]
    for k in reversed(late):
        del faults[k:k + 2]
    return faults


def beyond_the_follower(faults: list[tuple[int, int]]) -> str | None:
    """Why ``faults`` (:func:`clock_faults`) are more than MidiClock can number (None: they are not)."""
    for (a, _), (b, _) in zip(faults, faults[1:]):
        if b - a < FAULTS_APART_TICKS:
            return f"JACK lost or repeated clock ticks twice within {b - a} ticks (ticks {a} and {b})"
    for a, n in faults:
        if n > MAX_LOST_TICKS:
            return f"JACK lost {n} clock ticks in a row (from tick {a})"
    return None


def runs(flags: np.ndarray) -> int:
    """How many runs of consecutive True there are in ``flags`` (a stall holds several ticks)."""
    return int(flags[0] + np.sum(flags[1:] & ~flags[:-1])) if len(flags) else 0


def test_a_jittery_clock_keeps_the_answer_on_the_grid(jack_server, model_path, tmp_path):
    # issue 15 item 10: a clock jittering by +-3 ms put notes up to 22.7 ms off the grid
    pytest.importorskip("rtmidi")
    if any(p.endswith(":" + IN_PORT_NAME) for p in jack_ports()):
        pytest.skip("another livegen already runs on this JACK server")
    daemon = Daemon(tmp_path / "daemon.log", "--preset", str(write_preset(tmp_path / "synced.yaml")))
    clock = player = listener = None
    try:
        daemon.wait_ready()
        player = Player(jack_server)
        clock = JitteredClock(JITTER_SEED)
        source = jack_server.wait_port(":clock", JitteredClock.CLIENT)
        livegen_in = jack_server.wait_port(":" + IN_PORT_NAME)
        ears = jack_server.wait_port(":ears", Player.CLIENT)
        for destination in (livegen_in, ears):
            jack("jack_connect", source, destination)
        if livegen_ports.jack_shared_client():
            listener = ClockListener(source)
        jack_server.wait_connected(":ears", JitteredClock.CLIENT)
        start_s = clock.run()
        time.sleep(CLOCK_SETTLE_S + 2.0)  # two bars of ticks: the filter's window
        _, last_off_s = player.play(PHRASE)
        response_s = 2 * 4 * 60.0 / CLOCK_BPM
        time.sleep(SYNCED["silence_s"] + 60.0 / CLOCK_BPM + response_s + 0.5)
        heard = player.heard.snapshot(0.0)
        delivered = [] if listener is None else listener.snapshot()
    finally:
        if clock is not None:
            clock.close()
        if listener is not None:
            listener.close()
        if player is not None:
            player.close()
        daemon.stop()
    log = daemon.log()
    assert "Traceback" not in log, log
    ticks = clock_ticks(heard, start_s)
    ons = [t for t, d in heard if is_on(d) and t > last_off_s]
    assert len(ons) >= MIN_RESPONSE_NOTES, f"{len(ons)} response note_ons; log:\n{log}"

    # the song position of each tick heard, from the schedule it was sent on (the jitter and
    # the way here are well under half a tick): ticks lost on the way, the first ones too,
    # are counted
    numbers = np.round((ticks - clock.first_tick_s) / TICK_S).astype(int)
    sent = np.array(clock.sent_s)
    numbers = numbers[numbers < len(sent)]
    ticks = ticks[:len(numbers)]
    # the way from the sender to this test's ears, tick by tick: a JACK server that stalls
    # holds every tick up (the sender, on the wall clock, does not wait); the same limits as
    # the test above: widened by the worst hold-up, skipped over MAX_STALLS_TO_MEASURE
    way_ms = (ticks - sent[numbers]) * 1000
    stalls = runs(way_ms - np.median(way_ms) > STALL_S * 1000)
    worst_ms = float(max(way_ms.max() - np.median(way_ms), 0.0))
    # the sender's own stalls: a starved test process sends ticks late, beyond their jitter;
    # the clock the daemon heard then jittered more than +-3 ms, and is counted like the above
    late_ms = (sent - (clock.first_tick_s + TICK_S * np.arange(len(sent))
                       + clock.offsets_s[:len(sent)])) * 1000
    stalls += runs(late_ms > STALL_S * 1000)
    worst_ms = max(worst_ms, float(late_ms.max()))
    slope = np.polyfit(numbers, ticks, 1)[0]
    lines = [nearest_line(ticks, numbers, t, 6) for t in ons]
    errors_ms = [(t - line_s) * 1000 for t, (line_s, _) in zip(ons, lines)]
    magnitudes = sorted(abs(e) for e in errors_ms)
    period_ms = jack_server.period_s * 1000
    typical_ms = GRID_TARGET_S * 1000 + period_ms
    limit_ms = GRID_TARGET_S * 1000 + JACK_ALLOWANCE_PERIODS * period_ms + POLL_ALLOWANCE_S * 1000
    print(f"\n[jitter] {len(ticks)} ticks heard of {len(sent)} sent with +-{JITTER_S * 1000:.0f} ms of "
          f"jitter at {60.0 / (24 * slope):.2f} BPM; the sender late by up to {late_ms.max():.2f} ms; "
          f"on their way {np.median(way_ms):.2f} ms (median), {stalls} stalls (worst {worst_ms:.1f} ms more)")
    print(f"[jitter] {len(ons)} response note_ons vs the 1/16 grid: signed error ms median "
          f"{statistics.median(errors_ms):+.2f}, min {min(errors_ms):+.2f}, max {max(errors_ms):+.2f}; "
          f"|error| p50 {statistics.median(magnitudes):.2f}, max {magnitudes[-1]:.2f}; limits "
          f"{typical_ms:.2f} / {limit_ms:.2f} ms")
    faults = clock_faults(delivered, clock.sent_s)
    print(f"[jitter] the test's frame-accurate listener heard {len(delivered)} ticks; faults "
          f"(first tick, lost or -repeated): {faults}")
    # a fault after the last note measured cannot have moved it: only those before count
    beyond = beyond_the_follower([f for f in faults if sent[f[0]] <= max(ons)])
    if beyond is not None:
        pytest.skip(f"{beyond}: the host starves the JACK dummy server's clients, so grid accuracy "
                    "cannot be measured in this run")
    if stalls > MAX_STALLS_TO_MEASURE:
        pytest.skip(f"the JACK dummy server or the clock's sender stalled {stalls} times (worst "
                    f"{worst_ms:.0f} ms): the host starves them, so grid accuracy cannot be measured "
                    "in this run")
    if stalls:
        typical_ms = limit_ms = limit_ms + worst_ms
        print(f"[jitter] NOTE: the JACK server or the sender stalled {stalls} times, holding ticks up "
              f"by up to {worst_ms:.1f} ms: checked against a limit widened by it")
    assert statistics.median(magnitudes) <= typical_ms, f"onsets off the grid by (ms): {errors_ms}"
    assert magnitudes[-1] <= limit_ms, f"onsets off the grid by (ms): {errors_ms}"

