"""Statistics of note sequences for ``livegen evaluate``: key, rests, rhythm, repetition, style.

Each function takes :class:`livegen.notes.Note` lists (times in seconds) and
returns plain floats or histograms; :mod:`livegen_train.evaluate` averages them over
continuations and test pieces.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

from livegen.keys import N_PITCH_CLASSES, estimate_key
from livegen.notes import Note

__all__ = ["key_distance", "rest_ratio", "onset_groups", "ioi_stats", "repetition", "stats",
           "estimate_tonic", "style_features", "mean_profile", "profile_distance", "distinctness",
           "FEATURES", "CHORD_TOLERANCE_S", "PATTERN_NOTES"]

#: onsets closer than this are one chord (played chords spread by a few ms), seconds
CHORD_TOLERANCE_S = 0.03
PATTERN_NOTES = 4  # repetition counts 4-note interval patterns
INTERVAL_CLIP = 12  # melodic intervals beyond an octave count as an octave
LOG_IOI_EDGES = np.arange(-5.0, 2.01, 0.5)  # log2 seconds: 31 ms to 4 s, half-octave bins
IOI_RATIO_EDGES = np.arange(-3.25, 3.26, 0.5)  # log2(next IOI / IOI), bins centred on 0
FEATURES = ("pitch_class", "interval", "log_ioi", "ioi_ratio")
#: Bootstrap resamples behind the interval of each distinctness margin.
DISTINCTNESS_RESAMPLES = 200


# --- statistics of one note sequence -------------------------------------------------------------


def _pc_hist(notes: Sequence[Note]) -> np.ndarray:
    hist = np.bincount([n.pitch % 12 for n in notes], minlength=12).astype(np.float64)
    return hist / max(hist.sum(), 1.0)


def key_distance(a: Sequence[Note], b: Sequence[Note]) -> float:
    """Total-variation distance between the pitch-class histograms of two note lists, 0 (same) to 1."""
    return float(0.5 * np.abs(_pc_hist(a) - _pc_hist(b)).sum())


def rest_ratio(notes: Sequence[Note]) -> float:
    """Share (0-1) of the span from first onset to last note end in which no note sounds."""
    if not notes:
        return 0.0
    spans = sorted((n.onset_s, n.end_s) for n in notes)
    start, total_end = spans[0][0], max(e for _, e in spans)
    covered, cur_s, cur_e = 0.0, spans[0][0], spans[0][1]
    for s, e in spans[1:]:
        if s > cur_e:
            covered += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    covered += cur_e - cur_s
    span = total_end - start
    return float(1.0 - covered / span) if span > 0 else 0.0


def onset_groups(notes: Sequence[Note], tolerance_s: float = CHORD_TOLERANCE_S) -> list[list[Note]]:
    """Notes grouped into chords: a group starts where an onset is more than ``tolerance_s``
    after the group's first onset. Each group is sorted by pitch, highest first."""
    groups: list[list[Note]] = []
    for note in sorted(notes, key=lambda n: (n.onset_s, -n.pitch)):
        if groups and note.onset_s - groups[-1][0].onset_s <= tolerance_s:
            groups[-1].append(note)
        else:
            groups.append([note])
    return [sorted(g, key=lambda n: -n.pitch) for g in groups]


def _iois(notes: Sequence[Note]) -> np.ndarray:
    """Inter-onset intervals between chords, seconds float64 [groups - 1]."""
    return np.diff([g[0].onset_s for g in onset_groups(notes)])


def ioi_stats(notes: Sequence[Note]) -> tuple[int, float]:
    """(distinct inter-onset intervals on a 10 ms grid, std of their natural log) between chords."""
    iois = _iois(notes)
    iois = iois[iois > 0]
    if len(iois) == 0:
        return 0, 0.0
    return int(len(np.unique(np.round(iois, 2)))), float(np.std(np.log(iois)))


def repetition(notes: Sequence[Note], n: int = PATTERN_NOTES) -> float:
    """Share (0-1) of n-note interval patterns that repeat an earlier one of the same notes.

    The notes are read chord by chord, highest first; a pattern is the n - 1
    intervals between n successive notes, so a transposed repeat counts too.
    A sequence that loops scores near 1.
    """
    pitches = [note.pitch for group in onset_groups(notes) for note in group]
    intervals = np.diff(pitches)
    patterns = [tuple(intervals[i:i + n - 1]) for i in range(len(intervals) - n + 2)]
    if not patterns:
        return 0.0
    seen, repeats = set(), 0
    for pattern in patterns:
        repeats += pattern in seen
        seen.add(pattern)
    return repeats / len(patterns)


def _density(notes: Sequence[Note]) -> float:
    """Notes per second from the first onset to the last note end."""
    if not notes:
        return 0.0
    span = max(n.end_s for n in notes) - min(n.onset_s for n in notes)
    return len(notes) / max(span, 1e-6)


def stats(prompt: Sequence[Note], cont: Sequence[Note], copies: Any = None) -> dict[str, float]:
    """The continuation statistics of one continuation (see the module docstring)."""
    row = {"key_distance": key_distance(cont, prompt), "rest_ratio": rest_ratio(cont),
           "notes_per_s": _density(cont), "ioi_log_std": ioi_stats(cont)[1],
           "repetition": repetition(cont)}
    if copies is not None:
        row["copied_run"] = float(copies.longest_copied_run(list(cont)))
    return row


# --- style profiles ------------------------------------------------------------------------------


def estimate_tonic(pc_hist: np.ndarray) -> tuple[int, str]:
    """The Krumhansl-Schmuckler key of a pitch-class histogram [12]: ``(tonic 0-11, mode)``.

    The key finder the sampler's key mask uses (:func:`livegen.sampling.estimate_key`,
    Krumhansl & Kessler 1982 profiles); C major when the histogram is flat or empty.
    """
    key = estimate_key(np.arange(N_PITCH_CLASSES), weights=pc_hist)
    return (0, "major") if key is None else (key.tonic, key.mode)


def _hist(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    counts, _ = np.histogram(np.clip(values, edges[0], edges[-1]), bins=edges)
    return counts / max(counts.sum(), 1)


def style_features(notes: Sequence[Note]) -> dict[str, np.ndarray]:
    """Histograms of one note sequence, each summing to 1 (or all 0 when empty).

    Returns:
        ``pitch_class``: float [12], relative to the estimated tonic;
        ``interval``: float [25], melodic intervals of the top line, -12..+12;
        ``log_ioi``: float [14], log2 of inter-onset intervals between chords in seconds;
        ``ioi_ratio``: float [13], log2 ratio of successive inter-onset intervals.
    """
    pc = _pc_hist(notes)
    tonic, _ = estimate_tonic(pc)
    top = np.array([g[0].pitch for g in onset_groups(notes)], dtype=np.int64)
    intervals = np.clip(np.diff(top), -INTERVAL_CLIP, INTERVAL_CLIP) + INTERVAL_CLIP
    iois = _iois(notes)
    iois = iois[iois > 0]
    return {"pitch_class": np.roll(pc, -tonic),
            "interval": np.bincount(intervals, minlength=2 * INTERVAL_CLIP + 1) / max(len(intervals), 1),
            "log_ioi": _hist(np.log2(iois), LOG_IOI_EDGES),
            "ioi_ratio": _hist(np.log2(iois[1:] / iois[:-1]), IOI_RATIO_EDGES)}


def mean_profile(sequences: Iterable[Sequence[Note]]) -> dict[str, np.ndarray]:
    """Mean of :func:`style_features` over note sequences (empty input gives empty dict)."""
    sequences = list(sequences)
    return _mean(_stacked(sequences)) if sequences else {}


def profile_distance(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    """Mean total-variation distance over the histograms of two profiles, 0 (same) to 1."""
    return float(np.mean([0.5 * np.abs(a[k] - b[k]).sum() for k in FEATURES]))


def distinctness(rows: dict[str, list[Sequence[Note]]], columns: dict[str, list[Sequence[Note]]],
                 order: Sequence[str] = (), *, resamples: int = DISTINCTNESS_RESAMPLES,
                 seed: int = 0) -> dict[str, Any]:
    """Distance of each row's (preset's) notes to each column's (style's) test music.

    Args:
        rows: ``{style of the preset: [continuation notes, ...]}``.
        columns: ``{style: [real note sequences, ...]}``.
        order: style names in the order rows and columns are listed (others follow).
        resamples: bootstrap resamples for the margins' intervals (0: none).
        seed: the bootstrap's random seed.

    Returns:
        ``{"rows": [...], "columns": [...], "distance": [[float]] (rows x columns),
        "own_wins": {row: bool | None} (None where the row's style is no column or the only one),
        "margin": {row: nearest other column's distance minus the own one},
        "margin_interval": {row: [5th, 95th percentile] | None}}``: the interval
        resamples, with replacement, a row's sequences and every column's
        sequences together (a 90 % bootstrap percentile interval).
    """
    rank = {name: i for i, name in enumerate(order)}
    row_names = sorted((r for r in rows if rows[r]), key=lambda r: rank.get(r, len(rank)))
    col_names = sorted((c for c in columns if columns[c]), key=lambda c: rank.get(c, len(rank)))
    row_feats = {r: _stacked(rows[r]) for r in row_names}
    col_feats = {c: _stacked(columns[c]) for c in col_names}
    col_profiles = {c: _mean(col_feats[c]) for c in col_names}
    matrix, wins, margin, interval = [], {}, {}, {}
    rng = np.random.default_rng(seed)
    draws = [{c: rng.integers(0, _count(f), _count(f)) for c, f in col_feats.items()}
             for _ in range(resamples)]
    for r in row_names:
        feats, n = row_feats[r], _count(row_feats[r])
        profile = _mean(feats)
        matrix.append([round(profile_distance(profile, col_profiles[c]), 4) for c in col_names])
        if r in col_names and len(col_names) > 1:
            point = _margin(r, profile, col_profiles)
            wins[r], margin[r] = point > 0, round(point, 4)
            samples = [_margin(r, _mean(feats, rng.integers(0, n, n)),
                               {c: _mean(col_feats[c], idx[c]) for c in col_names})
                       for idx in draws]
            interval[r] = ([round(float(v), 4) for v in np.percentile(samples, [5, 95])]
                           if samples else None)
        else:  # no own column, or nothing to be closer than
            wins[r], margin[r], interval[r] = None, None, None
    return {"rows": row_names, "columns": col_names, "distance": matrix, "own_wins": wins,
            "margin": margin, "margin_interval": interval}


def _stacked(sequences: Iterable[Sequence[Note]]) -> dict[str, np.ndarray]:
    """:func:`style_features` of each sequence, stacked: ``{feature: [n, bins]}``."""
    rows = [style_features(s) for s in sequences]
    return {k: np.stack([r[k] for r in rows]) for k in FEATURES}


def _count(features: dict[str, np.ndarray]) -> int:
    return len(features[FEATURES[0]])


def _mean(features: dict[str, np.ndarray], index: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The profile (mean histograms) of stacked features, or of the rows ``index`` picks."""
    return {k: (v if index is None else v[index]).mean(axis=0) for k, v in features.items()}


def _margin(row: str, profile: dict[str, np.ndarray], columns: dict[str, dict[str, np.ndarray]]) -> float:
    """Nearest other column's distance minus the own column's, for one row profile."""
    own = profile_distance(profile, columns[row])
    return min(profile_distance(profile, p) for c, p in columns.items() if c != row) - own
