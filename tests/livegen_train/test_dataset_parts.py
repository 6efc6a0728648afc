"""Parts windows (issue 13): a share of the training windows cut from one part of a score alone."""

import hashlib
from dataclasses import replace

import numpy as np
import pytest

from livegen import tokens as tk
from livegen_train.corpus import STYLES, Piece, _load_pieces, _parse_one, _parse_parts, _with_parts
from livegen_train.dataset import Augment, WindowSampler, matching_transposition, part_pieces, piece_arrays

# Band of each part (semitones): a part's notes lie in [low, low + 6); bands do not overlap.
BANDS = (36, 48, 60, 72)


def _random_piece(name, style, n, seed):
    """The pieces the digests below were recorded with (no part information)."""
    rng = np.random.default_rng(seed)
    onset = np.cumsum(rng.choice([0.0, 0.5, 1.0], n)).astype(np.float32)
    return Piece(name, style, rng.integers(48, 84, n).astype(np.int16), onset,
                 rng.choice([0.5, 1.0], n).astype(np.float32), np.full(n, -1, np.int16), 90.0)


def _random_corpus(with_parts: bool):
    pieces = [_random_piece(f"{s}/p{i}", s, 20 + 37 * i, 10 * j + i)
              for j, s in enumerate(["baroque", "folk", "romantic"]) for i in range(4)]
    if with_parts:
        pieces = [Piece(*(getattr(p, f) for f in ("name", "style", "pitch", "onset_q", "duration_q",
                                                  "velocity", "qpm")),
                        np.arange(len(p), dtype=np.int16) % 3) for p in pieces]
    return pieces


def _digest(sampler: WindowSampler) -> str:
    h = hashlib.sha256()
    for _ in range(3):
        for array in sampler.batch_weighted(16):
            h.update(array.tobytes())
    return h.hexdigest()


# Recorded with the code before the parts option (commit c98632b), seed 5, window 32.
OLD_DIGESTS = {0.0: "515a8bd8ca6e7b981867e40d281504633685b59bd80f2e3688a13113d6541f0c",
               0.3: "9acddbf561bebb2fb0e0b1ebd84ec10f4392795702719b4fe5c2384058532792"}


@pytest.mark.parametrize("splice", sorted(OLD_DIGESTS))
@pytest.mark.parametrize("with_parts", [False, True])
def test_parts_zero_draws_the_old_windows(splice, with_parts):
    sampler = WindowSampler(_random_corpus(with_parts), STYLES, 32, Augment(), seed=5,
                            splice=splice, parts=0.0)
    assert _digest(sampler) == OLD_DIGESTS[splice]


def _chorale(name, style, onsets, seed):
    """Four parts in four bands, one note each per onset, like a chorale."""
    rng = np.random.default_rng(seed)
    rows = [(low + int(rng.integers(0, 6)), float(t), i) for t in range(onsets)
            for i, low in enumerate(BANDS)]
    rows.sort(key=lambda r: (r[1], r[0]))
    arr = np.asarray(rows, dtype=np.float64)
    n = len(rows)
    return Piece(name, style, arr[:, 0].astype(np.int16), arr[:, 1].astype(np.float32),
                 np.ones(n, np.float32), np.full(n, -1, np.int16), 90.0, arr[:, 2].astype(np.int16))


def _bands_of_rows(tokens: np.ndarray, weight: np.ndarray | None = None) -> list[set[int]]:
    """The set of bands each row's (weighted) pitches fall in."""
    out = []
    for r, row in enumerate(tokens):
        pitches = [t - tk.PITCH_OFFSET for c, t in enumerate(row[1:])
                   if tk.PITCH_OFFSET <= t < tk.PITCH_OFFSET + 128 and (weight is None or weight[r, c])]
        out.append({max(i for i, low in enumerate(BANDS) if p >= low) for p in pitches})
    return out


def test_part_pieces_split_a_score_by_part():
    piece = _chorale("bach/x", "baroque", 10, 0)
    parts = part_pieces(piece)
    assert [p.name for p in parts] == [f"bach/x@part{i}" for i in range(4)]
    for i, part in enumerate(parts):
        assert len(part) == 10 and np.all(part.part == i)
        assert np.all((part.pitch >= BANDS[i]) & (part.pitch < BANDS[i] + 6))
        assert np.array_equal(part.onset_q, np.arange(10, dtype=np.float32))
    no_parts = Piece("a", "folk", piece.pitch, piece.onset_q, piece.duration_q, piece.velocity, 90.0)
    assert part_pieces(no_parts) == []


def test_parts_one_every_window_is_one_part():
    pieces = [_chorale(f"bach/c{i}", "baroque", 40, i) for i in range(5)]
    sampler = WindowSampler(pieces, STYLES, 32, Augment(transpose=0), seed=2, parts=1.0)
    tokens, _ = sampler.batch(64)
    bands = _bands_of_rows(tokens)
    assert all(len(b) == 1 for b in bands)
    assert len(set().union(*bands)) == 4  # every part is drawn
    full = WindowSampler(pieces, STYLES, 32, Augment(transpose=0), seed=2, parts=0.0)
    assert all(len(b) == 4 for b in _bands_of_rows(full.batch(64)[0]))


@pytest.mark.parametrize("share", [0.25, 0.6])
def test_parts_share_is_honoured(share):
    pieces = [_chorale(f"bach/c{i}", "baroque", 40, i) for i in range(5)]
    sampler = WindowSampler(pieces, STYLES, 32, Augment(transpose=0), seed=3, parts=share)
    tokens, _ = sampler.batch(2000)
    single = np.mean([len(b) == 1 for b in _bands_of_rows(tokens)])
    assert abs(single - share) < 0.05  # binomial sd ~0.011 at 2000 rows


def test_parts_apply_to_own_style_notes_only():
    """A spliced opening (another style) stays a full score; styles without parts stay full."""
    pieces = [_chorale(f"bach/c{i}", "baroque", 40, i) for i in range(5)]
    folk = [_chorale(f"folk/f{i}", "folk", 40, 9 + i) for i in range(3)]
    pieces += [Piece(p.name, "folk", p.pitch, p.onset_q, p.duration_q, p.velocity, p.qpm) for p in folk]
    sampler = WindowSampler(pieces, STYLES, 32, Augment(transpose=0), seed=4, splice=1.0, parts=1.0)
    tokens, style, weight = sampler.batch_weighted(200)
    own = _bands_of_rows(tokens, weight)
    for s, bands in zip(style, own):
        assert len(bands) == (1 if STYLES[s] == "baroque" else 4)
    assert {STYLES[s] for s in style} == {"baroque", "folk"}


@pytest.mark.parametrize("bad", [-0.1, 1.5])
def test_parts_out_of_range_is_refused(bad):
    with pytest.raises(ValueError, match="parts must be in"):
        WindowSampler([_chorale("bach/c", "baroque", 40, 0)], STYLES, 32, parts=bad)


def test_part_indices_cached_beside_the_notes(tmp_path):
    """A real file through the corpus cache: notes as before, part indices from the part file."""
    from music21 import note, stream

    score = stream.Score()
    for i, low in enumerate(BANDS[:3]):
        part = stream.Part(id=f"p{i}")
        for k in range(12):
            part.append(note.Note(low + k % 5, quarterLength=1.0 if i else 0.5))
        score.insert(0, part)
    src = str(tmp_path / "x.musicxml")
    score.write("musicxml", fp=src)
    out = str(tmp_path / "notes" / "x.npz")
    (tmp_path / "notes").mkdir()
    job = (src, "bach/x", "baroque", out)
    _parse_one(job)
    cached = _load_pieces(out)
    assert [p.part for p in cached] == [None]  # the notes cache is as it was
    _parse_parts(job)
    assert (tmp_path / "notes-parts" / "x.npz").exists()
    (piece,) = _with_parts(cached, out)
    assert np.array_equal(piece.pitch, cached[0].pitch)
    for i, low in enumerate(BANDS[:3]):
        mine = piece.pitch[piece.part == i]
        assert len(mine) == 12 and np.all((mine >= low) & (mine < low + 5))


@pytest.mark.parametrize("splice", sorted(OLD_DIGESTS))
@pytest.mark.parametrize("neutral", [{"style_weights": {"baroque": 1.0}}, {"opening_staccato": 0.0},
                                     {"keep_key": False}])
def test_the_later_options_at_their_neutral_values_draw_the_old_windows(splice, neutral):
    sampler = WindowSampler(_random_corpus(False), STYLES, 32, Augment(), seed=5, splice=splice, **neutral)
    assert _digest(sampler) == OLD_DIGESTS[splice]


def test_a_style_weight_gives_that_style_most_windows_and_the_others_some():
    pieces = _random_corpus(False)
    plain = WindowSampler(pieces, STYLES, 32, Augment(), seed=1)
    boosted = WindowSampler(pieces, STYLES, 32, Augment(), seed=1, style_weights={"baroque": 8.0})
    baroque = STYLES.index("baroque")
    share_plain = np.mean(plain.batch(400)[1] == baroque)
    styles = boosted.batch(400)[1]
    share = np.mean(styles == baroque)
    assert share_plain < 0.5 < share
    assert abs(share - boosted.style_p[boosted.style_ids.index(baroque)]) < 0.06
    assert set(styles.tolist()) == set(boosted.style_ids)  # folk and romantic are still drawn


@pytest.mark.parametrize("weights, message", [({"jazz": 2.0}, "names 'jazz'"),
                                              ({"baroque": 0.0}, "must be > 0")])
def test_a_bad_style_weight_is_refused(weights, message):
    with pytest.raises(ValueError, match=message):
        WindowSampler(_random_corpus(False), STYLES, 32, Augment(), style_weights=weights)


def test_detached_windows_shorten_the_notes_and_keep_the_onsets():
    piece = _random_piece("folk/x", "folk", 64, 3)
    legato = Augment(transpose=0, tempo=(1.0, 1.0), jitter_s=0.0)
    plain = piece_arrays(piece, 0, 64, np.random.default_rng(7), legato)
    detached = piece_arrays(piece, 0, 64, np.random.default_rng(7), replace(legato, staccato=1.0))
    assert np.allclose(plain[1], detached[1])  # the same onsets: only the lengths change
    written = piece.duration_q * 60.0 / piece.qpm
    low, high = legato.detached
    assert np.allclose(detached[2] / written, detached[2][0] / written[0])  # one factor a window
    assert low <= detached[2][0] / written[0] <= high < legato.legato[0] <= plain[2][0] / written[0]


def _duration_bins(tokens: np.ndarray, weight: np.ndarray, opening: bool) -> list[int]:
    """The duration bin of each note of the opening (weight 0) or of the answer (weight 1)."""
    out = []
    for row, w in zip(tokens, weight):
        body = row[1:]
        for i in range(0, len(body) - 4, 4):
            if bool(w[i] == 0) == opening and w[i + 4] == (0 if opening else 1):
                out.append(int(body[i + 3]) - tk.DUR_OFFSET)
    return out


def test_detached_openings_shorten_the_opening_alone():
    pieces = _random_corpus(False)
    kw = dict(seed=3, splice=1.0)
    plain = WindowSampler(pieces, STYLES, 32, Augment(transpose=0, jitter_s=0.0), **kw)
    detached = WindowSampler(pieces, STYLES, 32, Augment(transpose=0, jitter_s=0.0), opening_staccato=1.0,
                             **kw)
    tokens, _, weight = plain.batch_weighted(64)
    tokens_d, _, weight_d = detached.batch_weighted(64)
    opening, opening_d = (np.mean(_duration_bins(t, w, True)) for t, w in
                          ((tokens, weight), (tokens_d, weight_d)))
    answer, answer_d = (np.mean(_duration_bins(t, w, False)) for t, w in
                        ((tokens, weight), (tokens_d, weight_d)))
    assert opening_d < opening - 1  # shorter duration bins in the opening
    assert abs(answer_d - answer) < 1  # the answer keeps its articulation
    with pytest.raises(ValueError, match="opening_staccato must be in"):
        WindowSampler(pieces, STYLES, 32, Augment(), opening_staccato=1.5)


MAJOR_STEPS = (0, 2, 4, 5, 7, 9, 11)
MAJOR_SCALES = [{(tonic + step) % 12 for step in MAJOR_STEPS} for tonic in range(12)]  # pitch classes


def _in_one_major_key(*classes: set) -> bool:
    """Do all these sets of pitch classes keep to one major scale?"""
    return any(all(c <= scale for c in classes) for scale in MAJOR_SCALES)


def _pitches(row: np.ndarray) -> np.ndarray:
    """Which tokens of a row are PITCH tokens (bool mask)."""
    return (row >= tk.PITCH_OFFSET) & (row < tk.VEL_OFFSET)


def _scales(style, count, tonic, runs=4):
    """Pieces that run ``runs`` times up and down the major scale of ``tonic`` (a pitch class)."""
    up = [60 + tonic + s for s in MAJOR_STEPS]
    pitches = up + [72 + tonic] + up[::-1]
    n = runs * len(pitches)
    return [Piece(f"{style}/s{i}", style, np.array(pitches * runs, np.int16), np.arange(n, dtype=np.float32),
                  np.ones(n, np.float32), np.full(n, -1, np.int16), 90.0) for i in range(count)]


def _answers_in_the_openings_key(sampler: WindowSampler) -> float:
    """Share of spliced rows whose answer (weight 1) keeps to a major scale the opening's (weight 0)
    notes keep to."""
    tokens, _, weight = sampler.batch_weighted(64)
    kept = []
    for row, w in zip(tokens, weight):
        is_pitch = _pitches(row[1:])
        pitches, counted = row[1:][is_pitch] - tk.PITCH_OFFSET, w[is_pitch]
        kept.append(_in_one_major_key(set(pitches[counted == 0] % 12), set(pitches[counted == 1] % 12)))
    return float(np.mean(kept))


def test_key_matched_splices_answer_in_the_openings_key():
    pieces = _scales("baroque", 3, 0) + _scales("folk", 3, 5)  # C major, F major
    kw = dict(seed=2, splice=1.0)
    plain = WindowSampler(pieces, STYLES, 40, Augment(), **kw)
    matched = WindowSampler(pieces, STYLES, 40, Augment(), keep_key=True, **kw)
    assert _answers_in_the_openings_key(matched) >= 0.9  # a short opening may not name its key
    assert _answers_in_the_openings_key(plain) < 0.3  # each part transposed on its own


def test_short_pieces_joined_in_a_window_keep_the_first_ones_key():
    pieces = _scales("folk", 4, 0, runs=1)  # 15 notes each: a 40-note window joins three
    plain, matched = (WindowSampler(pieces, STYLES, 40, Augment(), seed=3, keep_key=keep)
                      for keep in (False, True))

    def in_one_key(sampler):  # share of windows whose notes keep to one major scale
        tokens, _ = sampler.batch(64)
        return np.mean([_in_one_major_key(set((row[_pitches(row)] - tk.PITCH_OFFSET) % 12))
                        for row in tokens])

    assert in_one_key(matched) >= 0.9
    assert in_one_key(plain) < 0.3


def test_the_matching_transposition_finds_the_key_and_stays_in_midi_range():
    scale = np.array([60 + s for s in MAJOR_STEPS]), np.ones(7)
    for move in range(-6, 6):
        assert matching_transposition(*scale, scale[0] - move, scale[1]) == move
    high = np.array([120 + s for s in (0, 2, 4, 5, 7)]), np.ones(5)
    up = matching_transposition(high[0] - 20, high[1], high[0], high[1])  # +4 would leave 0-127
    assert up == 4 - 12 and high[0].max() + up <= 127
    chromatic = np.arange(60, 72), np.ones(12)
    assert matching_transposition(*chromatic, *scale) == 0  # every pitch class alike: no key
