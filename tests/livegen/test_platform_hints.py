"""Issue 16: advice that applies to one OS is given on that OS only.

The scheduler thread asks for SCHED_FIFO (Linux); where the OS has no such
thing (Windows, macOS), "real-time priority not permitted ... see README" sends
the user to a Linux-only fix. Here a platform without SCHED_FIFO is faked.
"""

from __future__ import annotations

import logging
import time

import mido

from livegen import schedthread
from livegen.scheduler import Scheduler


def _start_and_stop(caplog) -> str:
    caplog.set_level(logging.INFO, logger="livegen.schedthread")
    scheduler = Scheduler(lambda msg: None, realtime=True)
    scheduler.start()
    scheduler.schedule(0.0, mido.Message("control_change", control=1, value=0))
    give_up_s = time.monotonic() + 5.0
    while scheduler.realtime_granted is None and time.monotonic() < give_up_s:
        time.sleep(0.001)  # the thread sets it first thing
    scheduler.stop()
    return caplog.text


def test_without_sched_fifo_no_real_time_hint_is_given(monkeypatch, caplog):
    monkeypatch.setattr(schedthread, "request_realtime", lambda: False)
    monkeypatch.setattr(schedthread, "REALTIME_SUPPORTED", False, raising=False)
    text = _start_and_stop(caplog)
    assert "not permitted" not in text and "README" not in text


def test_where_sched_fifo_exists_but_is_refused_the_hint_is_given(monkeypatch, caplog):
    monkeypatch.setattr(schedthread, "request_realtime", lambda: False)
    monkeypatch.setattr(schedthread, "REALTIME_SUPPORTED", True, raising=False)
    assert "real-time priority not permitted" in _start_and_stop(caplog)
