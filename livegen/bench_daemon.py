"""``livegen bench``: the figures taken from a real daemon subprocess.

Cold start to the ready line, idle CPU and RSS read from ``/proc`` (Linux),
and the exit status after SIGINT. Split from :mod:`livegen.bench` to keep
each module to one concept.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path

from livegen import ports
from livegen.bench import (
    BENCH_STYLE,
    EXIT_TIMEOUT_S,
    READY_TIMEOUT_S,
    Figure,
    _skip_all,
)
from livegen.errors import BackendError
from livegen.osthread import OS_THREAD_PREFIX
from livegen.ports import JACK_IDLE_AFTER_S

__all__ = ["bench_daemon", "IDLE_SETTLE_S"]

MB_PER_MIB = 1024 * 1024 / 1e6  # RSS is judged in MB of 10^6 bytes: the stricter reading

#: Idle CPU is sampled from this long after the ready line, seconds: rtmidi's JACK
#: reader polls slowly only after JACK_IDLE_AFTER_S without input.
IDLE_SETTLE_S = JACK_IDLE_AFTER_S + 1.0


def _memory_mib(pid: int) -> dict[str, float]:
    """The ``kB`` lines of ``/proc/PID/status`` (``VmRSS``, ``RssShmem``...) in MiB (Linux)."""
    return {k: int(v.split()[0]) / 1024 for k, v in (
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
        if line.endswith(" kB"))}


def _thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread group: livegen's own threads (the main thread and those
    named ``lg-*``, see :mod:`livegen.osthread`) and the others (JACK's process
    threads: one per JACK client).

    Read from ``/proc/PID/task/*/schedstat`` (nanoseconds; Linux with schedstats),
    else from ``stat`` (clock ticks, 10 ms: too coarse for a 1 % figure over 10 s).
    """
    groups = {"livegen": 0.0, "other": 0.0}
    tick = os.sysconf("SC_CLK_TCK")
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            try:
                seconds = int((task / "schedstat").read_text().split()[0]) / 1e9
            except (OSError, ValueError, IndexError):
                stat = (task / "stat").read_text().rsplit(")", 1)[1].split()
                seconds = (int(stat[11]) + int(stat[12])) / tick  # utime + stime
        except OSError:  # the thread ended
            continue
        own = task.name == str(pid) or name.startswith(OS_THREAD_PREFIX)
        groups["livegen" if own else "other"] += seconds
    return groups


def _pump(stream: Iterable[str], lines: queue.SimpleQueue) -> None:
    """Hand a subprocess's output lines on; '' at the end."""
    for line in stream:
        lines.put(line)
    lines.put("")


def _jack_period() -> str:
    """The running JACK server's period, e.g. ``64 frames / 48000 Hz`` (or ``unknown period``)."""
    try:
        size = subprocess.run(["jack_bufsize"], capture_output=True, text=True, timeout=5,
                              env={**os.environ, "JACK_NO_START_SERVER": "1"}).stdout.split()
        rate = subprocess.run(["jack_samplerate"], capture_output=True, text=True, timeout=5,
                              env={**os.environ, "JACK_NO_START_SERVER": "1"}).stdout.split()
        return f"{int(size[-1])} frames / {int(rate[-1])} Hz"
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return "unknown period"


def _daemon(model_path: Path, backend: str, idle_s: float, figures: dict[str, Figure],
            env: dict[str, str] | None = None) -> None:
    """Run ``livegen run`` once and fill ``figures`` (those of its keys it has)."""
    lines: queue.SimpleQueue = queue.SimpleQueue()
    with tempfile.TemporaryFile("w+") as stderr:
        t0 = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "livegen", "run", "--preset", BENCH_STYLE, "--backend", backend,
             "--model", str(model_path)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr, text=True,
            env=None if env is None else {**os.environ, **env})
        threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
        try:
            if not lines.get(timeout=READY_TIMEOUT_S).startswith("listening on"):
                process.wait(EXIT_TIMEOUT_S)
                stderr.seek(0)
                tail = (stderr.read().strip().splitlines() or ["no output"])[-1]
                _skip_all(figures.values(), f"`livegen run` exited {process.returncode}: {tail}")
                return
            if "cold_start" in figures:
                figures["cold_start"].value = time.perf_counter() - t0
                figures["cold_start"].note = f"spawn -> 'listening on' line, backend {backend}"
            idle = [f for k, f in figures.items() if k.startswith("idle_cpu")]  # and _rtmidi
            if os.path.exists(f"/proc/{process.pid}/stat"):
                time.sleep(IDLE_SETTLE_S)
                w0, split0 = time.perf_counter(), _thread_cpu(process.pid)
                time.sleep(idle_s)
                w1, split1 = time.perf_counter(), _thread_cpu(process.pid)
                mib = _memory_mib(process.pid)
                share = {k: 100.0 * (split1[k] - split0[k]) / (w1 - w0) for k in split0}
                clients = "" if backend != "jack" else (
                    f"; JACK at {_jack_period()}, "
                    + ("one JACK client (livegen._jackmidi)" if ports.jack_shared_client(env)
                       else "python-rtmidi's JACK clients, one per port"))
                for figure in idle:
                    figure.value = share["livegen"] + share["other"]
                    figure.note = (f"{w1 - w0:.1f} s idle after a {IDLE_SETTLE_S:g} s settle; "
                                   f"livegen's threads {share['livegen']:.2f} %, other threads "
                                   f"{share['other']:.2f} %{clients}")
                if "rss" in figures:
                    figures["rss"].value = mib["VmRSS"] * MB_PER_MIB
                    figures["rss"].note = (
                        f"MB of 10^6 bytes, as the issue's target ({mib['VmRSS']:.1f} MiB); "
                        f"peak {mib['VmHWM']:.0f} MiB; of the RSS, private "
                        f"{mib.get('RssAnon', 0):.0f} MiB, files {mib.get('RssFile', 0):.0f}"
                        f" MiB, shared memory (JACK) {mib.get('RssShmem', 0):.0f} MiB")
            else:
                _skip_all([*idle, *([figures["rss"]] if "rss" in figures else [])], "needs Linux /proc")
            process.send_signal(signal.SIGINT)
            exit_status = float(process.wait(EXIT_TIMEOUT_S))
            if "sigint_exit" in figures:
                figures["sigint_exit"].value = exit_status
        except (queue.Empty, subprocess.TimeoutExpired):
            _skip_all((f for f in figures.values() if f.value is None), "the daemon did not answer")
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def bench_daemon(model_path: Path, idle_s: float) -> list[Figure]:
    """Start ``livegen run`` (JACK if a server runs, else auto): cold start, idle CPU, RSS, SIGINT.

    On JACK with the one-client extension, a second daemon runs with
    python-rtmidi's JACK ports (one client per port) for the ``idle_cpu_rtmidi``
    figure, a comparison with no target. When no MIDI backend can open, every
    figure is skipped with the reason.
    """
    figures = {k: Figure(k, label, unit) for k, label, unit in (
        ("cold_start", "daemon cold start to ready", "s"),
        ("idle_cpu", "daemon idle CPU, % of a core", "%"), ("rss", "daemon RSS, idle", "MB"),
        ("sigint_exit", "daemon exit status on SIGINT", ""))}
    try:
        backend = ports.resolve_backend("jack" if ports.jack_running() else "auto")
    except BackendError as err:
        return _skip_all(figures.values(), str(err))
    _daemon(model_path, backend, idle_s, figures)
    if backend == "jack" and ports.jack_shared_client():
        rtmidi = {"idle_cpu_rtmidi": Figure(
            "idle_cpu_rtmidi", "  the same with rtmidi's two JACK clients", "%")}
        _daemon(model_path, backend, idle_s, rtmidi, env={ports.JACK_RTMIDI_ENV: "1"})
        figures.update(rtmidi)
    return [f.judge() for f in figures.values()]
