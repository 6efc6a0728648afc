"""Tests of livegen.stats: the engine's counters and the copy it hands out."""

from __future__ import annotations

import mido
import pytest
from fakes import FakeClock, FakePort

from livegen.scheduler import Scheduler
from livegen.stats import LATENCY_HISTORY, Counters, EngineStats


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
