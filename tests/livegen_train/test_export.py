"""The PyTorch side: corpus reading, training windows, tiny training run, ONNX export and parity."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from livegen import tokens as tk  # noqa: E402
from livegen.errors import ModelError, VocabularyMismatchError  # noqa: E402
from livegen.model import Model  # noqa: E402
from livegen.notes import Note, write_midi  # noqa: E402
from livegen_train.corpus import Piece, corpus_counts, split_pieces  # noqa: E402
from livegen_train.dataset import Augment, WindowSampler, encode_arrays, eval_windows  # noqa: E402
from livegen_train.network import EventLSTM, NetConfig  # noqa: E402
from livegen_train.onnx_export import build_metadata, export_onnx, parity  # noqa: E402

STYLES = ["baroque", "classical", "romantic", "modern", "folk", "renaissance"]


def _piece(name, style, n=40, seed=0):
    rng = np.random.default_rng(seed)
    onset = np.cumsum(rng.choice([0.0, 0.5, 1.0], n)).astype(np.float32)
    return Piece(name, style, rng.integers(50, 80, n).astype(np.int16), onset,
                 np.full(n, 0.5, np.float32), np.full(n, -1, np.int16), 120.0)


def test_music21_chorale_becomes_a_piece():
    pytest.importorskip("music21")
    from music21 import corpus

    from livegen_train.corpus import _score_pieces

    pieces = _score_pieces(corpus.parse("bach/bwv66.6"), "bach/bwv66.6", "baroque")
    assert len(pieces) == 1 and len(pieces[0]) > 100
    piece = pieces[0]
    assert np.all(np.diff(piece.onset_q) >= 0)
    assert 36 <= piece.pitch.min() and piece.pitch.max() <= 84
    notes = piece.notes()
    assert notes[0].onset_s == 0.0 and all(n.duration_s > 0 for n in notes)


def test_split_is_by_piece_and_stable():
    pieces = [_piece(f"folk/song{i}", "folk", seed=i) for i in range(2000)]
    split = split_pieces(pieces)
    assert {k: [p.name for p in v] for k, v in split.splits.items()} == {
        k: [p.name for p in v] for k, v in split_pieces(pieces[::-1]).splits.items()}
    share = {s: len(split[s]) / len(pieces) for s in ("train", "validation", "test")}
    assert 0.85 < share["train"] < 0.95 and 0.02 < share["test"] < 0.08
    counts = corpus_counts({"train": [_piece("a/x", "folk"), _piece("b/y", "baroque")]})
    assert counts["folk"]["pieces"] == 1 and counts["folk"]["notes"] == 40


def test_spliced_windows_open_with_another_style_weighted_zero():
    # baroque pieces sit at pitch 30-40, folk pieces at 90-100: each note's style shows
    pieces = ([_piece(f"b/{i}", "baroque", n=200, seed=i) for i in range(3)]
              + [_piece(f"f/{i}", "folk", n=200, seed=i) for i in range(3)])
    for piece in pieces:
        piece.pitch[:] = (30 if piece.style == "baroque" else 90) + piece.pitch % 10
    plain = WindowSampler(pieces, STYLES, window_notes=32, augment=Augment.off(), seed=3)
    x, style, weight = plain.batch_weighted(16)
    assert weight.shape == (16, 4 * 32) and weight.min() == 1.0  # splice off: all count
    sampler = WindowSampler(pieces, STYLES, window_notes=32, augment=Augment.off(), seed=3,
                            splice=0.5)
    x, style, weight = sampler.batch_weighted(64)
    spliced = 0
    for row, s, w in zip(x, style, weight):
        own_low = STYLES[s] == "baroque"
        kinds = [tk.token_kind(int(t)) for t in row]
        for prev, nxt in zip(row[:-1], row[1:]):
            assert tk.next_kind(int(prev)) == tk.token_kind(int(nxt))
        for j, (token, kind) in enumerate(zip(row[1:], kinds[1:])):
            if kind == tk.Kind.PITCH:  # weighted pitches are the row's own style's
                if w[j]:
                    assert (int(token) - tk.PITCH_OFFSET < 60) == own_low
                else:
                    assert (int(token) - tk.PITCH_OFFSET < 60) != own_low
        zeros = int((w == 0).sum())
        if zeros:
            spliced += 1
            assert w[:zeros].max() == 0 and w[zeros:].min() == 1  # one opening, then all count
            assert 4 * 8 + 1 <= zeros <= 4 * 16 + 1
    assert 16 <= spliced <= 48
    with pytest.raises(ValueError, match="splice"):
        WindowSampler(pieces, STYLES, window_notes=32, splice=1.5)


def test_vectorised_encoding_matches_the_runtime_vocabulary():
    notes = sorted((Note(60 + i % 7, 30 + 3 * i, 0.25 * (i // 2), 0.3) for i in range(30)),
                   key=lambda n: (n.onset_s, n.pitch))
    arrays = (np.array([n.pitch for n in notes]), np.array([n.onset_s for n in notes]),
              np.array([n.duration_s for n in notes]), np.array([n.velocity for n in notes]))
    assert np.array_equal(encode_arrays(*arrays), tk.encode(notes))


def test_training_windows_follow_the_grammar_and_stay_in_range():
    pieces = [_piece(f"s/{i}", STYLES[i % 3], seed=i) for i in range(6)]
    sampler = WindowSampler(pieces, STYLES, window_notes=16, augment=Augment(), seed=1)
    x, style = sampler.batch(8)
    assert x.shape == (8, 1 + 4 * 16) and style.shape == (8,)
    assert set(style.tolist()) <= {0, 1, 2}
    for row in x:
        assert row[0] == tk.BOS
        kinds = [tk.token_kind(int(t)) for t in row]
        for prev, nxt in zip(row[:-1], row[1:]):
            assert tk.next_kind(int(prev)) == tk.token_kind(int(nxt))
        pitches = [int(t) - tk.PITCH_OFFSET for t, k in zip(row, kinds) if k == tk.Kind.PITCH]
        assert 50 - 6 <= min(pitches) and max(pitches) <= 79 + 6
    windows, ids = eval_windows(pieces, STYLES, 16)
    assert windows.shape[1] == 65 and len(windows) == len(ids) == 6 * 2


def test_onnx_export_matches_torch_and_carries_metadata(tmp_path):
    torch.manual_seed(0)
    net = EventLSTM(NetConfig(n_styles=len(STYLES), embed=16, style_embed=4, hidden=32, layers=2))
    path = export_onnx(net, tmp_path / "m.onnx", build_metadata(net, STYLES))
    tokens = tk.encode([Note(60 + i % 12, 80, i * 0.2, 0.2) for i in range(40)], bos=True)
    assert parity(net, path, tokens, style=2) <= 1e-4
    model = Model.load(path)
    assert model.styles == tuple(STYLES) and (model.layers, model.hidden) == (2, 32)
    logits, state = model.step(tk.BOS, model.initial_state(), model.style_id("romantic"))
    assert logits.shape == (tk.VOCAB_SIZE,) and logits.dtype == np.float32
    assert state.h.shape == (2, 1, 32)
    assert model.copy_guard is None  # none written: the model runs unguarded
    (tmp_path / "m.copies.npz").write_bytes(b"truncated")
    with pytest.raises(ModelError, match="m.copies.npz: not a livegen copy guard"):
        Model.load(path)


def test_step_styles_is_every_style_stepped_alone_batched_or_not(tmp_path):
    torch.manual_seed(1)
    net = EventLSTM(NetConfig(n_styles=len(STYLES), embed=16, style_embed=4, hidden=32, layers=2))
    model = Model.load(export_onnx(net, tmp_path / "m.onnx", build_metadata(net, STYLES)))
    assert model.batched  # the exporter makes the batch axis dynamic
    tokens = tk.encode([Note(60 + i % 7, 70 + i, i * 0.3, 0.25) for i in range(6)], bos=True)
    singles = [model.initial_state() for _ in STYLES]
    batched, looped = model.initial_style_states(), model.initial_style_states()
    for token in tokens:
        rows = [model.step(int(token), singles[k], k) for k in range(len(STYLES))]
        singles = [state for _, state in rows]
        every, batched = model.step_styles(int(token), batched)
        model.batched = False  # the fallback for graphs exported with batch 1
        every_looped, looped = model.step_styles(int(token), looped)
        model.batched = True
        expected = np.stack([logits for logits, _ in rows])
        assert every.shape == (len(STYLES), tk.VOCAB_SIZE)
        np.testing.assert_allclose(every, expected, atol=1e-5)
        np.testing.assert_allclose(every_looped, expected, atol=1e-5)
    assert batched.h.shape == (2, len(STYLES), 32)
    np.testing.assert_allclose(batched.h[:, 3:4], singles[3].h, atol=1e-5)


def test_a_model_with_another_vocabulary_is_refused(tmp_path):
    import onnx

    net = EventLSTM(NetConfig(n_styles=2, embed=8, style_embed=2, hidden=8, layers=1))
    meta = build_metadata(net, ["a", "b"])
    meta["vocab_version"] = tk.VOCAB_VERSION + 1
    path = export_onnx(net, tmp_path / "old.onnx", meta)
    assert json.loads(onnx.load(str(path)).metadata_props[0].value)["vocab_version"] == 2
    with pytest.raises(VocabularyMismatchError, match=f"v{tk.VOCAB_VERSION + 1}.*v{tk.VOCAB_VERSION}"):
        Model.load(path)


def test_tiny_training_run_on_a_midi_folder_resumes_and_exports(tmp_path):
    from livegen_train.train import main

    rng = np.random.default_rng(3)
    folder = tmp_path / "midi"
    folder.mkdir()
    for i in range(12):
        notes = [Note(int(p), int(v), 0.25 * k, 0.2)
                 for k, (p, v) in enumerate(zip(rng.integers(55, 75, 48), rng.integers(40, 110, 48)))]
        write_midi([notes], folder / f"take{i}.mid")
    (folder / "broken.mid").write_bytes(b"not midi")
    out = tmp_path / "run"
    common = ["--midi-dir", str(folder), "--style", "mine", "--out", str(out), "--batch", "4",
              "--window-notes", "8", "--hidden", "16", "--embed", "8", "--eval-every", "2",
              "--checkpoint-every", "2", "--no-progress", "--threads", "1"]
    assert main(common + ["--steps", "4"]) == 0
    assert (out / "checkpoint.pt").exists()
    assert main(common + ["--steps", "6", "--resume", "--export", str(out / "m.onnx")]) == 0
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [row["step"] for row in log] == [2, 4, 6]  # resumed at 4, not restarted
    report = json.loads((out / "metrics.json").read_text())
    assert report["corpus"]["skipped_files"] == {"unreadable": 1}
    assert report["corpus"]["counts"]["mine"]["pieces"] == 12
    model = Model.load(out / "m.onnx")
    assert "mine" in model.styles and model.metadata["metrics"]["steps"] == 6
    # the export wrote the copy guard of the training split next to the model
    assert (out / "m.copies.npz").is_file() and model.copy_guard is not None
    assert 0 < len(model.copy_guard) <= 12 * (48 - model.copy_guard.notes + 1)
    # --eval-only reloads the checkpoint: same weights, no training step taken
    assert main(common + ["--steps", "99", "--eval-only", "--export", str(out / "again.onnx")]) == 0
    again = Model.load(out / "again.onnx")
    assert again.metadata["metrics"]["steps"] == 6
    assert set(again.metadata["metrics"]) >= {"validation", "validation_score"}
    tokens = tk.encode([Note(60, 80, 0.0, 0.2), Note(62, 80, 0.25, 0.2)], bos=True)
    style = model.style_id("mine")
    first, _ = model.run_tokens(tokens, model.initial_state(), style)
    second, _ = again.run_tokens(tokens, again.initial_state(), style)
    assert np.allclose(first, second, atol=1e-6)


@pytest.mark.parametrize("option, share", [
    ("--style-splice", "1.5"), ("--style-splice", "-0.1"), ("--staccato", "1.5"), ("--staccato", "-0.1"),
    ("--staccato-openings", "2"), ("--parts", "1.5"), ("--parts", "-0.1")])
def test_a_share_out_of_range_is_one_line_error(option, share, capsys):
    from livegen_train.train import main
    with pytest.raises(SystemExit) as info:
        main([option, share, "--out", "unused"])
    assert info.value.code == 2
    assert f"{option} must be in [0, 1] (received {float(share)})" in capsys.readouterr().err


@pytest.mark.parametrize("given, message", [
    ("baroque", "--style-weight wants STYLE=FACTOR with FACTOR > 0 (received 'baroque')"),
    ("baroque=0", "--style-weight wants STYLE=FACTOR with FACTOR > 0 (received 'baroque=0')"),
    ("=2", "--style-weight wants STYLE=FACTOR with FACTOR > 0 (received '=2')"),
    ("jazz=2", "--style-weight names jazz; the styles are baroque, classical")])
def test_a_bad_style_weight_is_one_line_error(given, message, capsys):
    from livegen_train.train import main
    with pytest.raises(SystemExit) as info:
        main(["--style-weight", given, "--out", "unused"])
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_style_weights_are_read_as_a_dict():
    from livegen_train.train import build_parser, style_weights
    parser = build_parser()
    args = parser.parse_args(["--style-weight", "baroque=4", "--style-weight", "folk=0.5"])
    assert style_weights(parser, args.style_weight) == {"baroque": 4.0, "folk": 0.5}
