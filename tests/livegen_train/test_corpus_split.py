"""Deduplication and the per-style split of livegen_train.corpus."""

import dataclasses

import numpy as np
import pytest

from livegen_train.copies import interval_tokens, similar_pairs
from livegen_train.corpus import (
    MANY_UNITS,
    MIN_TEST_UNITS,
    MIN_UNITS_FOR_TEST,
    MIN_UNITS_FOR_VAL,
    SPLITS,
    CorpusSplit,
    Piece,
    corpus_counts,
    split_pieces,
)

STYLE_SIZES = {"folk": 300, "baroque": 60, "classical": 51, "romantic": 17, "modern": 4, "tiny": 2}


def _piece(name, style, n=60, seed=0):
    rng = np.random.default_rng(seed)
    onset = np.cumsum(rng.choice([0.0, 0.5, 1.0], n)).astype(np.float32)
    return Piece(name, style, rng.integers(48, 84, n).astype(np.int16), onset,
                 np.full(n, 0.5, np.float32), np.full(n, -1, np.int16), 100.0)


def _corpus():
    pieces, seed = [], 0
    for style, count in STYLE_SIZES.items():
        for i in range(count):
            seed += 1
            pieces.append(_piece(f"{style}/p{i:03d}", style, seed=seed))
    return pieces


def _names(split: CorpusSplit) -> dict[str, list[str]]:
    return {k: [p.name for p in v] for k, v in split.splits.items()}


def _transposed(piece, name, shift):
    return dataclasses.replace(piece, name=name, pitch=(piece.pitch + shift).astype(np.int16))


def test_interval_tokens_ignore_transposition_and_input_order():
    piece = _piece("a/x", "folk")
    tokens = interval_tokens(piece.pitch, piece.onset_q)
    order = np.random.default_rng(1).permutation(len(piece))
    assert np.array_equal(tokens, interval_tokens(piece.pitch[order] + 5, piece.onset_q[order]))
    assert not np.array_equal(tokens, interval_tokens(piece.pitch[::-1], piece.onset_q))


def test_copies_and_a_transposed_copy_form_one_group_and_only_the_longest_survives():
    base = _piece("folk/a", "folk", n=80, seed=7)
    longer = dataclasses.replace(  # an edition with 4 more notes at the end
        base, name="folk/a-longer", pitch=np.r_[base.pitch, [60, 62, 64, 65]].astype(np.int16),
        onset_q=np.r_[base.onset_q, base.onset_q[-1] + np.arange(1, 5)].astype(np.float32),
        duration_q=np.full(84, 0.5, np.float32), velocity=np.full(84, -1, np.int16))
    pieces = [base, _transposed(base, "folk/a-up3", 3), _transposed(base, "folk/a-down5", -5),
              longer] + [_piece(f"folk/other{i}", "folk", seed=100 + i) for i in range(40)]
    split = split_pieces(pieces)
    assert split.duplicates == {"folk/a-longer": ("folk/a", "folk/a-down5", "folk/a-up3")}
    assert split.dropped == {"folk": 3}
    kept = [p.name for s in SPLITS for p in split[s]]
    assert len(kept) == 41 and "folk/a-longer" in kept and "folk/a" not in kept
    assert corpus_counts(split)["folk"]["dropped"] == 3


def test_a_copy_in_another_style_or_an_unrelated_piece_is_not_a_duplicate():
    base = _piece("folk/a", "folk", seed=3)
    other_style = dataclasses.replace(_transposed(base, "baroque/a", 2), style="baroque")
    pieces = [base, other_style, _piece("folk/b", "folk", seed=4)]
    assert similar_pairs(pieces, 0.01) == []
    assert split_pieces(pieces).duplicates == {}


def test_variants_are_kept_but_never_in_two_splits():
    base = _piece("folk/tune", "folk", n=120, seed=11)
    variant = dataclasses.replace(base, name="folk/tune-variant", pitch=base.pitch.copy())
    variant.pitch[::16] += 1  # one changed note in 16: kept, but the same tune
    pieces = [base, variant] + [_piece(f"folk/x{i}", "folk", seed=200 + i) for i in range(60)]
    (i, j, jaccard), = similar_pairs(pieces, 0.25)
    assert (i, j) == (0, 1) and 0.25 <= jaccard < 0.5
    for test_pct in (0, 50, 100):
        split = split_pieces(pieces, val_pct=0, test_pct=test_pct)
        homes = {s for s in SPLITS for p in split[s] if p.name.startswith("folk/tune")}
        assert len(homes) == 1
        assert split.related == [("folk/tune", "folk/tune-variant")]


def test_every_style_big_enough_has_test_and_validation_pieces():
    split = split_pieces(_corpus())
    counts = corpus_counts(split)
    for style, size in STYLE_SIZES.items():
        row = counts[style]
        assert row["pieces"] == size and row["dropped"] == 0
        if size >= MIN_UNITS_FOR_TEST:
            assert row["test"] >= 1 and row["train"] >= 1
        if size >= MIN_UNITS_FOR_VAL:
            assert row["validation"] >= 1
        assert row["notes"] == sum(row[f"{s}_notes"] for s in SPLITS)
    assert 0.01 < counts["folk"]["test"] / 300 < 0.1
    assert counts["modern"]["test"] == counts["modern"]["validation"] == 0  # too small to hold out


def test_a_style_with_many_pieces_holds_out_several_and_its_share_of_notes():
    # classical-like: few pieces of very different lengths (music21's classical had 1 test
    # piece of 51, 0.6 % of its notes, before this rule)
    pieces = [_piece(f"classical/q{i}", "classical", n=60 + 400 * (i % 7), seed=i) for i in range(40)]
    pieces += [_piece(f"romantic/r{i}", "romantic", seed=100 + i) for i in range(MANY_UNITS - 1)]
    for test_pct in (5, 20):
        counts = corpus_counts(split_pieces(pieces, test_pct=test_pct))
        classical = counts["classical"]
        assert classical["test"] >= MIN_TEST_UNITS
        assert classical["test_notes"] >= classical["notes"] * test_pct / 100
        assert classical["train_notes"] > classical["notes"] / 2
        assert counts["romantic"]["test"] >= 1


def test_split_is_deterministic_disjoint_and_other_styles_stay_when_pieces_are_added():
    pieces = _corpus()
    split = _names(split_pieces(pieces))
    assert split == _names(split_pieces(pieces[::-1]))
    names = [n for s in SPLITS for n in split[s]]
    assert len(names) == len(set(names)) == len(pieces)
    grown = _names(split_pieces(pieces + [_piece(f"folk/new{i}", "folk", seed=900 + i)
                                          for i in range(50)]))
    for s in SPLITS:  # folk's quota of test notes may move folk units, never another style's
        assert {n for n in split[s] if not n.startswith("folk/")} == \
            {n for n in grown[s] if not n.startswith("folk/")}
    assert sum(len(grown[s]) for s in SPLITS) == len(pieces) + 50


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"val_pct": -1}, "val_pct"), ({"test_pct": 60, "val_pct": 50}, "received 50, 60"),
    ({"dedup_jaccard": 0.2}, "related_jaccard"),
])
def test_bad_arguments_raise_value_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        split_pieces(_corpus()[:5], **kwargs)


def test_repeated_names_raise_value_error():
    with pytest.raises(ValueError, match="folk/p000"):
        split_pieces([_piece("folk/p000", "folk"), _piece("folk/p000", "folk", seed=1)])


def test_cache_writers_at_once_leave_whole_files(tmp_path):
    """Two writers of one cache entry (a training run and an evaluation parsing the corpus
    together) each write a temporary file of their own: neither loses its rename to the
    other, and the entry is always one writer's whole file."""
    from concurrent.futures import ThreadPoolExecutor

    from livegen_train.corpus import _load_pieces, _save_pieces

    target = str(tmp_path / "entry.npz")
    versions = [[_piece(f"folk/w{k}", "folk", n=40 + k, seed=k)] for k in range(2)]

    def write(k):
        for _ in range(30):
            _save_pieces(target, versions[k])

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(write, range(2)))  # re-raises a writer's error
    loaded = _load_pieces(target)
    assert len(loaded) == 1 and loaded[0].name in ("folk/w0", "folk/w1")
    assert len(loaded[0]) == (40 if loaded[0].name == "folk/w0" else 41)
    assert [p.name for p in tmp_path.iterdir()] == ["entry.npz"]
