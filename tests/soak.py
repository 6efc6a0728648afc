"""Soak: the daemon for N minutes on a private JACK dummy server, played as a studio would.

Not a pytest module (pytest collects ``test_*.py`` only): run it by hand or in a
nightly job, on a machine with ``jackd2``::

    python tests/soak.py --minutes 10            # the acceptance run (issue 15)
    python tests/soak.py --minutes 2 --json out.json
    python tests/soak.py --realtime               # the server at real-time priority (jackd -R)

It starts its own JACK server (``jackd -n lg-soak-<pid> --no-realtime -d dummy
-r 48000 -p 64``; never the default one), then ``livegen run --preset jam
--backend jack`` on it, and a second JACK client that

* sends MIDI beat clock at 120 BPM (Start, then 24 clocks a beat, all along);
* plays a phrase and waits for the answer, over and over (the jam preset answers
  on the bar after 0.5 s of silence); every third phrase barges in: the next
  phrase starts while the answer plays;
* every 30 s floods the input with 600 control changes in 0.3 s (mod wheel,
  the jam preset's CC 21 temperature, the sustain pedal up);
* at half time disconnects ``livegen out`` from its ears for 1 s, mid-answer,
  and connects it again (a DAW re-routing).

It reports the daemon's memory every 10 s (RSS, and USS: private memory, from
``/proc/PID/smaps_rollup``), the growth after the first minute, how many
phrases were answered, the notes left sounding at the receiver when an answer
is over and after the daemon exits (SIGINT), the note_offs livegen sent again
after JACK xruns, and whether the daemon logged a traceback. Exit status:
0 when every acceptance check holds (RSS growth after the first minute < 5 MB,
every phrase answered, no hanging note, no traceback), 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import rtmidi

# run as `python tests/soak.py`, this directory comes first on the path, and its livegen/
# (the unit tests) would hide the package
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from livegen import _jackmidi  # noqa: E402
from livegen.ports import IN_PORT_NAME, OUT_PORT_NAME, find_port  # noqa: E402
from livegen.ports.backends import list_ports  # noqa: E402

NOTE_ON, NOTE_OFF, CONTROL = 0x90, 0x80, 0xB0
CLOCK, START, STOP = 0xF8, 0xFA, 0xFC
BPM = 120.0
ANSWER_TIMEOUT_S = 6.0  # silence 0.5 s + up to a bar (2 s) to the next bar line + margin
BARGE_AFTER_S = 0.6  # a barge-in comes this long after the answer's first note
QUIET_S = 1.5  # an answer is over when nothing arrived for this long
FLOOD_EVERY_S = 30.0
FLOOD_MESSAGES = 600
FLOOD_SPAN_S = 0.3
MEMORY_EVERY_S = 10.0
GROWTH_LIMIT_MB = 5.0
READY_TIMEOUT_S = 90.0
CLIENT = "livegen-soak"

#: phrases: (pitch, velocity, onset_s, duration_s), a few bars of a chorale and a scale
PHRASES = [
    [(73, 84, 0.0, 0.19), (64, 72, 0.0, 0.38), (71, 84, 0.2, 0.19), (69, 84, 0.4, 0.38),
     (66, 72, 0.4, 0.38), (71, 84, 0.8, 0.38), (73, 84, 1.2, 0.38), (76, 84, 1.6, 0.38)],
    [(60 + step, 80, 0.25 * i, 0.2) for i, step in enumerate((0, 2, 4, 5, 7, 9, 11, 12))],
    [(48, 70, 0.0, 1.5), (64, 80, 0.0, 0.3), (67, 80, 0.5, 0.3), (72, 85, 1.0, 0.4)],
]


def log(text: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {text}", flush=True)


def memory_mb(pid: int) -> tuple[float, float]:
    """(RSS, USS) of a process in MB, from /proc."""
    rss = uss = 0.0
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) / 1024
    with open(f"/proc/{pid}/smaps_rollup") as rollup:
        for line in rollup:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                uss += int(line.split()[1]) / 1024
    return rss, uss


class JackServer:
    """A private dummy JACK server, named for this process; stopped by its PID."""

    def __init__(self, name: str, realtime: bool = False) -> None:
        self.name = name
        os.environ["JACK_DEFAULT_SERVER"] = name
        os.environ["JACK_NO_AUDIO_RESERVATION"] = "1"
        os.environ["JACK_NO_START_SERVER"] = "1"
        self._log = tempfile.NamedTemporaryFile("w", prefix=f"{name}-", suffix=".log", delete=False)
        self.process = subprocess.Popen(
            ["jackd", "-n", name, "-R" if realtime else "--no-realtime", "-d", "dummy", "-r", "48000",
             "-p", "64"],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        subprocess.run(["jack_wait", "-w", "-t", "10"], check=True, capture_output=True, timeout=20)

    def run(self, *command: str) -> None:
        subprocess.run(list(command), check=True, capture_output=True, timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


class Daemon:
    """``python -m livegen run --preset jam --backend jack`` on the private server."""

    def __init__(self, log_path: Path, preset: str) -> None:
        self.log_path = log_path
        self._log = open(log_path, "w")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, "-m", "livegen", "run", "--preset", preset, "--backend", "jack"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._log, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
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
        raise SystemExit(f"soak: no ready line from the daemon; see {self.log_path}")

    def stop(self) -> int | None:
        status = None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                status = self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()
        return status if status is not None else self.process.returncode


class Player:
    """The studio: keys and a MIDI clock into ``livegen in`` (python-rtmidi), ears on ``livegen out``.

    The ears are a one-client JACK client of livegen's extension (``livegen._jackmidi``): the
    polled input queue of python-rtmidi is not thread-safe (thestk/rtmidi#352), and a soak's
    own process once died in it with a segmentation fault.
    """

    def __init__(self) -> None:
        self.heard: list[tuple[float, list[int]]] = []
        self.lock = threading.Lock()
        self._stop = threading.Event()
        self.keys = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, CLIENT)
        self.clock = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, CLIENT + "-clock")
        self.keys.open_port(find_port(self.keys.get_ports(), ":" + IN_PORT_NAME,
                                      direction="output"), "keys")
        self.clock.open_port(find_port(self.clock.get_ports(), ":" + IN_PORT_NAME,
                                       direction="output"), "clock")
        sources, _ = list_ports("jack")
        self.ears = _jackmidi.Client(CLIENT)
        ears_port = self.ears.add_input("ears")
        self.ears.activate()
        self.ears.connect(sources[find_port(sources, ":" + OUT_PORT_NAME, direction="input")], ears_port)
        self._threads = [threading.Thread(target=self._listen, daemon=True),
                         threading.Thread(target=self._send_clock, daemon=True)]
        for thread in self._threads:
            thread.start()

    def _listen(self) -> None:
        while not self._stop.is_set():
            events = self.ears.read(0.05)
            with self.lock:
                self.heard.extend((stamp_s, list(data)) for data, stamp_s in events)

    def _send_clock(self) -> None:
        tick_s = 60.0 / BPM / 24
        self.clock.send_message([START])
        next_s = time.monotonic()
        while not self._stop.is_set():
            self.clock.send_message([CLOCK])
            next_s += tick_s  # by deadline: no drift
            time.sleep(max(0.0, next_s - time.monotonic()))
        self.clock.send_message([STOP])

    def play(self, phrase) -> float:
        """Play a phrase on its own schedule; return when its last note_off went."""
        events = sorted([(t, 1, p, v) for p, v, t, _ in phrase]
                        + [(t + d, 0, p, 0) for p, _, t, d in phrase])
        start_s = time.monotonic() + 0.01
        for offset_s, kind, pitch, velocity in events:
            time.sleep(max(0.0, start_s + offset_s - time.monotonic()))
            self.keys.send_message([NOTE_ON if kind else NOTE_OFF, pitch, velocity])
        return time.monotonic()

    def flood(self, rng: random.Random) -> None:
        for i in range(FLOOD_MESSAGES):
            control = rng.choice((1, 21, 64))
            self.keys.send_message([CONTROL, control, 0 if control == 64 else rng.randrange(128)])
            if i % 20 == 19:
                time.sleep(FLOOD_SPAN_S * 20 / FLOOD_MESSAGES)

    def note_ons_since(self, since_s: float) -> list[float]:
        with self.lock:
            return [t for t, d in self.heard if t >= since_s and d[0] & 0xF0 == NOTE_ON and d[2] > 0]

    def last_heard_s(self) -> float:
        with self.lock:
            return self.heard[-1][0] if self.heard else 0.0

    def close(self) -> None:
        self._stop.set()
        self.ears.wake()
        for thread in self._threads:
            thread.join(timeout=2)
        self.ears.close()
        for midi in (self.keys, self.clock):
            midi.close_port()
            midi.delete()


def hanging(heard: list[tuple[float, list[int]]]) -> dict[str, int]:
    """Notes the receiver still hears: note_ons without a note_off (CC123/120 end a channel's)."""
    sounding: dict[tuple[int, int], int] = {}
    for _, data in heard:
        kind, channel = data[0] & 0xF0, data[0] & 0x0F
        if kind == NOTE_ON and len(data) == 3 and data[2] > 0:
            sounding[(channel, data[1])] = sounding.get((channel, data[1]), 0) + 1
        elif kind == NOTE_OFF or (kind == NOTE_ON and len(data) == 3):
            sounding.pop((channel, data[1]), None)
        elif kind == CONTROL and len(data) == 3 and data[1] in (120, 123):
            for key in [k for k in sounding if k[0] == channel]:
                del sounding[key]
    return {f"ch{c + 1}:{p}": n for (c, p), n in sorted(sounding.items())}


def soak(minutes: float, preset: str, seed: int, realtime: bool = False) -> dict:
    rng = random.Random(seed)
    server = JackServer(f"lg-soak-{os.getpid()}", realtime=realtime)
    mode = "real-time" if realtime else "--no-realtime"
    log(f"JACK server {server.name} (pid {server.process.pid}, {mode})")
    log_dir = Path(tempfile.mkdtemp(prefix="livegen-soak-"))
    daemon = Daemon(log_dir / "daemon.log", preset)
    player = None
    report: dict = {"minutes": minutes, "preset": preset, "seed": seed, "realtime_server": realtime,
                    "memory": [], "phrases": 0, "answered": 0, "barge_ins": 0, "floods": 0,
                    "unanswered_at_s": [], "left_sounding": []}
    try:
        report["ready"] = daemon.wait_ready()
        log(report["ready"])
        player = Player()
        out_port, ears_port = _port_names(daemon.process.pid)
        started = time.monotonic()
        end_s = started + minutes * 60.0
        next_memory = next_flood = started
        reconnect_at = started + minutes * 30.0
        barge = False
        while time.monotonic() < end_s:
            now = time.monotonic()
            if now >= next_memory:
                rss, uss = memory_mb(daemon.process.pid)
                report["memory"].append((round(now - started, 1), round(rss, 2), round(uss, 2)))
                log(f"t={now - started:6.1f} s  RSS {rss:7.2f} MB  USS {uss:7.2f} MB  "
                    f"answered {report['answered']}/{report['phrases']}")
                next_memory += MEMORY_EVERY_S
            if now >= next_flood:
                player.flood(rng)
                report["floods"] += 1
                next_flood += FLOOD_EVERY_S
            phrase_end = player.play(rng.choice(PHRASES))
            report["phrases"] += 1
            if reconnect_at is not None and time.monotonic() >= reconnect_at:
                first = player.note_ons_since(phrase_end)
                deadline = time.monotonic() + ANSWER_TIMEOUT_S
                while not first and time.monotonic() < deadline:  # mid-answer
                    time.sleep(0.01)
                    first = player.note_ons_since(phrase_end)
                server.run("jack_disconnect", out_port, ears_port)
                time.sleep(1.0)
                server.run("jack_connect", out_port, ears_port)
                log("output disconnected for 1 s mid-answer and connected again")
                report["reconnected_at_s"] = round(time.monotonic() - started, 1)
                reconnect_at = None
                report["answered"] += bool(first)
                _wait_quiet(player)
                continue
            deadline = time.monotonic() + ANSWER_TIMEOUT_S
            ons = player.note_ons_since(phrase_end)
            while not ons and time.monotonic() < deadline:
                time.sleep(0.01)
                ons = player.note_ons_since(phrase_end)
            if ons:
                report["answered"] += 1
            else:
                report["unanswered_at_s"].append(round(time.monotonic() - started, 1))
            barge = not barge and report["phrases"] % 3 == 0
            if ons and barge:
                time.sleep(max(0.0, ons[0] + BARGE_AFTER_S - time.monotonic()))
                report["barge_ins"] += 1  # the next phrase cuts the answer
            else:
                _wait_quiet(player)
                with player.lock:  # an answer over, and a note of it still sounding
                    left = hanging(player.heard)
                if left:
                    report["left_sounding"].append((round(time.monotonic() - started, 1), left))
        rss, uss = memory_mb(daemon.process.pid)
        report["memory"].append((round(time.monotonic() - started, 1), round(rss, 2), round(uss, 2)))
        _wait_quiet(player)
        with player.lock:  # before the exit's panic (CC123/CC120) silences everything
            report["hanging_before_exit"] = hanging(player.heard)
    finally:
        status = daemon.stop()
        report["exit_status"] = status
        time.sleep(0.5)  # the panic's last messages
        if player is not None:
            with player.lock:
                report["hanging_notes"] = hanging(player.heard)
            player.close()
        server.stop()
        text = daemon.log_path.read_text(errors="replace")
        report["traceback_in_log"] = "Traceback" in text
        resent = re.search(r"(\d+) note_offs were sent again after (\d+) JACK xruns", text)
        report["xrun_repairs"] = [int(n) for n in resent.groups()] if resent else [0, 0]
        report["log"] = str(daemon.log_path)
    return report


def _port_names(pid: int) -> tuple[str, str]:
    """The full JACK names of ``livegen out`` and this player's ears (from jack_lsp)."""
    names = subprocess.run(["jack_lsp"], capture_output=True, text=True, timeout=10,
                           check=True).stdout.splitlines()
    out = next(n for n in names if n.endswith(":" + OUT_PORT_NAME))
    ears = next(n for n in names if n.startswith(CLIENT) and n.endswith(":ears"))
    return out, ears


def _wait_quiet(player: Player) -> None:
    deadline = time.monotonic() + 20.0
    while time.monotonic() < deadline and time.monotonic() - player.last_heard_s() < QUIET_S:
        time.sleep(0.05)


def summarize(report: dict) -> tuple[list[str], bool]:
    memory = report["memory"]
    after_minute = [m for m in memory if m[0] >= 60.0] or memory[-1:]
    growth_rss = memory[-1][1] - after_minute[0][1]
    growth_uss = memory[-1][2] - after_minute[0][2]
    checks = {
        f"RSS growth after the first minute < {GROWTH_LIMIT_MB:g} MB": growth_rss < GROWTH_LIMIT_MB,
        "every phrase answered": report["answered"] == report["phrases"],
        "no answer left a note sounding at the receiver": not report["left_sounding"],
        "no note left sounding at the receiver, before the exit": not report.get("hanging_before_exit"),
        "no note left sounding at the receiver, after the exit": not report.get("hanging_notes"),
        "no traceback in the daemon's log": not report["traceback_in_log"],
        "the daemon exited 0 on SIGINT": report.get("exit_status") == 0,
    }
    lines = [
        f"soak: {report['minutes']:g} min, preset {report['preset']}, seed {report['seed']}",
        f"RSS {memory[0][1]:.1f} -> {memory[-1][1]:.1f} MB (after the first minute: {growth_rss:+.2f} MB); "
        f"USS {memory[0][2]:.1f} -> {memory[-1][2]:.1f} MB ({growth_uss:+.2f} MB)",
        f"phrases {report['phrases']}, answered {report['answered']} "
        f"(unanswered at {report['unanswered_at_s'] or '-'} s), barge-ins {report['barge_ins']}, "
        f"CC floods {report['floods']} x {FLOOD_MESSAGES}, output reconnect at "
        f"{report.get('reconnected_at_s', '-')} s",
        f"notes left sounding at the receiver: before the exit "
        f"{report.get('hanging_before_exit') or 'none'}, after it {report.get('hanging_notes') or 'none'}; "
        f"daemon exit {report.get('exit_status')}; log {report['log']}",
        f"answers over with a note of livegen's still sounding: {len(report['left_sounding'])} "
        f"{report['left_sounding'][:3] or ''}; note_offs sent again after JACK xruns: "
        f"{report['xrun_repairs'][0]} (after {report['xrun_repairs'][1]} xrun reports)",
    ]
    lines += [f"  [{'ok' if good else 'FAIL'}] {name}" for name, good in checks.items()]
    return lines, all(checks.values())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--preset", default="jam")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", metavar="PATH", help="write the report as JSON here too")
    parser.add_argument("--realtime", action="store_true",
                        help="run the private server with real-time priority (jackd -R, as docs/daw.md "
                             "advises) instead of --no-realtime")
    args = parser.parse_args(argv)
    report = soak(args.minutes, args.preset, args.seed, realtime=args.realtime)
    lines, good = summarize(report)
    print("\n".join(lines), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
