"""Notes, and Standard MIDI Files to and from notes.

Inside livegen a note is a :class:`Note` with times in float seconds. Ticks,
``ticks_per_beat`` and tempo (µs per quarter note) appear only here, where MIDI
files are read and written (STYLE.md: seconds inside, ticks at the edges).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import mido
from mido.midifiles.meta import KeySignatureError

from livegen.errors import MidiFileError

__all__ = ["Note", "DRUM_CHANNEL", "read_midi", "write_midi", "last_notes"]

#: MIDI channel 10 (0-based 9) carries General MIDI percussion (GM 1 spec, 1991).
DRUM_CHANNEL = 9
DEFAULT_TEMPO_US = 500_000  # 120 BPM, the SMF default (SMF 1.0 spec)
DEFAULT_TICKS_PER_BEAT = 480


@dataclass(frozen=True, slots=True)
class Note:
    """One note.

    Attributes:
        pitch: MIDI note number, 0-127.
        velocity: MIDI note_on velocity, 1-127.
        onset_s: start time in seconds from an arbitrary origin.
        duration_s: length in seconds, > 0.
        channel: MIDI channel, 0-15.
    """

    pitch: int
    velocity: int
    onset_s: float
    duration_s: float
    channel: int = 0

    @property
    def end_s(self) -> float:
        """Time of the note_off in seconds."""
        return self.onset_s + self.duration_s

    def shifted(self, offset_s: float) -> Note:
        """This note moved by ``offset_s`` seconds."""
        return Note(self.pitch, self.velocity, self.onset_s + offset_s, self.duration_s, self.channel)


def _sort_key(note: Note) -> tuple[float, int]:
    return (note.onset_s, note.pitch)


def read_midi(path: str | os.PathLike, *, include_drums: bool = False) -> list[Note]:
    """Read the notes of a type 0 or type 1 Standard MIDI File.

    Tracks are merged and tempo changes applied by mido, so onsets are in
    seconds from the start of the file. A note_on with velocity 0 is a
    note_off; overlapping notes of the same pitch and channel are paired first
    in, first out; a note still sounding at the end of the file ends there.

    Args:
        path: the file to read.
        include_drums: keep notes on channel 10 (0-based 9); dropped by default.

    Returns:
        The notes sorted by onset then pitch.

    Raises:
        MidiFileError: the file is missing, is not a Standard MIDI File (or is cut
            short), is type 2, or sets a tempo of 0.
    """
    try:
        midi = mido.MidiFile(os.fspath(path))
    except KeySignatureError as err:  # mido cannot skip one bad meta message (mido issue #187)
        raise MidiFileError(f"{os.fspath(path)}: not a readable MIDI file (a bad key signature "
                            f"meta message: {err})") from err
    except (OSError, EOFError, ValueError, KeyError, IndexError) as err:
        reason = "the file ends early" if isinstance(err, EOFError) else str(err) or type(err).__name__
        raise MidiFileError(f"{os.fspath(path)}: not a readable MIDI file ({reason})") from err
    if midi.type == 2:
        raise MidiFileError(f"{os.fspath(path)}: type 2 MIDI files are not supported (type 0 or 1)")
    if midi.ticks_per_beat <= 0:  # SMF 1.0: the division is ticks per quarter note, 1 or more
        raise MidiFileError(f"{os.fspath(path)}: not a readable MIDI file (ticks_per_beat must be "
                            f"1 or more, received {midi.ticks_per_beat})")
    for track in midi.tracks:  # mido would put every note at 0 s
        if any(msg.type == "set_tempo" and msg.tempo <= 0 for msg in track):
            raise MidiFileError(f"{os.fspath(path)}: a set_tempo of 0 us per quarter note is no "
                                "tempo (received 0; SMF 1.0: 1 or more)")
    notes: list[Note] = []
    sounding: dict[tuple[int, int], list[tuple[float, int]]] = {}
    now = 0.0
    for msg in midi:  # merged tracks, msg.time in seconds (mido applies the tempo map)
        now += msg.time
        if msg.type not in ("note_on", "note_off"):
            continue
        if msg.channel == DRUM_CHANNEL and not include_drums:
            continue
        key = (msg.channel, msg.note)
        if msg.type == "note_on" and msg.velocity > 0:
            sounding.setdefault(key, []).append((now, msg.velocity))
        elif sounding.get(key):
            onset, velocity = sounding[key].pop(0)
            notes.append(Note(msg.note, velocity, onset, max(now - onset, 1e-3), msg.channel))
    for (channel, pitch), starts in sounding.items():
        for onset, velocity in starts:
            notes.append(Note(pitch, velocity, onset, max(now - onset, 1e-3), channel))
    notes.sort(key=_sort_key)
    return notes


def write_midi(
    tracks: Sequence[Iterable[Note]],
    path: str | os.PathLike,
    *,
    track_names: Sequence[str] | None = None,
    tempo_us: int = DEFAULT_TEMPO_US,
    ticks_per_beat: int = DEFAULT_TICKS_PER_BEAT,
) -> None:
    """Write notes as a type 1 Standard MIDI File, one track per sequence.

    Args:
        tracks: one iterable of notes per track; onsets in seconds (>= 0).
        path: the file to write.
        track_names: optional name of each track (a ``track_name`` meta message).
        tempo_us: tempo in µs per quarter note, written to the first track.
        ticks_per_beat: file resolution (PPQN).
    """
    midi = mido.MidiFile(type=1, ticks_per_beat=ticks_per_beat)
    for index, notes in enumerate(tracks):
        track = mido.MidiTrack()
        if track_names is not None and index < len(track_names):
            track.append(mido.MetaMessage("track_name", name=track_names[index], time=0))
        if index == 0:
            track.append(mido.MetaMessage("set_tempo", tempo=tempo_us, time=0))
        events: list[tuple[int, int, mido.Message]] = []
        for note in notes:
            on_tick = round(mido.second2tick(max(note.onset_s, 0.0), ticks_per_beat, tempo_us))
            off_tick = round(mido.second2tick(max(note.end_s, 0.0), ticks_per_beat, tempo_us))
            off_tick = max(off_tick, on_tick + 1)
            # note_offs sort before note_ons at the same tick so a repeated pitch re-strikes
            events.append((on_tick, 1, mido.Message(
                "note_on", note=note.pitch, velocity=note.velocity, channel=note.channel)))
            events.append((off_tick, 0, mido.Message(
                "note_off", note=note.pitch, velocity=0, channel=note.channel)))
        events.sort(key=lambda item: (item[0], item[1]))
        last = 0
        for tick, _, msg in events:
            track.append(msg.copy(time=tick - last))
            last = tick
        track.append(mido.MetaMessage("end_of_track", time=0))
        midi.tracks.append(track)
    midi.save(os.fspath(path))


def last_notes(notes: Sequence[Note], count: int, *, before_s: float | None = None) -> list[Note]:
    """The last ``count`` notes by onset, optionally only those starting before ``before_s``.

    Args:
        notes: notes sorted by onset.
        count: how many to keep (> 0).
        before_s: if given, only notes with ``onset_s < before_s`` are considered.

    Returns:
        At most ``count`` notes, in onset order.
    """
    chosen = [n for n in notes if before_s is None or n.onset_s < before_s]
    return list(chosen[-count:])
