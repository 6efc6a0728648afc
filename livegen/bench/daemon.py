"""The figures taken from a real ``livegen run`` subprocess (Linux ``/proc`` for CPU and memory),
then, on JACK, what a listener gets (:mod:`livegen.bench.listener`).

Cold start to the ready line; idle CPU, summed over the daemon's threads; its
memory, judged on what is its own; the exit status after SIGINT.

Memory. ``VmRSS`` counts every resident page mapped, shared or not. libjack
mlocks the JACK server's whole graph segment (about 100 MiB of port buffers,
sized by the server's port limit) in every client, so each JACK client's RSS
carries the server's memory, and it must stay locked: the real-time path may
not page-fault. The < 200 MB target is judged on the daemon's private memory,
USS = ``Private_Clean`` + ``Private_Dirty`` of ``/proc/PID/smaps_rollup`` (pages
mapped by this process alone: its heap, onnxruntime's buffers, library pages no
other process maps); PSS (each shared page divided among the processes that
map it) and RSS are reported beside it.

Where there is no ``/proc`` (macOS, Windows; issue 16) the same rows come from
psutil, when it is installed (``pip install psutil``: an optional dependency):
the process's CPU time over all its threads (the split into livegen's threads
and JACK's needs Linux, where livegen names its threads), its USS
(``memory_full_info().uss``), RSS and peak. Without either the rows are
skipped with the reason.
"""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable
from pathlib import Path

try:  # optional: the daemon rows where there is no /proc (macOS, Windows; issue 16)
    import psutil
except ImportError:
    psutil = None

from livegen import ports
from livegen.bench.listener import bench_listener
from livegen.bench.report import Figure, skip_all
from livegen.bench.steps import BENCH_STYLE
from livegen.errors import BackendError
from livegen.osthread import OS_THREAD_PREFIX

__all__ = ["bench_daemon", "daemon_command", "status_mib", "smaps_rollup_mib", "idle_reader",
           "IDLE_SETTLE_S", "MB_PER_MIB"]

MB_PER_MIB = 1024 * 1024 / 1e6  # memory is judged in MB of 10^6 bytes: the stricter reading
KIB_PER_MIB = 1024
READY_TIMEOUT_S = 60.0  # longest wait for the daemon's ready line, seconds
EXIT_TIMEOUT_S = 10.0  # longest wait for the daemon to exit after SIGINT, seconds
#: Idle CPU is sampled from this long after the ready line, seconds: rtmidi's JACK
#: reader polls slowly only after ``ports.JACK_IDLE_AFTER_S`` without input.
IDLE_SETTLE_S = ports.JACK_IDLE_AFTER_S + 1.0
#: The listener figures' answers per condition: 3 per second of idle measurement (30 in the
#: full bench, 9 in the quick one), at least 8.
LISTENER_RESPONSES_PER_IDLE_S = 3
LISTENER_MIN_RESPONSES = 8


def _kib_lines_mib(path: Path) -> dict[str, float]:
    return {k: int(v.split()[0]) / KIB_PER_MIB for k, v in (
        line.split(":", 1) for line in path.read_text().splitlines() if line.endswith(" kB"))}


def status_mib(pid: int) -> dict[str, float]:
    """The ``kB`` lines of ``/proc/PID/status`` in MiB (Linux).

    Args:
        pid: a process id.

    Returns:
        e.g. ``{"VmRSS": 190.1, "VmHWM": ..., "VmLck": ..., "RssAnon": ..., "RssFile": ...,
        "RssShmem": ...}`` (which lines exist depends on the kernel).

    Raises:
        OSError: no such process, or no ``/proc``.
    """
    return _kib_lines_mib(Path(f"/proc/{pid}/status"))


def smaps_rollup_mib(pid: int) -> dict[str, float]:
    """The ``kB`` lines of ``/proc/PID/smaps_rollup`` in MiB (Linux 4.14+), plus ``USS``.

    Args:
        pid: a process id.

    Returns:
        e.g. ``{"Rss": ..., "Pss": ..., "Pss_Shmem": ..., "Private_Clean": ...,
        "Private_Dirty": ..., "Locked": ..., "USS": Private_Clean + Private_Dirty}``.

    Raises:
        OSError: no such process, or a kernel without ``smaps_rollup``.
    """
    rollup = _kib_lines_mib(Path(f"/proc/{pid}/smaps_rollup"))
    rollup["USS"] = rollup.get("Private_Clean", 0.0) + rollup.get("Private_Dirty", 0.0)
    return rollup


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
    env = {**os.environ, "JACK_NO_START_SERVER": "1"}
    try:
        size = subprocess.run(["jack_bufsize"], capture_output=True, text=True, timeout=5,
                              env=env).stdout.split()
        rate = subprocess.run(["jack_samplerate"], capture_output=True, text=True, timeout=5,
                              env=env).stdout.split()
        return f"{int(size[-1])} frames / {int(rate[-1])} Hz"
    except (OSError, subprocess.SubprocessError, ValueError, IndexError):
        return "unknown period"


def _idle_share(pid: int, idle_s: float) -> tuple[float, dict[str, float]]:
    """After :data:`IDLE_SETTLE_S`, ``idle_s`` of process ``pid``: ``(seconds measured, % of a core
    per thread group of :func:`_thread_cpu`)``.

    Raises:
        OSError: the process is gone, or there is no ``/proc``.
    """
    time.sleep(IDLE_SETTLE_S)
    w0, split0 = time.perf_counter(), _thread_cpu(pid)
    time.sleep(idle_s)
    w1, split1 = time.perf_counter(), _thread_cpu(pid)
    return w1 - w0, {k: 100.0 * (split1[k] - split0[k]) / (w1 - w0) for k in split0}


def _measure_idle(pid: int, idle_s: float, figures: dict[str, Figure], clients: str) -> dict[str, float]:
    """Fill the idle CPU and memory figures of ``figures`` from ``/proc`` after ``idle_s``.

    Returns:
        % of a core: ``{"livegen": its own threads, "other": JACK's}``.
    """
    idle = [f for k, f in figures.items() if k.startswith("idle_cpu")]  # and _rtmidi
    seconds, share = _idle_share(pid, idle_s)
    for figure in idle:
        figure.value = share["livegen"] + share["other"]
        figure.note = (f"{seconds:.1f} s idle after a {IDLE_SETTLE_S:g} s settle; livegen's "
                       f"threads {share['livegen']:.2f} %, other threads {share['other']:.2f} %{clients}")
    if not {"rss", "uss", "pss"} & figures.keys():
        return share
    status = status_mib(pid)
    if "rss" in figures:
        figures["rss"].value = status["VmRSS"] * MB_PER_MIB
        figures["rss"].note = (
            f"no target: counts JACK's shared segment in every client; {status['VmRSS']:.1f} MiB, "
            f"peak {status['VmHWM']:.0f} MiB; anonymous {status.get('RssAnon', 0):.0f} MiB, files "
            f"{status.get('RssFile', 0):.0f} MiB, shared memory (JACK) {status.get('RssShmem', 0):.0f}"
            f" MiB; locked (VmLck: libjack's mlock, left in place) {status.get('VmLck', 0):.0f} MiB")
    try:
        rollup = smaps_rollup_mib(pid)
    except OSError as err:
        skip_all([figures[k] for k in ("uss", "pss") if k in figures],
                 f"no /proc/PID/smaps_rollup here ({err.strerror or err})")
        return share
    if "uss" in figures:
        figures["uss"].value = rollup["USS"] * MB_PER_MIB
        figures["uss"].note = (f"Private_Clean + Private_Dirty of smaps_rollup, MB of 10^6 bytes "
                               f"({rollup['USS']:.1f} MiB: clean {rollup.get('Private_Clean', 0):.0f}, "
                               f"dirty {rollup.get('Private_Dirty', 0):.0f} MiB)")
    if "pss" in figures:
        figures["pss"].value = rollup["Pss"] * MB_PER_MIB
        figures["pss"].note = (f"shared pages divided among their processes; of it JACK's shared "
                               f"memory {rollup.get('Pss_Shmem', 0):.0f} MiB")
    return share


def idle_reader(pid: int) -> str | None:
    """Where the idle CPU and memory of process ``pid`` are read from here.

    Returns:
        ``"proc"`` (Linux ``/proc``: per-thread CPU and the memory split),
        ``"psutil"`` (no ``/proc``, psutil installed: macOS, Windows), or None.
    """
    if os.path.exists(f"/proc/{pid}/stat"):
        return "proc"
    return "psutil" if psutil is not None else None


def _measure_idle_psutil(pid: int, idle_s: float, figures: dict[str, Figure], clients: str) -> None:
    """Fill the idle CPU and memory figures from psutil: all threads together, no PSS off Linux."""
    process = psutil.Process(pid)
    idle = [f for k, f in figures.items() if k.startswith("idle_cpu")]
    time.sleep(IDLE_SETTLE_S)
    w0, t0 = time.perf_counter(), process.cpu_times()
    time.sleep(idle_s)
    w1, t1 = time.perf_counter(), process.cpu_times()
    share = 100.0 * ((t1.user + t1.system) - (t0.user + t0.system)) / (w1 - w0)
    for figure in idle:
        figure.value = share
        figure.note = (f"{w1 - w0:.1f} s idle after a {IDLE_SETTLE_S:g} s settle; psutil "
                       f"{psutil.__version__}: the process's CPU time, every thread (split by thread "
                       f"on Linux only){clients}")
    memory = process.memory_full_info()
    if "uss" in figures:
        figures["uss"].value = memory.uss / 1e6
        figures["uss"].note = (f"psutil's memory_full_info().uss, MB of 10^6 bytes "
                               f"({memory.uss / 2**20:.1f} MiB)")
    if "rss" in figures:
        peak = getattr(memory, "peak_wset", None)  # Windows
        figures["rss"].value = memory.rss / 1e6
        figures["rss"].note = "no target; psutil's rss" + (
            f", peak {peak / 2**20:.0f} MiB" if peak else "")
    if "pss" in figures:
        if hasattr(memory, "pss"):
            figures["pss"].value = memory.pss / 1e6
        else:
            skip_all([figures["pss"]], "PSS is known on Linux only")


def daemon_command(model_path: str | os.PathLike, backend: str,
                   jack_client: str | None = None) -> list[str]:
    """The command line of the daemon the bench starts (this interpreter, ``-m livegen run``).

    Args:
        model_path: the ``.onnx`` model.
        backend: ``--backend`` (one of ``livegen.ports.BACKENDS``).
        jack_client: ``--jack-client`` (``shared`` or ``rtmidi``); None: the daemon's default.
    """
    return ([sys.executable, "-m", "livegen", "run", "--preset", BENCH_STYLE, "--backend", backend,
             "--model", str(model_path)] + (["--jack-client", jack_client] if jack_client else []))


def _daemon(model_path: Path, backend: str, idle_s: float, figures: dict[str, Figure],
            jack_client: str | None = None) -> dict[str, float] | None:
    """Run ``livegen run`` once (see :func:`daemon_command`) and fill those of ``figures`` it has.

    Returns:
        The idle CPU split read from ``/proc`` (:func:`_measure_idle`), else None.
    """
    shares = None
    command = daemon_command(model_path, backend, jack_client)
    shared = backend == "jack" and jack_client != "rtmidi" and ports.jack_shared_client()
    clients = "" if backend != "jack" else (
        f"; JACK at {_jack_period()}, " + ("one JACK client (livegen._jackmidi)" if shared
                                            else "python-rtmidi's JACK clients, one per port"))
    lines: queue.SimpleQueue = queue.SimpleQueue()
    with tempfile.TemporaryFile("w+") as stderr:
        t0 = time.perf_counter()
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=stderr, text=True)
        threading.Thread(target=_pump, args=(process.stdout, lines), daemon=True).start()
        try:
            if not lines.get(timeout=READY_TIMEOUT_S).startswith("listening on"):
                process.wait(EXIT_TIMEOUT_S)
                stderr.seek(0)
                tail = (stderr.read().strip().splitlines() or ["no output"])[-1]
                skip_all(figures.values(), f"`livegen run` exited {process.returncode}: {tail}")
                return None
            if "cold_start" in figures:
                figures["cold_start"].value = time.perf_counter() - t0
                figures["cold_start"].note = f"spawn -> 'listening on' line, backend {backend}"
            reader = idle_reader(process.pid)
            if reader is None:
                skip_all([f for k, f in figures.items() if k not in ("cold_start", "sigint_exit")],
                         "needs Linux /proc, or psutil (pip install psutil)")
            else:
                if reader == "proc":
                    shares = _measure_idle(process.pid, idle_s, figures, clients)
                else:
                    _measure_idle_psutil(process.pid, idle_s, figures, clients)
            process.send_signal(signal.SIGINT)
            exit_status = float(process.wait(EXIT_TIMEOUT_S))
            if "sigint_exit" in figures:
                figures["sigint_exit"].value = exit_status
        except (queue.Empty, subprocess.TimeoutExpired):
            skip_all((f for f in figures.values() if f.value is None), "the daemon did not answer")
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    return shares


def _bare_jack_client(idle_s: float, figure: Figure, livegen_other: float | None) -> None:
    """Fill ``figure``: the JACK threads of ``jack_midi_dump`` (jackd2's example MIDI receiver,
    a C client with an empty-when-idle process callback), idle on the same server, % of a core.

    What any JACK client's process thread costs here at this period: the server wakes it
    every cycle whatever it does; on a virtual machine each cross-CPU wake-up is dear.
    """
    if shutil.which("jack_midi_dump") is None:
        figure.skipped = "jack_midi_dump is not installed (Debian: jackd2)"
        return
    env = {**os.environ, "JACK_NO_START_SERVER": "1"}
    process = subprocess.Popen(["jack_midi_dump"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=env)
    try:
        seconds, share = _idle_share(process.pid, idle_s)
    except OSError as err:  # it exited: no server, or no /proc
        figure.skipped = f"jack_midi_dump did not run ({err.strerror or err})"
        return
    finally:
        process.kill()
        process.wait()
    figure.value = share["other"]
    figure.note = (f"no target: the same server, right after livegen; {seconds:.1f} s idle; its main "
                   f"thread (which polls) {share['livegen']:.2f} % more"
                   + (f"; livegen's JACK thread is {livegen_other / share['other']:.2f}x it"
                      if livegen_other is not None and share["other"] > 0 else ""))


def bench_daemon(model_path: Path, idle_s: float, *, listener_responses: int | None = None) -> list[Figure]:
    """Start ``livegen run`` (JACK if a server runs, else auto): cold start, idle CPU, memory, SIGINT.

    On JACK with the one-client extension built, a second daemon runs with
    ``--jack-client rtmidi`` (python-rtmidi's ports, one JACK client each) for
    the ``idle_cpu_rtmidi`` figure, a comparison with no target; then
    ``jack_midi_dump`` idles on the same server for ``idle_cpu_bare_jack``
    (:func:`_bare_jack_client`): what one JACK client's process thread costs
    on this machine at this period, whatever the client does.

    Args:
        model_path: the ``.onnx`` model the daemon loads.
        idle_s: how long idle CPU is measured, seconds (after :data:`IDLE_SETTLE_S`).
        listener_responses: answers per condition of the listener's figures;
            None: :data:`LISTENER_RESPONSES_PER_IDLE_S` per second of ``idle_s``
            (at least :data:`LISTENER_MIN_RESPONSES`); 0: no listener figures.

    Returns:
        The figures ``cold_start``, ``idle_cpu``, ``uss`` (the memory target),
        ``pss``, ``rss``, ``sigint_exit`` (and ``idle_cpu_rtmidi``, ``idle_cpu_bare_jack``), judged; when
        no MIDI backend can open, every figure is skipped with the reason. On
        JACK, then the listener's figures (:func:`livegen.bench.listener.bench_listener`:
        lateness during answers and trigger -> first note_on, quiet and with
        every core busy).
    """
    figures = {k: Figure(k, label, unit) for k, label, unit in (
        ("cold_start", "daemon cold start to ready", "s"),
        ("idle_cpu", "daemon idle CPU, % of a core", "%"),
        ("uss", "daemon private memory (USS), idle", "MB"), ("pss", "  its PSS", "MB"),
        ("rss", "  its RSS (JACK's locked segment included)", "MB"),
        ("sigint_exit", "daemon exit status on SIGINT", ""))}
    try:
        backend = ports.resolve_backend("jack" if ports.jack_running() else "auto")
    except BackendError as err:
        return skip_all(figures.values(), str(err))
    shares = _daemon(model_path, backend, idle_s, figures)
    if backend == "jack" and ports.jack_shared_client():
        rtmidi = {"idle_cpu_rtmidi": Figure(
            "idle_cpu_rtmidi", "  idle CPU with rtmidi's two JACK clients", "%")}
        _daemon(model_path, backend, idle_s, rtmidi, jack_client="rtmidi")
        figures.update(rtmidi)
        bare = Figure("idle_cpu_bare_jack", "  idle CPU of a bare JACK client's process thread", "%")
        _bare_jack_client(idle_s, bare, shares["other"] if shares else None)
        figures["idle_cpu_bare_jack"] = bare
    judged = [f.judge() for f in figures.values()]
    if listener_responses is None:
        listener_responses = max(LISTENER_MIN_RESPONSES, round(LISTENER_RESPONSES_PER_IDLE_S * idle_s))
    if backend == "jack" and listener_responses > 0:  # what a listener gets (issue 14)
        judged += bench_listener(model_path, listener_responses)
    return judged
