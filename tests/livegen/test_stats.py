"""Tests of livegen.stats: the engine's counters, the copy it hands out, and its published activity."""

from __future__ import annotations

import mido
import pytest
from fakes import FakeClock, FakePort

from livegen.midi import CLOCKS_PER_BEAT
from livegen.scheduler import Scheduler
from livegen.stats import LATENCY_HISTORY, TEMPO_BEATS, Activity, Counters, EngineStats, State


def test_a_snapshot_copies_the_counts_and_the_schedulers_figures():
    clock = FakeClock()
    port = FakePort(clock)
    scheduler = Scheduler(port.send, now=clock)
    scheduler.schedule(clock() - 0.002, mido.Message("note_on", note=60, velocity=80))
    scheduler.schedule(clock() - 0.001, mido.Message("note_off", note=60))
    scheduler.run_due()
    counters = Counters()
    counters.responses, counters.barge_ins, counters.collisions_avoided = 2, 1, 3
    counters.messages_in, counters.dropped_messages, counters.errors = 7, 1, 1
    counters.rebuilds, counters.stuck_keys = 4, 1
    counters.latencies_ms.append(1.5)
    stats = counters.snapshot(scheduler)
    assert stats == EngineStats(responses=2, notes_sent=1, messages_in=7, dropped_messages=1,
                                barge_ins=1, collisions_avoided=3, errors=1, rebuilds=4,
                                stuck_keys=1, send_errors=0, latencies_ms=[1.5],
                                lateness_ms=[pytest.approx(2.0), pytest.approx(1.0)])
    counters.latencies_ms.append(3.0)
    counters.responses += 1
    assert stats.latencies_ms == [1.5] and stats.responses == 2  # a copy, not a view


def test_only_the_latest_latencies_are_kept():
    counters = Counters()
    for i in range(LATENCY_HISTORY + 5):
        counters.latencies_ms.append(float(i))
    kept = list(counters.latencies_ms)
    assert len(kept) == LATENCY_HISTORY and kept[0] == 5.0 and kept[-1] == LATENCY_HISTORY + 4


def test_activity_counts_what_it_hears_and_the_clocks_tempo_once_a_beat():
    activity = Activity("romantic")
    for i in range(CLOCKS_PER_BEAT - 1):
        activity.heard(mido.Message("clock"), 10.0 + i * 0.02)
    assert activity.tempo_bpm is None  # not a beat yet
    for i in range(CLOCKS_PER_BEAT - 1, 3 * CLOCKS_PER_BEAT):
        activity.heard(mido.Message("clock"), 10.0 + i * 0.02 + (0.005 if i % 2 else 0.0))  # jitter
    assert activity.tempo_bpm == pytest.approx(60 / (CLOCKS_PER_BEAT * 0.02))  # 125 BPM
    assert activity.clock_s == pytest.approx(11.425) and not activity.clock_running
    activity.heard(mido.Message("start"), 12.0)
    assert activity.clock_running and activity.tempo_bpm is not None  # kept until the new run's beat
    activity.heard(mido.Message("note_on", note=61, velocity=90), 12.1)
    activity.heard(mido.Message("note_on", note=64, velocity=0), 12.2)  # a note_off
    activity.heard(mido.Message("control_change", control=74, value=90), 12.3)
    activity.heard(mido.Message("stop"), 12.4)
    assert (activity.notes_in, activity.last_pitch, activity.control) == (1, 61, (74, 90, 12.3))
    assert not activity.clock_running and activity.messages_in == 3 * CLOCKS_PER_BEAT + 5


def test_activity_states_an_answer_prepared_then_sounding_then_over():
    activity = Activity("romantic")
    assert activity.state_at(0.0) is State.LISTENING
    activity.answering(5.0)
    assert activity.state_at(4.99) is State.PREPARING and activity.state_at(5.0) is State.ANSWERING
    activity.idle(enabled=False)
    assert activity.state_at(6.0) is State.OFF and activity.answer_s is None
    activity.idle(enabled=True)
    assert activity.state_at(6.0) is State.LISTENING


def test_one_late_clock_tick_barely_moves_the_tempo_shown():
    activity = Activity("romantic")
    stamps = [i * 0.02 for i in range(TEMPO_BEATS * CLOCKS_PER_BEAT + 1)]
    stamps[-1] += 0.015  # the beat's last tick, 15 ms late (a busy sender)
    for t in stamps[1:]:
        activity.heard(mido.Message("clock"), t)
    mean_bpm = 60.0 * (len(stamps) - 2) / CLOCKS_PER_BEAT / (stamps[-1] - stamps[1])
    assert abs(mean_bpm / 125.0 - 1) > 0.01  # the ends alone would be 1.5 % off
    assert activity.tempo_bpm == pytest.approx(125.0, rel=0.005)
