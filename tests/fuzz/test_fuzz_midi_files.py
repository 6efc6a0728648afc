"""MIDI files for `livegen continue`: cut short, odd tempos and resolutions, huge delta times."""

from __future__ import annotations

import struct
import tempfile
from pathlib import Path

from fakes import FakeModel
from fuzzkit import assert_clean_exit, run_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livegen import cli


def vlq(value: int) -> bytes:
    """A MIDI variable-length quantity (SMF 1.0: at most 4 bytes, 0x0FFFFFFF)."""
    out = [value & 0x7F]
    value >>= 7
    while value:
        out.append(0x80 | (value & 0x7F))
        value >>= 7
    return bytes(reversed(out))


DELTA = st.one_of(st.integers(0, 480), st.integers(0, 0x0FFFFFFF))
EVENT = st.one_of(
    st.tuples(DELTA, st.integers(0x80, 0xEF), st.integers(0, 127), st.integers(0, 127))
    .map(lambda e: vlq(e[0]) + bytes([e[1], e[2], e[3]]) if e[1] < 0xC0 or e[1] >= 0xE0
         else vlq(e[0]) + bytes([e[1], e[2]])),
    st.tuples(DELTA, st.integers(0, 0xFFFFFF))  # set_tempo, 0 and huge included
    .map(lambda e: vlq(e[0]) + b"\xff\x51\x03" + e[1].to_bytes(3, "big")),
    st.tuples(DELTA, st.integers(0, 255), st.binary(max_size=8))  # any meta message
    .map(lambda e: vlq(e[0]) + bytes([0xFF, e[1]]) + vlq(len(e[2])) + e[2]),
    st.tuples(DELTA, st.binary(max_size=8)).map(lambda e: vlq(e[0]) + b"\xf0" + vlq(len(e[1])) + e[1]),
    st.binary(max_size=6),  # anything
)
TRACK = st.lists(EVENT, max_size=12).map(lambda events: b"".join(events) + b"\x00\xff\x2f\x00")


@st.composite
def midi_files(draw) -> bytes:
    kind = draw(st.sampled_from([0, 1, 1, 2, 3]))
    division = draw(st.one_of(st.integers(0, 0x7FFF), st.just(0), st.integers(0x8000, 0xFFFF)))
    tracks = draw(st.lists(TRACK, min_size=0, max_size=3))
    count = draw(st.one_of(st.just(len(tracks)), st.integers(0, 5)))
    data = b"MThd" + struct.pack(">IHHH", 6, kind, count, division)
    data += b"".join(b"MTrk" + struct.pack(">I", len(t)) + t for t in tracks)
    cut = draw(st.one_of(st.just(len(data)), st.integers(0, len(data))))  # cut short, or not
    return data[:cut]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=midi_files())
def test_any_midi_file_ends_in_one_line_or_a_continuation(data):
    original = cli._load_model
    # the file is what is fuzzed, not the model
    cli._load_model = lambda preset, path: lambda _preset: FakeModel()
    try:
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "in.mid"
            path.write_bytes(data)
            assert_clean_exit(*run_cli(["continue", str(path), "-o", str(Path(folder) / "o.mid"),
                                        "--notes", "3", "--seed", "1"]))
    finally:
        cli._load_model = original
