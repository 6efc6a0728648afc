"""End to end: the daemon's engine thread runs real-time only under a real-time JACK server.

At SCHED_FIFO under a ``--no-realtime`` server, the engine thread starved the
server's process thread (tests/e2e/test_jack_sync.py heard a 120 BPM clock at
112 BPM, with 28 stalls); under a ``jackd -R`` server it kept every note in
time with both cores busy (docs/benchmark.md). Each test starts a private
dummy server of its own, runs ``livegen run`` on it (the one-client ports and
python-rtmidi's), and reads the engine thread's scheduling policy from the OS.
Everything that talks to the server runs in a subprocess: this process's
libjack stays tied to the session's server.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_jack_daemon import Daemon, model_path  # noqa: F401 - fixture

from livegen import ports

pytestmark = [pytest.mark.jack,
              pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)"),
              pytest.mark.skipif(shutil.which("jackd") is None, reason="jackd is not installed")]

START_TIMEOUT_S = 10
ENGINE_THREAD = "lg-engine"
SCHEDULER_THREAD = "lg-scheduler"
WHY = re.compile(r"engine thread: (.*)")
NAMED_TIMEOUT_S = 5.0  # the threads name themselves once running, after the ready line


def _all_threads(pid: int) -> list[tuple[str, int, int]]:
    """``(OS thread name, policy, priority)`` of each of a process's threads (sched(7))."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            tid = int(task.name)
            found.append((name, os.sched_getscheduler(tid), os.sched_getparam(tid).sched_priority))
        except (OSError, ValueError):  # the thread ended meanwhile
            continue
    return found


def _threads(pid: int) -> dict[str, tuple[int, int]]:
    """``{OS thread name: (policy, priority)}`` of a process's threads (one per name)."""
    return {name: (policy, priority) for name, policy, priority in _all_threads(pid)}


@pytest.fixture(params=["no-realtime", "realtime"])
def private_server(request, tmp_path, monkeypatch):
    """A private dummy JACK server (``--no-realtime`` or ``-R``); its clients' env points at it."""
    realtime = request.param == "realtime"
    name = f"livegen-prio-{os.getpid()}-{request.param}"
    log_path = tmp_path / "jackd.log"
    env = {**os.environ, "JACK_NO_AUDIO_RESERVATION": "1"}
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(["jackd", "-n", name, "-R" if realtime else "--no-realtime",
                                    "-d", "dummy", "-r", "48000", "-p", "64"],
                                   stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                                   env=env)
    try:
        up = subprocess.run(["jack_wait", "-s", name, "-w", "-t", str(START_TIMEOUT_S)],
                            capture_output=True, timeout=START_TIMEOUT_S + 5, env=env)
        if up.returncode != 0 or process.poll() is not None:
            pytest.skip(f"jackd {request.param} did not start: {log_path.read_text()[-300:]}")
        server_fifo = [prio for _, policy, prio in _all_threads(process.pid) if policy == os.SCHED_FIFO]
        if realtime and not server_fifo:
            pytest.skip("this machine does not let jackd -R run real-time (RLIMIT_RTPRIO)")
        monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
        yield realtime, max(server_fifo, default=0)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.parametrize("jack_client", ["shared", "rtmidi"])
def test_the_engine_thread_is_real_time_only_under_a_real_time_server(private_server, jack_client,
                                                                      model_path, tmp_path):  # noqa: F811
    if jack_client == "shared" and not ports.jack_shared_client():
        pytest.skip("livegen._jackmidi is not built")
    server_realtime, server_priority = private_server
    daemon = Daemon(tmp_path / "daemon.log", "--jack-client", jack_client)
    try:
        daemon.wait_ready()
        deadline = time.monotonic() + NAMED_TIMEOUT_S
        threads = _threads(daemon.process.pid)
        while not {ENGINE_THREAD, SCHEDULER_THREAD} <= threads.keys() and time.monotonic() < deadline:
            time.sleep(0.05)
            threads = _threads(daemon.process.pid)
        time.sleep(0.2)  # the engine thread asks for its priority right after naming itself
        threads = _threads(daemon.process.pid)
    finally:
        daemon.stop()
    log = daemon.log()
    print(f"\n[e2e] server {'-R' if server_realtime else '--no-realtime'} (its FIFO priority "
          f"{server_priority}), {jack_client}: engine {threads.get(ENGINE_THREAD)}, scheduler "
          f"{threads.get(SCHEDULER_THREAD)}; {WHY.findall(log)}")
    assert ENGINE_THREAD in threads and SCHEDULER_THREAD in threads, threads
    assert len(WHY.findall(log)) == 1, log  # said once
    policy, priority = threads[ENGINE_THREAD]
    if not server_realtime:
        assert policy != os.SCHED_FIFO, log
        assert "normal priority" in WHY.findall(log)[0]
        return
    assert policy == os.SCHED_FIFO, log
    scheduler_policy, scheduler_priority = threads[SCHEDULER_THREAD]
    assert scheduler_policy == os.SCHED_FIFO
    assert 1 <= priority < scheduler_priority and priority < server_priority


PIN_TIMEOUT_S = 6.0  # the watch pins after 2 s idle, looking every 0.25 s


def _pinned(pid: int) -> dict[int, set[int]]:
    """``{tid: CPUs}`` of a process's threads allowed fewer CPUs than the process started with."""
    every = os.sched_getaffinity(0)
    found = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            cpus = os.sched_getaffinity(int(task.name))
        except OSError:
            continue
        if cpus != every:
            found[int(task.name)] = cpus
    return found


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="one CPU: nothing to pin to")
def test_idle_under_a_real_time_server_the_process_thread_runs_on_the_servers_cpu(
        private_server, model_path, tmp_path):  # noqa: F811
    if not ports.jack_shared_client():
        pytest.skip("livegen._jackmidi is not built")
    server_realtime, _ = private_server
    server = subprocess.run(["pgrep", "-f", f"jackd -n {os.environ['JACK_DEFAULT_SERVER']} "],
                            capture_output=True, text=True).stdout.split()
    server_pid = int(server[0])
    daemon = Daemon(tmp_path / "daemon.log")
    try:
        daemon.wait_ready()
        deadline = time.monotonic() + PIN_TIMEOUT_S
        pinned = _pinned(daemon.process.pid)
        while not pinned and time.monotonic() < deadline:
            time.sleep(0.1)
            pinned = _pinned(daemon.process.pid)
        server_cpu = {int((task / "stat").read_text().rsplit(")", 1)[1].split()[36])
                      for task in Path(f"/proc/{server_pid}/task").iterdir()
                      if os.sched_getscheduler(int(task.name)) == os.SCHED_FIFO}
    finally:
        daemon.stop()
    print(f"\n[e2e] server {'-R' if server_realtime else '--no-realtime'}: pinned {pinned}, "
          f"server FIFO thread on {server_cpu}")
    if not server_realtime:
        assert pinned == {}, daemon.log()  # a normal thread on one busy CPU could starve
        return
    assert len(pinned) == 1, daemon.log()  # JACK's process thread, and nothing else
    (cpus,) = pinned.values()
    assert len(cpus) == 1 and cpus <= server_cpu, daemon.log()
