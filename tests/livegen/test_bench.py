"""``livegen bench``: the package livegen/bench/ and its CLI wiring.

Structure and sanity only (p50 <= p99, ratios > 0, the JSON parses): the
machines that run the tests are shared and noisy, so no figure's size is
asserted (DESIGN.md: speed goals live in the benchmark, never in timed asserts).
The stand-in ONNX model of test_cli.py keeps these tests independent of training.
The rows that need torch/onnx are tested in tests/livegen_train/test_bench_torch.py.
"""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import shutil
import subprocess
import sys
import time

import pytest
from fakes import FakeModel
from rig import PRESET
from test_cli import (  # tests/livegen is on sys.path (pytest's rootdir-less mode)
    packaged_tiny_models,
    write_tiny_model,
)

from livegen import bench, cli, generation, ports, presets
from livegen.bench import daemon as bench_daemon
from livegen.bench import listener as bench_listener
from livegen.bench import report as bench_report
from livegen.bench import steps as bench_steps
from livegen.bench import suite
from livegen.errors import BackendError
from livegen.model import Model

#: a few samples of everything, so the whole file runs in seconds
TINY = bench.Settings(warmup=5, steps=50, rereads=2, notes=4, responses=2, response_s=0.5, idle_s=0.5)


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return write_tiny_model(tmp_path_factory.mktemp("bench") / "tiny.onnx")


@pytest.fixture(scope="module")
def tiny(tiny_path) -> Model:
    return Model.load(tiny_path)


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


# --- real time --------------------------------------------------------------------------------


def test_a_note_row_per_preset_with_guidance_and_follow_beside_it(tiny):
    """Issue 14: one generated note per shipped preset; what guidance and the follower cost."""
    step = bench.bench_step(tiny, steps=20, warmup=2)
    figures = {f.key: f for f in bench.bench_notes(tiny, 6, 2, base=step)}
    names = list(presets.list_presets())
    assert {"romantic", "baroque", "classical", "modern", "folk"} <= set(names)
    for name in names:
        preset = presets.load_preset(name)
        row = figures[f"note.{name}"]
        assert_timing(row, 6)
        assert row.ratio > 0 and row.target == "p50 <= 1 ms" and row.passed in (True, False)
        assert (f"note.{name}.unguided" in figures) == (preset.conditioning.style_guidance > 0)
        if preset.value("follow") > 0:  # shipped following the player: the row beside it without
            assert_timing(figures[f"note.{name}.nofollow"], 6)
        else:
            assert_timing(figures[f"note.{name}.follow"], 6)
            assert "follow 0.5" in figures[f"note.{name}.follow"].note
        assert row.note.startswith("CPU time p50 ")  # beside the wall-clock figures


def test_an_int8_graph_is_timed_beside_its_float32_source(tiny, tmp_path):
    """The shipped graph is int8 (livegen_train.quantize): each preset's row on the float32 one too."""
    shutil.copy(tiny.path, tmp_path / "m.fp32.onnx")
    quantized = dataclasses.replace(tiny, path=tmp_path / "m.onnx",
                                    metadata={**tiny.metadata, "quantized": {"from": "m.fp32.onnx"}})
    chosen = {"romantic": presets.load_preset("romantic")}
    figures = {f.key: f for f in bench.bench_notes(quantized, 4, 1, presets=chosen)}
    row = figures["note_float32.romantic"]
    assert_timing(row, 4)
    assert "m.fp32.onnx" in row.label and row.target == "" and row.passed is None  # a comparison
    assert not any(key.startswith("note_float32") for key in (f.key for f in bench.bench_notes(
        tiny, 2, 1, presets=chosen)))
    (tmp_path / "m.fp32.onnx").unlink()  # the source not shipped beside it: no row
    assert bench.steps.float_twin(quantized) is None


def test_a_preset_shipped_with_follow_on_gets_a_follow_off_row_beside_it():
    preset = presets.load_preset("classical").replace(follow=0.4)
    rows = {suffix: (what, variant) for suffix, what, variant in bench.steps.note_variants(preset)}
    assert list(rows) == ["", ".unguided", ".nofollow"]
    assert rows[".nofollow"][1].conditioning.follow == 0.0
    assert rows[".unguided"][1].conditioning.follow == 0.4  # one cost taken away at a time
    assert rows[".unguided"][1].conditioning.style_guidance == 0.0


def test_a_note_row_times_the_generators_own_next_note(tiny, monkeypatch):
    calls = []
    real = generation.Generator.next_note

    def counted(self, avoid=()):
        calls.append(self.preset.conditioning.follow)
        return real(self, avoid)

    monkeypatch.setattr(generation.Generator, "next_note", counted)
    preset = presets.load_preset("classical").replace(follow=0.25)
    row = bench.bench_note(tiny, preset, 40, 3)
    assert_timing(row, 40)
    assert calls == [0.25] * 43  # 3 untimed, 40 timed, over 3 answers of 16


def test_a_note_row_is_skipped_when_the_model_lacks_the_style(tmp_path):
    model = Model.load(write_tiny_model(tmp_path / "one.onnx", styles=("folk",)))
    figures = {f.key: f for f in bench.bench_notes(model, 4, 1, presets={
        "folk": presets.load_preset("folk").replace(style_contrast=[]),  # guided away from no style
        "contrast": presets.load_preset("folk"),  # guided away from classical and baroque
        "baroque": presets.load_preset("baroque"), "broken": tmp_path / "missing.yaml"})}
    assert figures["note.folk"].skipped is None
    assert "style_contrast: one.onnx: no style 'classical'" in figures["note.contrast"].skipped
    assert "no style 'baroque'" in figures["note.baroque"].skipped
    assert figures["note.baroque"].passed is None
    assert "missing.yaml" in figures["note.broken"].skipped


def test_trigger_figures(tiny):
    figures = {f.key: f for f in bench.bench_trigger(tiny, 2)}
    assert list(figures) == ["trigger", "trigger_compute", "engine_lateness"]
    for key in ("trigger", "trigger_compute"):  # the prepare figure: one per response, observed
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
    assert [f.key for f in figures] == ["cold_start", "idle_cpu", "uss", "pss", "rss", "sigint_exit"]
    assert all("no JACK server" in f.skipped and f.passed is None for f in figures)


def test_the_daemon_is_asked_for_rtmidi_clients_by_option_not_environment(tiny_path):
    default = bench_daemon.daemon_command(tiny_path, "jack")
    assert default[1:4] == ["-m", "livegen", "run"] and "--jack-client" not in default
    assert default[default.index("--backend") + 1] == "jack"
    assert default[default.index("--model") + 1] == str(tiny_path)
    rtmidi = bench_daemon.daemon_command(tiny_path, "jack", "rtmidi")
    assert rtmidi[-2:] == ["--jack-client", "rtmidi"]
    parsed = cli.build_parser().parse_args(rtmidi[3:])  # the daemon's own parser accepts it
    assert parsed.jack_client == "rtmidi"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads Linux /proc")
def test_memory_is_read_from_proc():
    status = bench_daemon.status_mib(os.getpid())
    assert status["VmRSS"] > 0 and "VmHWM" in status
    try:
        rollup = bench_daemon.smaps_rollup_mib(os.getpid())
    except FileNotFoundError:
        pytest.skip("this kernel has no /proc/PID/smaps_rollup (Linux < 4.14)")
    assert rollup["USS"] == rollup["Private_Clean"] + rollup["Private_Dirty"]
    assert 0 < rollup["USS"] <= rollup["Pss"] <= rollup["Rss"]


def test_without_proc_the_daemon_rows_come_from_psutil_or_say_what_they_need(monkeypatch):
    # issue 16: macOS and Windows have no /proc
    real_exists = os.path.exists
    monkeypatch.setattr(bench_daemon.os.path, "exists",
                        lambda path: False if str(path).startswith("/proc/") else real_exists(path))
    monkeypatch.setattr(bench_daemon, "psutil", None)
    assert bench_daemon.idle_reader(os.getpid()) is None
    monkeypatch.setattr(bench_daemon, "psutil", object())
    assert bench_daemon.idle_reader(os.getpid()) == "psutil"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="compares with Linux /proc")
def test_psutils_idle_cpu_and_memory_agree_with_procs_for_the_same_process(monkeypatch):
    psutil = pytest.importorskip("psutil")
    monkeypatch.setattr(bench_daemon, "psutil", psutil)
    monkeypatch.setattr(bench_daemon, "IDLE_SETTLE_S", 0.0)
    # a child that burns CPU for a known share of the time: half of every 20 ms
    code = ("import time\nwhile True:\n    t = time.perf_counter()\n"
            "    while time.perf_counter() - t < 0.01: pass\n    time.sleep(0.01)\n")
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        by = {}
        for reader, measure in (("proc", bench_daemon._measure_idle),
                                ("psutil", bench_daemon._measure_idle_psutil)):
            figures = {k: bench.Figure(k, k, "") for k in ("idle_cpu", "uss", "pss", "rss")}
            measure(child.pid, 1.0, figures, "")
            by[reader] = {k: f.value for k, f in figures.items()}
            assert figures["idle_cpu"].note
        # the CPU time both read, at one moment: the same seconds
        cpu_proc = sum(bench_daemon._thread_cpu(child.pid).values())
        times = psutil.Process(child.pid).cpu_times()
        assert abs((times.user + times.system) - cpu_proc) < 0.05 + 0.05 * cpu_proc
    finally:
        child.kill()
        child.wait()
    proc, ps = by["proc"], by["psutil"]
    assert proc["idle_cpu"] > 5 and ps["idle_cpu"] > 5  # the child was busy: both saw it
    assert 0.8 < ps["uss"] / proc["uss"] < 1.25 and 0.8 < ps["rss"] / proc["rss"] < 1.25
    assert ps["pss"] is not None  # Linux gives PSS through psutil too


def test_memory_readers_raise_for_a_missing_process():
    with pytest.raises(OSError):
        bench_daemon.status_mib(2**22 + 1)  # above the kernel's largest pid
    with pytest.raises(OSError):
        bench_daemon.smaps_rollup_mib(2**22 + 1)


@pytest.mark.jack
def test_daemon_figures_on_jack(jack_server, tiny_path):
    figures = {f.key: f for f in bench_daemon.bench_daemon(tiny_path, 0.5, listener_responses=0)}
    assert all(f.skipped is None for f in figures.values()), figures
    assert figures["cold_start"].value > 0
    assert figures["sigint_exit"].value == 0 and figures["sigint_exit"].passed
    if ports.jack_shared_client():  # the comparison daemon ran with --jack-client rtmidi
        assert figures["idle_cpu_rtmidi"].value >= 0 and "rtmidi" in figures["idle_cpu"].note + \
            figures["idle_cpu_rtmidi"].label
        bare = figures["idle_cpu_bare_jack"]  # jack_midi_dump: the server wakes it every cycle
        assert bare.value > 0 and bare.passed is None and "livegen's JACK thread is" in bare.note
    if sys.platform.startswith("linux"):
        assert figures["idle_cpu"].value >= 0
        uss, pss, rss = (figures[k].value for k in ("uss", "pss", "rss"))
        assert 0 < uss <= pss <= rss  # private <= proportional <= resident
        assert figures["uss"].passed in (True, False) and figures["rss"].passed is None
        assert "VmLck" in figures["rss"].note


@pytest.mark.jack
def test_listener_figures_on_jack(jack_server, tiny_path):
    """Quiet, loaded and loaded-untimed rows, each measured at a real listener; load stopped."""
    if not ports.jack_shared_client():
        pytest.skip("livegen._jackmidi is not built")
    figures = {f.key: f for f in bench_listener.bench_listener(tiny_path, 2)}
    assert set(figures) == {f"listener_{what}_{how}" for what in ("lateness", "trigger")
                            for how in ("quiet", "quiet_grid", "load", "load_untimed")}
    for figure in figures.values():
        assert figure.skipped is None, (figure.key, figure.skipped)
        assert figure.samples > 0 and figure.p50 <= figure.p99 <= figure.max
        assert "heard" in figure.note
    assert figures["listener_lateness_load"].target == "p99 <= 1.5 ms, max <= 3 ms"
    assert figures["listener_trigger_load"].passed in (True, False)
    assert figures["listener_lateness_quiet"].passed is None  # no target: a reference
    assert "(0 a second strike" in figures["listener_lateness_quiet_grid"].note  # on the grid, once
    assert not [pid for pid in _busy_children() if _is_child(pid)]  # every busy process stopped


@pytest.mark.jack
def test_listener_phrases_start_after_the_last_answer_and_its_echo_window(jack_server, tiny_path,
                                                                        monkeypatch):
    # A phrase stamped inside the last answer is, to the feedback guard, livegen's own notes
    # coming back when the answer (following the player) repeats its pitches: dropped, its
    # trigger fired late and the answer's first notes were generated after their deadlines
    # (5-11 of 235 note_ons per busy run with the shipped model).
    if not ports.jack_shared_client():
        pytest.skip("livegen._jackmidi is not built")
    from livegen.engine import Engine
    from livegen.feedback import ECHO_WINDOW_S
    from livegen.scheduler import SchedulerObserver

    fed, sent = [], []  # (stamp_s, deadlines sent so far); deadlines of every message sent
    feed, start = Engine.feed, Engine.start

    class Sent(SchedulerObserver):
        def sent(self, due_s, sent_s, msg):
            sent.append(due_s)

    def start_spy(self, *args, **kwargs):
        self.scheduler.add_observer(Sent())
        return start(self, *args, **kwargs)

    def feed_spy(self, data, timestamp_s):
        fed.append((timestamp_s, list(sent)))
        return feed(self, data, timestamp_s)

    monkeypatch.setattr(Engine, "start", start_spy)
    monkeypatch.setattr(Engine, "feed", feed_spy)
    bench_listener._answers(Model.load(tiny_path), 3, True)
    notes = 2 * len(bench_listener.PHRASE)  # a note_on and a note_off each
    rounds = [fed[k:k + notes] for k in range(0, len(fed), notes)]
    assert len(rounds) == 3
    for phrase in rounds[1:]:
        first_s, sent_before = min(t for t, _ in phrase), phrase[0][1]
        assert sent_before and first_s >= max(sent_before) + ECHO_WINDOW_S


def _busy_children() -> list[int]:
    """PIDs of this process's children running the bench's busy loop (Linux /proc)."""
    found = []
    for task in os.listdir("/proc"):
        if task.isdigit():
            try:
                with open(f"/proc/{task}/cmdline", "rb") as cmdline:
                    if b"while True" in cmdline.read():
                        found.append(int(task))
            except OSError:
                continue
    return found


def test_cpu_load_stops_its_processes_even_on_error():
    with pytest.raises(RuntimeError), bench_listener.cpu_load(2) as count:
        assert count == 2 and len(_busy_children()) >= 2
        raise RuntimeError("the measurement failed")
    assert not [pid for pid in _busy_children() if _is_child(pid)]


def _is_child(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[1]) == os.getpid()
    except OSError:
        return False


def test_listener_matching_takes_the_latest_deadline_not_after_each_arrival():
    due = [(1.0, 0, 60), (2.0, 0, 60), (3.0, 0, 60), (1.5, 0, 62)]
    heard = [(2.0004, 0, 60), (3.001, 0, 60), (1.5, 0, 62), (9.0, 0, 64)]  # 1.0 never came
    matched = bench_listener._match(due, heard)
    assert sorted(round(late, 4) for late, _ in matched) == [0.0, 0.0004, 0.001]


# --- report and CLI ---------------------------------------------------------------------------


def test_targets_are_judged_and_shown():
    fast = bench.Figure("step", "one step", p50=0.1, p99=0.5, max=0.9).judge()
    slow = bench.Figure("step", "one step", p50=0.1, p99=3.0, max=3.0).judge()
    info = bench.Figure("torch", "torch", p50=1.0, p99=2.0, max=2.0, ratio=10.0).judge()
    uss = bench.Figure("uss", "uss", unit="MB", value=150.0).judge()
    gone = bench.Figure("idle_cpu", "idle", unit="%", skipped="no JACK").judge()
    assert (fast.passed, slow.passed, info.passed, uss.passed, gone.passed) == (
        True, False, None, True, None)
    assert fast.target == "p50 <= 0.2 ms, p99 <= 1 ms" and uss.target == "value < 200 MB"
    report = bench.Report({"mode": "quick", "date_utc": "today", "cores": 2, "cpu": "cpu",
                           "load_avg_start": None, "python": "3", "onnxruntime": "1",
                           "numpy": "2", "model": "m.onnx", "model_mb": 1.0, "model_state": "1 x 8"},
                          [fast, slow, info, uss, gone])
    assert not report.passed
    text = bench.format_report(report)
    assert text.startswith("livegen bench (quick), today")
    assert "FAIL" in text and "pass" in text and "10.0x" in text and "150.0 MB" in text
    assert "skipped [1]" in text and "[1] skipped: no JACK" in text
    assert json.loads(json.dumps(report.to_dict()))["passed"] is False


def test_a_family_key_is_judged_by_its_familys_target():
    slow = bench.Figure("note.folk.follow", "folk", p50=1.2, p99=2.0, max=2.0).judge()
    fast = bench.Figure("note.folk", "folk", p50=0.8, p99=2.0, max=2.0).judge()
    other = bench.Figure("notes", "not the family", p50=5.0, p99=6.0, max=6.0).judge()
    assert (slow.passed, fast.passed, other.passed) == (False, True, None)
    assert slow.target == "p50 <= 1 ms"


def test_memory_target_is_on_the_private_figure_not_rss():
    """Issue 12: RSS counts JACK's locked segment in every client; USS is livegen's own."""
    big_rss = bench.Figure("rss", "rss", unit="MB", value=260.0).judge()
    small_uss = bench.Figure("uss", "uss", unit="MB", value=90.0).judge()
    big_uss = bench.Figure("uss", "uss", unit="MB", value=200.0).judge()
    pss = bench.Figure("pss", "pss", unit="MB", value=140.0).judge()
    assert (big_rss.passed, small_uss.passed, big_uss.passed, pss.passed) == (None, True, False, None)
    assert big_rss.target == "" and pss.target == ""


@pytest.fixture
def quick_bench(monkeypatch):
    """Make ``--quick`` tiny and skip the daemon (tested above), so the CLI runs in seconds."""
    monkeypatch.setattr(suite, "QUICK", TINY)
    monkeypatch.setattr(suite, "bench_daemon", lambda path, idle_s: bench_report.skip_all(
        [bench.Figure("cold_start", "daemon cold start to ready", "s")], "not in this test"))


def test_cli_prints_the_table(quick_bench, tiny_path, capsys):
    assert cli.main(["bench", "--quick", "--model", str(tiny_path)]) == 0
    out = capsys.readouterr().out
    assert out.startswith("livegen bench (quick)")
    assert "cores" in out and "onnxruntime" in out and str(tiny_path) in out
    for label in ("one step, onnxruntime", "stateless: re-read 50 notes", "trigger -> first note_on",
                  "scheduler lateness", "full GC pause", "daemon cold start"):
        assert label in out
    # the rows that need torch/onnx: the bench says where they went
    elsewhere = out.strip().splitlines()[-1]
    assert elsewhere.startswith("elsewhere: ") and "PyTorch eager" in elsewhere
    assert "python -m livegen_train.bench_torch" in elsewhere


def test_cli_json(quick_bench, tiny_path, capsys):
    assert cli.main(["bench", "--quick", "--json", "--model", str(tiny_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["context"]["model"] == str(tiny_path) and report["context"]["cores"] >= 1
    figures = {f["key"]: f for f in report["figures"]}
    assert {"step", "reread", "trigger", "trigger_compute", "lateness", "gc_pause"} <= set(figures)
    assert not {"torch", "reread_one_call"} & set(figures)  # livegen_train.bench_torch's rows
    assert "livegen_train.bench_torch" in report["context"]["elsewhere"]
    assert figures["step"]["p50"] <= figures["step"]["p99"]
    assert figures["reread"]["ratio"] > 0
    assert isinstance(report["passed"], bool)


def test_cli_missing_model_is_one_line(tmp_path, capsys):
    assert cli.main(["bench", "--quick", "--model", str(tmp_path / "absent.onnx")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("livegen: error: ") and "absent.onnx" in err[0]


def test_every_preset_is_timed_with_its_own_model(tmp_path, monkeypatch):
    from livegen.bench.steps import note_rows
    from livegen.model import ModelSet
    from livegen.presets import Preset

    packaged_tiny_models(tmp_path, monkeypatch)
    presets = {"a": Preset("a", model=""), "b": Preset("b", model="baroque")}
    rows = note_rows(ModelSet(threads=1), presets, variants=False)
    assert [figure.key for figure, _ in rows] == ["note.a", "note.b"]
    assert [work.generator.model.path.name for _, work in rows] == ["default.onnx", "baroque.onnx"]
    assert "model baroque" in rows[1][0].note and "model" not in rows[0][0].note


def test_a_note_row_shares_a_chords_drawing_call_among_its_notes(tiny, monkeypatch):
    """With an articulation a call draws a whole chord; each of its notes is timed as an even share of
    that call (plus its own), so no note of a chord looks free and none carries the others' cost."""
    spin_s = 0.002
    real = generation.Generator._draw_note

    def slow(self, avoid):  # every note drawn takes at least spin_s of wall-clock time
        time.sleep(spin_s)
        return real(self, avoid)

    monkeypatch.setattr(generation.Generator, "_draw_note", slow)
    preset = PRESET.replace(articulation="player", max_chord=3)
    model = FakeModel(time_bias=60.0)  # a shift of 0 about as likely as 10 ms: chords
    answers = bench_steps.NoteAnswers(tiny, preset, generation.Generator(model, preset, seed=0))
    given = []
    next_note = answers.generator.next_note
    monkeypatch.setattr(answers.generator, "next_note",
                        lambda avoid=(): given.append(answers.generator.queued) or next_note(avoid))
    times: list[float] = []
    for _ in range(6):
        answers(16, times)
    assert len(times) == 96 and sum(queued > 0 for queued in given) >= 5  # chords were drawn whole
    assert min(times) >= 1000 * spin_s * 0.99
