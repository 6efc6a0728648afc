"""MIDI 1.0 numbers livegen uses, defined once.

Source: the MIDI 1.0 Detailed Specification (MIDI Manufacturers Association,
1996), "Control Change Messages" and "Channel Mode Messages" tables, and the
"System Real Time Messages" section (Timing Clock, Song Position Pointer).
Channels are 0-15 on the wire (mido's numbering; users see 1-16).
"""

from __future__ import annotations

__all__ = [
    "N_PITCHES", "N_CHANNELS", "DATA_MAX", "DRUM_CHANNEL",
    "CC_SUSTAIN", "SWITCH_ON_MIN", "SUSTAIN_DOWN_MIN", "CC_LAST_CONTROL",
    "CC_ALL_SOUND_OFF", "CC_RESET_CONTROLLERS", "CC_ALL_NOTES_OFF",
    "CLOCKS_PER_BEAT", "CLOCKS_PER_SPP_UNIT",
]

N_PITCHES = 128  # note numbers 0-127
N_CHANNELS = 16  # channels 0-15 on the wire
DATA_MAX = 127  # a data byte's largest value (velocity, controller value, program)
DRUM_CHANNEL = 9  # General MIDI: channel 10 (9 on the wire) is percussion

CC_SUSTAIN = 64  # damper pedal: 0-63 up, 64-127 down
SWITCH_ON_MIN = 64  # switch controllers (64-69, a footswitch): 0-63 off, 64-127 on
SUSTAIN_DOWN_MIN = SWITCH_ON_MIN  # the smallest CC64 value that means "down"
CC_LAST_CONTROL = 119  # 120-127 are channel mode messages, not controllers
CC_ALL_SOUND_OFF = 120  # channel mode: every note ends at once, the pedal too
CC_RESET_CONTROLLERS = 121  # channel mode: controllers to their defaults (the pedal goes up)
CC_ALL_NOTES_OFF = 123  # channel mode: keys up (the pedal still holds)

CLOCKS_PER_BEAT = 24  # Timing Clock (0xF8) is sent 24 times per quarter note
CLOCKS_PER_SPP_UNIT = 6  # Song Position Pointer counts sixteenth notes of 6 clocks

assert CC_LAST_CONTROL < CC_ALL_SOUND_OFF < CC_RESET_CONTROLLERS < CC_ALL_NOTES_OFF <= DATA_MAX
assert CLOCKS_PER_BEAT == 4 * CLOCKS_PER_SPP_UNIT
