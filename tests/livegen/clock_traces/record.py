"""How clock_traces/*.json were made: a MIDI clock on a JACK server, with the truth from frames.

A JACK client (the ``JACK-Client`` package, not a livegen dependency: install it in a
scratch venv) records, every cycle, CLOCK_MONOTONIC, ``last_frame_time`` and the frame
offset of each clock tick from ``jack_midi_clock -b BPM``. Offline, each tick is stamped
as livegen's one-client JACK input stamps it (``livegen/_jackmidi.c``: k frames into
the span since the previous cycle, capped at one period after a stall) and each server
stall is listed as that input lists it (more than a period of clock beyond the frames
moved between two cycles). The tick's true song position is its frame over the frames
a tick lasts (48000 x 60 / BPM / 24); ticks from one frame span (jack_midi_clock sent one
twice) are dropped.

    python record.py 30 trace.raw.json 120 && python record.py --convert trace.raw.json 120 out.json
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np


def record(seconds: float, path: str, bpm: str) -> None:
    import jack  # JACK-Client

    client = jack.Client("lg-clock-trace", no_start_server=True)
    port = client.midi_inports.register("in")
    cycles, ticks = [], []

    @client.set_process_callback
    def process(frames):
        cycles.append((time.monotonic(), client.last_frame_time, frames))
        for offset, data in port.incoming_midi_events():
            if bytes(data) == b"\xf8":
                ticks.append((len(cycles) - 1, offset))

    client.activate()
    env = {**os.environ, "JACK_NO_START_SERVER": "1"}
    source = subprocess.Popen(["jack_midi_clock", "-b", bpm, "-B"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)
    out = next(p.name for p in client.get_ports(is_midi=True, is_output=True)
               if p.name.endswith("mclk_out"))
    client.connect(out, port.name)
    subprocess.run(["jack_transport"], input="locate 0\nplay\n", text=True, env=env, capture_output=True)
    time.sleep(seconds)
    subprocess.run(["jack_transport"], input="stop\n", text=True, env=env, capture_output=True)
    source.terminate()
    source.wait()
    client.deactivate()
    client.close()
    with open(path, "w") as f:
        json.dump({"cycles": cycles, "ticks": ticks}, f)


def convert(raw_path: str, bpm: float, out_path: str, rate_hz: float = 48000.0) -> None:
    with open(raw_path) as f:
        raw = json.load(f)
    cycles = raw["cycles"]
    spans, stalls, last_s, last_frame = [], [], 0.0, 0
    for now_s, frame, nframes in cycles:
        period_s = nframes / rate_hz
        if last_s > 0 and now_s - last_s > ((frame - last_frame) % (1 << 32)) / rate_hz + period_s:
            stalls.append((last_s, now_s))
        start_s = last_s
        if start_s <= 0 or start_s < now_s - 2 * period_s or start_s >= now_s:
            start_s = now_s - period_s
        spans.append((start_s, (now_s - start_s) / nframes))
        last_s, last_frame = now_s, frame
    stamps = np.array([spans[c][0] + k * spans[c][1] for c, k in raw["ticks"]])
    frames = np.array([cycles[c][1] + k for c, k in raw["ticks"]], float)
    positions = np.round((frames - frames[0]) / (rate_hz * 60.0 / bpm / 24)).astype(int)
    keep = np.concatenate(([True], np.diff(positions) > 0))
    stamps, positions = stamps[keep], positions[keep]
    t0 = stamps[0]
    with open(out_path, "w") as f:
        json.dump({"bpm": bpm, "dropped_duplicates": int((~keep).sum()),
                   "stamps_s": [round(float(t - t0), 7) for t in stamps],
                   "stalls_s": [[round(s - t0, 7), round(e - t0, 7)] for s, e in stalls],
                   "positions": positions.tolist()}, f, separators=(",", ":"))


if __name__ == "__main__":
    if sys.argv[1] == "--convert":
        convert(sys.argv[2], float(sys.argv[3]), sys.argv[4])
    else:
        record(float(sys.argv[1]), sys.argv[2], sys.argv[3])
