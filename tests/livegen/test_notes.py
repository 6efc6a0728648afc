"""Notes and Standard MIDI Files: livegen/notes.py."""

from __future__ import annotations

import mido
import pytest

from livegen.errors import MidiFileError
from livegen.notes import DRUM_CHANNEL, Note, last_notes, read_midi, write_midi

# (pitch, velocity, onset_s, duration_s): the opening of "Ode to Joy", a C major chord, a rest
MELODY = [(64, 80, 0.0, 0.5), (64, 70, 0.5, 0.5), (65, 75, 1.0, 0.5), (67, 90, 1.5, 0.5),
          (67, 85, 2.0, 0.5), (65, 70, 2.5, 0.5), (64, 72, 3.0, 0.5), (62, 60, 3.5, 0.5),
          (48, 64, 4.0, 1.0), (52, 64, 4.0, 1.0), (55, 64, 4.0, 1.0), (60, 100, 6.0, 0.25)]
TOLERANCE_S = 2e-3  # one tick at 480 PPQN and 120 BPM is ~1 ms


def notes_of(rows, channel=0):
    return [Note(p, v, t, d, channel) for p, v, t, d in rows]


def assert_close(got: list[Note], want: list[Note]) -> None:
    assert len(got) == len(want)
    for a, b in zip(sorted(got, key=lambda n: (n.onset_s, n.pitch)),
                    sorted(want, key=lambda n: (n.onset_s, n.pitch)), strict=True):
        assert (a.pitch, a.velocity, a.channel) == (b.pitch, b.velocity, b.channel)
        assert a.onset_s == pytest.approx(b.onset_s, abs=TOLERANCE_S)
        assert a.duration_s == pytest.approx(b.duration_s, abs=TOLERANCE_S)


def test_round_trip_one_track(tmp_path):
    notes = notes_of(MELODY)
    write_midi([notes], tmp_path / "a.mid")
    assert_close(read_midi(tmp_path / "a.mid"), notes)


@pytest.mark.parametrize("tempo_us", [400_000, 857_143])
def test_round_trip_other_tempo_and_resolution(tmp_path, tempo_us):
    notes = notes_of(MELODY)
    write_midi([notes], tmp_path / "a.mid", tempo_us=tempo_us, ticks_per_beat=960)
    assert_close(read_midi(tmp_path / "a.mid"), notes)


def test_type1_several_tracks_are_merged_and_named(tmp_path):
    right, left = notes_of(MELODY[:8]), notes_of(MELODY[8:], channel=1)
    write_midi([right, left], tmp_path / "a.mid", track_names=["right", "left"])
    midi = mido.MidiFile(tmp_path / "a.mid")
    assert midi.type == 1
    assert [t.name for t in midi.tracks] == ["right", "left"]
    got = read_midi(tmp_path / "a.mid")
    assert_close(got, right + left)
    assert got == sorted(got, key=lambda n: (n.onset_s, n.pitch))


def _file(tmp_path, tracks, ticks_per_beat=480, midi_type=1):
    midi = mido.MidiFile(type=midi_type, ticks_per_beat=ticks_per_beat)
    for messages in tracks:
        track = mido.MidiTrack()
        track.extend(mido.Message.from_str(m) if isinstance(m, str) else m for m in messages)
        midi.tracks.append(track)
    path = tmp_path / "f.mid"
    midi.save(path)
    return path


def test_tempo_changes_are_applied(tmp_path):
    # beat 1 at 120 BPM (0.5 s), then 60 BPM: the second note starts at 0.5 s and lasts 1 s
    path = _file(tmp_path, [
        [mido.MetaMessage("set_tempo", tempo=500_000, time=0),
         mido.MetaMessage("set_tempo", tempo=1_000_000, time=480)],
        ["note_on channel=0 note=60 velocity=90 time=0",
         "note_off channel=0 note=60 velocity=0 time=480",
         "note_on channel=0 note=62 velocity=90 time=0",
         "note_off channel=0 note=62 velocity=0 time=480"],
    ])
    assert_close(read_midi(path), [Note(60, 90, 0.0, 0.5), Note(62, 90, 0.5, 1.0)])


def test_drums_are_ignored_unless_asked(tmp_path):
    drums = notes_of([(36, 100, 0.0, 0.1), (42, 90, 0.5, 0.1)], channel=DRUM_CHANNEL)
    melody = notes_of(MELODY[:4])
    write_midi([melody, drums], tmp_path / "a.mid")
    assert_close(read_midi(tmp_path / "a.mid"), melody)
    assert_close(read_midi(tmp_path / "a.mid", include_drums=True), melody + drums)


def test_velocity_zero_note_on_is_a_note_off(tmp_path):
    path = _file(tmp_path, [[
        "note_on channel=2 note=60 velocity=100 time=0",
        "note_on channel=2 note=60 velocity=0 time=240",   # note_off, running-status style
        "note_on channel=2 note=64 velocity=50 time=0",
        "note_on channel=2 note=64 velocity=0 time=480",
    ]], midi_type=0)
    assert_close(read_midi(path), [Note(60, 100, 0.0, 0.25, 2), Note(64, 50, 0.25, 0.5, 2)])


def test_overlapping_same_pitch_pairs_first_in_first_out(tmp_path):
    path = _file(tmp_path, [[
        "note_on channel=0 note=60 velocity=10 time=0",
        "note_on channel=0 note=60 velocity=20 time=480",
        "note_off channel=0 note=60 velocity=0 time=480",
        "note_off channel=0 note=60 velocity=0 time=480",
    ]])
    assert_close(read_midi(path), [Note(60, 10, 0.0, 1.0), Note(60, 20, 0.5, 1.0)])


def test_note_sounding_at_the_end_ends_there(tmp_path):
    path = _file(tmp_path, [[
        "note_on channel=0 note=60 velocity=64 time=0",
        "note_on channel=0 note=67 velocity=64 time=960",
        "note_off channel=0 note=67 velocity=0 time=480",
    ]])
    assert_close(read_midi(path), [Note(60, 64, 0.0, 1.5), Note(67, 64, 1.0, 0.5)])


def test_not_a_midi_file_raises(tmp_path):
    path = tmp_path / "notes.mid"
    path.write_text("these are not the notes you are looking for\n")
    with pytest.raises(MidiFileError, match="notes.mid"):
        read_midi(path)


def test_missing_file_raises(tmp_path):
    with pytest.raises(MidiFileError, match="nothing.mid"):
        read_midi(tmp_path / "nothing.mid")


def test_type2_raises(tmp_path):
    path = _file(tmp_path, [["note_on channel=0 note=60 velocity=64 time=0"]], midi_type=2)
    with pytest.raises(MidiFileError, match="type 2"):
        read_midi(path)


def test_midi_file_error_is_a_value_error():
    assert issubclass(MidiFileError, ValueError)


def test_last_notes():
    notes = notes_of(MELODY)
    assert last_notes(notes, 3) == notes[-3:]
    assert last_notes(notes, 100) == notes
    assert last_notes(notes, 2, before_s=2.0) == notes[2:4]  # onsets 1.0 and 1.5
    assert last_notes(notes, 5, before_s=0.0) == []


def test_note_end_and_shift():
    note = Note(60, 100, 1.0, 0.5)
    assert note.end_s == 1.5
    assert note.shifted(2.0) == Note(60, 100, 3.0, 0.5)


def test_a_file_with_a_bad_key_signature_is_a_one_line_error(tmp_path):
    # a type 0 file whose only track holds a key signature of 1 flat in mode 255 (no such mode)
    track = b"\x00\xff\x59\x02\xff\xff" + b"\x00\x90\x3c\x40" + b"\x60\x80\x3c\x00" + b"\x00\xff\x2f\x00"
    data = (b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x60"
            + b"MTrk" + len(track).to_bytes(4, "big") + track)
    path = tmp_path / "bad_key.mid"
    path.write_bytes(data)
    with pytest.raises(MidiFileError, match="bad key signature"):
        read_midi(path)


def test_a_file_with_ticks_per_beat_zero_is_a_one_line_error(tmp_path):
    track = b"\x00\x90\x3c\x40" + b"\x60\x80\x3c\x00" + b"\x00\xff\x2f\x00"
    data = (b"MThd\x00\x00\x00\x06\x00\x00\x00\x01\x00\x00"  # division 0
            + b"MTrk" + len(track).to_bytes(4, "big") + track)
    path = tmp_path / "tpb0.mid"
    path.write_bytes(data)
    with pytest.raises(MidiFileError, match="ticks_per_beat must be 1 or more, received 0"):
        read_midi(path)
