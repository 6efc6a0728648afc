"""Tests of livegen.midi: the MIDI 1.0 numbers agree with mido's view of the wire."""

from __future__ import annotations

import mido

from livegen import midi


def test_the_channel_mode_messages_are_the_last_controllers():
    assert midi.CC_LAST_CONTROL + 1 == midi.CC_ALL_SOUND_OFF == 120
    assert (midi.CC_RESET_CONTROLLERS, midi.CC_ALL_NOTES_OFF) == (121, 123)
    assert mido.Message("control_change", control=midi.DATA_MAX).control == 127


def test_clock_units_fit_the_song_position_pointer():
    assert midi.CLOCKS_PER_BEAT == 24 and midi.CLOCKS_PER_BEAT % midi.CLOCKS_PER_SPP_UNIT == 0
    assert mido.Message("note_on", channel=midi.N_CHANNELS - 1, note=midi.N_PITCHES - 1).channel == 15
