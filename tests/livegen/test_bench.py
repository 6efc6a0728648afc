"""``livegen bench``: livegen/bench.py and its CLI wiring.

Structure and sanity only (p50 <= p99, ratios > 0, the JSON parses): the
machines that run the tests are shared and noisy, so no figure's size is
asserted (DESIGN.md: speed goals live in the benchmark, never in timed asserts).
The stand-in ONNX model of test_cli.py keeps these tests independent of training.
"""

from __future__ import annotations

import gc
import json
import sys

import pytest
from test_cli import write_tiny_model  # tests/livegen is on sys.path (pytest's rootdir-less mode)

from livegen import bench, bench_daemon, cli, ports
from livegen.errors import BackendError
from livegen.model import METADATA_KEY, Model

#: a few samples of everything, so the whole file runs in seconds
TINY = bench.Settings(warmup=5, steps=50, rereads=2, one_calls=3, torch_steps=20, responses=2,
                      response_s=0.5, idle_s=0.5)
#: a small network shape for the rows that build the model's layers (one run, PyTorch)
NETWORK = {"vocab_size": 392, "n_styles": 6, "embed": 8, "style_embed": 4, "hidden": 8,
           "layers": 2, "dropout": 0.0}


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("bench") / "tiny.onnx")


@pytest.fixture(scope="module")
def tiny(tiny_path) -> Model:
    return Model.load(tiny_path)


@pytest.fixture(scope="module")
def shaped(tmp_path_factory) -> Model:
    """The stand-in model whose metadata also carries a network shape, as exported models do."""
    import onnx

    path = write_tiny_model(tmp_path_factory.mktemp("bench") / "shaped.onnx")
    proto = onnx.load(str(path))
    entry = next(e for e in proto.metadata_props if e.key == METADATA_KEY)
    entry.value = json.dumps({**json.loads(entry.value), "network": NETWORK})
    onnx.save(proto, str(path))
    return Model.load(path)


def assert_timing(figure: bench.Figure, samples: int | None = None) -> None:
    assert figure.skipped is None, figure.skipped
    assert 0 <= figure.p50 <= figure.p99 <= figure.max
    assert figure.mean > 0 and figure.samples > 0
    if samples is not None:
        assert figure.samples == samples


# --- model cost -------------------------------------------------------------------------------


def test_step_and_stateless_reread(tiny):
    step = bench.bench_step(tiny, steps=50, warmup=5)
    assert_timing(step, 50)
    assert step.target and step.passed in (True, False)
    reread = bench.bench_reread(tiny, 2, step)
    assert_timing(reread, 2)
    assert reread.ratio > 0 and reread.passed in (True, False)


def test_one_run_reread_needs_the_network_shape(tiny, shaped):
    step = bench.bench_step(tiny, steps=20, warmup=2)
    skipped = bench.bench_reread_one_call(tiny, 2, step)
    assert "network" in skipped.skipped and skipped.passed is None
    pytest.importorskip("onnx")
    one_run = bench.bench_reread_one_call(shaped, 3, step)
    assert_timing(one_run, 3)
    assert one_run.ratio > 0


def test_torch_row_is_skipped_without_torch(shaped, monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    step = bench.bench_step(shaped, steps=20, warmup=2)
    figure = bench.bench_torch(shaped, 10, step)
    assert figure.skipped and "torch" in figure.skipped and figure.passed is None


@pytest.mark.torch
def test_torch_row_times_the_model_shape(shaped):
    pytest.importorskip("torch")
    pytest.importorskip("livegen_train.network")
    step = bench.bench_step(shaped, steps=20, warmup=2)
    figure = bench.bench_torch(shaped, 20, step, warmup=2)
    assert_timing(figure, 20)
    assert figure.ratio > 0 and "random weights" in figure.note


# --- real time --------------------------------------------------------------------------------


def test_trigger_figures(tiny):
    figures = {f.key: f for f in bench.bench_trigger(tiny, 2)}
    assert list(figures) == ["trigger", "trigger_compute", "engine_lateness"]
    for key in ("trigger", "trigger_compute"):
        assert_timing(figures[key], 2)
    # the first note_on leaves on the silence deadline, never before it
    assert figures["trigger"].p50 >= 0
    assert figures["trigger"].passed in (True, False)
    assert figures["engine_lateness"].samples >= 2


def test_scheduler_lateness(tiny):
    figure = bench.bench_scheduler(0.5, rate_hz=16.0)
    assert_timing(figure, 2 * 8)  # 8 notes: note_on + note_off each
    assert figure.p50 >= 0  # nothing leaves before its deadline
    assert figure.passed in (True, False)


@pytest.fixture(autouse=True)
def _unfreeze():
    """bench.run freezes the collector as the daemon does; other tests want it back."""
    yield
    gc.unfreeze()


def test_gc_pause_is_measured_after_the_freeze():
    assert gc.get_freeze_count() == 0
    figure = bench.bench_gc(collections=3)
    assert_timing(figure, 3)
    assert gc.get_freeze_count() > 1000  # everything loaded so far (pytest, numpy, livegen...)
    assert "without the freeze" in figure.note and "objects tracked" in figure.note


def test_daemon_figures_skipped_without_a_backend(tiny_path, monkeypatch):
    def no_backend(backend="auto"):
        raise BackendError("no ALSA sequencer and no JACK server running")

    monkeypatch.setattr(ports, "jack_running", lambda: False)
    monkeypatch.setattr(ports, "resolve_backend", no_backend)
    figures = bench_daemon.bench_daemon(tiny_path, 0.1)
    assert [f.key for f in figures] == ["cold_start", "idle_cpu", "rss", "sigint_exit"]
    assert all("no JACK server" in f.skipped and f.passed is None for f in figures)


@pytest.mark.jack
def test_daemon_figures_on_jack(jack_server, tiny_path):
    figures = {f.key: f for f in bench_daemon.bench_daemon(tiny_path, 0.5)}
    assert all(f.skipped is None for f in figures.values()), figures
    assert figures["cold_start"].value > 0
    assert figures["sigint_exit"].value == 0 and figures["sigint_exit"].passed
    if sys.platform.startswith("linux"):
        assert figures["idle_cpu"].value >= 0 and figures["rss"].value > 0


# --- report and CLI ---------------------------------------------------------------------------


def test_targets_are_judged_and_shown():
    fast = bench.Figure("step", "one step", p50=0.1, p99=0.5, max=0.9).judge()
    slow = bench.Figure("step", "one step", p50=0.1, p99=3.0, max=3.0).judge()
    info = bench.Figure("torch", "torch", p50=1.0, p99=2.0, max=2.0, ratio=10.0).judge()
    rss = bench.Figure("rss", "rss", unit="MB", value=150.0).judge()
    gone = bench.Figure("idle_cpu", "idle", unit="%", skipped="no JACK").judge()
    assert (fast.passed, slow.passed, info.passed, rss.passed, gone.passed) == (
        True, False, None, True, None)
    assert fast.target == "p50 <= 0.2 ms, p99 <= 1 ms" and rss.target == "value < 200 MB"
    report = bench.Report({"mode": "quick", "date_utc": "today", "cores": 2, "cpu": "cpu",
                           "load_avg_start": None, "python": "3", "onnxruntime": "1",
                           "numpy": "2", "model": "m.onnx", "model_mb": 1.0, "model_state": "1 x 8"},
                          [fast, slow, info, rss, gone])
    assert not report.passed
    text = bench.format_report(report)
    assert "FAIL" in text and "pass" in text and "10.0x" in text and "150.0 MB" in text
    assert "skipped [1]" in text and "[1] skipped: no JACK" in text
    assert json.loads(json.dumps(report.to_dict()))["passed"] is False


@pytest.fixture
def quick_bench(monkeypatch):
    """Make ``--quick`` tiny and skip the daemon (tested above), so the CLI runs in seconds."""
    monkeypatch.setattr(bench, "QUICK", TINY)
    monkeypatch.setattr(bench_daemon, "bench_daemon", lambda path, idle_s: bench._skip_all(
        [bench.Figure("cold_start", "daemon cold start to ready", "s")], "not in this test"))


def test_cli_prints_the_table(quick_bench, tiny_path, capsys):
    assert cli.main(["bench", "--quick", "--model", str(tiny_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("livegen bench (quick)")
    assert "cores" in out and "onnxruntime" in out and str(tiny_path) in out
    for label in ("one step, onnxruntime", "stateless: re-read 50 notes", "trigger -> first note_on",
                  "scheduler lateness", "PyTorch eager", "full GC pause"):
        assert label in out


def test_cli_json(quick_bench, tiny_path, capsys):
    assert cli.main(["bench", "--quick", "--json", "--model", str(tiny_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["context"]["model"] == str(tiny_path) and report["context"]["cores"] >= 1
    figures = {f["key"]: f for f in report["figures"]}
    assert {"step", "reread", "reread_one_call", "trigger", "lateness", "torch", "gc_pause"} <= set(figures)
    assert figures["step"]["p50"] <= figures["step"]["p99"]
    assert figures["reread"]["ratio"] > 0
    assert isinstance(report["passed"], bool)


def test_cli_missing_model_is_one_line(tmp_path, capsys):
    assert cli.main(["bench", "--quick", "--model", str(tmp_path / "absent.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("livegen: error: ") and "absent.onnx" in err[0]
