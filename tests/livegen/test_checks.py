"""Tests of livegen.checks: the shared field checks of the preset sections."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from livegen.checks import is_control, is_int, is_number, normalize, require
from livegen.errors import PresetError


@dataclass(frozen=True)
class _Section:
    rate: float = 1.0
    count: int = 2

    def __post_init__(self) -> None:
        normalize(self)


def test_require_raises_on_the_first_failed_check_with_the_value_received():
    section = _Section(rate=-1.0, count=0)
    with pytest.raises(PresetError, match=r"^rate must be > 0 \(received -1.0\)$"):
        require(section, [("rate", section.rate > 0, "> 0"), ("count", section.count > 0, "> 0")])
    require(section, [("count", True, "anything")])  # passing checks raise nothing


def test_normalize_stores_declared_types():
    section = _Section(rate=3, count=np.int32(4))
    assert isinstance(section.rate, float) and type(section.count) is int
    assert _Section(rate=True).rate is True  # a bool is no number: left for require to refuse


@pytest.mark.parametrize(("value", "number", "integer"), [
    (1, True, True), (1.5, True, False), (np.int64(3), True, True), (True, False, False),
    (float("nan"), False, False), (float("inf"), False, False), ("1", False, False)])
def test_number_and_integer(value, number, integer):
    assert is_number(value) is number and is_int(value) is integer


def test_a_control_is_0_to_119_but_not_the_sustain_pedal():
    assert is_control(0) and is_control(119) and is_control(67)
    assert not is_control(64) and not is_control(120) and not is_control(-1) and not is_control(21.0)
