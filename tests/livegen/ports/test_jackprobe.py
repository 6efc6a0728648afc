"""The probe's own accounting: which repeated note_offs heard_once forgives (no JACK needed)."""

from __future__ import annotations

import pytest
from jackprobe import heard_once

OFF = [0x81, 67, 0]


class FakePort:
    def __init__(self, xruns: int, resent: int) -> None:
        self.xrun_repairs = (xruns, resent)


def test_repeats_are_dropped_as_far_as_the_port_sent_them_again():
    assert heard_once([OFF, OFF], FakePort(1, 1)) == [OFF]
    with pytest.raises(AssertionError, match="1 note_offs repeated, 0 sent again after 0 xruns"):
        heard_once([OFF, OFF], FakePort(0, 0))  # no xrun: nothing may come twice


def test_after_an_xrun_each_placed_note_off_may_be_heard_twice():
    # 1 note_off + 3 placed again = 4 placed; a stale buffer may repeat each once: 8 heard at most
    assert heard_once([OFF] * 8, FakePort(3, 3)) == [OFF]
    with pytest.raises(AssertionError, match="8 note_offs repeated"):
        heard_once([OFF] * 9, FakePort(3, 3))


def test_a_note_struck_again_is_no_repeat():
    on = [0x91, 67, 80]
    assert heard_once([on, OFF, on, OFF], FakePort(0, 0)) == [on, OFF, on, OFF]
