"""Backend selection: livegen/ports/backends.py (no MIDI system needed, but for one JACK test)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
import rtmidi

from livegen.errors import BackendError, PortNotFoundError
from livegen.ports import backends

JACK_RUNNING = backends.jack_running
KEYBOARDS = ["Midi Through:Midi Through Port-0 14:0",
             "Keystation 49 MK3:Keystation 49 MK3 MIDI 1 20:0",
             "Keystation 88:Keystation 88 MIDI 1 24:0"]


def test_find_port_exact_name_wins():
    assert backends.find_port(KEYBOARDS, KEYBOARDS[2], direction="input") == 2


def test_find_port_unique_substring_ignores_case():
    assert backends.find_port(KEYBOARDS, "keystation 49", direction="input") == 1
    assert backends.find_port(KEYBOARDS, "THROUGH", direction="input") == 0


def test_find_port_missing_lists_the_ports():
    with pytest.raises(PortNotFoundError) as info:
        backends.find_port(KEYBOARDS, "Launchkey", direction="input")
    message = str(info.value)
    assert "'Launchkey'" in message and all(name in message for name in KEYBOARDS)


def test_find_port_missing_with_no_ports():
    with pytest.raises(PortNotFoundError, match=r"output ports: none"):
        backends.find_port([], "synth", direction="output")


def test_find_port_ambiguous_lists_the_matches():
    with pytest.raises(PortNotFoundError) as info:
        backends.find_port(KEYBOARDS, "keystation", direction="input")
    message = str(info.value)
    assert "2 MIDI input ports" in message and KEYBOARDS[1] in message and KEYBOARDS[2] in message


def test_port_not_found_is_an_os_error():
    assert issubclass(PortNotFoundError, OSError) and issubclass(BackendError, OSError)


def test_unknown_backend():
    with pytest.raises(BackendError, match="unknown backend 'oss'"):
        backends.resolve_backend("oss")


def test_backend_not_compiled(monkeypatch):
    monkeypatch.setattr(rtmidi, "get_compiled_api", lambda: [rtmidi.API_LINUX_ALSA])
    with pytest.raises(BackendError, match=r"'jack' is not compiled.*available: alsa"):
        backends.resolve_backend("jack")


def test_no_jack_compiled_means_no_jack_running(monkeypatch):
    monkeypatch.setattr(rtmidi, "get_compiled_api", lambda: [rtmidi.API_LINUX_ALSA])
    assert backends.compiled_backends() == {"alsa"}
    assert not backends.jack_running()


@pytest.fixture
def linux_without_midi(monkeypatch, tmp_path):
    """Linux with neither an ALSA sequencer nor a JACK server."""
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(backends, "ALSA_SEQ_DEVICE", str(tmp_path / "seq"))
    monkeypatch.setattr(backends, "jack_running", lambda: False)


def test_auto_with_no_backend_says_what_to_start(linux_without_midi):
    with pytest.raises(BackendError) as info:
        backends.resolve_backend("auto")
    message = str(info.value)
    assert "\n" not in message
    assert "no ALSA sequencer" in message and "no JACK server" in message
    assert "jackd" in message


def test_jack_asked_but_not_running(linux_without_midi):
    with pytest.raises(BackendError, match="no JACK server running: start one with `jackd"):
        backends.resolve_backend("jack")


def test_alsa_asked_but_no_sequencer(linux_without_midi):
    with pytest.raises(BackendError, match=r"no ALSA sequencer .*--backend jack"):
        backends.resolve_backend("alsa")


def test_auto_prefers_alsa_when_the_sequencer_exists(linux_without_midi, tmp_path):
    (tmp_path / "seq").touch()
    assert backends.resolve_backend("auto") == "alsa"


def test_auto_uses_jack_without_alsa(linux_without_midi, monkeypatch):
    monkeypatch.setattr(backends, "jack_running", lambda: True)
    assert backends.resolve_backend("auto") == "jack"


@pytest.mark.parametrize(("platform", "backend"), [("darwin", "coremidi"), ("win32", "winmm")])
def test_auto_on_macos_and_windows(monkeypatch, platform, backend):
    monkeypatch.setattr(sys, "platform", platform)
    monkeypatch.setattr(backends, "compiled_backends", lambda: {backend})
    assert backends.resolve_backend("auto") == backend


class SilentServer:
    """A ``livegen._jackmidi`` stand-in whose client open waits, as on a stopped JACK server."""

    def __init__(self) -> None:
        self.answer = threading.Event()
        self.opened = self.closed = 0

    def Client(self, name: str):  # noqa: N802 - the extension's class
        self.opened += 1
        self.answer.wait()
        return self

    def close(self) -> None:
        self.closed += 1


def test_a_server_that_does_not_answer_is_not_waited_on(linux_without_midi, monkeypatch):
    silent = SilentServer()
    monkeypatch.setattr(backends, "jack_running", JACK_RUNNING)  # the real probe, over the stand-in
    monkeypatch.setattr(backends, "compiled_backends", lambda: {"alsa", "jack"})
    monkeypatch.setattr(backends, "_jackmidi", silent)
    monkeypatch.setattr(backends, "_silent_probe", None)
    monkeypatch.setattr(backends, "JACK_PROBE_TIMEOUT_S", 0.05)
    try:
        assert not backends.jack_running() and backends.jack_silent()
        for asked in ("jack", "auto"):
            with pytest.raises(BackendError, match=r"^the JACK server does not answer \(for 0.05 s\): "
                                                   r"it is stopped or hung; restart it$"):
                backends.resolve_backend(asked)
        assert silent.opened == 1  # one probe waits; no more pile up behind it
    finally:
        silent.answer.set()  # the server answers at last
    backends._silent_probe.join(5.0)
    assert not backends.jack_silent()
    assert backends.jack_running() and silent.opened == silent.closed == 2  # each probe's client closed


def test_no_server_is_not_a_silent_one(monkeypatch):
    def refused(name: str):
        raise OSError("cannot open a JACK client (status 0x11: no JACK server running)")

    monkeypatch.setattr(backends, "compiled_backends", lambda: {"jack"})
    monkeypatch.setattr(backends, "_jackmidi", type("NoServer", (), {"Client": staticmethod(refused)}))
    monkeypatch.setattr(backends, "_silent_probe", None)
    assert not backends.jack_running() and not backends.jack_silent()


def test_without_the_extension_a_silent_server_is_given_up_on(linux_without_midi, monkeypatch):
    # python-rtmidi holds the GIL while libjack waits on a stopped server: the probe is a child
    # process, given up on at the timeout (a child that sleeps past it stands in for the server)
    monkeypatch.setattr(backends, "jack_running", JACK_RUNNING)  # the real probe, over the stand-in
    monkeypatch.setattr(backends, "compiled_backends", lambda: {"jack"})
    monkeypatch.setattr(backends, "_jackmidi", None)
    monkeypatch.setattr(backends, "_silent_probe", None)
    monkeypatch.setattr(backends, "_RTMIDI_PROBE", "import time; time.sleep(1.5)")
    monkeypatch.setattr(backends, "JACK_PROBE_TIMEOUT_S", 0.3)
    started = time.monotonic()
    assert not backends.jack_running() and backends.jack_silent()
    assert time.monotonic() - started < 1.4  # not the 1.5 s the child waits
    waiting = backends._silent_probe
    monkeypatch.setattr(backends, "_RTMIDI_PROBE", "import sys; sys.exit(0)")  # a server that answers
    started = time.monotonic()
    for asked in ("jack", "auto"):
        with pytest.raises(BackendError, match=r"^the JACK server does not answer \(for 0.3 s\)"):
            backends.resolve_backend(asked)
    assert time.monotonic() - started < 0.3  # the first probe still waits: none piled up behind it
    assert backends._silent_probe is waiting
    waiting.wait(10)  # the server answers at last
    assert not backends.jack_silent()
    assert backends.jack_running() and not backends.jack_silent()
    monkeypatch.setattr(backends, "_RTMIDI_PROBE", "import sys; sys.exit(1)")  # no server at all
    assert not backends.jack_running() and not backends.jack_silent()


def test_the_rtmidi_probe_program_runs():
    # the real child program, on whatever this machine has: it exits 0 or 1, never crashes
    done = subprocess.run([sys.executable, "-c", backends._RTMIDI_PROBE, "livegen-probe-test"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode in (0, 1) and "Traceback" not in done.stderr, done.stderr


def test_quiet_stderr_restores_fd2(capfd):
    with backends.quiet_stderr():
        os.write(2, b"hidden\n")
    os.write(2, b"shown\n")
    assert capfd.readouterr().err == "shown\n"


@pytest.mark.jack
def test_jack_is_found(jack_server):
    assert backends.jack_running()
    assert backends.resolve_backend("jack") == "jack"
