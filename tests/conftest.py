"""Shared fixtures: a JACK server for the tests marked ``jack``.

``jack_server`` reuses a running JACK server, or starts
``jackd --no-realtime -d dummy -r 48000 -p 64`` for the session (no sound card
needed) and stops it at the end. Where jackd is missing or cannot start, the
tests that use it are skipped with the reason, unless ``LIVEGEN_REQUIRE_JACK``
is set (CI sets it), in which case they fail: a CI run must not pass by
skipping its end-to-end tests.

``own_jack_server`` starts a private dummy server under a name of its own
(``livegen-test-<pid>``) for one test and points this process's JACK clients at
it (``JACK_DEFAULT_SERVER``). A test that signals a server (SIGSTOP, to make
it stall) uses that one, by the PID of the process it started: never a server
it did not start, such as the one ``jack_server`` found running.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

JACK_RATE_HZ = 48_000
JACK_PERIOD_FRAMES = 64  # 1.3 ms at 48 kHz (DESIGN.md: tests use a 64-frame period)
JACK_START_TIMEOUT_S = 10.0
JACK_CONNECT_TIMEOUT_S = 5.0
JACK_SERVER_OPTIONS = ["--no-realtime", "-d", "dummy", "-r", str(JACK_RATE_HZ),
                       "-p", str(JACK_PERIOD_FRAMES)]
JACK_COMMAND = ["jackd", *JACK_SERVER_OPTIONS]
#: jackd without asking D-Bus for the sound card (the dummy driver uses none)
JACK_SERVER_ENV = {"JACK_NO_AUDIO_RESERVATION": "1"}


@dataclass(frozen=True)
class JackServer:
    """The JACK server the tests talk to.

    Attributes:
        started: True if this session started it (False: one was running).
        rate_hz: sample rate.
        period_frames: frames per period; JACK moves MIDI once per period.
    """

    started: bool
    rate_hz: int
    period_frames: int

    @property
    def period_s(self) -> float:
        """One JACK period in seconds."""
        return self.period_frames / self.rate_hz

    @staticmethod
    def connections() -> dict[str, set[str]]:
        """``{port: ports connected to it}`` for every port, from ``jack_lsp -c``."""
        out = subprocess.run(["jack_lsp", "-c"], capture_output=True, text=True, timeout=10,
                             env={**os.environ, "JACK_NO_START_SERVER": "1"}).stdout
        graph: dict[str, set[str]] = {}
        port = ""
        for line in out.splitlines():
            if line.startswith((" ", "\t")):
                graph.setdefault(port, set()).add(line.strip())
            elif line.strip():
                port = line.strip()
                graph.setdefault(port, set())
        return graph

    def wait_port(self, port_suffix: str, client_prefix: str = "",
                  timeout_s: float = JACK_CONNECT_TIMEOUT_S) -> str:
        """The full name of the port ending in ``port_suffix`` (of a client starting
        ``client_prefix``), once ``jack_lsp`` lists it: on a loaded machine a client's
        ports, or ``jack_lsp`` itself, may come a moment late."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = [port for port in self.connections()
                     if port.startswith(client_prefix) and port.endswith(port_suffix)]
            if found:
                return found[0]
            if time.monotonic() > deadline:
                raise AssertionError(f"JACK never listed a port {client_prefix}...{port_suffix}: "
                                     f"{sorted(self.connections())}")
            time.sleep(0.05)

    def wait_connected(self, port_suffix: str, other_prefix: str,
                       timeout_s: float = JACK_CONNECT_TIMEOUT_S) -> None:
        """Wait until a port ending in ``port_suffix`` is connected to one starting ``other_prefix``.

        JACK makes a connection effective from a later cycle: a message sent
        right after ``open_port`` may go nowhere. Tests wait for this first.
        """
        deadline = time.monotonic() + timeout_s
        while True:
            graph = self.connections()
            if any(port.endswith(port_suffix) and any(o.startswith(other_prefix) for o in peers)
                   for port, peers in graph.items()):
                time.sleep(2 * self.period_s)  # and one more cycle for the graph to run
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"JACK never connected {port_suffix!r} to {other_prefix!r}: "
                                     f"{graph}")
            time.sleep(0.01)


JACK_RERUNS = 2


def pytest_collection_modifyitems(config, items):
    """Let every ``jack`` test run up to 3 times.

    The dummy JACK server is not realtime here: on a shared 2-core machine it
    sometimes stalls or drops a cycle's MIDI, which no code of ours can
    prevent. A test that fails three times in a row still fails CI; the
    reruns are counted in pytest's summary (``R``).
    """
    for item in items:
        if item.get_closest_marker("jack") and not item.get_closest_marker("flaky"):
            item.add_marker(pytest.mark.flaky(reruns=JACK_RERUNS, reruns_delay=0.5))


#: Lines of a failed attempt's report kept for the summary (the assertion and its message).
RERUN_REASON_LINES = 12
#: ... and the last lines it printed: the timing tests print what they measured of the host (its
#: stalls, the ticks lost), which says whether the failure was the host's or livegen's.
RERUN_STDOUT_LINES = 6
RERUN_LINE_WIDTH = 300  # characters kept of each printed line (one may hold a whole list)
_rerun_reasons: list[tuple[str, str, str]] = []


def pytest_runtest_logreport(report):
    """Keep why an attempt that pytest-rerunfailures reran failed: its summary names only the test."""
    if report.outcome == "rerun":
        _rerun_reasons.append((report.nodeid, report.longreprtext, report.capstdout))


def rerun_reason(longrepr: str, lines: int = RERUN_REASON_LINES) -> str:
    """What a failure report says failed: the innermost failing line (``>``), the first ``lines``
    lines of its error (``E``; a message may carry a whole log), and where it was raised."""
    text = [line for line in longrepr.splitlines() if line.strip()]
    failing = [i for i, line in enumerate(text) if line.startswith(">")]
    start = failing[-1] if failing else 0
    shown = text[start:start + lines]
    if text and text[-1] not in shown:
        shown += ["...", text[-1]]
    return "\n".join(shown)


def printed_tail(stdout: str, lines: int = RERUN_STDOUT_LINES) -> str:
    """The last ``lines`` non-blank lines an attempt printed, each cut at :data:`RERUN_LINE_WIDTH`
    ("" if none)."""
    kept = [line[:RERUN_LINE_WIDTH] for line in stdout.splitlines() if line.strip()][-lines:]
    return "\n".join(kept)


def pytest_terminal_summary(terminalreporter):
    """A section with each rerun attempt's failure and the last lines it printed, so a flaky test's
    cause is in the CI log."""
    if _rerun_reasons:
        terminalreporter.section("why the reruns failed")
        for nodeid, longrepr, stdout in _rerun_reasons:
            terminalreporter.write_line(f"{nodeid}:")
            terminalreporter.write_line(rerun_reason(longrepr))
            tail = printed_tail(stdout)
            if tail:
                terminalreporter.write_line("printed last:")
                terminalreporter.write_line(tail)


def _unavailable(reason: str):
    if os.environ.get("LIVEGEN_REQUIRE_JACK"):
        pytest.fail(f"LIVEGEN_REQUIRE_JACK is set but {reason}", pytrace=False)
    pytest.skip(reason)


def _query(command: str, default: int) -> int:
    """A number from ``jack_bufsize``/``jack_samplerate`` (the running server's), or ``default``."""
    if shutil.which(command) is None:
        return default
    try:
        out = subprocess.run([command], capture_output=True, text=True, timeout=5,
                             env={**os.environ, "JACK_NO_START_SERVER": "1"}).stdout
    except (OSError, subprocess.SubprocessError):
        return default
    numbers = [int(word) for word in out.replace(":", " ").split() if word.isdigit()]
    return numbers[0] if numbers else default


def _start_jackd(command: list[str], log_path: Path) -> subprocess.Popen:
    """Start ``command`` (a jackd) and wait until the default server answers; skip if it won't.

    The caller stops the process (:func:`_stop`), also when this fails.
    """
    from livegen.ports import jack_running

    if shutil.which("jackd") is None:
        _unavailable("jackd is not installed (Debian/Ubuntu: apt-get install jackd2)")
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log_file,
                                   stderr=subprocess.STDOUT, env={**os.environ, **JACK_SERVER_ENV})
    deadline = time.monotonic() + JACK_START_TIMEOUT_S
    while not jack_running():
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(process)
            tail = log_path.read_text(errors="replace").strip().splitlines()[-3:]
            _unavailable(f"could not start `{' '.join(command)}` "
                         f"(exit {process.poll()}): {' / '.join(tail)}")
        time.sleep(0.1)
    return process


def _stop(process: subprocess.Popen) -> None:
    """Stop a server this session started (SIGTERM, then SIGKILL)."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def jack_server(tmp_path_factory):
    """A JACK server for the session: reused if running, else started with the dummy driver."""
    from livegen.ports import jack_running

    if jack_running():
        yield JackServer(False, _query("jack_samplerate", JACK_RATE_HZ),
                         _query("jack_bufsize", JACK_PERIOD_FRAMES))
        return
    process = _start_jackd(JACK_COMMAND, Path(tmp_path_factory.mktemp("jack")) / "jackd.log")
    try:
        yield JackServer(True, JACK_RATE_HZ, JACK_PERIOD_FRAMES)
    finally:
        _stop(process)


@dataclass(frozen=True)
class OwnJackServer(JackServer):
    """A private JACK server a test started, and the only kind a test may signal.

    Attributes:
        name: its server name (``jackd -n``), in ``JACK_DEFAULT_SERVER`` while the test runs.
        process: the ``jackd`` process the fixture started.
    """

    name: str = ""
    process: subprocess.Popen | None = None

    def pause(self, seconds: float) -> None:
        """Stop the server (SIGSTOP) for ``seconds``, then let it go on (SIGCONT): a stall.

        Only while the process this fixture started lives (an unreaped child's
        PID cannot be reused), so no other process is ever signalled.
        """
        if self.process.poll() is not None:
            raise AssertionError(f"the test's JACK server {self.name!r} exited "
                                 f"({self.process.returncode})")
        pid = self.process.pid
        os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            os.kill(pid, signal.SIGCONT)


@pytest.fixture
def own_jack_server(tmp_path, monkeypatch):
    """A dummy JACK server of this test's own, named ``livegen-test-<pid>``; stopped after it.

    While the test runs, ``JACK_DEFAULT_SERVER`` names it, so every JACK client
    this process (or a child) opens goes to it. Nothing else may hold a JACK
    client in this process meanwhile: libjack keeps one server's shared state
    per process.
    """
    if not sys.platform.startswith("linux"):
        pytest.skip("stops its JACK server with SIGSTOP (Linux signals)")
    name = f"livegen-test-{os.getpid()}"
    monkeypatch.setenv("JACK_DEFAULT_SERVER", name)
    process = _start_jackd(["jackd", "-n", name, *JACK_SERVER_OPTIONS], tmp_path / "jackd.log")
    try:
        yield OwnJackServer(True, JACK_RATE_HZ, JACK_PERIOD_FRAMES, name, process)
    finally:
        try:
            process.send_signal(signal.SIGCONT)  # in case the test failed while it was stopped
        except ProcessLookupError:
            pass
        _stop(process)
