"""Tests of livegen.osthread: naming a thread and asking for real-time priority never raise."""

from __future__ import annotations

import threading

from livegen.osthread import name_os_thread, request_realtime


def test_naming_and_priority_requests_never_raise_in_any_thread():
    results = []

    def work():
        name_os_thread("a-name-longer-than-the-kernel-allows")
        results.append(request_realtime())

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(5.0)
    assert results and isinstance(results[0], bool)  # True where permitted (root), else False


def test_the_engine_runs_real_time_only_under_a_real_time_server_and_below_its_threads():
    from livegen.osthread import ENGINE_PRIORITY, REALTIME_PRIORITY, engine_priority

    # a non-real-time JACK server, ALSA, CoreMIDI, Windows MM: normal priority
    assert engine_priority(None)[0] is None
    assert engine_priority(-1)[0] is None
    # jackd -R at its default -P 10: client threads at 5, the scheduler at 5
    priority, why = engine_priority(5)
    assert priority == ENGINE_PRIORITY and "SCHED_FIFO" in why
    assert 1 <= priority < REALTIME_PRIORITY and priority < 5
    # below the server's client threads when they are below the scheduler's, and the other way
    assert engine_priority(3, scheduler_priority=5)[0] < 3
    assert engine_priority(80, scheduler_priority=4)[0] < 4
    # no room below them: normal priority, never level with the server's threads
    for server, scheduler in ((1, 5), (5, 1), (1, 1)):
        priority, why = engine_priority(server, scheduler_priority=scheduler)
        assert priority is None and "normal priority" in why
