"""Tests of livegen.buffer."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livegen.buffer import HELD_KEY_S, STUCK_KEY_S, PerformanceBuffer
from livegen.midi import (
    CC_ALL_NOTES_OFF,
    CC_ALL_SOUND_OFF,
    CC_RESET_CONTROLLERS,
    CC_SUSTAIN,
    SUSTAIN_DOWN_MIN,
)
from livegen.notes import Note


def test_note_is_ready_when_it_ends_with_its_duration():
    buf = PerformanceBuffer()
    assert buf.note_on(60, 90, 1.0) == []
    assert buf.sounding == {60}
    assert buf.note_off(60, 1.5) == [Note(60, 90, 1.0, 0.5, 0)]
    assert buf.silent and buf.last_activity_s == 1.5


def test_notes_are_handed_on_in_onset_order():
    buf = PerformanceBuffer()
    buf.note_on(48, 70, 0.0)  # long bass note
    buf.note_on(64, 80, 0.2)
    assert buf.note_off(64, 0.4) == []  # waits for the earlier bass note
    ready = buf.note_off(48, 1.0)
    assert [(n.pitch, n.onset_s, n.duration_s) for n in ready] == [(48, 0.0, 1.0), (64, 0.2, 0.2)]


def test_chord_tones_share_an_onset():
    buf = PerformanceBuffer()
    for pitch in (60, 64, 67):
        buf.note_on(pitch, 80, 2.0)
    ready = []
    for pitch in (67, 60, 64):
        ready += buf.note_off(pitch, 2.5)
    assert [n.pitch for n in ready] == [60, 64, 67]
    assert {n.onset_s for n in ready} == {2.0}


def test_sustain_pedal_holds_released_notes_until_lift():
    buf = PerformanceBuffer()
    buf.sustain(True, 0.0)
    buf.note_on(60, 80, 0.1)
    assert buf.note_off(60, 0.3) == []
    assert buf.sounding == {60} and not buf.silent
    assert buf.last_activity_s == 0.1
    ready = buf.sustain(False, 1.2)
    assert ready == [Note(60, 80, 0.1, pytest.approx(1.1), 0)]
    assert buf.silent and buf.last_activity_s == 1.2


def test_key_still_down_at_pedal_lift_keeps_sounding():
    buf = PerformanceBuffer()
    buf.sustain(True, 0.0)
    buf.note_on(60, 80, 0.1)
    assert buf.sustain(False, 0.5) == []
    assert buf.sounding == {60}
    assert buf.note_off(60, 0.8)[0].duration_s == pytest.approx(0.7)


def test_pedal_is_per_channel():
    buf = PerformanceBuffer()
    buf.sustain(True, 0.0, channel=1)
    buf.note_on(60, 80, 0.1, channel=0)
    assert len(buf.note_off(60, 0.2, channel=0)) == 1
    assert buf.pedal_down(1) and not buf.pedal_down(0)


def test_restrike_ends_the_previous_note():
    buf = PerformanceBuffer()
    buf.sustain(True, 0.0)
    buf.note_on(60, 80, 0.0)
    buf.note_off(60, 0.2)
    ready = buf.note_on(60, 90, 0.5)  # sustained note re-struck
    assert ready == [Note(60, 80, 0.0, 0.5, 0)]
    buf.note_on(60, 100, 0.7)  # key re-struck while down (no note_off seen)
    assert [n.velocity for n in buf.notes()] == [80, 90, 100]


def test_velocity_zero_is_note_off_and_unknown_note_off_is_ignored():
    buf = PerformanceBuffer()
    assert buf.note_off(61, 0.0) == []
    buf.note_on(60, 80, 0.0)
    assert len(buf.note_on(60, 0, 0.25)) == 1
    assert buf.silent


def test_notes_includes_held_note_with_duration_so_far():
    buf = PerformanceBuffer()
    buf.note_on(60, 80, 1.0)
    buf.note_off(60, 1.2)
    buf.note_on(62, 80, 1.5)
    assert buf.notes(now_s=2.0)[-1] == Note(62, 80, 1.5, 0.5, 0)
    assert len(buf) == 2


def test_capacity_keeps_only_the_last_notes():
    buf = PerformanceBuffer(capacity=3)
    for i in range(10):
        buf.note_on(60 + i, 80, i * 0.1)
        buf.note_off(60 + i, i * 0.1 + 0.05)
    assert [n.pitch for n in buf.notes()] == [67, 68, 69]
    assert buf.notes_started == 10


def test_stuck_key_cannot_block_priming_beyond_capacity():
    buf = PerformanceBuffer(capacity=2)
    buf.note_on(40, 80, 0.0)  # its note_off never comes
    ready = []
    for i in range(4):
        ready += buf.note_on(60 + i, 80, 1.0 + i)
        ready += buf.note_off(60 + i, 1.5 + i)
    assert [n.pitch for n in ready] == [40, 60, 61, 62, 63]
    assert ready[0].duration_s == pytest.approx(2.0)  # handed on with its duration so far


def test_earlier_timestamp_is_treated_as_simultaneous():
    buf = PerformanceBuffer()
    buf.note_on(60, 80, 1.0)
    note = buf.note_off(60, 0.5)[0]
    assert note.onset_s == 1.0 and note.duration_s > 0


def test_clear_forgets_everything():
    buf = PerformanceBuffer()
    buf.sustain(True, 0.0)
    buf.note_on(60, 80, 0.0)
    buf.clear()
    assert buf.silent and len(buf) == 0 and buf.last_activity_s is None
    assert not buf.pedal_down(0)


@pytest.mark.parametrize("capacity", [0, -1, 2.5, True])
def test_bad_capacity_raises_value_error(capacity):
    with pytest.raises(ValueError, match="capacity"):
        PerformanceBuffer(capacity)


_event = st.one_of(
    st.tuples(st.just("on"), st.integers(0, 127), st.integers(0, 127), st.integers(0, 2)),
    st.tuples(st.just("off"), st.integers(0, 127), st.integers(0, 127), st.integers(0, 2)),
    st.tuples(st.just("pedal"), st.booleans(), st.integers(0, 127), st.integers(0, 2)),
)


@settings(max_examples=150, deadline=None)
@given(events=st.lists(st.tuples(_event, st.floats(-0.1, 0.5)), max_size=120),
       capacity=st.integers(1, 8))
def test_any_event_sequence_is_bounded_and_ends_silent(events, capacity):
    buf = PerformanceBuffer(capacity)
    t = 0.0
    started = primed = 0
    for (kind, a, b, channel), dt in events:
        t += dt  # may go backwards: timestamps are clamped
        if kind == "on":
            started += b > 0
            ready = buf.note_on(a, b, t, channel)
        elif kind == "off":
            ready = buf.note_off(a, t, channel)
        else:
            ready = buf.sustain(a, t, channel)
        primed += len(ready)
        onsets = [n.onset_s for n in ready]
        assert onsets == sorted(onsets)
        assert all(n.duration_s > 0 for n in ready)
        assert len(buf) <= capacity and len(buf.notes()) <= capacity
    # release everything: every key on every channel, then every pedal
    for channel in range(3):
        for pitch in range(128):
            primed += len(buf.note_off(pitch, t + 1, channel))
        primed += len(buf.sustain(False, t + 2, channel))
    assert buf.sounding == frozenset() and buf.silent
    assert primed == started  # every note started is handed on for priming exactly once


def test_release_all_ends_keys_and_pedal_or_keys_only():
    buf = PerformanceBuffer()
    buf.note_on(60, 80, 0.0)
    buf.note_on(64, 80, 0.1, channel=1)
    buf.sustain(True, 0.2, channel=1)
    buf.note_on(67, 80, 0.3, channel=1)
    # All Notes Off on channel 1: its keys go up but the pedal still holds them
    assert buf.release_all(1.0, channel=1, pedal=False) == []
    assert buf.sounding == {60, 64, 67} and buf.pedal_down(1)
    # All Sound Off everywhere: every note ends at 2.0, in onset order
    ready = buf.release_all(2.0)
    assert [(n.pitch, n.end_s) for n in ready] == [(60, 2.0), (64, 2.0), (67, 2.0)]
    assert buf.silent and not buf.pedal_down(1) and buf.last_activity_s == 2.0


def test_release_all_with_nothing_held_changes_nothing():
    buf = PerformanceBuffer()
    buf.note_on(60, 80, 0.0)
    buf.note_off(60, 0.5)
    assert buf.release_all(3.0) == [] and buf.last_activity_s == 0.5


def test_control_change_takes_the_pedal_and_the_channel_mode_messages_only():
    buf = PerformanceBuffer()
    assert buf.control_change(21, 100, 0.0) is None  # not the buffer's: the caller's to use
    buf.note_on(60, 80, 0.0)
    assert buf.control_change(CC_SUSTAIN, SUSTAIN_DOWN_MIN, 0.1) == [] and buf.pedal_down(0)
    buf.note_on(64, 80, 0.2)
    assert buf.control_change(CC_ALL_NOTES_OFF, 0, 0.3) == []  # keys up; the pedal holds both
    assert buf.sounding == {60, 64}
    ready = buf.control_change(CC_RESET_CONTROLLERS, 0, 0.4)  # pedal up
    assert [n.pitch for n in ready] == [60, 64] and buf.silent
    buf.control_change(CC_SUSTAIN, 127, 0.5)
    buf.note_on(67, 80, 0.6)
    ready = buf.control_change(CC_ALL_SOUND_OFF, 0, 0.7)  # keys and pedal
    assert [(n.pitch, n.duration_s) for n in ready] == [(67, pytest.approx(0.1))]
    assert buf.silent and not buf.pedal_down(0)
    buf.control_change(CC_SUSTAIN, SUSTAIN_DOWN_MIN - 1, 0.8)
    assert not buf.pedal_down(0)  # 0-63: up


def test_keys_are_stuck_after_stuck_key_s_without_other_events():
    buf = PerformanceBuffer()
    assert not buf.stuck(100.0)  # nothing played
    buf.note_on(60, 80, 1.0)
    assert not buf.stuck(1.0 + STUCK_KEY_S - 0.01)
    assert buf.stuck(1.0 + STUCK_KEY_S)
    buf.note_on(62, 80, 5.0)  # any other event restarts the wait
    assert not buf.stuck(1.0 + STUCK_KEY_S)
    buf.release_all(5.5)
    assert not buf.stuck(100.0)  # silent: nothing stuck


def test_a_key_is_contradicted_after_held_key_s_without_pedal_or_touch_once_others_played():
    buf = PerformanceBuffer()
    buf.note_on(50, 80, 1.0)  # its note_off is lost
    assert buf.contradicted(1.0 + 2 * HELD_KEY_S) == []  # nothing else played: not contradicted
    buf.note_on(60, 80, 2.0)
    buf.note_off(60, 2.2)
    assert buf.contradicted(1.0 + HELD_KEY_S - 0.01) == []
    assert buf.contradicted(1.0 + HELD_KEY_S) == [(0, 50)]
    buf.touch(50, 3.0)  # key pressure: it is down after all
    assert buf.contradicted(1.0 + HELD_KEY_S) == []
    assert buf.contradicted(3.0 + HELD_KEY_S) == []  # nothing struck since the touch
    buf.note_on(62, 80, 4.0)
    buf.note_off(62, 4.1)
    assert buf.contradicted(3.0 + HELD_KEY_S) == [(0, 50)]
    activity_s = buf.last_activity_s
    ready = buf.release_keys([(0, 50)], 3.0 + HELD_KEY_S)
    assert [(n.pitch, n.duration_s) for n in ready] == [(50, pytest.approx(2.0 + HELD_KEY_S)),
                                                        (60, pytest.approx(0.2)),
                                                        (62, pytest.approx(0.1))]
    assert buf.silent and buf.last_activity_s == activity_s  # not the performer's activity


def test_no_key_is_contradicted_while_its_channel_pedal_is_down():
    buf = PerformanceBuffer()
    buf.sustain(True, 0.5, channel=1)
    buf.note_on(50, 80, 1.0, channel=1)
    buf.note_on(51, 80, 1.0, channel=0)
    buf.note_on(60, 80, 2.0)
    assert buf.contradicted(1.0 + HELD_KEY_S) == [(0, 51)]
    assert buf.keys_down == {50, 51, 60} and buf.pedal_held == frozenset()
    buf.note_off(60, 2.5)
    buf.note_off(50, 2.5, channel=1)
    assert buf.keys_down == {51} and buf.pedal_held == {50}


def test_outlasted_keys_are_those_every_later_key_has_ended_before():
    buffer = PerformanceBuffer()
    buffer.note_on(48, 80, 1.0)
    assert buffer.outlasted() == []  # nothing struck after it
    buffer.note_on(72, 80, 1.2)
    assert buffer.outlasted() == []  # the later key is still down: the performer plays on
    buffer.note_off(72, 1.4)
    assert buffer.outlasted() == [(0, 48)]
    buffer.touch(48, 1.5)  # its own aftertouch: down for real, and no later key
    assert buffer.outlasted() == []
    buffer.note_on(60, 80, 1.6, channel=1)
    buffer.sustain(True, 1.7, channel=1)
    buffer.note_on(74, 80, 1.8)
    buffer.note_off(74, 1.9)
    assert buffer.outlasted() == [(0, 48)]  # 60's channel has its pedal down
