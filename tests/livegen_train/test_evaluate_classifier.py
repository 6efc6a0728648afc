"""`livegen evaluate` judges style with the classifier (issue 13 item 5): label shares, the acceptance
lines, the JSON, and where the classifier comes from. Small fakes only: no training, no corpus."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from livegen import tokens as tk
from livegen.notes import Note
from livegen.presets import Preset
from livegen_train import evaluate as evaluate_mod
from livegen_train.corpus import Piece
from livegen_train.report import acceptance, format_table, markdown

pytest.importorskip("torch")  # the classifier's module (label_shares) imports torch


def _line(pitch: int, count: int = 8, step_s: float = 0.25) -> list[Note]:
    return [Note(pitch, 80, i * step_s, 0.2) for i in range(count)]


class ByRegister:
    """A stand-in classifier: "baroque" when a window's mean pitch is 66 or more, else "folk"."""

    styles = ("baroque", "classical", "folk")
    metrics = {"test": {"windows": 10, "accuracy": 0.9, "balanced_accuracy": 0.75, "confusion": [[1]],
                        "recall": {"baroque": 1.0, "folk": 0.5}, "pieces": {"baroque": 2, "folk": 3}},
               "validation": {"windows": 4, "accuracy": 0.5, "balanced_accuracy": 0.5, "confusion": [[1]]},
               "best_epoch": 3, "parameters": 123, "train_seconds": 1.5, "history": [{"epoch": 1}]}

    def __init__(self) -> None:
        self.windows = 0

    def classify(self, windows):
        self.windows += len(windows)
        for w in windows:
            assert w, "an empty window reached the classifier"
        return ["baroque" if np.mean([n.pitch for n in w]) >= 66 else "folk" for w in windows]


# --- label shares and margins --------------------------------------------------------------------


def test_label_shares_per_preset_and_the_margin_is_own_minus_the_largest_other():
    high, low = _line(80), _line(50)
    result = evaluate_mod.style_labels(
        ByRegister(), {"baroque": [high, high, high, low], "folk": [high, low], "modern": [high],
                       "classical": []},
        title="shared prompts", prompts=2, seeds=2)
    assert result["title"] == "shared prompts" and result["prompts"] == 2 and result["seeds"] == 2
    # modern is not a tonal preset, and classical has no continuation here: neither is judged
    assert set(result["presets"]) == {"baroque", "folk"}
    baroque, folk = result["presets"]["baroque"], result["presets"]["folk"]
    assert baroque["n"] == 4 and baroque["shares"] == {"baroque": 0.75, "classical": 0.0, "folk": 0.25}
    assert baroque["own_most"] is True and baroque["margin"] == 0.5
    assert folk["own_most"] is False and folk["margin"] == 0.0  # a tie is not "most often"



def test_the_interval_groups_a_prompts_seeds_in_either_order_the_continuations_come_in():
    high, low = _line(80), _line(50)
    # 4 prompts x 3 seeds; prompts 0 and 1 always answered high (baroque), 2 and 3 always low
    prompt_major = [high] * 6 + [low] * 6
    seed_major = [high, high, low, low] * 3
    by_prompt = evaluate_mod.style_labels(ByRegister(), {"baroque": prompt_major}, title="t", prompts=4,
                                          seeds=3, prompt_major=True)["presets"]["baroque"]
    by_seed = evaluate_mod.style_labels(ByRegister(), {"baroque": seed_major}, title="t", prompts=4,
                                        seeds=3)["presets"]["baroque"]
    assert by_prompt["margin"] == by_seed["margin"] == 0.0
    assert by_prompt["margin_interval"] == by_seed["margin_interval"]
    low_end, high_end = by_seed["margin_interval"]
    assert low_end <= -0.5 and high_end >= 0.5  # two of four prompts decide it: a wide interval
    # read in the wrong order, each "prompt" would mix high and low answers: a narrower interval
    wrong = evaluate_mod.style_labels(ByRegister(), {"baroque": seed_major}, title="t", prompts=4,
                                      seeds=3, prompt_major=True)["presets"]["baroque"]["margin_interval"]
    assert wrong[1] - wrong[0] < high_end - low_end

def test_a_continuation_without_notes_counts_against_its_preset_and_is_never_classified():
    classifier = ByRegister()
    assert evaluate_mod.label_continuations(classifier, [[], _line(50), []]) == ["", "folk", ""]
    assert classifier.windows == 1
    shares = evaluate_mod.style_labels(classifier, {"folk": [[], _line(50), []]}, title="t", prompts=3,
                                       seeds=1)["presets"]["folk"]
    assert shares["n"] == 3 and shares["shares"]["folk"] == pytest.approx(1 / 3)
    assert shares["own_most"] is True and shares["margin"] == pytest.approx(1 / 3, abs=1e-4)


def test_the_summary_carries_the_classifiers_test_accuracy_but_not_its_history():
    summary = evaluate_mod.classifier_summary(ByRegister())
    assert summary["test"] == {"windows": 10, "accuracy": 0.9, "balanced_accuracy": 0.75,
                               "recall": {"baroque": 1.0, "folk": 0.5}, "pieces": {"baroque": 2, "folk": 3}}
    assert summary["validation"] == {"windows": 4, "accuracy": 0.5, "balanced_accuracy": 0.5}
    assert summary["styles"] == ["baroque", "classical", "folk"] and "history" not in summary


# --- the acceptance lines ------------------------------------------------------------------------


def _shares(labels, own, styles=("baroque", "classical", "folk")):
    from livegen_train.classifier_report import label_shares

    return label_shares(labels, styles, own)


def _report(sets, *, profile_wins=False):
    """A report with nothing but the style sections; the profile check says every preset fails."""
    wins = {"baroque": profile_wins, "folk": profile_wins}
    block = {"rows": [], "own_wins": wins}
    return {"nll": {}, "continuations": {}, "adherence": None,
            "distinctness": {"own_prompts": block, "shared_prompts": block},
            "classifier": {"styles": ["baroque", "classical", "folk"],
                           "test": {"windows": 10, "accuracy": 0.9, "balanced_accuracy": 0.75},
                           "sets": sets}}


def _set(title, presets):
    return {"title": title, "prompts": 4, "seeds": 1, "presets": presets}


def test_the_classifier_line_passes_when_each_preset_is_labelled_its_own_style_most_often():
    sets = {"shared": _set("shared prompts", {
                "baroque": _shares(["baroque"] * 3 + ["folk"], "baroque"),
                "folk": _shares(["folk"] * 2 + ["classical"] * 2, "folk")}),  # a tie: fails
            "dev": _set("out-of-corpus dev", {
                "baroque": _shares(["baroque"] * 2 + ["classical"], "baroque"),
                "folk": _shares(["folk"] * 4, "folk")})}
    checks = {name: (ok, detail) for name, ok, detail in acceptance(_report(sets))}
    shared = checks["classifier: each preset labelled its own style most often (shared prompts)"]
    dev = checks["classifier: each preset labelled its own style most often (out-of-corpus dev)"]
    assert shared == (False, "baroque +0.50, folk +0.00")
    assert dev == (True, "baroque +0.33, folk +1.00")
    # the nearest-profile distances are a description now, not a check
    assert not any("closest to its own style" in name for name in checks)


def test_a_margin_too_small_for_two_decimals_keeps_its_sign():
    labels = ["baroque"] * 151 + ["folk"] * 150  # own share above the other by 1/301
    sets = {"dev": _set("out-of-corpus dev", {"baroque": _shares(labels, "baroque")})}
    [(name, ok, detail)] = [c for c in acceptance(_report(sets)) if c[0].startswith("classifier")]
    assert ok is True and detail == "baroque +0.003"


def test_without_the_classifier_the_line_says_why_and_judges_nothing():
    report = _report({})
    report["classifier"] = {"skipped": "--no-classifier"}
    [line] = [c for c in acceptance(report) if c[0].startswith("classifier")]
    assert line == ("classifier: each preset labelled its own style most often", None,
                    "classifier not run: --no-classifier")


# --- evaluate(): the sections' own continuations, labelled; the JSON ----------------------------


class OnePitchModel:
    """A step model that plays one pitch per style (baroque 80, folk 50); counts its steps."""

    styles = ("baroque", "folk")

    def __init__(self) -> None:
        self.steps = 0

    def style_id(self, style):
        return self.styles.index(style)

    def initial_state(self):
        return ()

    def step(self, token, state, style):
        self.steps += 1
        logits = np.full(tk.VOCAB_SIZE, -30.0, np.float32)
        logits[tk.SHIFT_OFFSET + 20] = logits[tk.VEL_OFFSET + 10] = logits[tk.DUR_OFFSET + 20] = 0.0
        logits[tk.PITCH_OFFSET + (80 if style == 0 else 50)] = 0.0
        return logits, state


def _piece(name, style, base):
    n = 240
    return Piece(name, style, (base + np.arange(n) % 7).astype(np.int16), np.arange(n, dtype=np.float32) / 2,
                 np.full(n, 0.4, np.float32), np.full(n, -1, np.int16), 120.0)


def _outside_prompts(role):
    return [(f"{role}/ch {k}", _line(60 + k, 50), [Note(62, 80, 13.0 + 0.25 * i, 0.2) for i in range(16)])
            for k in range(2)]


@pytest.fixture()
def light(monkeypatch):
    """evaluate() with its NLL and continuation sections stubbed; distinctness and adherence run."""
    from livegen_train import adherence_report, conditional

    monkeypatch.setattr(conditional, "corpus_markov", lambda train: None)
    monkeypatch.setattr(evaluate_mod, "nll_table", lambda *a, **k: {})
    monkeypatch.setattr(evaluate_mod, "continuation_report", lambda *a, **k: ({}, {}))
    monkeypatch.setattr(adherence_report, "load_prompts", _outside_prompts)
    monkeypatch.setattr(adherence_report, "_nll", lambda model, presets, prompts, corpus:
                        {s: {"net": [1.0] * 4, "session": [2.0] * 4, "answer": [1.0] * 4} for s in presets})
    presets = {s: Preset(name=s).replace(style=s, key_mask="off", pitch_low=0, pitch_high=127)
               for s in ("baroque", "folk")}
    split = {"train": [], "test": [_piece("b/1", "baroque", 70), _piece("f/1", "folk", 55)]}
    config = evaluate_mod.EvalConfig(prompts=2, seeds=1, shared_prompts=2, shared_seeds=3, style_segments=2,
                                     adherence_sets="dev", adherence_seeds=2)

    def run(classifier):
        model = OnePitchModel()
        report = evaluate_mod.evaluate(model, None, split, presets, config, classifier=classifier)
        return report, model.steps

    return run


def test_evaluate_labels_the_continuations_its_sections_made_and_generates_nothing_for_it(light):
    classifier = ByRegister()
    report, steps = light(classifier)
    plain, plain_steps = light(None)
    assert steps == plain_steps  # the classifier reuses the sections' continuations
    assert plain["classifier"] is None
    sets = report["classifier"]["sets"]
    assert list(sets) == ["shared", "dev"]
    shared, dev = sets["shared"], sets["dev"]
    assert (shared["title"], shared["prompts"], shared["seeds"]) == ("shared prompts", 4, 3)
    assert (dev["title"], dev["prompts"], dev["seeds"]) == ("out-of-corpus dev", 2, 2)
    for block, n in ((shared, 4 * 3), (dev, 2 * 2)):
        assert block["presets"]["baroque"]["n"] == block["presets"]["folk"]["n"] == n
        baroque, folk = block["presets"]["baroque"], block["presets"]["folk"]
        assert baroque["shares"]["baroque"] == 1.0 and baroque["own_most"] and folk["margin"] == 1.0
    # the shared pool's real continuations, a reference row per style (2 prompts each)
    assert {s: r["n"] for s, r in shared["real"].items()} == {"baroque": 2, "folk": 2}
    # the out-of-corpus prompts' real continuations (pitch 62: "folk" here), a row with no own style
    real = dev["real"]["real continuation"]
    assert real["n"] == 2 and real["shares"]["folk"] == 1.0
    assert real["own"] is real["own_most"] is real["margin"] is None
    assert classifier.windows == 12 + 12 + 4 + 4 + 2 + 2 + 2
    assert report["classifier"]["test"]["accuracy"] == 0.9
    again = json.loads(json.dumps(report, default=float))  # what --json writes
    assert again["classifier"]["sets"]["dev"]["presets"]["folk"]["shares"]["folk"] == 1.0
    assert again["classifier"]["test"]["balanced_accuracy"] == 0.75


def test_the_page_and_the_console_show_the_labels_and_call_the_profiles_a_description(light):
    report, _ = light(ByRegister())
    report.update(date="2026-12-02", command="livegen evaluate", model="m.onnx", corpus="fake",
                  train_pieces=0, minutes=0.1, scored_with="nothing", test_pieces={},
                  path="/cache/classifier/k.pt")
    report["classifier"]["path"] = str(Path.home() / ".cache" / "livegen" / "classifier" / "k.pt")
    report["acceptance"] = [list(c) for c in acceptance(report)]
    shared = report["distinctness"]["shared_prompts"]
    assert shared["rows"] == shared["columns"] == ["baroque", "folk"]
    shared["distance"] = [[0.3, 0.1], [0.5, 0.2]]  # baroque's answers nearest folk's profile; folk's, folk's
    page = markdown(report)
    assert "### The style classifier" in page and "### Style profiles (a description, not a check)" in page
    assert "no longer an acceptance check" in page
    assert "Classifier: `~/.cache/livegen/classifier/k.pt`" in page
    assert ("On the shared prompts the two disagree for baroque (nearest profile folk, most frequent label "
            "baroque).") in page
    assert "Classifier test accuracy 0.900, balanced accuracy 0.750" in page
    # every baroque answer labelled baroque, whichever prompts are drawn: the interval is the point
    assert "| baroque | 12 | **1.00** | 0.00 | 0.00 | yes | +1.00 [+1.00, +1.00] |" in page
    assert "Reference, the shared prompts' real continuations (not a check):" in page
    assert ("Reference, the out-of-corpus dev's real continuations (not a check):\n\n"
            "| real music | continuations | baroque | classical | folk | own most often | margin |") in page
    assert "| real continuation | 2 | 0.00 | 0.00 | 1.00 | - | - |" in page
    assert "the shared prompts of the profile tables (3 seeds each)" in page
    assert "4 prompts from every style, 3 seeds each" in page
    assert "| classifier: each preset labelled its own style most often (out-of-corpus dev) | pass |" in page
    console = format_table(report)
    assert "Classifier test accuracy 0.900" in console
    assert "out-of-corpus dev (2 prompts x 2 seeds)" in console
    assert "out-of-corpus dev: real continuations (not a check)" in console
    assert "shared prompts (4 prompts x 3 seeds)" in console


# --- where the classifier comes from -------------------------------------------------------------


def test_the_classifier_is_read_from_the_cache_the_report_uses_and_trained_only_when_absent(monkeypatch,
                                                                                            tmp_path):
    from livegen_train import classifier_report
    from livegen_train.classifier import StyleClassifier, StyleEnsemble, StyleNet

    monkeypatch.setenv("LIVEGEN_CACHE", str(tmp_path))
    def chorale(name, base):  # two voices, note by note: the judge learns from single parts
        piece = _piece(name, "baroque", base)
        return replace(piece, part=(np.arange(len(piece)) % 2).astype(np.int16))

    split = argparse.Namespace(splits={"train": [chorale("b/1", 70)], "validation": [],
                                       "test": [_piece("f/1", "folk", 55), chorale("b/2", 60)]})
    args = argparse.Namespace(no_classifier=False, midi_dir=None, classifier_runs=1)
    trained = []

    def fake_train(splits, styles, config):
        trained.append((tuple(styles), config.seed))
        assert config == replace(classifier_report.JUDGE_CONFIG, seed=config.seed)
        return StyleClassifier(StyleNet(len(styles)), styles, config, {"test": {"accuracy": 0.5}})

    monkeypatch.setattr(classifier_report, "train_classifier", fake_train)
    # the judge hears single lines: half its training windows are one part of a score
    assert classifier_report.JUDGE_CONFIG.parts == 0.5
    first, source = evaluate_mod._style_classifier(split, ("baroque", "folk"), args)
    assert trained == [(("baroque", "folk"), 0)] and source["cached"] is False
    assert source["path"] == str(classifier_report.cache_path(split.splits, ("baroque", "folk"),
                                                              classifier_report.JUDGE_CONFIG))
    assert source["path"].startswith(str(tmp_path / "classifier"))
    again, source = evaluate_mod._style_classifier(split, ("baroque", "folk"), args)
    assert trained == [(("baroque", "folk"), 0)] and source["cached"] is True  # read back, not trained
    assert again.metrics == {"test": {"accuracy": 0.5}}
    # a judge of 3 runs: seed 0 from the cache, seeds 1 and 2 trained, then all read back
    args.classifier_runs = 3
    judge, source = evaluate_mod._style_classifier(split, ("baroque", "folk"), args)
    assert [seed for _, seed in trained] == [0, 1, 2] and source["cached"] is False
    assert isinstance(judge, StyleEnsemble) and len(judge.members) == 3
    assert judge.metrics["test"]["windows"] == 6 and len(judge.metrics["runs"]) == 3
    summary = evaluate_mod.classifier_summary(judge)
    assert len(summary["runs"]) == 3 and summary["test"]["windows"] == 6  # 240 notes: 3 windows of 64
    assert summary["test_parts"]["windows"] == 2  # each voice of the chorale alone: 120 notes, 1 window
    judge.metrics["test"].update(accuracy=0.5, balanced_accuracy=0.5)
    for run in judge.metrics["runs"]:
        run["test"] = {"accuracy": 0.5, "balanced_accuracy": 0.5}
    from livegen_train.report import _accuracy_line

    # the section evaluate writes: the summary with where the judge came from laid over it
    line = _accuracy_line({**evaluate_mod.classifier_summary(judge), **source})
    assert "3 training runs" in line and "On 2 windows of one part of a test score alone" in line
    _, source = evaluate_mod._style_classifier(split, ("baroque", "folk"), args)
    assert len(trained) == 3 and source["cached"] is True
    assert evaluate_mod._style_classifier(split, ("baroque",), argparse.Namespace(
        no_classifier=True, midi_dir=None)) == (None, {"skipped": "--no-classifier"})
    none, why = evaluate_mod._style_classifier(split, ("mine",), argparse.Namespace(no_classifier=False,
                                                                                     midi_dir="x"))
    assert none is None and "--midi-dir" in why["skipped"]


def test_the_label_shares_are_drawn_and_linked_from_the_page(light, tmp_path):
    pytest.importorskip("matplotlib")
    from livegen_train.report import plot_all, write_markdown

    report, _ = light(ByRegister())
    report.update(date="2026-12-02", command="livegen evaluate", model="m.onnx", corpus="fake",
                  train_pieces=0, minutes=0.1, scored_with="nothing", test_pieces={})
    report["acceptance"] = [list(c) for c in acceptance(report)]
    report["figures"] = [str(p) for p in plot_all(report, tmp_path / "fig")]
    figure = tmp_path / "fig" / "evaluation_classifier.png"
    assert str(figure) in report["figures"] and figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = write_markdown(report, tmp_path / "eval.md").read_text()
    assert "![Label shares per preset](fig/evaluation_classifier.png)" in page
    report["classifier"] = {"skipped": "--no-classifier"}
    names = {Path(p).name for p in plot_all(report, tmp_path / "none")}
    assert "evaluation_classifier.png" not in names


def test_the_page_says_when_the_judge_is_several_runs_and_gives_each_runs_accuracy():
    from livegen_train.report import _accuracy_line

    test = {"accuracy": 0.9, "balanced_accuracy": 0.721, "windows": 611}
    one = _accuracy_line({"test": test})
    assert "0.721" in one and "runs" not in one
    three = _accuracy_line({"test": test, "runs": [{"balanced_accuracy": b} for b in (0.71, 0.629, 0.7)]})
    assert "3 training runs" in three and "0.710, 0.629, 0.700" in three
