"""Fixtures of the port tests: a second JACK client (the keyboard and the synth)."""

from __future__ import annotations

import pytest
from jackprobe import Probe


@pytest.fixture
def probe(jack_server):
    client = Probe(jack_server)
    yield client
    client.close()
