"""The one-client JACK ports: livegen/ports/jack.py.

The registry and the port classes are first driven over a fake client (no
JACK needed); the tests marked ``jack`` open them on a JACK server and check
what only a real server shows: one client for both ports, frame-accurate
stamps and placement, the flush on close, stalls, the locked segment.
"""

from __future__ import annotations

import logging
import os
import statistics
import sys
import threading
import time

import pytest
import rtmidi
from jackprobe import heard_once, jack_command, jack_port_names, settle, wait_for

from livegen import ports
from livegen.errors import BackendError
from livegen.ports import jack_clients
from livegen.ports.jack import JackInputPort, JackOutputPort
from livegen.ports.jack_clients import JackClients

needs_extension = pytest.mark.skipif(not ports.jack_shared_client(),
                                     reason="livegen._jackmidi is not built")


class FakeClient:
    """A ``livegen._jackmidi.Client`` stand-in: it records calls, reads a script of input."""

    def __init__(self, name: str, log: list[str]) -> None:
        self.name, self.log, self.closed = name, log, False
        self.inbox: list[tuple[bytes, float]] = []
        self.written: list[bytes] = []
        self.room = 2  # messages write() accepts before its ring buffer is "full"
        self.dropped, self.missed = 3, 5
        self.woken = threading.Event()

    def read(self, timeout_s: float):
        if not self.inbox:
            self.woken.wait(min(timeout_s, 0.01))
            return []
        events, self.inbox = self.inbox, []
        return events

    def write(self, data: bytes) -> bool:
        if len(self.written) >= self.room:
            return False
        self.written.append(data)
        return True

    def stalls(self):
        return [(10.0, 10.02)]

    def stalled_between(self, start_s: float, end_s: float) -> bool:
        return any(s < end_s and e > start_s for s, e in self.stalls())

    def wake(self) -> None:
        self.woken.set()

    def remove_input(self) -> None:
        self.log.append(f"{self.name} remove_input")

    def flush(self, timeout_s: float) -> bool:
        self.log.append(f"{self.name} flush")
        return True

    def remove_output(self) -> None:
        self.log.append(f"{self.name} remove_output")

    def close(self) -> None:
        self.log.append(f"{self.name} close")
        self.closed = True


@pytest.fixture
def registry():
    log: list[str] = []
    made: list[FakeClient] = []

    def factory(name: str) -> FakeClient:
        client = FakeClient(f"{name}-{len(made)}", log)
        made.append(client)
        return client

    return JackClients(factory), log, made


def test_registry_shares_a_client_one_port_per_direction(registry):
    clients, log, made = registry
    inp = clients.acquire("lg", "input")
    out = clients.acquire("lg", "output")
    second = clients.acquire("lg", "output")
    assert inp.client is out.client and second.client is not out.client and len(made) == 2
    second.release()
    assert log == ["lg-1 flush", "lg-1 remove_output", "lg-1 close"]
    out.release()  # the shared client stays open for its input
    assert log[3:] == ["lg-0 flush", "lg-0 remove_output"]
    inp.release()
    assert log[5:] == ["lg-0 remove_input", "lg-0 close"]


def test_registry_forgets_a_client_whose_server_went_away(registry):
    clients, log, made = registry
    gone = clients.acquire("lg", "input")
    made[0].closed = True  # the JACK server shut down
    assert clients.acquire("lg", "output").client is made[1]
    gone.release()  # still closed, though forgotten
    assert log == ["lg-0 remove_input", "lg-0 close"]


def test_a_server_that_stops_answering_does_not_hold_the_release(registry, monkeypatch, caplog):
    """A stopped server blocks every request for good: the port is left to it, its client not asked again."""
    clients, log, made = registry
    monkeypatch.setattr(jack_clients, "JACK_CLOSE_TIMEOUT_S", 0.05)
    monkeypatch.setattr(jack_clients, "JACK_FLUSH_TIMEOUT_S", 0.0)
    inp, out = clients.acquire("lg", "input"), clients.acquire("lg", "output")
    answer = threading.Event()
    made[0].remove_input = lambda: (answer.wait(), log.append("lg-0 remove_input"))
    try:
        with caplog.at_level(logging.WARNING, logger="livegen.ports.jack_clients"):
            closing = threading.Thread(target=lambda: (inp.release(), out.release()), daemon=True)
            closing.start()  # the output's share of the same client: not asked again
            closing.join(10.0)
        assert not closing.is_alive(), "closing waited on a server that does not answer"
        assert log == []
        assert [r.getMessage() for r in caplog.records] == [
            "the JACK server did not answer for 0.05 s: livegen's input port is left to it"]
        assert clients.acquire("lg", "input").client is made[1]  # a new client, not the stuck one
    finally:
        answer.set()  # the server answers at last: the stuck request ends, and nothing follows it
    assert wait_for(lambda: log == ["lg-0 remove_input"])


def test_registries_do_not_share_clients(registry):
    clients, _, made = registry
    other = JackClients(lambda name: FakeClient(name, []))
    assert clients.acquire("lg", "input").client is not other.acquire("lg", "output").client


def test_a_client_that_cannot_open_is_a_backend_error():
    def no_server(name: str):
        raise OSError("cannot open a JACK client (status 0x11: no JACK server running)")

    with pytest.raises(BackendError, match="cannot open the jack MIDI backend.*no JACK server"):
        JackClients(no_server).acquire("lg", "input")


def test_input_hands_on_jack_stamps_and_reports_its_counters(registry):
    clients, log, made = registry
    got: list[tuple[list[int], float]] = []
    port = JackInputPort(clients.acquire("lg", "input"), "livegen in", True)
    made[0].inbox.append((b"\x90\x01\x01", 1.0))  # before the handler: dropped
    port.set_handler(lambda d, t: got.append((d, t)))
    made[0].inbox.append((b"\x90\x3c\x64", 12.25))
    assert wait_for(lambda: got)
    assert got == [([0x90, 60, 100], 12.25)]  # JACK's own stamp
    assert (port.dropped, port.missed_cycles) == (3, 5)
    assert port.stalled_between(10.01, 11.0) and not port.stalled_between(10.03, 11.0)
    assert port.stalls() == [(10.0, 10.02)]
    port.close()
    port.close()
    assert log == ["lg-0 remove_input", "lg-0 close"]
    assert (port.dropped, port.missed_cycles, port.stalls()) == (0, 0, [])
    assert not any(t.name == "livegen-midi-in" and t.is_alive() for t in threading.enumerate())


def test_input_with_a_clock_stamps_on_arrival(registry):
    clients, _, made = registry
    got: list[tuple[list[int], float]] = []
    with JackInputPort(clients.acquire("lg", "input"), "livegen in", True,
                       lambda d, t: got.append((d, t)), now=lambda: 99.0):
        made[0].inbox.append((b"\xf8", 12.25))
        assert wait_for(lambda: got)
    assert got == [([0xF8], 99.0)]


def test_output_queues_then_drops_when_full_or_closed(registry):
    clients, log, made = registry
    port = JackOutputPort(clients.acquire("lg", "output"), "livegen out", True)
    for pitch in (60, 61, 62):  # room for two
        port.send_bytes([0x90, pitch, 90])
    port.close()
    port.send_bytes([0x80, 60, 0])
    assert made[0].written == [b"\x90\x3c\x5a", b"\x90\x3d\x5a"]
    assert (port.sent, port.dropped) == (2, 2)
    assert log == ["lg-0 flush", "lg-0 remove_output", "lg-0 close"]


def test_unknown_jack_client_kind():
    with pytest.raises(BackendError, match=r"unknown JACK client kind 'both' \(choose from shared"):
        ports.jack_shared_client("both")
    assert not ports.jack_shared_client("rtmidi")


# --- on a JACK server -------------------------------------------------------------------------


@pytest.mark.jack
def test_the_jack_extension_is_built_where_jack_is_required():
    """CI (LIVEGEN_REQUIRE_JACK=1) must test the one-client ports, not fall back unseen."""
    if os.environ.get("LIVEGEN_REQUIRE_JACK") != "1":
        pytest.skip("only where the JACK tests are required (CI)")
    assert ports.jack_shared_client(), "livegen._jackmidi is not built: see setup.py"


@pytest.mark.jack
@needs_extension
def test_both_ports_share_one_jack_client(jack_server):
    clients = JackClients()
    with ports.open_input("jack", client_name="lgshare", jack_clients=clients) as inp, \
            ports.open_output("jack", client_name="lgshare", jack_clients=clients) as out:
        assert isinstance(inp, JackInputPort) and isinstance(out, JackOutputPort)
        assert jack_port_names("lgshare") == ["lgshare:livegen in", "lgshare:livegen out"]
    inp.close()
    assert not jack_port_names("lgshare")


@pytest.mark.jack
@needs_extension
def test_a_second_output_gets_a_client_of_its_own(jack_server):
    clients = JackClients()
    with ports.open_input("jack", client_name="lgtwo", jack_clients=clients) as inp, \
            ports.open_output("jack", client_name="lgtwo", jack_clients=clients) as first:
        with ports.open_output("jack", client_name="lgtwo", jack_clients=clients):
            assert jack_port_names("lgtwo") == [
                "lgtwo-01:livegen out", "lgtwo:livegen in", "lgtwo:livegen out"]
        # closing the second left the first client whole
        assert jack_port_names("lgtwo") == ["lgtwo:livegen in", "lgtwo:livegen out"]
        assert not inp.closed and not first.closed


def locked_kib() -> int:
    """This process's locked memory (``VmLck`` of /proc/self/status), KiB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmLck:"):
                return int(line.split()[1])
    pytest.skip("this kernel's /proc/PID/status has no VmLck line")


@pytest.mark.jack
@needs_extension
def test_the_jack_segment_stays_locked_while_midi_flows(jack_server):
    """libjack locks the server's shared segment in each client: livegen leaves it locked.

    Unlocked, its pages could be dropped and fault back in on JACK's real-time
    thread. The reference is a plain libjack client (python-rtmidi's) in this process.
    """
    if not sys.platform.startswith("linux"):
        pytest.skip("reads /proc")
    plain = rtmidi.MidiOut(rtmidi.API_UNIX_JACK, "lglock-plain")
    try:
        plain.get_port_count()  # rtmidi connects lazily on some versions
        reference_kib = locked_kib()
        if reference_kib == 0:
            pytest.skip("this libjack does not lock the server's segment")
        clients, got = JackClients(), []
        with ports.open_input("jack", client_name="lglock", jack_clients=clients,
                              handler=lambda d, t: got.append(d)), \
                ports.open_output("jack", client_name="lglock", jack_clients=clients) as out:
            jack_command("jack_connect", "lglock:livegen out", "lglock:livegen in")
            settle(out.send_bytes, got)
            out.send_bytes([0x90, 60, 90])
            assert wait_for(lambda: [0x90, 60, 90] in got)
            assert locked_kib() >= reference_kib
    finally:
        plain.delete()


@pytest.mark.jack
@needs_extension
def test_closing_the_output_sends_what_was_queued(probe):
    """The last note_offs, sent just before close, still reach the synth."""
    port = ports.open_output("jack")
    probe.connect(from_output=ports.OUT_PORT_NAME)
    settle(port.send_bytes, probe.received)
    offs = [[0x80, pitch, 0] for pitch in range(40, 100)]
    for message in offs:
        port.send_bytes(message)
    port.close()  # at once: nothing waited for a cycle
    port.send_bytes([0x90, 60, 90])  # after close: dropped, counted
    assert wait_for(lambda: len(probe.received) >= len(offs))
    time.sleep(0.05)
    assert heard_once(probe.received, port) == offs and port.dropped == 1


@pytest.mark.jack
@needs_extension
def test_one_client_input_stamps_keep_frame_spacing(probe):
    """Stamps come from JACK's cycles, not from when the reader thread gets to them."""
    got: list[tuple[list[int], float]] = []
    slow = threading.Event()

    def handler(data, t) -> None:
        got.append((data, t))
        if slow.is_set():  # the reader falls 60 ms behind: the rest wait in the ring buffer
            slow.clear()
            time.sleep(0.06)

    with ports.open_input("jack", handler=handler) as port:
        assert isinstance(port, JackInputPort) and port.dropped == 0
        probe.connect(to_input=ports.IN_PORT_NAME)
        settle(probe.out.send_message, got)
        slow.set()
        for pitch in range(60, 72):
            probe.out.send_message([0x90, pitch, 90])
            time.sleep(0.004)
        assert wait_for(lambda: len(got) >= 12)
    stamps = [t for _, t in got]
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    # 4 ms apart (3 periods), though the reader took them in one go after its 60 ms stall
    assert [d[1] for d, _ in got] == list(range(60, 72))
    assert all(g > 0 for g in gaps) and 0.002 < statistics.median(gaps) < 0.008, gaps


@pytest.mark.jack
@needs_extension
@pytest.mark.flaky(reruns=2)  # a non-realtime server may split the burst over a stalled cycle
def test_one_client_output_keeps_the_spacing_of_the_sends(jack_server):
    """Messages sent ~0.4 ms apart arrive as far apart, not all at a period's first frame.

    The observer is another one-client port, so its stamps are frame-accurate too.
    """
    got: list[tuple[list[int], float]] = []
    with ports.open_output("jack") as out, ports.open_input(
            "jack", client_name="lgobserver", handler=lambda d, t: got.append((d, t))):
        jack_command("jack_connect", f"{ports.CLIENT_NAME}:{ports.OUT_PORT_NAME}",
                     f"lgobserver:{ports.IN_PORT_NAME}")
        settle(out.send_bytes, got)
        sent = []
        for pitch in range(60, 76):
            sent.append(time.monotonic())
            out.send_bytes([0x90, pitch, 90])
            time.sleep(0.0003)  # not a busy wait: that starves a non-realtime JACK server
        assert wait_for(lambda: len(got) >= 16)
    assert [d[1] for d, _ in got] == list(range(60, 76))
    stamps = [t for _, t in got]
    errors_ms = [1000 * ((b - a) - (sb - sa)) for a, b, sa, sb in zip(stamps, stamps[1:], sent, sent[1:])]
    # one frame is 0.02 ms; allow for when time.monotonic() ran around each send
    assert max(abs(e) for e in errors_ms) < 0.1, errors_ms
    # the observer is downstream in the same cycle and stamps the same way: a message is
    # stamped at its send time (a period late in the graph order's other direction)
    latency_ms = [1000 * (t - s) for t, s in zip(stamps, sent)]
    period_ms = 1000 * jack_server.period_s
    assert all(-0.1 < x < period_ms + 0.1 for x in latency_ms), latency_ms


@pytest.mark.jack
@needs_extension
def test_one_client_input_sees_a_server_stall(own_jack_server):
    """A stopped server is recorded as a stall (the clock follower's phase step).

    The server stopped is a private one this test's fixture started (by its
    own name and PID), never a server someone else runs.
    """
    with ports.open_input("jack", handler=lambda d, t: None) as port:
        time.sleep(0.3)
        quiet_s = time.monotonic()
        own_jack_server.pause(0.015)
        stopped_s = time.monotonic()
        assert wait_for(lambda: port.stalled_between(quiet_s, time.monotonic()), 2.0)
        assert port.stalled_between(quiet_s, stopped_s + 0.1)
        # the longest since the pause began: a busy non-realtime server adds short ones
        start_s, end_s = max((st for st in port.stalls() if st[1] > quiet_s),
                             key=lambda st: st[1] - st[0])
        assert quiet_s - 0.003 < start_s and 0.012 < end_s - start_s < 0.5
        assert not port.stalled_between(end_s + 0.001, end_s + 0.002)


@pytest.mark.jack
@needs_extension
def test_a_stall_is_remembered_through_a_starved_servers_many_more(own_jack_server):
    """The clock judges a jump against the stalls of its last second or more; a starved
    server stalls 10-20 times a second. 24 stalls later the first is still known."""
    with ports.open_input("jack", handler=lambda d, t: None) as port:
        time.sleep(0.3)
        spans = []
        for _ in range(24):
            start_s = time.monotonic()
            own_jack_server.pause(0.01)
            spans.append((start_s, time.monotonic()))
            time.sleep(0.02)
        assert wait_for(lambda: port.stalled_between(spans[-1][0], time.monotonic()), 2.0)
        assert len([st for st in port.stalls() if st[1] > spans[0][0]]) >= 24
        assert port.stalled_between(*spans[0])  # the first, 23 stalls ago
        assert port.stalled_between(spans[0][0], time.monotonic())


class _ServerFlags:
    """The part of ``livegen._jackmidi.Client`` that says how the server runs."""

    def __init__(self, realtime: bool, rt_priority: int) -> None:
        self.realtime, self.rt_priority, self.closed = realtime, rt_priority, False

    def close(self) -> None:
        self.closed = True


class _Handle:
    def __init__(self, client) -> None:
        self.client = client


def test_the_server_priority_is_asked_of_the_ports_client_and_only_on_jack(monkeypatch):
    from livegen.ports import jack as jack_module

    probes = []
    monkeypatch.setattr(jack_module, "jack_watch", lambda name: probes.append(name))
    realtime = JackOutputPort(_Handle(_ServerFlags(True, 5)), "livegen out", True)
    assert jack_module.jack_server_priority("jack", realtime) == 5
    plain = JackInputPort(_Handle(_ServerFlags(False, -1)), "livegen in", True)
    assert jack_module.jack_server_priority("jack", plain) is None
    assert jack_module.jack_server_priority("alsa", realtime) is None  # no JACK server to ask
    assert probes == []  # the port's own client answered


def test_without_a_one_client_port_a_question_client_is_opened_and_closed(monkeypatch):
    from livegen.ports import jack as jack_module

    probes = []

    def watch(name):
        probes.append(_ServerFlags(True, 7))
        return probes[-1]

    monkeypatch.setattr(jack_module, "jack_watch", watch)
    assert jack_module.jack_server_priority("jack", None) == 7  # python-rtmidi's ports
    assert len(probes) == 1 and probes[0].closed
    monkeypatch.setattr(jack_module, "jack_watch", lambda name: None)  # no server, or not built
    assert jack_module.jack_server_priority("jack", None) is None
