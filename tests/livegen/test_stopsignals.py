"""Tests of livegen.stopsignals: every stop signal sets the event, and the old handlers come back."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from livegen.stopsignals import STOP_SIGNALS, StopSignals


@pytest.mark.parametrize("name", STOP_SIGNALS)
def test_a_stop_signal_sets_the_event_and_the_old_handler_comes_back(name):
    signum = getattr(signal, name)
    before = signal.getsignal(signum)
    stop = threading.Event()
    with StopSignals(stop):
        os.kill(os.getpid(), signum)  # handled by Python in this (the main) thread
        assert stop.wait(2.0)
    assert signal.getsignal(signum) == before


def test_entered_from_another_thread_it_changes_nothing():
    before = signal.getsignal(signal.SIGHUP)
    seen = []

    def work():
        with StopSignals(threading.Event()):
            seen.append(signal.getsignal(signal.SIGHUP))

    thread = threading.Thread(target=work)
    thread.start()
    thread.join(2.0)
    assert seen == [before]
