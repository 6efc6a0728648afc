"""`livegen evaluate`: the continuation metrics, style profiles, the stateless baseline and the command."""

import json
import math

import numpy as np
import pytest

from livegen import tokens as tk
from livegen.notes import Note, write_midi
from livegen.offline import continue_notes
from livegen.presets import Preset
from livegen_train.baselines import StatelessWindowModel, StepScorer, argmax_preset, window_nll
from livegen_train.corpus import Piece
from livegen_train.evaluate import (
    distinctness,
    estimate_tonic,
    key_distance,
    repetition,
    rest_ratio,
    select_prompts,
    stats,
    style_features,
)

C_MAJOR = [0, 2, 4, 5, 7, 9, 11]


def _line(pitches, step_s=0.25, start_s=0.0, duration_s=0.2):
    return [Note(int(p), 80, start_s + i * step_s, duration_s) for i, p in enumerate(pitches)]


class FakeModel:
    """A step model whose logits are a deterministic function of every token read since BOS."""

    styles = ("a", "b")

    def style_id(self, style):
        return self.styles.index(style)

    def initial_state(self):
        return ()

    def step(self, token, state, style):
        state = (*state, int(token)) if token != tk.BOS else ()
        rng = np.random.default_rng(abs(hash((style, state))) % 2**32)
        return rng.normal(0, 2, tk.VOCAB_SIZE).astype(np.float32), state


# --- continuation statistics -----------------------------------------------------------------------


def test_a_loop_repeats_and_a_line_that_never_repeats_does_not():
    assert repetition(_line([60, 62, 64, 65] * 16)) > 0.9
    leaps = np.random.default_rng(1).integers(40, 90, 64)  # random leaps: patterns (nearly) never recur
    assert repetition(_line(leaps)) < 0.1
    # played chords (onsets a few ms apart) are read highest first, so jitter does not break a loop
    chords = [Note(p, 80, 0.5 * i + 0.004 * (p % 3), 0.4) for i in range(32) for p in (60, 64, 67)]
    assert repetition(chords) > 0.9


def test_key_distance_rest_ratio_and_the_estimated_key():
    c_major = _line([60 + pc for pc in C_MAJOR] * 4)
    assert key_distance(c_major, c_major) == 0.0
    assert key_distance(_line([60, 62]), _line([61, 63])) == 1.0
    assert estimate_tonic(np.bincount([pc for pc in C_MAJOR * 3 + [0, 4, 7]], minlength=12) / 24.0) \
        == (0, "major")
    a_minor = [9, 11, 0, 2, 4, 5, 8] * 3 + [9, 0, 4]
    assert estimate_tonic(np.bincount(a_minor, minlength=12) / len(a_minor)) == (9, "minor")
    legato = _line([60] * 4, step_s=0.5, duration_s=0.5)
    half = _line([60] * 4, step_s=0.5, duration_s=0.25)
    assert rest_ratio(legato) == 0.0
    assert math.isclose(rest_ratio(half), 0.75 / 1.75)  # 3 gaps of 0.25 s in a 1.75 s span


def test_a_copied_slice_gives_its_length_as_copied_run():
    from livegen_train.copies import CopyIndex

    rng = np.random.default_rng(0)
    train_pitch = 50 + np.cumsum(rng.choice([-5, -3, -2, -1, 1, 2, 4, 7], 300)) % 30
    train = Piece("t/0", "a", train_pitch.astype(np.int16), np.arange(300, dtype=np.float32),
                  np.full(300, 0.5, np.float32), np.full(300, -1, np.int16), 120.0)
    index = CopyIndex.build([train])
    copied = [int(p) + 5 for p in train_pitch[100:120]]  # 20 notes, transposed
    # leaps of 31+ semitones: no training interval (a walk within 30 semitones) can extend the run
    cont = _line([40, 80, 41, 120] + copied + [127, 20, 110])
    assert stats(_line([60] * 8), cont, index)["copied_run"] == 20
    assert "copied_run" not in stats(_line([60] * 8), cont)


# --- style profiles ---------------------------------------------------------------------------------


def _style_a(seed):  # stepwise C major in even eighths
    rng = np.random.default_rng(seed)
    degrees = np.cumsum(rng.choice([-1, 1], 64)) % 14
    return _line([60 + 12 * (d // 7) + C_MAJOR[d % 7] for d in degrees], step_s=0.25)


def _style_b(seed):  # chromatic leaps in a long-short rhythm
    rng = np.random.default_rng(seed)
    onsets = np.cumsum(np.tile([0.6, 0.2], 32)) - 0.6
    return [Note(int(p), 80, float(o), 0.15) for p, o in zip(rng.integers(40, 90, 64), onsets)]


def test_style_profiles_tell_two_styles_apart():
    features = style_features(_style_a(0))
    assert set(features) == {"pitch_class", "interval", "log_ioi", "ioi_ratio"}
    assert all(math.isclose(v.sum(), 1.0) for v in features.values())
    columns = {"a": [_style_a(s) for s in range(5)], "b": [_style_b(s) for s in range(5)]}
    rows = {"b": [_style_b(s) for s in range(10, 13)], "a": [_style_a(s) for s in range(10, 13)]}
    result = distinctness(rows, columns, order=("a", "b"))
    assert result["rows"] == ["a", "b"] and result["columns"] == ["a", "b"]
    assert result["own_wins"] == {"a": True, "b": True}
    d = np.array(result["distance"])
    assert d[0, 0] < d[0, 1] and d[1, 1] < d[1, 0] and all(m > 0 for m in result["margin"].values())
    # two clearly different styles: the whole bootstrap interval of each margin is above 0
    assert all(0 < low <= high for low, high in result["margin_interval"].values())
    swapped = distinctness({"a": rows["b"], "b": rows["a"]}, columns)
    assert swapped["own_wins"] == {"a": False, "b": False}  # the check can fail
    assert all(low <= high < 0 for low, high in swapped["margin_interval"].values())
    again = distinctness(rows, columns, order=("a", "b"))
    assert again["margin_interval"] == result["margin_interval"]  # seeded


def test_prompts_spread_over_pieces_and_follow_the_piece():
    pieces = [Piece(f"s/{i}", "a", (50 + np.arange(400) % 30).astype(np.int16),
                    np.arange(400, dtype=np.float32), np.full(400, 0.5, np.float32),
                    np.full(400, -1, np.int16), 120.0) for i in range(2)]
    prompts = select_prompts(pieces + [Piece("s/short", "a", pieces[0].pitch[:100], pieces[0].onset_q[:100],
                                             pieces[0].duration_q[:100], pieces[0].velocity[:100], 120.0)], 5)
    items = prompts["a"]
    assert len(items) == 5 and {p.piece for p in items} == {"s/0", "s/1"}  # the short piece has no room
    for p in items:
        assert len(p.prompt) == 50 and len(p.real) == 64
        assert p.real[0].onset_s >= p.prompt[-1].onset_s  # the real continuation follows its prompt
        expected = [int(x) for x in pieces[0].pitch[p.start:p.start + 114]]
        assert sorted(n.pitch for n in p.prompt + p.real) == sorted(expected)


# --- the stateless baseline -------------------------------------------------------------------------


def test_the_stateless_model_sees_exactly_the_last_window_of_notes():
    fake, window = FakeModel(), 3
    stateless = StatelessWindowModel(fake, window)
    notes = tk.encode(_line([60 + i for i in range(7)]))  # 7 notes, 28 tokens
    state = stateless.initial_state()
    logits, state = stateless.step(tk.BOS, state, 1)
    for t, token in enumerate(notes):
        logits, state = stateless.step(int(token), state, 1)
        done = (t + 1) // 4  # complete notes read; the context is the last `window` of them
        keep = notes[4 * max(done - window, 0):t + 1]  # ... plus the current note so far
        expected, _ = fake.step(tk.BOS, (), 1)
        fresh = ()
        for previous in keep:
            expected, fresh = fake.step(int(previous), fresh, 1)
        assert np.array_equal(logits, expected), t
    assert stateless.rereads == 7 - window


def test_window_nll_is_the_stateless_models_likelihood():
    fake, window = FakeModel(), 3
    x = np.stack([np.concatenate([[tk.BOS], tk.encode(_line(60 + np.arange(8) * k))]) for k in (1, 2)])
    style = np.array([0, 1])
    full = StepScorer(fake).nll(x, style)
    cut = window_nll(StepScorer(fake), x, style, window)
    by_stepping = StepScorer(StatelessWindowModel(fake, window)).nll(x, style)
    assert np.allclose(cut, by_stepping)
    assert np.array_equal(cut[:, :4 * (window + 1)], full[:, :4 * (window + 1)])  # the window has not slid
    assert not np.allclose(cut[:, 4 * (window + 1):], full[:, 4 * (window + 1):])
    with pytest.raises(ValueError, match="window_notes"):
        window_nll(StepScorer(fake), x, style, 0)
    with pytest.raises(ValueError, match="BOS"):
        window_nll(StepScorer(fake), x[:, 1:], style, window)


def test_argmax_decoding_ignores_the_seed_and_the_sampling_guards():
    preset = Preset(name="t").replace(style="a", repetition_penalty=2.0, key_mask="soft", style_guidance=1.5)
    plain = argmax_preset(preset)
    assert (
        plain.sampling.top_p < 1e-6
        and plain.sampling.repetition_penalty == 0.0
        and plain.sampling.key_mask == "off"
    )
    assert plain.conditioning.style_guidance == 0.0  # the older tools' design has no guidance either
    prompt = _line([60, 62, 64, 65, 67, 65, 64, 62] * 2)
    model = StatelessWindowModel(FakeModel(), 4)
    runs = [continue_notes(model, plain, prompt, n_notes=12, seed=seed) for seed in (0, 1, 2)]
    assert runs[0] == runs[1] == runs[2]
    sampled = [continue_notes(model, preset, prompt, n_notes=12, seed=seed) for seed in (0, 1)]
    assert sampled[0] != sampled[1]


# --- the command end to end -------------------------------------------------------------------------


def test_livegen_evaluate_on_a_tiny_model_and_corpus(tmp_path, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("matplotlib")
    from livegen.cli import main as cli_main
    from livegen_train.train import main as train_main

    rng = np.random.default_rng(5)
    folder = tmp_path / "midi"
    folder.mkdir()
    for i in range(24):
        tune = 60 + np.cumsum(rng.choice([-2, -1, 1, 2, 3, -3], 12)) % 14
        pitches = np.concatenate([tune + rng.integers(-1, 2, 12) for _ in range(11)])  # varied repeats
        write_midi([_line(pitches, step_s=0.25 + 0.05 * (i % 3))], folder / f"tune{i:02d}.mid")
    run = tmp_path / "run"
    assert train_main(["--midi-dir", str(folder), "--style", "mine", "--out", str(run), "--batch", "4",
                       "--window-notes", "8", "--hidden", "16", "--embed", "8", "--eval-every", "4",
                       "--checkpoint-every", "4", "--no-progress", "--threads", "1", "--steps", "4",
                       "--export", str(run / "m.onnx")]) == 0
    capsys.readouterr()
    # folders that do not exist yet: evaluate makes them (the JSON, written first, once had none)
    out, figures, report_path = tmp_path / "eval.md", tmp_path / "fig", tmp_path / "json" / "run1" / "r.json"
    assert cli_main(["evaluate", "--model", str(run / "m.onnx"), "--run-dir", str(run),
                     "--midi-dir", str(folder), "--style", "mine", "--prompts", "2", "--seeds", "2",
                     "--shared-prompts", "1", "--out", str(out), "--figures", str(figures),
                     "--json", str(report_path), "--threads", "1"]) == 0
    printed = capsys.readouterr().out
    assert "NLL per note" in printed and "Acceptance" in printed and "mine" in printed
    report = json.loads(report_path.read_text())
    assert "torch checkpoint" in report["scored_with"]  # the checkpoint is the ONNX model's network
    nll = report["nll"]["mine"]
    for key in ("model_bits", "stateless_bits", "markov_bits"):
        assert 0 < nll[key] < 40 and math.isfinite(nll[key])
    assert math.isclose(nll["reduction_pct"], 100 * (1 - nll["model_bits"] / nll["markov_bits"]), abs_tol=0.1)
    assert report["nll"]["all"]["model_bits"] == nll["model_bits"]  # one style: all is that style
    # the fair viewpoint Markov and the per-kind split: the kinds add up to the whole note
    assert 0 < nll["viewpoint_bits"] < 80 and len(nll["viewpoint_kind_bits"]) == 4
    for system in ("model", "markov", "viewpoint"):
        assert math.isclose(sum(nll[f"{system}_kind_bits"]), nll[f"{system}_bits"], abs_tol=0.02)
    cont = report["continuations"]["mine"]
    assert cont["continuations"] == 2 * cont["prompts"] and cont["prompts"] >= 1
    for system in ("model", "stateless", "real"):
        row = cont[system]
        assert 0 <= row["repetition"] <= 1 and 0 <= row["key_distance"] <= 1 and 0 <= row["rest_ratio"] < 1
        assert row["notes_per_s"] > 0 and 1 <= row["copied_run"] <= 64
    assert cont["real"]["copied_run_max"] <= 64
    names = {p.split("/")[-1] for p in report["figures"]}
    assert names >= {"evaluation_nll.png", "evaluation_continuations.png", "evaluation_copies.png",
                     "evaluation_distinctness.png"}
    for name in names:
        assert (figures / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = out.read_text()
    assert "livegen evaluate --model" in page and report["date"] in page
    assert "](fig/evaluation_nll.png)" in page and "| mine |" in page
    assert "| mine | viewpoint Markov |" in page
    assert report["preset_settings"]["mine"]["style_guidance"] == 0.0  # the defaults: no preset "mine"
    assert "| `style_guidance` |" in page
    real = report["distinctness"]["real_continuations"]
    assert real["rows"] == ["mine"] and len(real["distance"][0]) == len(real["columns"])
    assert "Reference: the real continuations" in page
    # the style classifier knows the music21 corpus's styles only: not run on a folder, and said so
    assert "--midi-dir" in report["classifier"]["skipped"]
    assert ["classifier: each preset labelled its own style most often", None,
            f"classifier not run: {report['classifier']['skipped']}"] in report["acceptance"]
    assert not any("closest to its own style" in check for check, _, _ in report["acceptance"])


def test_evaluate_fails_in_its_first_second_when_it_cannot_make_an_output_folder(tmp_path, monkeypatch):
    from livegen.model import Model
    from livegen_train import evaluate as evaluate_mod

    blocker = tmp_path / "taken"
    blocker.write_text("a file where the folder should be")
    monkeypatch.setattr(Model, "load", lambda *a, **k: pytest.fail("measuring began"))
    with pytest.raises(SystemExit) as err:
        evaluate_mod.main(["--json", str(blocker / "r.json"), "--out", str(tmp_path / "ok" / "e.md")])
    assert str(err.value).startswith(f"livegen evaluate: error: cannot make the folder '{blocker}'")
