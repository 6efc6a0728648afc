"""``livegen doctor`` without a MIDI system: its findings, the server scan, the PipeWire hint.

The real thing, on a JACK server (a loop a test makes, a missing server, a
timed round trip), is tests/e2e/test_jack_doctor.py.
"""

from __future__ import annotations

import pytest

from livegen import cli, doctor, loopback
from livegen.doctor import NOTE, OK, PROBLEM, DoctorOptions, Finding, diagnose, exit_status
from livegen.errors import BackendError
from livegen.loopback import PROBE_PITCH, PROBE_VELOCITY, LoopCheck, is_probe
from livegen.model import default_model_path
from livegen.ports import backends, servers
from livegen.ports.servers import ServerProcess, loaded_libjacks, pipewire_hint, server_processes

JACKD_LIB = "/usr/lib/x86_64-linux-gnu/libjack.so.0.1.0"
WHEEL_LIB = "/venv/lib/python3.11/site-packages/python_rtmidi./libjack-5305d520.so.0.1.0"
PIPEWIRE_LIB = "/usr/lib/x86_64-linux-gnu/pipewire-0.3/jack/libjack.so.0"
PIPEWIRE = ServerProcess("pipewire", 42, None, None)


# --- findings and the exit status ---------------------------------------------------------------


def test_a_problem_is_one_line_with_its_fix():
    line = Finding("server", PROBLEM, "no JACK server named 'x' answers", "start one").line()
    assert line == "PROBLEM server: no JACK server named 'x' answers | fix: start one"
    assert "\n" not in line


def test_exit_status_is_1_with_a_problem_and_0_with_notes_only():
    assert exit_status([Finding("a", OK, "fine"), Finding("b", NOTE, "advice", "do it")]) == 0
    assert exit_status([Finding("a", OK, "fine"), Finding("b", PROBLEM, "broken", "fix")]) == 1
    assert exit_status([]) == 0


def test_no_backend_is_a_problem_and_nothing_is_opened(monkeypatch):
    def no_backend(asked):
        raise BackendError("no ALSA sequencer and no JACK server running: start one with jackd")

    monkeypatch.setattr(doctor, "resolve_backend", no_backend)
    monkeypatch.setattr(doctor, "check_loop", lambda *a, **k: pytest.fail("opened ports"))
    monkeypatch.setattr(doctor, "_model", lambda *a: Finding("model", OK, "fake"))
    seen: list[Finding] = []
    findings = diagnose(DoctorOptions(), emit=seen.append)
    assert seen == findings
    backend = next(f for f in findings if f.topic == "backend")
    assert backend.level == PROBLEM and backend.fix == "start one with jackd"
    assert not any(f.topic in ("ports", "loop-back") for f in findings)
    assert exit_status(findings) == 1


def test_the_model_finding_says_which_graph_loads():
    shipped = default_model_path()
    if not shipped.is_file():
        pytest.skip("no shipped model in this checkout")
    finding = doctor._model("folk", str(shipped))
    assert finding.level == OK and "(the int8 graph of default.fp32.onnx) loads in" in finding.text
    source = doctor._model("folk", str(shipped.with_name("default.fp32.onnx")))
    assert source.level == OK and "int8" not in source.text and "styles" in source.text


def _loop_finding(monkeypatch, checked: LoopCheck, *, loopback: bool) -> Finding:
    monkeypatch.setattr(doctor, "check_loop", lambda *a, **k: checked)
    return doctor._loop("jack", DoctorOptions(loopback=loopback), None)


ROUTE = "livegen out -> livegen:livegen in; livegen:livegen out -> livegen in"


def test_a_probe_that_comes_back_is_a_feedback_loop(monkeypatch):
    found = _loop_finding(monkeypatch, LoopCheck(True, ROUTE, (0.0015,)), loopback=False)
    assert found.level == PROBLEM and "feedback loop" in found.text and "1.5 ms" in found.text
    assert ROUTE in found.text and "MIDI thru" in found.fix


def test_a_probe_that_does_not_come_back_is_healthy(monkeypatch):
    assert _loop_finding(monkeypatch, LoopCheck(True, ROUTE, ()), loopback=False).level == OK
    assert _loop_finding(monkeypatch, LoopCheck(False, ROUTE), loopback=False).level == OK
    assert _loop_finding(monkeypatch, LoopCheck(None), loopback=False).level == OK


def test_loopback_times_the_round_trip(monkeypatch):
    found = _loop_finding(monkeypatch, LoopCheck(True, ROUTE, (0.003, 0.001, 0.002)), loopback=True)
    assert found.level == OK and "median 2.0 ms, max 3.0 ms over 3 probe(s)" in found.text


@pytest.mark.parametrize("checked", [LoopCheck(True, ROUTE, ()), LoopCheck(False, ROUTE)],
                         ids=["not_back", "not_connected"])
def test_loopback_with_nothing_back_is_a_problem_with_the_route_to_make(monkeypatch, checked):
    found = _loop_finding(monkeypatch, checked, loopback=True)
    assert found.level == PROBLEM and "jack_connect" in found.fix


def test_ports_that_cannot_open_are_a_problem(monkeypatch):
    found = _loop_finding(monkeypatch, LoopCheck(None, error="livegen in: no JACK"), loopback=False)
    assert found.level == PROBLEM and found.fix == "livegen in: no JACK"


def test_the_probe_is_the_top_key_softest_and_matched_on_any_channel():
    assert is_probe([0x95, PROBE_PITCH, PROBE_VELOCITY], 0x90)
    assert not is_probe([0x90, PROBE_PITCH, 64], 0x90)
    assert not is_probe([0x90, 60, PROBE_VELOCITY], 0x90)
    assert is_probe([0x80, PROBE_PITCH, 0], 0x80) and is_probe([0x90, PROBE_PITCH, 0], 0x80)
    assert not is_probe([0x90, PROBE_PITCH], 0x90)


def test_the_cli_runs_doctor_and_returns_its_status(monkeypatch, capsys):
    def fake(options, emit):
        assert options.loopback and options.wait_s == 2.5 and options.backend == "jack"
        found = [Finding("backend", OK, "jack"), Finding("loop-back", PROBLEM, "loop", "fix it")]
        for finding in found:
            emit(finding)
        return found

    monkeypatch.setattr(doctor, "diagnose", fake)
    assert cli.main(["doctor", "--backend", "jack", "--loopback", "--wait", "2.5"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out == ["ok      backend: jack", "PROBLEM loop-back: loop | fix: fix it",
                   "livegen doctor: 1 problem(s)"]
    assert loopback.LOOPBACK_PROBES > 1


# --- the server scan and the PipeWire hint ------------------------------------------------------


def _fake_proc(tmp_path, processes: dict[int, tuple[str, list[str]]]):
    for pid, (comm, argv) in processes.items():
        entry = tmp_path / str(pid)
        entry.mkdir()
        (entry / "comm").write_text(comm + "\n")
        (entry / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (tmp_path / "self").mkdir()
    return tmp_path


def test_server_processes_reads_jackd_names_and_realtime_flags(tmp_path):
    proc = _fake_proc(tmp_path, {
        10: ("jackd", ["jackd", "-n", "studio", "-R", "-P", "70", "-d", "alsa", "-r", "48000"]),
        11: ("jackd", ["jackd", "--no-realtime", "-d", "dummy"]),
        12: ("jackd", ["/usr/bin/jackd", "-d", "dummy", "-r", "44100"]),  # -r after -d: the rate
        13: ("pipewire", ["/usr/bin/pipewire"]),
        14: ("bash", ["bash"]),
    })
    assert server_processes(proc) == [
        ServerProcess("jackd", 10, "studio", True),
        ServerProcess("jackd", 11, "default", False),
        ServerProcess("jackd", 12, "default", True),
        ServerProcess("pipewire", 13, None, None),
    ]


def test_server_processes_finds_nothing_without_proc(tmp_path):
    assert server_processes(tmp_path / "absent") == []


def test_loaded_libjacks_reads_every_mapped_libjack(tmp_path):
    maps = tmp_path / "maps"
    maps.write_text(f"7f00-7f10 r-xp 00000000 08:01 123  /usr/lib/libc.so.6\n"
                    f"7f20-7f30 r-xp 00000000 08:01 456  {WHEEL_LIB}\n"
                    f"7f30-7f40 r--p 00001000 08:01 456  {WHEEL_LIB}\n"
                    f"7f40-7f50 r-xp 00000000 08:01 789  {PIPEWIRE_LIB}\n"
                    f"7f50-7f60 rw-p 00000000 00:00 0 \n")
    assert loaded_libjacks(maps) == [WHEEL_LIB, PIPEWIRE_LIB]
    maps.write_text("7f00-7f10 r-xp 00000000 08:01 123  /usr/lib/libc.so.6\n")
    assert loaded_libjacks(maps) == []
    assert loaded_libjacks(tmp_path / "absent") == []


@pytest.mark.skipif(not servers.sys.platform.startswith("linux"), reason="PipeWire is Linux's")
def test_pipewire_hint_says_pw_jack_only_when_pipewire_runs():
    assert pipewire_hint([], [JACKD_LIB]) == ""
    assert pipewire_hint([ServerProcess("jackd", 1, "default", True)], [JACKD_LIB]) == ""
    hint = pipewire_hint([PIPEWIRE], [JACKD_LIB])
    assert "`pw-jack livegen ...`" in hint
    assert "pw-jack" not in pipewire_hint([PIPEWIRE], [PIPEWIRE_LIB])  # already PipeWire's libjack
    wheel = pipewire_hint([PIPEWIRE], [WHEEL_LIB, JACKD_LIB])  # pw-jack cannot redirect the wheel's
    assert "--backend alsa" in wheel and "`pw-jack livegen ...`" in wheel


@pytest.mark.skipif(not servers.sys.platform.startswith("linux"), reason="PipeWire is Linux's")
def test_no_jack_server_with_pipewire_running_says_pw_jack(monkeypatch, tmp_path):
    monkeypatch.setattr(backends, "ALSA_SEQ_DEVICE", str(tmp_path / "no-seq"))
    monkeypatch.setattr(backends, "jack_running", lambda: False)
    monkeypatch.setattr(servers, "server_processes", lambda: [PIPEWIRE])
    monkeypatch.setattr(servers, "loaded_libjacks", lambda: [JACKD_LIB])
    for asked in ("auto", "jack"):
        with pytest.raises(BackendError, match=r"pw-jack livegen \.\.\."):
            backends.resolve_backend(asked)
    monkeypatch.setattr(servers, "server_processes", lambda: [])  # no PipeWire: as before
    with pytest.raises(BackendError) as err:
        backends.resolve_backend("jack")
    assert "pw-jack" not in str(err.value)


# --- the server and ports findings --------------------------------------------------------------


def _no_query(*args, **kwargs):
    raise OSError("no JACK server named 'x' answers")


def test_no_server_but_named_jackds_running_says_which_to_point_at(monkeypatch):
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "mine")
    monkeypatch.setattr(doctor, "JackQuery", _no_query)
    monkeypatch.setattr(doctor, "server_processes",
                        lambda: [ServerProcess("jackd", 7, "studio", True)])
    monkeypatch.setattr(doctor, "pipewire_hint", lambda processes: "")
    found: list[Finding] = []
    assert doctor._server(None, "auto", found.append) is None
    (server,) = found
    assert server.level == PROBLEM and "'mine'" in server.text and "jackd 'studio' (pid 7)" in server.text
    assert "export JACK_DEFAULT_SERVER=studio" in server.fix


def test_a_server_that_does_not_answer_is_not_queried(monkeypatch):
    """The backend's probe still waits on the server: the doctor's own query would wait for good."""
    monkeypatch.setenv("JACK_DEFAULT_SERVER", "studio")
    monkeypatch.setattr(doctor, "jack_silent", lambda: True)
    monkeypatch.setattr(doctor, "JackQuery", lambda: pytest.fail("queried a server that does not answer"))
    monkeypatch.setattr(doctor, "server_processes", lambda: [ServerProcess("jackd", 7, "studio", True)])
    found: list[Finding] = []
    assert doctor._server(None, "auto", found.append) is None
    (server,) = found
    assert server.level == PROBLEM and server.fix == "it is stopped or hung: restart it"
    assert server.text == ("the JACK server 'studio' does not answer (for 3 s); "
                           "running: jackd 'studio' (pid 7)")


def test_no_server_with_pipewire_gives_the_pipewire_fix(monkeypatch):
    monkeypatch.setattr(doctor, "JackQuery", _no_query)
    monkeypatch.setattr(doctor, "server_processes", lambda: [PIPEWIRE])
    monkeypatch.setattr(doctor, "pipewire_hint",
                        lambda processes: "; PipeWire runs here: `pw-jack livegen ...`")
    found: list[Finding] = []
    doctor._server(None, "auto", found.append)
    assert found[0].level == PROBLEM and found[0].fix == "PipeWire runs here: `pw-jack livegen ...`"
    assert "PipeWire (pid 42)" in found[0].text


def test_a_running_livegen_is_a_note_and_the_probe_is_skipped(monkeypatch):
    monkeypatch.setattr(doctor, "list_ports",
                        lambda backend: (["livegen:livegen out"], ["livegen:livegen in"]))
    monkeypatch.setattr(doctor, "other_livegen", lambda *a: ["livegen:livegen in", "livegen:livegen out"])
    found: list[Finding] = []
    assert doctor._ports("jack", "livegen", found.append) is False
    assert found[0].level == NOTE and "already holds" in found[0].text and "--client-name" in found[0].fix
