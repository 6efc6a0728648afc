"""Tests of livegen.clock: the MIDI clock follower and the grid in force."""

from __future__ import annotations

import json
from pathlib import Path

import mido
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from livegen.clock import MidiClock
from livegen.clockfit import stalled_for_s
from livegen.grid import GridSource
from livegen.midi import CLOCKS_PER_BEAT
from livegen.tempo import OnsetTempo

TICK_120_S = 0.5 / CLOCKS_PER_BEAT  # one clock at 120 BPM


def run_clock(clock: MidiClock, n: int, *, t0: float = 10.0, tick_s: float = TICK_120_S,
              jitter=None) -> list[float]:
    """Send ``n`` clocks from ``t0``; return their true (unjittered) times."""
    times = [t0 + i * tick_s for i in range(n)]
    for i, t in enumerate(times):
        clock.tick(t + (jitter[i] if jitter is not None else 0.0))
    return times


# -- MidiClock --------------------------------------------------------------------------


def test_start_then_clocks_give_tempo_and_the_beat_grid():
    clock = MidiClock()
    assert clock.grid() is None and clock.tempo_bpm is None
    clock.start()
    times = run_clock(clock, 60)
    assert clock.running and clock.position == 59 and clock.ticks == 60
    assert clock.tempo_bpm == pytest.approx(120.0)
    grid = clock.grid()
    assert grid.time_of(0) == pytest.approx(times[0])  # the first clock after Start is beat 1
    now = times[-1]
    assert clock.next_beat_s(now) == pytest.approx(times[0] + 1.5)  # position 72
    assert clock.next_bar_s(now, 4) == pytest.approx(times[0] + 2.0)
    assert clock.grid_time(times[0] + 0.13, "1/16") == pytest.approx(times[0] + 0.125)


def test_the_fit_is_robust_to_jitter_and_late_stamps():
    rng = np.random.default_rng(3)
    jitter = rng.uniform(0.0, 0.0013, 96) + rng.uniform(0.0, 0.001, 96)  # JACK period + poll
    jitter[[20, 50, 51, 80]] += 0.012  # a reader thread woken 12 ms late, four times
    clock = MidiClock()
    clock.start()
    times = run_clock(clock, 96, jitter=jitter)
    assert clock.tempo_bpm == pytest.approx(120.0, rel=1e-3)
    offset = float(np.median(jitter))  # stamps are late on average; the grid is too
    predicted = clock.next_beat_s(times[-1])
    assert abs(predicted - (times[0] + 2.0 + offset)) < 0.0005
    later = clock.grid().time_of(96 + 2 * CLOCKS_PER_BEAT)  # 1 s beyond the window
    assert abs(later - (times[0] + 3.0 + offset)) < 0.0007


def test_stop_keeps_the_tempo_and_continue_resumes_the_position():
    clock = MidiClock()
    clock.start()
    run_clock(clock, 30)
    clock.stop()
    assert not clock.running and clock.grid() is None
    assert clock.tempo_bpm == pytest.approx(120.0)
    clock.resume()
    assert clock.grid() is None  # until a clock is counted
    times = run_clock(clock, 1, t0=20.0)  # after a pause: a new fit, the old tempo
    assert clock.position == 30
    grid = clock.grid()
    assert grid.beat_s == pytest.approx(0.5)
    assert grid.next_beat_s(times[0]) == pytest.approx(times[0] + 18 * TICK_120_S)  # position 48


def test_song_position_pointer_sets_where_continue_resumes():
    clock = MidiClock()
    clock.start()
    run_clock(clock, 30)
    clock.stop()
    clock.song_position(16)  # 16 sixteenths: bar 2, beat 1
    clock.resume()
    times = run_clock(clock, 24, t0=20.0)
    assert clock.position == 96 + 23
    assert clock.next_bar_s(times[0], 4) == pytest.approx(times[0])  # position 96 is a bar line


def test_ticks_while_stopped_keep_the_tempo_but_no_grid():
    clock = MidiClock()
    run_clock(clock, 30, tick_s=0.6 / CLOCKS_PER_BEAT)  # a DAW that always sends clock
    assert clock.tempo_bpm == pytest.approx(100.0) and clock.position is None
    assert clock.grid() is None and clock.next_beat_s(0.0) is None
    assert clock.grid_time(1.234, "1/16") == 1.234


def test_tempo_change_is_followed_within_a_window():
    clock = MidiClock()
    clock.start()
    run_clock(clock, 96)
    slower = 0.6 / CLOCKS_PER_BEAT
    run_clock(clock, 96, t0=10.0 + 96 * TICK_120_S, tick_s=slower)
    assert clock.tempo_bpm == pytest.approx(100.0, rel=1e-6)


def test_handle_routes_mido_messages():
    clock = MidiClock()
    assert clock.handle(mido.Message("start"), 0.0) and clock.running
    assert clock.handle(mido.Message("clock"), 0.0) and clock.position == 0
    assert clock.handle(mido.Message("stop"), 0.1) and not clock.running
    assert clock.handle(mido.Message("songpos", pos=4), 0.1)
    assert clock.handle(mido.Message("continue"), 0.2) and clock.running
    clock.handle(mido.Message("clock"), 0.2)
    assert clock.position == 24
    assert not clock.handle(mido.Message("note_on", note=60), 0.3)


def test_midi_clock_bad_window_raises_value_error():
    with pytest.raises(ValueError, match="window_ticks"):
        MidiClock(window_ticks=1)


@settings(max_examples=60, deadline=None)
@given(bpm=st.floats(60, 200), seed=st.integers(0, 2**32 - 1), n=st.integers(48, 200))
def test_clock_tempo_and_next_beat_under_one_ms_of_jitter(bpm, seed, n):
    tick_s = 60.0 / bpm / CLOCKS_PER_BEAT
    jitter = np.random.default_rng(seed).uniform(-0.001, 0.001, n)
    clock = MidiClock()
    clock.start()
    times = run_clock(clock, n, tick_s=tick_s, jitter=jitter)
    assert clock.tempo_bpm == pytest.approx(bpm, rel=0.01)
    beat_s = 60.0 / bpm
    predicted = clock.next_beat_s(times[-1] + 0.001)
    true_next = times[0] + beat_s * np.ceil((times[-1] + 0.001 - times[0]) / beat_s - 1e-9)
    assert abs(predicted - true_next) < 0.002


def test_a_phase_step_restarts_the_fit_and_a_late_tick_does_not():
    clock = MidiClock()
    clock.start()
    run_clock(clock, 96)
    stall_s = 0.03  # the source stalled 30 ms and did not catch up: every later tick is late
    times = run_clock(clock, 4, t0=10.0 + 96 * TICK_120_S + stall_s)
    assert clock.next_beat_s(times[-1]) == pytest.approx(times[0] + 24 * TICK_120_S, abs=1e-6)
    assert clock.tempo_bpm == pytest.approx(120.0)
    clock = MidiClock()
    clock.start()
    jitter = np.zeros(120)
    jitter[100] = 0.012  # one tick 12 ms late, the next on time
    times = run_clock(clock, 120, jitter=jitter)
    assert clock.next_beat_s(times[-1]) == pytest.approx(times[0] + 5 * 0.5, abs=1e-4)



def test_lost_ticks_are_counted():
    clock = MidiClock()
    clock.start()
    true = [10.0 + i * TICK_120_S for i in range(130)]
    for i, t in enumerate(true):
        if i not in (100, 115, 116):  # one tick lost, then two in a row (missed JACK cycles)
            clock.tick(t)
    assert clock.position == 129
    assert clock.next_beat_s(true[-1]) == pytest.approx(true[0] + 6 * 0.5, abs=1e-6)
    assert clock.tempo_bpm == pytest.approx(120.0)


@pytest.mark.parametrize("shift_ticks", [1.0, 2.0, 1.1])
def test_a_server_stall_of_whole_ticks_is_a_phase_step_not_lost_ticks(shift_ticks):
    # a JACK server stopped for about one tick period: every tick after it comes that much
    # later, and none is missing. Without the stall known, it looks like a lost tick.
    stall_at = 100
    shift_s = shift_ticks * TICK_120_S
    ticks = [10.0 + i * TICK_120_S + (shift_s if i >= stall_at else 0.0) for i in range(130)]
    stall = (ticks[stall_at - 1] + 0.001, ticks[stall_at] - 0.0005)
    blind, told = MidiClock(), MidiClock(stalled=lambda a, b: a < stall[1] and b > stall[0])
    for clock in (blind, told):
        clock.start()
        for t in ticks:
            clock.tick(t)
    assert told.position == 129  # every tick counted once
    assert told.next_beat_s(ticks[-1]) == pytest.approx(ticks[0] + shift_s + 6 * 0.5, abs=1e-6)
    assert blind.position == 129 + round(shift_ticks)  # the stall taken for lost ticks


@pytest.mark.parametrize("seed", range(20))
def test_lost_ticks_are_counted_under_stamping_jitter(seed):
    # JACK's period (1.3 ms), the reader's polling (1 ms) and a busy machine jitter every
    # stamp by up to 4 ms, and a few stamps are 3-15 ms late; a lost tick must still be
    # counted, or every later note lands a whole tick (20.8 ms) late
    rng = np.random.default_rng(seed)
    clock = MidiClock()
    clock.start()
    true = [10.0 + i * TICK_120_S for i in range(160)]
    jitter = rng.uniform(0.0, 0.004, len(true))
    jitter += (rng.random(len(true)) < 0.02) * rng.uniform(0.003, 0.015, len(true))
    for i, t in enumerate(true):
        if i not in (100, 130, 131):
            clock.tick(t + jitter[i])
    assert clock.position == 159
    assert abs(clock.next_beat_s(true[-1]) - (true[0] + 7 * 0.5)) < 0.004  # the mean stamp delay


def clock_with_faults(n_ticks: int, faults: dict[int, str], seed: int):
    """A running MidiClock fed ``n_ticks`` of a 120-BPM clock under +-3 ms of jitter (plus
    stamping), with ``faults``: ``{tick: "lost" | "repeat"}`` (never delivered, or delivered
    again one JACK period on); returns it and the true tick times."""
    true = 10.0 + TICK_120_S * np.arange(n_ticks)
    clock = MidiClock()
    clock.start()
    for i, t in enumerate(jittered(true, np.random.default_rng(seed), 0.003)):
        kind = faults.get(i)
        if kind != "lost":
            clock.tick(t)
        if kind == "repeat":
            clock.tick(t + 64 / 48000)
    return clock, true


@pytest.mark.parametrize("seed", range(12))
def test_repeated_ticks_are_not_counted(seed):
    # a non-real-time JACK server lets a late client read the clock's buffer again one period
    # on: the same tick twice. Counted, it put the grid a whole tick (20.8 ms) early; an
    # end-to-end run on a busy machine answered 21 ms ahead of the beat.
    clock, true = clock_with_faults(200, {100: "repeat", 150: "repeat"}, seed)
    assert clock.position == 199
    assert abs(clock.grid().time_of(199 + 24) - true[-1] - 24 * TICK_120_S - STAMP_DELAY_S) < 0.002


@pytest.mark.parametrize("kinds", [("lost", "lost"), ("lost", "repeat"), ("repeat", "lost"),
                                   ("repeat", "repeat")])
@pytest.mark.parametrize("apart", [2, 3, 4, 6, 8, 12])
def test_two_faults_a_few_ticks_apart_are_both_numbered(kinds, apart):
    # two faults within the ticks that judge the first (7 at 120 BPM under 3 ms of jitter)
    # were taken for a phase step: the song position 2 ticks off, every note 42 ms late
    for seed in range(4):
        clock, true = clock_with_faults(300, {200: kinds[0], 200 + apart: kinds[1]}, seed)
        assert clock.position == 299, f"seed {seed}"
        error_s = clock.grid().time_of(299 + 24) - true[-1] - 24 * TICK_120_S - STAMP_DELAY_S
        assert abs(error_s) < 0.002, f"seed {seed}"


def test_a_late_stamp_just_before_a_lost_tick_is_no_second_fault():
    # the stamp before the lost tick 0.6 periods late: a staircase of 0.6 then 1 is no two faults
    clock = MidiClock()
    clock.start()
    true = 10.0 + TICK_120_S * np.arange(200)
    stamps = jittered(true, np.random.default_rng(1), 0.001)
    stamps[99] += 0.6 * TICK_120_S
    for i, t in enumerate(stamps):
        if i != 100:
            clock.tick(t)
    assert clock.position == 199


def test_grid_source_prefers_a_followed_running_clock_else_the_performers_tempo():
    clock, tempo = MidiClock(), OnsetTempo()
    source = GridSource(clock, tempo)
    assert source.grid(True) is None and source.followed(True) is None  # nothing known yet
    for i in range(6):
        tempo.add(1.0 + 0.6 * i)  # the performer: 100 BPM
    assert source.grid(True).bpm == pytest.approx(100.0) and source.followed(True) is None
    clock.start()
    run_clock(clock, 48)  # the DAW: 120 BPM
    assert source.grid(True).bpm == pytest.approx(120.0)
    assert source.followed(True) == clock.grid() and source.followed(False) is None
    assert source.grid(False).bpm == pytest.approx(100.0)  # the clock not followed


# -- the clock filter under jitter (issue 15 item 10) ------------------------------------

STAMP_DELAY_S = 0.0013 / 2 + 0.0005  # mean stamping delay: half a JACK period + half a poll


def grid_errors_s(clock: MidiClock, true_s, stamps, start: int, ahead=(1, 24)) -> np.ndarray:
    """Feed ``stamps``; from tick ``start`` on, how far the grid puts the next tick and the
    tick a beat ahead from their true times (less the mean stamping delay), seconds."""
    errors = []
    for i, t in enumerate(stamps):
        clock.tick(t)
        if i >= start:
            grid = clock.grid()
            errors += [grid.time_of(clock.position + k) - true_s[i + k] - STAMP_DELAY_S
                       for k in ahead]
    return np.abs(errors)


def jittered(true_s, rng, jitter_s: float) -> np.ndarray:
    """A source jittering by +-jitter_s, stamped through a JACK period (1.3 ms) and a 1 ms poll."""
    n = len(true_s)
    return (np.asarray(true_s) + rng.uniform(-jitter_s, jitter_s, n)
            + rng.uniform(0.0, 0.0013, n) + rng.uniform(0.0, 0.001, n))


@pytest.mark.parametrize("bpm", [60, 120, 200, 300])
@pytest.mark.parametrize("seed", range(4))
def test_the_grid_holds_within_2_ms_under_3_ms_of_tick_jitter(bpm, seed):
    # issue 15 item 10: a clock jittering by +-3 ms put notes up to 22.7 ms off the grid
    tick_s = 60.0 / bpm / CLOCKS_PER_BEAT
    true_s = 10.0 + tick_s * np.arange(1500 + 24)
    stamps = jittered(true_s[:1500], np.random.default_rng(seed), 0.003)
    clock = MidiClock()
    clock.start()
    errors = grid_errors_s(clock, true_s, stamps, start=96)  # from the second bar on
    assert clock.position == 1499  # no tick taken for lost
    assert errors.max() < 0.002


def step_tempo(bpm0: float, bpm1: float, n: int, change: int) -> np.ndarray:
    """True tick times: ``bpm0`` up to tick ``change``, ``bpm1`` after."""
    intervals = [60.0 / (bpm0 if i <= change else bpm1) / CLOCKS_PER_BEAT for i in range(1, n)]
    return 10.0 + np.concatenate([[0.0], np.cumsum(intervals)])


@pytest.mark.parametrize("bpm0, bpm1", [(120, 100), (60, 66), (300, 240), (300, 280)])
def test_a_tempo_step_is_followed_under_3_ms_of_jitter(bpm0, bpm1):
    # measured (seeds 0-2, the next 12 ticks): beats 2-4 after the step within 4.8 ms,
    # beats 4-8 within 3.4 ms, then within 0.5 ms; the old fit failed these bounds for 3 of
    # the 4 steps
    change, n = 600, 900
    true_s = step_tempo(bpm0, bpm1, n + 24, change)
    for seed in range(3):
        stamps = jittered(true_s[:n], np.random.default_rng(seed), 0.003)
        clock = MidiClock()
        clock.start()
        errors = grid_errors_s(clock, true_s, stamps, start=change, ahead=(12,))
        assert clock.position == n - 1
        assert errors[2 * CLOCKS_PER_BEAT:].max() < 0.006
        assert errors[8 * CLOCKS_PER_BEAT:].max() < 0.002
        assert clock.tempo_bpm == pytest.approx(bpm1, rel=0.002)


def test_a_steady_clock_is_followed_within_a_few_ticks_of_a_tempo_step():
    true_s = step_tempo(120, 100, 300 + 24, 200)
    clock = MidiClock()
    clock.start()
    errors = grid_errors_s(clock, true_s, true_s[:300] + STAMP_DELAY_S, start=200)
    assert errors[2 * 12:].max() < 0.001  # from the 12th tick (half a beat) after the step on
    assert errors[2 * 40:].max() < 0.0005


def test_lost_ticks_are_counted_at_300_bpm_under_2_ms_of_jitter():
    # the jitter (4 ms from end to end, plus 2.3 ms of stamping) is most of a tick (8.3 ms).
    # Measured over these 20 runs of 4 lost ticks: 1 run misses one (the old fit: 8 runs);
    # under +-3 ms, 6 runs miss some (the old fit: 14): see docs/reliability.md
    tick_s = 60.0 / 300 / CLOCKS_PER_BEAT
    true_s = 10.0 + tick_s * np.arange(600)
    missed = 0
    for seed in range(20):
        stamps = jittered(true_s, np.random.default_rng(seed), 0.002)
        clock = MidiClock()
        clock.start()
        for i, t in enumerate(stamps):
            if i not in (300, 400, 401, 500):
                clock.tick(t)
        missed += clock.position != 599
    assert missed <= 1


def test_ticks_stamped_in_bursts_are_followed():
    # found by tests/soak.py: a JACK client that missed cycles gets several clocks with one
    # stamp; the median tick interval was then 0 and the jump check divided by it (the old
    # fit too, in its first ticks)
    clock = MidiClock()
    clock.start()
    true_s = 10.0 + TICK_120_S * np.arange(600)
    stamps = true_s.copy()
    for start in range(0, 600, 12):  # every 12 ticks, 6 arrive together with the last one
        stamps[start:start + 6] = true_s[start + 5]
    for t in stamps:
        clock.tick(float(t))
    assert clock.position == 599
    assert clock.tempo_bpm == pytest.approx(120.0, rel=0.01)
    assert abs(clock.grid().time_of(600) - (true_s[-1] + TICK_120_S)) < 0.002


def starved_server_clock(rng, n: int, lost: set[int]) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """A clean 120 BPM clock as a non-real-time JACK dummy server on a busy machine delivers it.

    Modelled on the stamps livegen's JACK input recorded in test_jack_sync (12:00 runs of this
    round): intervals within +-0.5 ms, and every 6-24 ticks a server stall that moves every
    later tick 2-6 ms later (the clock source's timeline resumes where it stopped; the heard
    tempo drifts to 116-119 BPM). The ticks in ``lost`` never arrive (the source missed its
    cycle). Returns the stamps of the ticks that arrive and the stalls ``(start_s, end_s)``.
    """
    times, stalls, delay, t = [], [], 0.0, 10.0
    next_stall = int(rng.integers(6, 25))
    for i in range(n):
        if i == next_stall and i - 1 not in lost and i not in lost:
            step = float(rng.uniform(0.002, 0.006))
            stalls.append((t - TICK_120_S + delay + 0.0005, t + delay + step - 0.0005))
            delay += step
            next_stall = i + int(rng.integers(6, 25))
        elif i == next_stall:
            next_stall += 1
        times.append(t + delay + float(rng.normal(0.0, 0.0002)))
        t += TICK_120_S
    return np.array([s for i, s in enumerate(times) if i not in lost]), stalls


@pytest.mark.parametrize("seed", range(6))
def test_lost_ticks_are_counted_on_a_clean_clock_whose_server_stalls(seed):
    # test_jack_sync over merged main: answers two ticks late (median +41 ms). The clock
    # filter judged no jump while the line through the ticks before used fewer ticks than it
    # kept, which a clean clock with the micro-stalls of a starved server made it do nearly
    # always: of the ticks the sender missed (one a second), none was counted
    rng = np.random.default_rng(seed)
    lost = {int(i) for i in rng.choice(np.arange(60, 540, 40), 8, replace=False)}
    stamps, stalls = starved_server_clock(rng, 600, lost)
    clock = MidiClock(stalled=lambda a, b: any(s < b and e > a for s, e in stalls))
    clock.start()
    for t in stamps:
        clock.tick(float(t))
    assert clock.position == 599


def stalls_in_one_interval(t0: float) -> list[tuple[float, float]]:
    """Three server stalls of 4-5 ms spread over the 32 ms after ``t0``, the server running between:
    as test_jack_sync's JACK input recorded a starved dummy server (2-4 stalls of 3-7 ms within
    20-28 ms of one tick interval; the clock's phase stepped by 6-9 ms across them)."""
    return [(t0 + a, t0 + b) for a, b in ((0.003, 0.007), (0.015, 0.020), (0.030, 0.035))]


def test_a_stall_is_as_long_as_the_stalls_in_it_not_the_stretch_they_cover():
    stalls = stalls_in_one_interval(10.0)
    stalled = lambda a, b: any(s < b and e > a for s, e in stalls)  # noqa: E731
    assert stalled_for_s(stalled, 10.0, 10.05) == pytest.approx(0.014, abs=0.0015)
    assert stalled_for_s(stalled, 10.016, 10.032) == pytest.approx(0.006, abs=0.0015)
    assert stalled_for_s(stalled, 10.008, 10.014) == 0.0


@pytest.mark.parametrize("lost", [True, False])
def test_a_tick_lost_among_several_stalls_in_one_interval_is_counted(lost):
    # the stall was taken from the first one's start to the last one's end (32 ms): a pause of up
    # to 32 ms, so a jump of one period and the 7 ms the source paused (27.8 ms) was no lost tick,
    # and the song position ended one tick behind (every note 20.8 ms late)
    true = 10.0 + TICK_120_S * np.arange(200)
    true[120:] += 0.007  # the clock source paused with the server
    stalls = stalls_in_one_interval(float(true[119]))
    clock = MidiClock(stalled=lambda a, b: any(s < b and e > a for s, e in stalls))
    clock.start()
    for i, t in enumerate(true):
        if not (lost and i == 120):  # the port missed the cycle of tick 120
            clock.tick(float(t))
    assert clock.position == 199
    assert abs(clock.grid().time_of(199 + 24) - true[-1] - 24 * TICK_120_S) < 0.002


#: 67 ticks of jack_midi_clock as livegen's JACK input stamped them in test_jack_sync on a starved
#: dummy server (ms from the first), and the stalls the input reported (ms): after the 56th tick
#: the port lost one, across two stalls of 4 ms within 24 ms (the jump: a period and 3 ms)
RECORDED_STAMPS_MS = [
    0.00, 20.83, 41.63, 62.47, 83.31, 109.42, 130.24, 152.52, 173.36, 194.20, 215.02, 235.87,
    256.68, 277.52, 298.37, 319.21, 340.06, 360.85, 381.68, 402.54, 423.35, 444.20, 465.02, 486.90,
    506.71, 527.51, 548.62, 569.46, 590.43, 612.10, 632.97, 653.73, 674.58, 695.40, 716.25, 737.11,
    757.90, 780.11, 800.94, 824.43, 845.28, 866.10, 889.60, 910.44, 931.26, 954.03, 974.85, 997.77,
    1018.60, 1042.08, 1062.94, 1083.76, 1104.59, 1127.30, 1148.12, 1169.77, 1214.10, 1240.23,
    1261.07, 1281.90, 1304.10, 1327.23, 1348.95, 1369.77, 1391.42, 1412.28, 1436.22]
RECORDED_STALLS_MS = [
    (86.92, 90.97), (98.11, 102.72), (131.06, 134.99), (759.07, 763.18), (809.78, 815.08),
    (869.78, 875.06), (933.78, 938.52), (983.10, 987.19), (1025.76, 1031.08), (1105.76, 1110.41),
    (1171.12, 1175.17), (1191.10, 1195.19), (1223.12, 1227.20), (1228.47, 1235.03),
    (1292.21, 1294.95), (1304.44, 1310.39), (1417.76, 1423.28)]


def test_a_tick_lost_across_two_stalls_of_a_recorded_jack_clock_is_counted():
    # the two stalls were taken for one of 24 ms (the first's start to the second's end): a pause of
    # up to 24 ms, so the jump (23.9 ms) was no lost tick and the song position stayed one behind
    stalls = [(10.0 + a / 1000, 10.0 + b / 1000) for a, b in RECORDED_STALLS_MS]
    clock = MidiClock(stalled=lambda a, b: any(s < b and e > a for s, e in stalls))
    clock.start()
    for t in RECORDED_STAMPS_MS:
        clock.tick(10.0 + t / 1000)
    assert clock.position == len(RECORDED_STAMPS_MS)  # 0 to 66, and the tick lost


TRACES = Path(__file__).parent / "clock_traces"


def replay_trace(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Feed a recorded JACK clock (clock_traces/record.py) to a MidiClock told of the trace's
    server stalls; return each tick's position error (ticks) and the ticks' true positions."""
    trace = json.loads((TRACES / name).read_text())
    stalls = [(100.0 + s, 100.0 + e) for s, e in trace["stalls_s"]]
    clock = MidiClock(stalled=lambda a, b: any(s < b and e > a for s, e in stalls))
    clock.start()
    errors = []
    for t, position in zip(trace["stamps_s"], trace["positions"]):
        clock.tick(100.0 + t)
        errors.append(clock.position - position)
    return np.array(errors), np.array(trace["positions"])


def test_a_recorded_jack_clock_at_120_bpm_keeps_its_song_position():
    # 30 s of jack_midi_clock on this machine's non-real-time dummy server, stamped as livegen's
    # one-client JACK input stamps it; the true positions from JACK's frame counter. 74 server
    # stalls (some of 20-40 ms: a stall alone can look like a lost tick), 5 ticks lost, 4 of
    # them inside a stall. The 96-tick fit ends 4 ticks behind, the first clock filter 5
    # (wrong for 28 % and 76 % of the ticks)
    errors, positions = replay_trace("jack_dummy_120bpm.json")
    assert np.diff(positions).max() > 1  # ticks were lost
    assert errors[-1] == 0
    assert np.mean(errors != 0) < 0.02  # only while a jump is being judged (3 ticks)


def test_a_recorded_jack_clock_at_300_bpm_keeps_nearly_all_its_song_position():
    # the same at 300 BPM: 191 stalls, 26 ticks lost (two 2 ticks apart; three in one gap
    # with two stalls). Measured: 3 ticks behind at the end (5 before two close faults were
    # both numbered); the 96-tick fit 14, the first filter 25
    errors, _ = replay_trace("jack_dummy_300bpm.json")
    assert abs(errors[-1]) <= 5
