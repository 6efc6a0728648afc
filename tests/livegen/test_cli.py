"""The command line: livegen/cli.py.

Error cases run the real process (``python -m livegen``) to check what a user
sees: exit status 2 and exactly one line, ``livegen: error: ...``, with no
traceback. A tiny ONNX model built here with ``onnx.helper`` stands in for the
trained one: it honours the model contract, so these tests do not wait for
training.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import threading
import types
from pathlib import Path

import mido
import numpy as np
import pytest

from livegen import cli, ports
from livegen.notes import DRUM_CHANNEL, Note, read_midi, write_midi
from livegen.ports import backends
from livegen.presets import list_presets, load_preset
from livegen.stats import Activity
from livegen.tokens import VOCAB_HASH, VOCAB_SIZE, VOCAB_VERSION

SUBPROCESS_TIMEOUT_S = 60
MODEL_STYLES = ("baroque", "classical", "romantic", "modern", "folk", "renaissance")

# (pitch, velocity, onset_s, duration_s): the soprano of J. S. Bach's chorale BWV 66.6
# (music21 corpus, bach/bwv66.6), first 16 notes, quarter note = 0.5 s
CHORALE = [(73, 80, 0.0, 0.25), (71, 76, 0.25, 0.25), (69, 78, 0.5, 0.5), (71, 80, 1.0, 0.5),
           (73, 84, 1.5, 0.5), (76, 90, 2.0, 0.5), (73, 84, 2.5, 0.5), (71, 78, 3.0, 0.5),
           (69, 74, 3.5, 0.5), (73, 82, 4.0, 0.5), (69, 76, 4.5, 0.25), (71, 78, 4.75, 0.25),
           (68, 74, 5.0, 0.5), (66, 70, 5.5, 0.5), (69, 76, 6.0, 0.5), (71, 80, 6.5, 0.5)]


def write_tiny_model(path: Path, *, vocab_version=VOCAB_VERSION, vocab_hash=VOCAB_HASH,
                     styles=MODEL_STYLES, seed: int = 0) -> Path:
    """A contract-true stand-in model: logits = W[token] + S[style]; the state passes through.

    Inputs ``token``, ``style`` (int64 [batch]), ``h``, ``c`` (float32 [1, batch, 8]);
    outputs ``logits`` (float32 [batch, VOCAB_SIZE]), ``h_out``, ``c_out``.
    """
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    weights = numpy_helper.from_array(rng.normal(0, 2, (VOCAB_SIZE, VOCAB_SIZE))
                                      .astype(np.float32), "W")
    style_bias = numpy_helper.from_array(rng.normal(0, 1, (len(styles), VOCAB_SIZE))
                                         .astype(np.float32), "S")
    state = ["layers", "batch", 8]
    graph = helper.make_graph(
        [helper.make_node("Gather", ["W", "token"], ["w_row"], axis=0),
         helper.make_node("Gather", ["S", "style"], ["s_row"], axis=0),
         helper.make_node("Add", ["w_row", "s_row"], ["logits"]),
         helper.make_node("Identity", ["h"], ["h_out"]),
         helper.make_node("Identity", ["c"], ["c_out"])],
        "tiny",
        [helper.make_tensor_value_info("token", TensorProto.INT64, ["batch"]),
         helper.make_tensor_value_info("style", TensorProto.INT64, ["batch"]),
         helper.make_tensor_value_info("h", TensorProto.FLOAT, state),
         helper.make_tensor_value_info("c", TensorProto.FLOAT, state)],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", VOCAB_SIZE]),
         helper.make_tensor_value_info("h_out", TensorProto.FLOAT, state),
         helper.make_tensor_value_info("c_out", TensorProto.FLOAT, state)],
        [weights, style_bias])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by every onnxruntime >= 1.15
    meta = {"vocab_version": vocab_version, "vocab_hash": vocab_hash, "styles": list(styles),
            "context_notes": 50, "time_resolution_s": 0.01,
            "state": {"names": ["h", "c"], "layers": 1, "hidden": 8},
            "corpus": {"name": "none: a test stand-in"}, "metrics": {}}
    entry = model.metadata_props.add()
    entry.key, entry.value = "livegen", json.dumps(meta)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def packaged_tiny_models(tmp_path: Path, monkeypatch) -> Path:
    """Tiny models standing in for the packaged ones (``default`` and ``baroque``), with
    ``$LIVEGEN_MODEL`` unset; returns their folder."""
    from livegen import model as model_module

    packaged = tmp_path / "models"
    packaged.mkdir()
    for name in ("default", "baroque"):
        write_tiny_model(packaged / f"{name}.onnx")
    monkeypatch.setattr(model_module, "_PACKAGED", packaged)
    monkeypatch.delenv("LIVEGEN_MODEL", raising=False)
    return packaged


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory) -> Path:
    return write_tiny_model(tmp_path_factory.mktemp("model") / "tiny.onnx")


@pytest.fixture
def chorale_mid(tmp_path) -> Path:
    path = tmp_path / "chorale.mid"
    write_midi([[Note(p, v, t, d) for p, v, t, d in CHORALE]], path, track_names=["soprano"])
    return path


def livegen(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m livegen ARGS`` with no stdin; return the finished process."""
    return subprocess.run([sys.executable, "-m", "livegen", *map(str, args)],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=SUBPROCESS_TIMEOUT_S, env={**os.environ, **(env or {})})


def assert_one_line_error(result: subprocess.CompletedProcess, *fragments: str) -> str:
    """Exit 2, one stderr line starting ``livegen: error:``, no traceback; return the line."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2, result.stderr
    assert len(lines) == 1 and lines[0].startswith("livegen: error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]
    return lines[0]


def needs_engine():
    return pytest.importorskip("livegen.engine", reason="livegen/engine.py is not written yet")


# --- parsing ----------------------------------------------------------------------------------


def test_run_is_the_default_command():
    assert cli._normalise([]) == ["run"]
    assert cli._normalise(["--preset", "romantic"]) == ["run", "--preset", "romantic"]
    assert cli._normalise(["-v"]) == ["run", "-v"]
    assert cli._normalise(["--help"]) == ["--help"]
    assert cli._normalise(["presets"]) == ["presets"]


def test_option_first_runs_run(capsys):
    assert cli.main(["--preset", "no-such-preset"]) == 2  # reached `run`, failed on the preset
    assert "unknown preset 'no-such-preset'" in capsys.readouterr().err


def test_help_and_version(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert all(c in out for c in ("run", "ports", "presets", "continue", "train"))
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == "livegen 0.1.0"


@pytest.mark.parametrize("argv", [["--bogus"], ["continue", "x.mid"], ["run", "--backend", "oss"],
                                  ["continue", "x.mid", "-o", "y.mid", "--seed", "one"]])
def test_usage_errors_exit_2(argv, capsys):
    assert cli.main(argv) == 2
    assert "usage:" in capsys.readouterr().err


def test_presets_lists_name_and_description(capsys):
    assert cli.main(["presets"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    for name, path in list_presets().items():  # the first line of a name: the one --preset loads
        line = next(line for line in lines if line.split()[:1] == [name])
        assert load_preset(name).description in line and line.endswith(str(path))
        assert ("[model " in line) == bool(load_preset(name).model)  # a preset's own model shows
    assert any("[model baroque]" in line for line in lines)


def test_train_without_torch_says_what_to_install(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ImportError
    assert cli.main(["train", "--steps", "1"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("livegen: error: ") and "pip install 'livegen[train]'" in err


# --- errors a user can make: one line, exit 2 -------------------------------------------------


def test_missing_preset_file(tmp_path):
    missing = tmp_path / "nope.yaml"
    assert_one_line_error(livegen("--preset", missing), str(missing), "cannot read")


def test_malformed_preset(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("temperature: [0.9\n")
    assert_one_line_error(livegen("run", "--preset", path), str(path), "malformed YAML")


def test_preset_with_bad_value(tmp_path, chorale_mid):
    path = tmp_path / "hot.yaml"
    path.write_text("temperature: 9\n")
    assert_one_line_error(livegen("continue", chorale_mid, "-o", tmp_path / "o.mid",
                                  "--preset", path),
                          str(path), "temperature", "received 9")


def test_unknown_preset_name():
    assert_one_line_error(livegen("--preset", "romantik"), "'romantik'", "romantic", "baroque")


def test_continue_non_midi_file(tmp_path, tiny_model):
    text = tmp_path / "score.mid"
    text.write_text("X:1\nT:not a MIDI file\nK:G\nGABc|\n")
    assert_one_line_error(livegen("continue", text, "-o", tmp_path / "o.mid",
                                  "--model", tiny_model), str(text), "not a readable MIDI file")


def test_continue_missing_input(tmp_path, tiny_model):
    assert_one_line_error(livegen("continue", tmp_path / "absent.mid", "-o", tmp_path / "o.mid",
                                  "--model", tiny_model), "absent.mid")


def test_continue_drums_only(tmp_path, tiny_model):
    path = tmp_path / "drums.mid"
    write_midi([[Note(36, 100, 0.0, 0.1, DRUM_CHANNEL)]], path)
    assert_one_line_error(livegen("continue", path, "-o", tmp_path / "o.mid",
                                  "--model", tiny_model), "no notes", "drums")


def test_continue_at_before_the_first_note(tmp_path, chorale_mid, tiny_model):
    assert_one_line_error(livegen("continue", chorale_mid, "-o", tmp_path / "o.mid",
                                  "--at", "-1", "--model", tiny_model), "--at")


def test_model_with_another_vocabulary(tmp_path, chorale_mid):
    model = write_tiny_model(tmp_path / "old.onnx", vocab_version=0, vocab_hash="0123456789abcdef")
    line = assert_one_line_error(livegen("continue", chorale_mid, "-o", tmp_path / "o.mid",
                                         "--model", model), "old.onnx")
    assert f"v{VOCAB_VERSION}" in line and "v0" in line  # names both versions


def test_model_without_the_preset_style(tmp_path, chorale_mid):
    model = write_tiny_model(tmp_path / "folk-only.onnx", styles=("folk",))
    assert_one_line_error(livegen("continue", chorale_mid, "-o", tmp_path / "o.mid",
                                  "--preset", "romantic", "--model", model),
                          "'romantic'", "folk")


def test_missing_model_file(tmp_path, chorale_mid):
    assert_one_line_error(livegen("continue", chorale_mid, "-o", tmp_path / "o.mid",
                                  "--model", tmp_path / "none.onnx"), "none.onnx")


def test_not_an_onnx_model(tmp_path, chorale_mid):
    fake = tmp_path / "fake.onnx"
    fake.write_bytes(b"\x00not onnx")
    assert_one_line_error(livegen("continue", chorale_mid, "-o", tmp_path / "o.mid",
                                  "--model", fake), "fake.onnx")


@pytest.mark.jack
def test_nonexistent_port_lists_the_ports(jack_server, tiny_model):
    keys = ports.open_output("jack", client_name="livegen-test-keys")  # a source to be listed
    try:
        line = assert_one_line_error(livegen("run", "--backend", "jack", "--in", "Steinway D",
                                             "--model", tiny_model), "'Steinway D'")
    finally:
        keys.close()
    assert "livegen out" in line  # the ports there are


@pytest.mark.jack
def test_run_with_another_vocabulary(jack_server, tmp_path):
    model = write_tiny_model(tmp_path / "old.onnx", vocab_version=99)
    assert_one_line_error(livegen("run", "--backend", "jack", "--model", model), "v99")


def test_no_backend_is_one_line(monkeypatch, capsys, tiny_model):
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(backends, "ALSA_SEQ_DEVICE", "/nonexistent/seq")
    monkeypatch.setattr(backends, "jack_running", lambda: False)
    assert cli.main(["run", "--model", str(tiny_model)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no JACK server running" in err[0] and "jackd" in err[0]


# --- ports ------------------------------------------------------------------------------------


@pytest.mark.jack
def test_ports_lists_both_directions(jack_server, capsys):
    with ports.open_input("jack", client_name="livegen-test"), \
            ports.open_output("jack", client_name="livegen-test"):
        assert cli.main(["ports", "--backend", "jack"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("backend jack\n")
    inputs, outputs = out.split("outputs")
    assert "livegen out" in inputs and "livegen in" in outputs


# --- run, with a fake engine and fake ports ---------------------------------------------------


class FakePort:
    def __init__(self, name: str, events: list[str]) -> None:
        self.name, self.events, self.handler, self.sent = name, events, None, []
        self.dropped = self.missed_cycles = self.connections_made = 0
        self.server_lost, self.virtual = False, name.startswith("livegen")
        FakePort.last = self  # the output opens last

    def stalled_between(self, start_s: float, end_s: float) -> bool:
        return False

    def set_handler(self, handler) -> None:
        self.handler = handler

    def send(self, message) -> None:
        self.sent.append(message)

    def close(self) -> None:
        self.events.append(f"close {self.name}")


class FakeEngine:
    signal_on_start = signal.SIGINT
    messages_on_start = 0  # input messages the engine was handed

    def __init__(self, model, preset, send, now=None, seed=None, realtime=False,
                 input_stalls=None, input_losses=None, models=None) -> None:
        self.model, self.preset, self.send, self.seed = model, preset, send, seed
        self.models = models
        self.realtime, self.input_stalls, self.input_losses = realtime, input_stalls, input_losses
        self.stats = types.SimpleNamespace(responses=2, notes_sent=30, messages_in=40,
                                           dropped_messages=0, latencies_ms=[3.0, 4.0, 9.0])
        self.activity = Activity(preset.name)
        FakeEngine.last = self

    def feed(self, data, timestamp_s) -> None:
        pass

    def wants_fast_input(self) -> bool:
        return False

    def start(self, engine_priority=None) -> None:
        self.engine_priority = engine_priority
        self.events.append("start")
        self.activity.messages_in = self.messages_on_start
        threading.Timer(0.05, os.kill, (os.getpid(), self.signal_on_start)).start()

    def stop(self) -> None:
        self.events.append("stop")
        self.send(mido.Message("control_change", control=123))


@pytest.fixture
def fake_run(monkeypatch):
    events: list[str] = []
    FakeEngine.events = events
    monkeypatch.setitem(sys.modules, "livegen.engine", types.SimpleNamespace(Engine=FakeEngine))
    monkeypatch.setattr(ports, "resolve_backend", lambda backend: "fake")
    monkeypatch.setattr(ports, "open_input",
                        lambda backend, port=None, **kw: FakePort(port or "livegen in", events))
    monkeypatch.setattr(ports, "open_output",
                        lambda backend, port=None, **kw: FakePort(port or "livegen out", events))
    yield events
    gc.unfreeze()  # `run` froze the collector's objects, as the daemon should


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_run_prints_ready_then_stops_cleanly_on_signal(fake_run, tiny_model, capsys, signum,
                                                       monkeypatch, caplog):
    monkeypatch.setattr(FakeEngine, "signal_on_start", signum)
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    caplog.set_level("INFO")
    status = cli.main(["--preset", "baroque", "--model", str(tiny_model), "--seed", "7",
                       "--out", "Synth"])
    assert status == 0
    ready = "listening on livegen in -> Synth (preset baroque, backend fake)\n"
    assert capsys.readouterr().out == ready
    # the input closes first (no more feed), then the engine stops (panic), then the output
    assert fake_run == ["start", "close livegen in", "stop", "close Synth"]
    engine = FakeEngine.last
    assert engine.realtime  # the daemon's scheduler asks for real-time priority
    assert engine.input_stalls.__name__ == "stalled_between"  # the clock hears of server stalls
    assert engine.input_losses.__name__ == "input_losses"  # a lost note_off: of the input's losses
    assert gc.get_freeze_count() > 0  # startup objects out of the collector's reach
    assert engine.preset.name == "baroque" and engine.seed == 7
    assert FakePort.last.name == "Synth" and FakePort.last.sent[-1].control == 123
    assert {s: signal.getsignal(s) for s in before} == before  # handlers restored
    assert "p50 4.0 ms" in caplog.text


def test_run_warns_at_exit_when_jack_input_was_lost(fake_run, tiny_model, monkeypatch, caplog):
    def lossy_input(backend, port=None, **kw):
        inp = FakePort("livegen in", fake_run)
        inp.dropped, inp.missed_cycles = 3, 2
        return inp

    monkeypatch.setattr(ports, "open_input", lossy_input)
    monkeypatch.setattr(FakeEngine, "messages_on_start", 5)  # input arrived around the misses
    caplog.set_level("INFO")
    assert cli.main(["--preset", "baroque", "--model", str(tiny_model)]) == 0
    assert "3 MIDI messages were lost" in caplog.text
    assert "JACK ran 2 cycles without livegen's client" in caplog.text


def test_an_idle_stop_says_nothing_of_missed_jack_cycles(fake_run, tiny_model, monkeypatch, caplog):
    def missing_input(backend, port=None, **kw):
        inp = FakePort("livegen in", fake_run)
        inp.missed_cycles = 2  # a non-real-time server misses cycles with nothing played
        return inp

    monkeypatch.setattr(ports, "open_input", missing_input)
    caplog.set_level("INFO")
    assert cli.main(["--preset", "baroque", "--model", str(tiny_model)]) == 0
    assert "cycles without livegen's client" not in caplog.text


# --- continue (needs the engine) --------------------------------------------------------------


def test_continue_writes_prompt_and_continuation(tmp_path, chorale_mid, tiny_model):
    needs_engine()
    out = tmp_path / "out.mid"
    assert cli.main(["continue", str(chorale_mid), "-o", str(out), "--model", str(tiny_model),
                     "--seed", "1", "--notes", "12"]) == 0
    midi = mido.MidiFile(out)
    assert [t.name for t in midi.tracks] == ["soprano", "livegen"]  # the input's track, then ours
    prompt_end = max(t + d for _, _, t, d in CHORALE)
    notes = read_midi(out)
    original = [n for n in notes if n.onset_s < CHORALE[-1][2] + 1e-3]
    generated = [n for n in notes if n.onset_s > CHORALE[-1][2] + 1e-3]
    preset = load_preset("romantic")
    # as many as the generator gives within the preset's max_seconds, at most --notes
    from livegen.model import Model
    from livegen.offline import continue_notes

    expected = continue_notes(Model.load(tiny_model), preset, [Note(p, v, t, d) for p, v, t, d in CHORALE],
                              n_notes=12, seed=1)
    assert len(original) == len(CHORALE) and len(generated) == len(expected) and 1 <= len(expected) <= 12
    in_order = sorted(expected, key=lambda n: (n.onset_s, n.pitch))
    assert [n.pitch for n in generated] == [n.pitch for n in in_order]
    assert min(n.onset_s for n in generated) >= prompt_end - 2e-3
    assert all(preset.sampling.pitch_low <= n.pitch <= preset.sampling.pitch_high for n in generated)


def test_continue_is_repeatable_with_a_seed(tmp_path, chorale_mid, tiny_model):
    needs_engine()
    outputs = []
    for name in ("a.mid", "b.mid"):
        assert cli.main(["continue", str(chorale_mid), "-o", str(tmp_path / name),
                         "--model", str(tiny_model), "--seed", "5", "--notes", "8"]) == 0
        outputs.append(read_midi(tmp_path / name))
    assert outputs[0] == outputs[1]


def test_continue_at_cuts_the_prompt(tmp_path, chorale_mid, tiny_model):
    needs_engine()
    out = tmp_path / "out.mid"
    assert cli.main(["continue", str(chorale_mid), "-o", str(out), "--model", str(tiny_model),
                     "--at", "4.0", "--notes", "6", "--seed", "2"]) == 0
    midi = mido.MidiFile(out)
    names = [track.name for track in midi.tracks]
    assert names[-1] == "livegen" and len(midi.tracks) == len(mido.MidiFile(chorale_mid).tracks) + 1
    midi.tracks = [track for track in midi.tracks if track.name == "livegen"]  # the answer alone
    answer_file = tmp_path / "answer.mid"
    midi.save(answer_file)
    answer = read_midi(answer_file)
    assert len(read_midi(out)) == len(CHORALE) + 6  # the input is written whole (issue 16), plus the answer
    assert len(answer) == 6
    assert min(n.onset_s for n in answer) >= 4.0 - 2e-3  # the prompt's last note ends at 4 s


def test_continue_keeps_each_channel_on_its_track(tmp_path, tiny_model):
    needs_engine()
    src, out = tmp_path / "two.mid", tmp_path / "out.mid"
    soprano = [Note(p, v, t, d, 0) for p, v, t, d in CHORALE[:6]]
    bass = [Note(p - 24, v, t, d, 1) for p, v, t, d in CHORALE[:6]]
    drums = [Note(42, 90, t, 0.1, DRUM_CHANNEL) for _, _, t, _ in CHORALE[:6]]
    write_midi([soprano, bass, drums], src)
    assert cli.main(["continue", str(src), "-o", str(out), "--model", str(tiny_model),
                     "--notes", "4", "--seed", "3"]) == 0
    tracks = mido.MidiFile(out).tracks
    assert len(tracks) == 4 and tracks[-1].name == "livegen"  # drums kept too (issue 16)
    assert list(tracks[2]) == list(mido.MidiFile(src).tracks[2])
    assert cli.main(["continue", str(src), "-o", str(out), "--model", str(tiny_model),
                     "--notes", "4", "--include-drums"]) == 0
    assert len(mido.MidiFile(out).tracks) == 4


def test_a_negative_seed_is_a_usage_error(tmp_path, chorale_mid, tiny_model, capsys):
    assert cli.main(["continue", str(chorale_mid), "-o", str(tmp_path / "out.mid"),
                     "--model", str(tiny_model), "--seed", "-1"]) == 2
    assert "--seed: must be an integer 0 or more (received -1)" in capsys.readouterr().err


# --- issue 15 item 7: the silent oddities of `continue` ---------------------------------------


def _one_line(err: str, kind: str) -> str:
    lines = [line for line in err.strip().splitlines() if line]
    assert len(lines) == 1 and lines[0].startswith(f"livegen: {kind}: "), err
    return lines[0]


def test_continue_a_file_with_tempo_0_is_an_error(tmp_path, tiny_model, capsys):
    # a set_tempo of 0 us per quarter put every note at 0.00 s without a word
    path = tmp_path / "tempo0.mid"
    write_midi([[Note(p, v, t, d) for p, v, t, d in CHORALE]], path)
    midi = mido.MidiFile(path)
    for msg in midi.tracks[0]:
        if msg.type == "set_tempo":
            msg.tempo = 0
    midi.save(path)
    assert cli.main(["continue", str(path), "-o", str(tmp_path / "o.mid"),
                     "--model", str(tiny_model)]) == 2
    line = _one_line(capsys.readouterr().err, "error")
    assert "tempo" in line and "received 0" in line


def test_continue_says_why_it_wrote_fewer_notes_than_asked(tmp_path, chorale_mid, tiny_model, capsys):
    needs_engine()
    out = tmp_path / "o.mid"
    assert cli.main(["continue", str(chorale_mid), "-o", str(out), "--model", str(tiny_model),
                     "--notes", "100000", "--seed", "1"]) == 0
    captured = capsys.readouterr()
    written = len(read_midi(out)) - len(CHORALE)
    assert 0 < written < 100000
    line = _one_line(captured.err, "warning")
    assert f"{written} of the 100000 notes" in line and "max_seconds" in line


def test_continue_at_past_the_end_is_a_warning(tmp_path, chorale_mid, tiny_model, capsys):
    needs_engine()
    assert cli.main(["continue", str(chorale_mid), "-o", str(tmp_path / "o.mid"),
                     "--model", str(tiny_model), "--at", "100", "--notes", "4"]) == 0
    line = _one_line(capsys.readouterr().err, "warning")
    assert "--at 100" in line and "past the end" in line and "7.00 s" in line


def test_continue_a_truncated_file_says_why(tmp_path, chorale_mid, tiny_model, capsys):
    # mido's EOFError has no message: the error read "not a readable MIDI file ()"
    path = tmp_path / "cut.mid"
    path.write_bytes(chorale_mid.read_bytes()[:40])
    assert cli.main(["continue", str(path), "-o", str(tmp_path / "o.mid"),
                     "--model", str(tiny_model)]) == 2
    line = _one_line(capsys.readouterr().err, "error")
    assert "()" not in line and "ends early" in line
