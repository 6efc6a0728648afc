"""``python -m livegen_train.bench_notochord``: livegen's note against Notochord's event.

Structure and sanity only: no figure's size is asserted (DESIGN.md: speed goals live
in the benchmark). Notochord is optional (its wheel pins an older torch); the rows
that need it are skipped here when it is not installed, and the bench skips them
with the reason.
"""

from __future__ import annotations

import json
import sys

import pytest
from test_bench_torch import write_stand_in

from livegen.bench.steps import PHRASE
from livegen.presets import load_preset
from livegen_train import bench_notochord

TINY = bench_notochord.Settings(notes=6, events=3, warmup=1)


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    return write_stand_in(tmp_path_factory.mktemp("notochord") / "m.onnx")


def test_the_phrase_is_note_on_and_note_off_events_in_time_order():
    events = bench_notochord.phrase_events(2)
    assert len(events) == 2 * 2 * len(PHRASE)
    assert all(inst == bench_notochord.PIANO and dt >= 0 for inst, _, dt, _ in events)
    assert sum(1 for *_, vel in events if vel == 0) == 2 * len(PHRASE)
    last_end = max(onset + duration for _, _, onset, duration in PHRASE) + bench_notochord.PHRASE_S
    assert sum(dt for _, _, dt, _ in events) == pytest.approx(last_end)


def test_without_notochord_its_rows_are_skipped_with_the_reason(monkeypatch):
    monkeypatch.setitem(sys.modules, "notochord", None)  # import notochord -> ImportError
    row = bench_notochord.bench_notochord("notochord", 3, 1)
    assert "notochord is not installed" in row.skipped and row.passed is None
    assert row.target == "ratio >= 8x"


def test_livegen_rows_then_notochords_judged_against_the_costliest_preset(stand_in, monkeypatch, tmp_path):
    pytest.importorskip("notochord")
    monkeypatch.setitem(bench_notochord.SHAPES, "notochord",
                        ("small stand-in for the default", {"emb_size": 16, "rnn_hidden": 16}))
    report = bench_notochord.run(str(stand_in), settings=TINY, presets={
        "folk": load_preset("folk"), "classical": load_preset("classical").replace(follow=0.3),
        "broken": tmp_path / "missing.yaml"})
    figures = {f.key: f for f in report.figures}
    assert list(figures) == ["note.folk", "note.folk.follow", "note.classical", "note.broken",
                             "notochord", "notochord_small"]
    assert "missing.yaml" in figures.pop("note.broken").skipped
    for f in figures.values():
        assert f.skipped is None and 0 <= f.p50 <= f.p99 <= f.max
    costliest = max((figures["note.folk"], figures["note.classical"]), key=lambda f: f.p50)
    assert figures["notochord"].ratio == pytest.approx(figures["notochord"].p50 / costliest.p50)
    assert costliest.key in figures["notochord"].note and "in CPU time" in figures["notochord"].note
    assert all(f.note.startswith("CPU time p50 ") for f in figures.values())
    assert figures["notochord"].passed in (True, False)
    assert json.loads(json.dumps(report.to_dict()))["figures"][0]["key"] == "note.folk"


def test_a_missing_model_is_one_line(tmp_path, capsys):
    assert bench_notochord.main(["--model", str(tmp_path / "none.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("python -m livegen_train.bench_notochord: error:")
