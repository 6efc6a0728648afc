"""The style classifier: features, balanced sampling, training on synthetic styles, the report's verdict."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from livegen import tokens as tk  # noqa: E402
from livegen.notes import Note  # noqa: E402
from livegen_train.classifier import (  # noqa: E402
    DETACHED,
    ClassifierConfig,
    StyleClassifier,
    WindowDrawer,
    eval_windows,
    evaluate_classifier,
    train_classifier,
)
from livegen_train.classifier_features import (  # noqa: E402
    FEATURES,
    N_FEATURES,
    note_features,
    notes_features,
    quantize_like_tokens,
)
from livegen_train.classifier_report import label_shares, preset_report  # noqa: E402
from livegen_train.corpus import Piece  # noqa: E402

pytestmark = pytest.mark.torch

STYLES = ("steps", "leaps")
C_MAJOR = np.array([0, 2, 4, 5, 7, 9, 11])


def _piece(name: str, style: str, pitch, onset_q, duration_q, qpm: float = 100.0) -> Piece:
    return Piece(name, style, np.asarray(pitch, np.int16), np.asarray(onset_q, np.float32),
                 np.asarray(duration_q, np.float32), np.full(len(pitch), -1, np.int16), qpm)


def _steps(name: str, rng: np.random.Generator, n: int = 160) -> Piece:
    """Stepwise scale runs in even eighth notes, legato."""
    walk = np.cumsum(rng.choice([-1, 1], n)) % 28
    degree = np.where(walk > 14, 28 - walk, walk) + 7  # reflected between two octaves
    pitch = 48 + 12 * (degree // 7) + C_MAJOR[degree % 7]
    onset = np.arange(n) * 0.5
    return _piece(name, "steps", pitch, onset, np.full(n, 0.5), qpm=float(rng.uniform(60, 140)))


def _leaps(name: str, rng: np.random.Generator, n: int = 160) -> Piece:
    """Leaps of a fifth or more in dotted rhythm (1.5 + 0.5 quarters), detached, with rests."""
    pitch = 60 + np.cumsum(rng.choice([-9, -7, 7, 9], n)) % 24
    onset = np.cumsum(np.tile([0.0, 1.5, 0.5, 2.0], n // 4 + 1)[:n])
    return _piece(name, "leaps", pitch, onset, np.full(n, 0.4), qpm=float(rng.uniform(60, 140)))


def _split(seed: int = 0) -> dict[str, list[Piece]]:
    rng = np.random.default_rng(seed)
    out = {}
    for split, count in (("train", 6), ("validation", 2), ("test", 3)):
        out[split] = [make(f"{split}/{make.__name__}{i}", rng)
                      for make in (_steps, _leaps) for i in range(count)]
    return out


SMALL = ClassifierConfig(channels=16, hidden=16, batch=32, batches_per_epoch=12, max_epochs=6, patience=6,
                         lr=5e-3, window_notes=32, min_notes=16, eval_windows_per_piece=4, average_from=0)


# --- features ------------------------------------------------------------------------------------


def _column(name: str) -> int:
    return FEATURES.index(name)


def test_features_do_not_change_with_tempo_and_only_the_register_changes_with_transposition():
    rng = np.random.default_rng(1)
    pitch = rng.integers(50, 80, 40)
    onset = np.cumsum(rng.choice([0.0, 0.25, 0.5, 0.75], 40))
    duration = rng.choice([0.2, 0.45, 0.7], 40)
    order = np.lexsort((pitch, onset))
    pitch, onset, duration = pitch[order], onset[order], duration[order]
    base = note_features(pitch, onset, duration)
    assert base.shape == (40, N_FEATURES) and base.dtype == np.float32
    np.testing.assert_allclose(note_features(pitch, 2.0 * onset, 2.0 * duration), base, atol=1e-6)
    moved = note_features(pitch + 5, onset, duration)
    register = _column("register")
    others = [k for k in range(N_FEATURES) if k != register]
    np.testing.assert_allclose(moved[:, others], base[:, others], atol=1e-6)
    np.testing.assert_allclose(moved[:, register] - base[:, register], 5 / 24, atol=1e-6)


def test_a_chord_is_flagged_and_the_rhythm_is_in_units_of_the_median_spacing():
    notes = [Note(60, 80, 0.0, 0.5), Note(64, 80, 0.01, 0.5), Note(67, 80, 0.5, 0.5), Note(69, 80, 1.5, 0.5),
             Note(71, 80, 2.0, 0.25)]
    f = notes_features(notes)
    assert f[:, _column("chord")].tolist() == [0, 1, 0, 0, 0]
    spacing = [0.5, 1.0, 0.5]  # between chords; the median is 0.5 s
    np.testing.assert_allclose(f[[2, 3, 4], _column("log_ioi")], np.log2(np.array(spacing) / 0.5))
    np.testing.assert_allclose(f[3, _column("rest_before")], 1.0)  # 0.5 s of silence before the 4th onset
    np.testing.assert_allclose(f[4, _column("log_duration")], -1.0)  # 0.25 s is half the median spacing


def test_pitch_classes_are_relative_to_the_windows_key():
    scale = [60, 62, 64, 65, 67, 69, 71, 72] * 3
    in_c = notes_features([Note(p, 80, 0.25 * i, 0.2) for i, p in enumerate(scale)])
    in_e = notes_features([Note(p + 4, 80, 0.25 * i, 0.2) for i, p in enumerate(scale)])
    pcs = slice(_column("pc0"), _column("pc11") + 1)
    np.testing.assert_array_equal(in_c[:, pcs], in_e[:, pcs])
    assert in_c[0, _column("pc0")] == 1.0  # the tonic


def test_quantizing_matches_the_token_round_trip():
    rng = np.random.default_rng(2)
    rows = zip(rng.integers(40, 90, 30), np.cumsum(rng.uniform(0, 0.4, 30)), rng.uniform(0.05, 1.5, 30))
    notes = sorted((Note(int(p), 80, float(o), float(d)) for p, o, d in rows),
                   key=lambda n: (n.onset_s, n.pitch))
    pitch, onset, duration = quantize_like_tokens(np.array([n.pitch for n in notes]),
                                                  np.array([n.onset_s for n in notes]),
                                                  np.array([n.duration_s for n in notes]))
    decoded = tk.decode(tk.encode(notes), start_s=notes[0].onset_s)
    assert pitch.tolist() == [n.pitch for n in decoded]
    np.testing.assert_allclose(onset, [n.onset_s for n in decoded])
    assert set(np.round(duration, 9)) <= set(np.round(tk.DURATION_BINS_S, 9))
    assert not np.allclose(onset, [n.onset_s for n in notes])  # it did move them onto the grid


# --- balanced sampling ---------------------------------------------------------------------------


def test_a_tiny_style_is_drawn_as_often_as_a_large_one():
    rng = np.random.default_rng(3)
    pieces = [_steps(f"s{i}", rng) for i in range(40)] + [_leaps("the only one", rng, n=20)]
    rows, labels = WindowDrawer(pieces, STYLES, SMALL).draw(400)
    share = np.mean(labels == STYLES.index("leaps"))
    assert 0.4 < share < 0.6
    assert all(SMALL.min_notes <= len(r) <= SMALL.window_notes for r in rows)
    assert all(len(r) <= 20 for r, y in zip(rows, labels) if y == 1)


def test_held_out_windows_are_fixed_and_a_short_piece_gives_one_of_its_own_length():
    rng = np.random.default_rng(4)
    pieces = [_steps("long", rng, n=200), _leaps("short", rng, n=20), _leaps("too short", rng, n=10)]
    config = ClassifierConfig(window_notes=64, min_notes=16, eval_windows_per_piece=8)
    rows, labels, names = eval_windows(pieces, STYLES, config)
    assert names == ["long"] * 3 + ["short"] and labels.tolist() == [0, 0, 0, 1]
    assert [len(r) for r in rows] == [64, 64, 64, 20]
    again, _, _ = eval_windows(pieces, STYLES, config)
    assert all(np.array_equal(a, b) for a, b in zip(rows, again))


def _two_part_score(name: str, rng: np.random.Generator) -> Piece:
    """A 'steps' score of two lines: part 0 high, part 1 two octaves lower, note against note."""
    upper, lower = _steps(name, rng, n=80), _steps(name, rng, n=80)
    order = np.argsort(np.concatenate([upper.onset_q, lower.onset_q]), kind="stable")
    cat = lambda a, b: np.concatenate([a, b])[order]  # noqa: E731
    return Piece(name, "steps", cat(upper.pitch + 12, lower.pitch - 12), cat(upper.onset_q, lower.onset_q),
                 cat(upper.duration_q, lower.duration_q), np.full(160, -1, np.int16), upper.qpm,
                 cat(np.zeros(80, np.int16), np.ones(80, np.int16)))


def test_parts_windows_come_from_one_part_and_only_where_parts_are_known(monkeypatch):
    import livegen_train.classifier as cls

    drawn: list[tuple[str, np.ndarray]] = []
    real = cls._window_features

    def spy(piece, start, count, rng, augment):
        drawn.append((piece.name, piece.part[start:start + count] if piece.part is not None else None))
        return real(piece, start, count, rng, augment)

    monkeypatch.setattr(cls, "_window_features", spy)
    rng = np.random.default_rng(5)
    pieces = [_two_part_score(f"score{i}", rng) for i in range(3)] + [_leaps(f"l{i}", rng) for i in range(3)]
    WindowDrawer(pieces, STYLES, replace(SMALL, parts=0.5)).draw(400)
    steps = [(n, part) for n, part in drawn if n.startswith("score")]
    from_parts = [part for n, part in steps if "@part" in n]
    assert 0.35 < len(from_parts) / len(steps) < 0.65
    assert all(len(set(part.tolist())) == 1 for part in from_parts)  # one line, never both
    assert not any("@part" in n for n, _ in drawn if n.startswith("l"))  # leaps have no parts
    drawn.clear()
    WindowDrawer(pieces, STYLES, SMALL).draw(200)
    assert not any("@part" in n for n, _ in drawn)  # parts 0: full scores only


def test_parts_without_separated_parts_are_refused():
    rng = np.random.default_rng(6)
    with pytest.raises(ValueError, match="no training piece has separated parts"):
        WindowDrawer([_steps("s", rng), _leaps("l", rng)], STYLES, replace(SMALL, parts=0.5))


def test_pieces_too_short_for_a_window_are_refused():
    with pytest.raises(ValueError, match="16 notes or more"):
        WindowDrawer([_steps("short", np.random.default_rng(0), n=10)], STYLES, SMALL)


# --- training ------------------------------------------------------------------------------------


def test_it_learns_two_synthetic_styles_and_reports_a_confusion_matrix(tmp_path):
    classifier = train_classifier(_split(), STYLES, SMALL)
    test = classifier.metrics["test"]
    assert test["windows"] == 6 * 4
    assert np.sum(test["confusion"]) == test["windows"]
    assert test["balanced_accuracy"] >= 0.9, test
    assert 1 <= classifier.metrics["best_epoch"] <= SMALL.max_epochs
    # note windows (Note lists), a continuation as the report sees it
    rng = np.random.default_rng(9)
    steps = _steps("x", rng).notes()[:40]
    leaps = _leaps("y", rng).notes()[:40]
    assert classifier.classify([steps, leaps]) == ["steps", "leaps"]
    path = tmp_path / "c.pt"
    classifier.save(path)
    again = StyleClassifier.load(path)
    np.testing.assert_allclose(again.predict([steps, leaps]), classifier.predict([steps, leaps]), atol=1e-6)
    assert again.metrics["test"] == test


def test_averaged_weights_train_every_epoch_and_keep_their_own_cache_key():
    from livegen_train.classifier_report import cache_key

    config = replace(SMALL, patience=1, average_from=3)  # patience would stop early stopping at once
    classifier = train_classifier(_split(), STYLES, config)
    history = classifier.metrics["history"]
    assert [h["epoch"] for h in history[:-1]] == list(range(1, SMALL.max_epochs + 1))
    assert classifier.metrics["best_epoch"] == f"mean of 3-{SMALL.max_epochs}"
    assert history[-1]["val_loss"] < history[0]["val_loss"]  # the mean is a trained network
    assert classifier.metrics["test"]["balanced_accuracy"] >= 0.9
    split = _split()
    assert cache_key(split, STYLES, config) != cache_key(split, STYLES, replace(config, average_from=0))
    with pytest.raises(ValueError, match="average_from 7 is beyond max_epochs 6"):
        train_classifier(split, STYLES, replace(SMALL, average_from=7))


def test_an_untrained_network_does_not_pass_the_accuracy_bar():
    """The training test's bar is not met by chance: the same network with 0 epochs of training."""
    config = ClassifierConfig(**{**SMALL.__dict__, "batches_per_epoch": 1, "max_epochs": 1, "lr": 1e-9})
    classifier = train_classifier(_split(), STYLES, config)
    assert evaluate_classifier(classifier, _split()["test"])["balanced_accuracy"] < 0.9


def test_an_empty_window_is_refused():
    classifier = train_classifier(_split(), STYLES, ClassifierConfig(**{**SMALL.__dict__, "max_epochs": 1,
                                                                        "batches_per_epoch": 1}))
    with pytest.raises(ValueError, match="at least one note"):
        classifier.predict([[]])


# --- the report's verdict ------------------------------------------------------------------------


def test_own_style_must_have_the_largest_share_alone():
    styles = ("a", "b", "c")
    assert label_shares(["a", "a", "b", "c"], styles, "a")["own_most"] is True
    tie = label_shares(["a", "b"], styles, "a")
    assert tie["own_most"] is False and tie["margin"] == 0.0
    plurality = label_shares(["b", "b", "a", "c"], styles, "a")
    assert plurality["own_most"] is False and plurality["margin"] == -0.25
    assert plurality["shares"] == {"a": 0.25, "b": 0.5, "c": 0.25}


def test_the_margins_interval_resamples_prompts_with_all_their_continuations():
    styles = ("a", "b", "c")
    # every prompt gets the same labels: whichever prompts are drawn, the margin is the same
    same = ["a", "a", "b", "c"] * 5
    steady = label_shares(same, styles, "a", prompt_of=[i // 4 for i in range(20)])
    assert steady["margin_interval"] == [steady["margin"]] * 2 == [0.25, 0.25]
    # half the prompts answered "a" four times, half "b": the margin hangs on which prompts are drawn
    split = ["a"] * 16 + ["b"] * 16
    clustered = label_shares(split, styles, "a", prompt_of=[i // 4 for i in range(32)])
    low, high = clustered["margin_interval"]
    assert clustered["margin"] == 0.0 and low < -0.3 and high > 0.3
    # the same labels taken as 32 independent answers: a narrower interval (seeds are not prompts)
    loose = label_shares(split, styles, "a", prompt_of=range(32))["margin_interval"]
    assert loose[1] - loose[0] < 0.75 * (high - low)
    assert "margin_interval" not in label_shares(split, styles, "a")  # no prompts given: no interval
    with pytest.raises(ValueError, match="prompt_of has 3 entries for 32 labels"):
        label_shares(split, styles, "a", prompt_of=[0, 1, 2])


class _ByRegister:
    """A stand-in classifier: "high" when the mean pitch is 66 or more."""

    styles = ("high", "low")

    def classify(self, windows):
        return ["high" if np.mean([n.pitch for n in w]) >= 66 else "low" for w in windows]


class _Model:
    """A step model that always plays one pitch, its style's (high: 80, low: 50)."""

    styles = ("high", "low")

    def style_id(self, style):
        return self.styles.index(style)

    def initial_state(self):
        return ()

    def step(self, token, state, style):
        logits = np.full(tk.VOCAB_SIZE, -30.0, np.float32)
        logits[tk.SHIFT_OFFSET + 20] = logits[tk.VEL_OFFSET + 10] = logits[tk.DUR_OFFSET + 20] = 0.0
        logits[tk.PITCH_OFFSET + (80 if style == 0 else 50)] = 0.0
        return logits, state


def test_the_report_counts_each_presets_labels_on_shared_prompts():
    from livegen.presets import Preset

    presets = {"up": Preset(name="up").replace(style="high", key_mask="off", pitch_low=0, pitch_high=127),
               "down": Preset(name="down").replace(style="low", key_mask="off", pitch_low=0, pitch_high=127)}
    prompts = [[Note(60 + k, 80, 0.25 * i, 0.2) for i in range(8)] for k in range(3)]
    report = preset_report(_Model(), _ByRegister(), presets, {"shared": {"prompts": prompts, "real": {}}},
                           [None, 0.5], seeds=range(2))
    for key in ("packaged", "0.5"):
        table = report["shared"]["follow"][key]
        assert table["up"]["n"] == 6 and table["up"]["own_most"] and table["up"]["shares"]["high"] == 1.0
        assert table["down"]["own_most"] and table["down"]["shares"]["low"] == 1.0
    assert report["shared"]["follow"]["0.5"]["up"]["follow"] == 0.5


def test_the_markdown_and_the_figure_show_every_table(tmp_path):
    from livegen_train.classifier_report import format_confusion, format_report, plot_confusion, plot_report

    styles = ("high", "low")
    table = {"up": label_shares(["high", "high", "low"], styles, "high"),
             "down": label_shares(["high", "high", "low"], styles, "low")}
    report = {"shared": {"prompts": 3, "seeds": 1, "follow": {"packaged": table, "0.5": table},
                         "real": {"real continuation": label_shares(["low"], styles)}}, "seconds": 1.0}
    text = format_report(report, styles)
    assert "| up | 3 | **0.67** | 0.33 | yes | +0.33 |" in text
    assert "| down | 3 | 0.67 | **0.33** | no | -0.33 |" in text
    assert "follow 0.5" in text and "| real continuation | 1 | 0.00 | 1.00 | - | - |" in text
    path = plot_report(report, styles, tmp_path / "m.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = {"confusion": [[3, 1], [0, 0]], "accuracy": 0.75, "balanced_accuracy": 0.75}
    assert plot_confusion(result, styles, tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"
    assert format_confusion(result, styles).splitlines()[2] == "| high | 3 | 1 | 4 | 0.75 |"


def test_continuations_are_cached_per_preset_and_read_back(tmp_path):
    from livegen.presets import Preset
    from livegen_train.classifier_report import continue_all

    preset = Preset(name="up").replace(style="high", key_mask="off", pitch_low=0, pitch_high=127)
    prompts = [[Note(60, 80, 0.25 * i, 0.2) for i in range(8)]]
    first = continue_all(_Model(), preset, prompts, range(2), cache=tmp_path)

    class Broken(_Model):
        def step(self, token, state, style):
            raise AssertionError("the cache was not read")

    assert continue_all(Broken(), preset, prompts, range(2), cache=tmp_path) == first
    with pytest.raises(AssertionError, match="not read"):  # another preset is another entry
        continue_all(Broken(), preset.replace(follow=0.5), prompts, range(2), cache=tmp_path)
    # a model file re-exported to the same path is another model
    onnx_file = tmp_path / "m.onnx"
    onnx_file.write_bytes(b"first export")
    located, broken = _Model(), Broken()
    located.path = broken.path = onnx_file
    continue_all(located, preset, prompts, range(2), cache=tmp_path)
    assert continue_all(broken, preset, prompts, range(2), cache=tmp_path) == first
    onnx_file.write_bytes(b"second export")
    with pytest.raises(AssertionError, match="not read"):
        continue_all(broken, preset, prompts, range(2), cache=tmp_path)


def test_a_classifier_trained_on_parts_is_cached_under_its_own_key():
    from livegen_train.classifier_report import cache_key

    split = _split()
    keys = {cache_key(split, STYLES, replace(SMALL, parts=share)) for share in (0.0, 0.25, 0.5)}
    assert len(keys) == 3


def test_an_ensemble_judges_with_its_members_probabilities_averaged():
    from livegen_train.classifier import StyleEnsemble, StyleNet

    members = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        members.append(StyleClassifier(StyleNet(len(STYLES), SMALL), STYLES, SMALL))
    rng = np.random.default_rng(11)
    windows = [_steps("a", rng).notes()[:40], _leaps("b", rng).notes()[:40]]
    each = [m.predict(windows) for m in members]
    assert not np.allclose(each[0], each[1])  # two different judges
    np.testing.assert_allclose(StyleEnsemble(members).predict(windows), (each[0] + each[1]) / 2, atol=1e-12)
    other = StyleClassifier(StyleNet(3, SMALL), (*STYLES, "third"), SMALL)
    with pytest.raises(ValueError, match="same styles"):
        StyleEnsemble([members[0], other])


def test_a_judge_of_several_runs_trains_each_seed_and_measures_the_average(monkeypatch, tmp_path):
    import livegen_train.classifier_report as rep

    seeds = []

    def fake_load_or_train(split, styles, config, retrain=False):
        seeds.append(config.seed)
        torch.manual_seed(config.seed)
        classifier = StyleClassifier(StyleNet(len(styles), config), styles, config, {"test": {}})
        return classifier, tmp_path / f"{config.seed}"

    from livegen_train.classifier import StyleEnsemble, StyleNet

    monkeypatch.setattr(rep, "load_or_train", fake_load_or_train)
    judge, path = rep.load_judge(_split(), STYLES, replace(SMALL, seed=4), runs=3)
    assert seeds == [4, 5, 6] and isinstance(judge, StyleEnsemble) and path == tmp_path / "4"
    assert judge.metrics["test"]["windows"] == 6 * 4 and len(judge.metrics["runs"]) == 3
    assert "test_parts" not in judge.metrics  # the synthetic split has no parts
    assert judge.metrics["test_detached"]["windows"] == 6 * 4  # the same windows, played detached


def test_detached_training_windows_are_drawn_at_their_share_and_cached_under_their_own_key():
    from livegen_train.classifier_report import cache_key

    rng = np.random.default_rng(5)
    pieces = [_steps(f"s{i}", rng) for i in range(6)]  # legato: each note lasts to the next onset

    def detached_share(share: float) -> float:
        rows, _ = WindowDrawer(pieces, STYLES, replace(SMALL, staccato=share)).draw(300)
        # log2 of the length in units of the median gap: legato 0.8-1.0 -> >= -0.33, detached <= -0.5
        return float(np.mean([np.median(r[:, _column("log_duration")]) < -0.42 for r in rows]))

    assert detached_share(0.0) == 0.0
    assert 0.2 < detached_share(0.3) < 0.4 and detached_share(1.0) == 1.0
    split = _split()
    assert cache_key(split, STYLES, replace(SMALL, staccato=0.0)) == cache_key(split, STYLES, SMALL)
    assert cache_key(split, STYLES, replace(SMALL, staccato=0.3)) != cache_key(split, STYLES, SMALL)


def test_held_out_windows_played_detached_are_the_same_windows_with_shorter_notes():
    test = _split()["test"]
    rows, labels, names = eval_windows(test, STYLES, SMALL)
    short, short_labels, short_names = eval_windows(test, STYLES, SMALL, DETACHED)
    assert np.array_equal(labels, short_labels) and names == short_names
    column = [_column(name) for name in ("log_ioi", "log_duration")]
    for legato, detached in zip(rows, short):
        assert abs(np.median(legato[:, column[0]]) - np.median(detached[:, column[0]])) < 0.1  # same rhythm
        assert np.median(detached[:, column[1]]) < np.median(legato[:, column[1]]) - 0.2  # shorter notes
