"""The port protocol: livegen/ports/base.py (no MIDI system needed)."""

from __future__ import annotations

import mido
import pytest

from livegen.ports import InputPort, OutputPort


class MinimalInput(InputPort):
    """An input that declares none of the optional capabilities."""

    def __init__(self, released: list) -> None:
        super().__init__(object(), "fake", "keys", False)
        self.released = released
        self.handler = None

    def set_handler(self, handler) -> None:
        self.handler = handler

    def _release(self, handle) -> None:
        self.released.append(handle)


class MinimalOutput(OutputPort):
    def __init__(self) -> None:
        super().__init__(object(), "fake", "synth", True)
        self.bytes_sent: list[list[int]] = []

    def send_bytes(self, data) -> None:
        if self.closed:
            self.dropped += 1
            return
        self.bytes_sent.append(list(data))
        self.sent += 1

    def _release(self, handle) -> None:
        pass


def test_optional_input_capabilities_default_to_none():
    port = MinimalInput([])
    assert port.dropped == 0 and port.missed_cycles == 0
    assert port.stalled_between(0.0, 1e9) is False
    assert port.keep_fast() is False and port.polled is False


def test_close_is_idempotent_and_releases_once():
    released: list = []
    with MinimalInput(released) as port:
        assert not port.closed and "open" in repr(port) and "connected" in repr(port)
    port.close()
    assert port.closed and len(released) == 1 and "closed" in repr(port)


def test_output_send_goes_through_send_bytes():
    port = MinimalOutput()
    port.send(mido.Message("note_on", note=60, velocity=99, channel=2))
    port.close()
    port.send(mido.Message("note_off", note=60, channel=2))
    assert port.bytes_sent == [[0x92, 60, 99]] and (port.sent, port.dropped) == (1, 1)
    assert "virtual" in repr(port)


@pytest.mark.parametrize("kind", [InputPort, OutputPort])
def test_the_protocol_is_abstract(kind):
    with pytest.raises(TypeError):
        kind(object(), "fake", "x", True)
