"""Raw MIDI bytes into the engine (the poll-mode rig): no exception, no hanging note, bounded queues."""

from __future__ import annotations

from fakes import hanging_notes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rig import CLOCKED, PRESET, make_rig

from livegen.midi import N_PITCHES

DATA = st.integers(0, 127)
CHANNEL = st.integers(0, 15)
#: one message as rtmidi hands it over: well-formed, or any bytes at all
MESSAGE = st.one_of(
    st.tuples(st.sampled_from([0x80, 0x90, 0xA0, 0xB0, 0xE0]), CHANNEL, DATA, DATA)
    .map(lambda m: [m[0] | m[1], m[2], m[3]]),
    st.tuples(st.sampled_from([0xC0, 0xD0]), CHANNEL, DATA).map(lambda m: [m[0] | m[1], m[2]]),
    st.tuples(CHANNEL, st.sampled_from([64, 66, 67, 120, 121, 123, 127]), DATA)  # pedal, modes
    .map(lambda m: [0xB0 | m[0], m[1], m[2]]),
    st.sampled_from([[0xF8], [0xFA], [0xFB], [0xFC], [0xFE], [0xFF], [0xF6], [0xF1, 0]]),
    st.tuples(DATA, DATA).map(lambda d: [0xF2, d[0], d[1]]),  # song position
    st.lists(DATA, max_size=24).map(lambda body: [0xF0, *body, 0xF7]),  # sysex
    st.lists(st.integers(0, 255), max_size=6),  # garbage, running status, truncated
)
#: a burst of notes in one instant (a flood), or one message after a pause
EVENT = st.one_of(
    st.tuples(st.lists(MESSAGE, min_size=1, max_size=4), st.floats(0.0, 0.3)),
    st.tuples(st.lists(st.tuples(DATA, st.integers(1, 127)).map(lambda n: [0x90, n[0], n[1]]),
                       min_size=20, max_size=200), st.just(0.0)),
)


def feed_events(rig, events, check=lambda: None) -> None:
    """Feed each event's messages at its time, then poll; ``check()`` after every poll."""
    for messages, dt in events:
        rig.clock.advance(dt)
        for data in messages:
            rig.engine.feed(data, rig.clock())
        rig.poll()
        check()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(EVENT, max_size=30), clocked=st.booleans())
def test_any_midi_input_leaves_no_note_hanging_and_no_queue_growing(events, clocked):
    preset = (CLOCKED if clocked else PRESET).replace(silence_s=0.1, max_seconds=1.0)
    rig = make_rig(preset)
    if clocked:
        rig.add_midi_clock()
    queue = rig.engine._loop._queue
    held_bound = 2 * preset.answer.max_notes + 2 * N_PITCHES  # answers' on/off + the panic

    def check() -> None:
        assert queue.qsize() == 0  # poll hands every queued message over
        assert rig.engine.scheduler.pending() <= held_bound
        assert len(rig.engine.buffer.notes()) <= preset.context_notes

    feed_events(rig, events, check)
    rig.poll_for(0.3)
    rig.engine.stop()
    assert hanging_notes(rig.port.messages) == {}
    assert rig.engine.scheduler.pending() == 0 and rig.engine.scheduler.sounding() == {}


def test_a_flood_leaves_the_rebuild_a_bounded_backlog():
    rig = make_rig(PRESET.replace(silence_s=0.1, max_seconds=1.0))
    backlog = []  # notes a rebuild under way has still to prime, after each poll
    burst = [[status, 40 + i % 40, 90 if status == 0x90 else 0]
             for i in range(100) for status in (0x90, 0x80)]
    flood = [(burst, 0.005)] * 20  # 2,000 notes in 0.1 s
    feed_events(rig, flood, lambda: backlog.append(len(rig.engine.generator._rebuild._todo)))
    rig.engine.stop()
    assert max(backlog) <= 4 * PRESET.context_notes
