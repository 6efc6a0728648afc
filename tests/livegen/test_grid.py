"""Tests of livegen.grid: beats, bar lines, note-value lines and swing."""

from __future__ import annotations

import pytest

from livegen.grid import DIVISIONS, BeatGrid, division_ticks
from livegen.midi import CLOCKS_PER_BEAT

TICK_120_S = 0.5 / CLOCKS_PER_BEAT  # one clock at 120 BPM


def test_beat_grid_lines_beats_and_bars():
    grid = BeatGrid(anchor_s=10.0, tick_s=TICK_120_S, anchor_tick=0)
    assert grid.beat_s == pytest.approx(0.5) and grid.bpm == pytest.approx(120.0)
    assert grid.next_beat_s(10.0) == pytest.approx(10.0)  # on a beat: that beat
    assert grid.next_beat_s(10.01) == pytest.approx(10.5)
    assert grid.next_bar_s(10.01, 4) == pytest.approx(12.0)
    assert grid.next_bar_s(10.01, 3) == pytest.approx(11.5)
    assert grid.next_bar_s(10.01, 4, every=2) == pytest.approx(14.0)
    assert grid.position(10.25) == pytest.approx(12.0)
    assert grid.time_of(48) == pytest.approx(11.0)


def test_beat_grid_counts_from_its_anchor_tick():
    grid = BeatGrid(anchor_s=10.0, tick_s=TICK_120_S, anchor_tick=36)  # 1.5 beats in
    assert grid.next_beat_s(10.0) == pytest.approx(10.25)  # position 48
    assert grid.next_bar_s(10.0, 4) == pytest.approx(10.0 + (96 - 36) * TICK_120_S)


def test_grid_time_snaps_to_the_nearest_line_with_swing():
    grid = BeatGrid(anchor_s=0.0, tick_s=TICK_120_S)
    assert grid.grid_time(0.13, "1/16") == pytest.approx(0.125)
    assert grid.grid_time(0.19, "1/16") == pytest.approx(0.25)
    assert grid.grid_time(0.3, "1/4") == pytest.approx(0.5)
    assert grid.grid_time(0.1, "1/8t") == pytest.approx(0.5 / 3)
    # triplet swing on eighths: the off-beat moves from 0.25 s to 1/3 of the beat
    assert grid.grid_time(0.3, "1/8", swing=1 / 3) == pytest.approx(0.5 / 3 * 2)
    assert grid.grid_time(0.2, "1/8", swing=1 / 3) == pytest.approx(0.5 / 3 * 2)
    assert grid.grid_time(0.05, "1/8", swing=1 / 3) == pytest.approx(0.0)  # on-beats stay


def test_division_ticks():
    assert division_ticks("1/16") == 6 and division_ticks("1/4") == CLOCKS_PER_BEAT
    assert all(96 % ticks == 0 for ticks in DIVISIONS.values())


@pytest.mark.parametrize("division", ["1/5", "", None, 16])
def test_unknown_division_raises_value_error(division):
    with pytest.raises(ValueError, match="division"):
        division_ticks(division)
    with pytest.raises(ValueError, match="division"):
        BeatGrid(0.0, TICK_120_S).grid_time(0.1, division)
