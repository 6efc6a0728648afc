"""Tests of livegen.stopsignals: every stop signal sets the event, and the old handlers come back."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
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


WATCHED = """
import sys, time
from livegen.stopsignals import closing_watchdog
with closing_watchdog(None if sys.argv[2] == "none" else float(sys.argv[2])):
    time.sleep(float(sys.argv[1]))  # the close that hangs, or one that does not
time.sleep(0.6)  # past the watchdog's time: it was cancelled
print("closed")
"""


@pytest.mark.parametrize(("closing_s", "watchdog", "code", "said"),
                         [(0.0, "0.3", 0, "closed"), (30.0, "0.3", 1, ""), (0.6, "none", 0, "closed")])
def test_the_closing_watchdog_ends_a_hung_close_only(closing_s, watchdog, code, said):
    done = subprocess.run([sys.executable, "-c", WATCHED, str(closing_s), watchdog], capture_output=True,
                          text=True, timeout=20)
    assert (done.returncode, done.stdout.strip()) == (code, said), done.stderr
    assert ("Timeout (0:00:00.300000)!" in done.stderr) == (code == 1), done.stderr
