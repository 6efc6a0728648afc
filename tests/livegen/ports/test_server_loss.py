"""Ports that see their server go away or their output connected again (issue 15 items 2, 3, 9)."""

from __future__ import annotations

import subprocess

import pytest
import rtmidi
from jackprobe import wait_for

from livegen import ports
from livegen.ports import jack_clients
from livegen.ports.backends import livegen_port_names

NAMES = (ports.IN_PORT_NAME, ports.OUT_PORT_NAME)


def test_livegen_ports_are_found_under_the_names_the_midi_system_gives():
    listed = ["livegen:livegen in", "livegen-01:livegen out", "livegen:livegen in 128:0",
              "livegen2:livegen in", "livegen-test:livegen in", "Synth:livegen out",
              "livegen:livegen inside", "a-livegen:livegen out"]
    assert livegen_port_names(listed, "livegen", NAMES) == [
        "livegen:livegen in", "livegen-01:livegen out", "livegen:livegen in 128:0"]
    assert livegen_port_names(listed, "livegen2", NAMES) == ["livegen2:livegen in"]


@pytest.mark.jack
@pytest.mark.parametrize("jack_client", ["shared", "rtmidi"])
def test_a_killed_server_is_seen_by_both_ports(own_jack_server, jack_client):
    if not jack_clients.jack_shared_client():
        pytest.skip("needs livegen._jackmidi (the one-client ports; rtmidi's watch client)")
    registry = ports.JackClients()
    inp = ports.open_input("jack", jack_client=jack_client, jack_clients=registry)
    out = ports.open_output("jack", jack_client=jack_client, jack_clients=registry)
    try:
        assert not inp.server_lost and not out.server_lost
        own_jack_server.process.terminate()  # a clean stop: a killed jackd would leave its
        own_jack_server.process.wait(timeout=10)  # entry in JACK's registry of servers
        assert wait_for(lambda: inp.server_lost and out.server_lost)
    finally:
        inp.close()
        out.close()
    assert not inp.server_lost and not out.server_lost  # closed: nothing to report


@pytest.mark.jack
def test_connections_to_the_one_client_output_are_counted(own_jack_server):
    if not jack_clients.jack_shared_client():
        pytest.skip("needs livegen._jackmidi (JACK's connect callback)")
    synth = rtmidi.MidiIn(rtmidi.API_UNIX_JACK, "lg-synth")
    synth.open_virtual_port("synth")
    try:
        with ports.open_output("jack") as out:
            assert out.connections_made == 0
            full = f"{ports.CLIENT_NAME}:{ports.OUT_PORT_NAME}"
            for command in ("jack_connect", "jack_disconnect", "jack_connect"):
                subprocess.run([command, full, "lg-synth:synth"], check=True, timeout=10)
            assert wait_for(lambda: out.connections_made == 2)  # disconnections do not count
        assert out.connections_made == 0
    finally:
        synth.close_port()
        synth.delete()
