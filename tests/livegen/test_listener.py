"""Tests of livegen.listener: the performer's keys, pedal and phrase on their way to the model."""

from __future__ import annotations

import mido
from rig import (
    PHRASE,
    PRESET,
    make_rig,
)

from livegen.buffer import STUCK_KEY_S


def test_sustain_pedal_delays_the_trigger_until_lift():
    rig = make_rig()
    rig.engine.feed([0xB0, 64, 127], rig.clock())
    rig.play(PHRASE[:3])
    rig.poll_for(PRESET.silence_s * 3)
    assert not rig.engine.responding and rig.engine.generator.primed_since_reset == 0
    rig.engine.feed(mido.Message("control_change", control=64, value=0), rig.clock())
    lift_s = rig.clock()
    rig.poll()
    assert rig.engine.generator.primed_since_reset == 3
    assert rig.run_until_responding() >= lift_s + PRESET.silence_s


def test_a_key_whose_note_off_was_lost_is_released_and_livegen_answers():
    rig = make_rig()
    rig.play(PHRASE[:4])
    rig.engine.feed([0x90, 50, 80], rig.clock())  # its note_off never arrives
    rig.poll_for(STUCK_KEY_S - 0.5)
    assert not rig.engine.responding and rig.engine.stats.stuck_keys == 0
    rig.poll_for(1.0)
    assert rig.engine.stats.stuck_keys == 1 and rig.engine.buffer.silent
    assert rig.engine.generator.history[-1].pitch == 50
    rig.poll_for(PRESET.silence_s + 0.1)
    assert rig.engine.stats.responses == 1 and rig.port.note_ons()


def test_performer_all_notes_off_ends_held_keys_but_not_the_pedal():
    rig = make_rig()
    rig.engine.feed([0x90, 60, 80], rig.clock())
    rig.engine.feed([0xB0, 64, 127], rig.clock())
    rig.engine.feed([0x90, 64, 80], rig.clock())
    rig.engine.feed([0xB0, 123, 0], rig.clock() + 0.1)  # All Notes Off: the pedal still holds
    rig.poll()
    assert rig.engine.buffer.sounding == {60, 64}
    rig.engine.feed([0xB0, 121, 0], rig.clock() + 0.2)  # Reset All Controllers: pedal up
    rig.poll()
    assert rig.engine.buffer.silent
    assert [n.pitch for n in rig.engine.generator.history] == [60, 64]
    rig.engine.feed([0x90, 67, 80], rig.clock() + 0.3)
    rig.engine.feed([0xB0, 120, 0], rig.clock() + 0.4)  # All Sound Off
    rig.poll()
    assert rig.engine.buffer.silent and rig.engine.generator.history[-1].pitch == 67
