"""Windows MIDI ports (issue 16): one program at a time, and the error says so.

Windows' MME MIDI ports are single-client: while a DAW holds the keyboard,
python-rtmidi's ``open_port`` fails with ``MidiInWinMM::openPort: error creating
Windows MM MIDI input port.``. A fake rtmidi object stands in for Windows here.
"""

from __future__ import annotations

import pytest
import rtmidi

from livegen.errors import BackendError
from livegen.ports import rtmidi as rtmidi_ports

PORTS = ["loopMIDI Port 1", "Keystation 49 MK3 0"]


class HeldPort:
    """rtmidi.MidiIn/MidiOut whose ports another program holds."""

    def __init__(self, backend: str) -> None:
        self.backend, self.deleted = backend, False

    def get_ports(self):
        return list(PORTS)

    def open_port(self, index, name):
        raise rtmidi.SystemError("MidiInWinMM::openPort: error creating Windows MM MIDI input port.")

    def delete(self):
        self.deleted = True


@pytest.fixture
def held(monkeypatch):
    made = []

    def new_rtmidi(kind, backend, client_name):
        made.append(HeldPort(backend))
        return made[-1]

    monkeypatch.setattr(rtmidi_ports, "new_rtmidi", new_rtmidi)
    return made


@pytest.mark.parametrize("opener, flag", [(rtmidi_ports.open_rtmidi_input, "--in"),
                                          (rtmidi_ports.open_rtmidi_output, "--out")])
def test_a_windows_port_held_by_another_program_says_so_in_one_line(held, opener, flag):
    with pytest.raises(BackendError) as caught:
        opener("winmm", "Keystation")
    message = str(caught.value)
    assert "\n" not in message and "Keystation 49 MK3 0" in message
    assert "one program at a time" in message and "DAW" in message and "loopMIDI" in message
    assert held[-1].deleted  # the rtmidi object is released


def test_elsewhere_the_error_carries_no_windows_advice(held):
    with pytest.raises(BackendError) as caught:
        rtmidi_ports.open_rtmidi_input("alsa", "Keystation")
    assert "one program at a time" not in str(caught.value)
