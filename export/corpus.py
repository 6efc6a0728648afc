"""Real corpora as notes: the music21 corpus grouped by style, or a folder of MIDI files.

The music21 corpus ships inside the music21 package, so nothing is downloaded.
Parsing all of it takes minutes, so each source file is parsed once and its
pieces cached as ``.npz`` under the user cache dir, keyed by music21's version.

A piece is stored in score time (quarter notes) with its tempo, so tempo
augmentation can rescale it; velocities are -1 where the score has no dynamics.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import tempfile
import time
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from livegen.notes import Note, read_midi
from livegen_train.copies import similar_pairs

__all__ = [
    "STYLES",
    "COMPOSER_STYLE",
    "Piece",
    "load_music21_corpus",
    "load_midi_dir",
    "SPLITS",
    "DEDUP_JACCARD",
    "RELATED_JACCARD",
    "CorpusSplit",
    "split_pieces",
    "corpus_counts",
    "cache_dir",
]

log = logging.getLogger(__name__)

#: Style names in the order of the model's style embedding.
STYLES: tuple[str, ...] = ("baroque", "classical", "romantic", "modern", "folk", "renaissance")
#: Styles whose scores have parts to separate (folk tunes are one line already): the style judge
#: (:data:`livegen_train.classifier_report.JUDGE_CONFIG`) learns from their single parts too.
PARTS_STYLES = ("baroque", "classical", "romantic", "modern", "renaissance")

#: music21 corpus top-level folder -> style (DESIGN.md, "What the built-in corpus holds").
COMPOSER_STYLE: dict[str, str] = {
    "bach": "baroque", "handel": "baroque", "corelli": "baroque", "cpebach": "baroque",
    "monteverdi": "baroque",
    "beethoven": "classical", "mozart": "classical", "haydn": "classical",
    "schumann_robert": "romantic", "schumann_clara": "romantic", "chopin": "romantic",
    "schubert": "romantic", "beach": "romantic", "weber": "romantic", "verdi": "romantic",
    "schoenberg": "modern", "webern": "modern", "joplin": "modern",
    "essenFolksong": "folk", "oneills1850": "folk", "ryansMammoth": "folk",
    "nottingham-dataset": "folk", "airdsAirs": "folk", "miscFolk": "folk",
    "palestrina": "renaissance", "josquin": "renaissance", "lusitano": "renaissance",
    "trecento": "renaissance", "ciconia": "renaissance", "luca": "renaissance",
}

#: Tempo used when a score has no metronome mark, in quarter notes per minute.
DEFAULT_QPM: dict[str, float] = {
    "baroque": 90.0, "classical": 110.0, "romantic": 84.0, "modern": 100.0,
    "folk": 120.0, "renaissance": 80.0,
}
DEFAULT_VELOCITY = 80
STYLES_BY_PRIORITY = ("romantic", "modern", "classical", "baroque", "folk", "renaissance")

#: Files taken from the largest collections for the shipped model (a 2-core
#: parse budget); every other folder is taken whole.
DEFAULT_CAPS: dict[str, int] = {"essenFolksong": 8, "ryansMammoth": 400, "palestrina": 400}


@dataclass(frozen=True)
class Piece:
    """One piece of music.

    Attributes:
        name: unique id, e.g. ``bach/bwv66.6`` or ``essenFolksong/han1.abc#12``.
        style: one of :data:`STYLES` (or a user's style name).
        pitch: int16 [n] MIDI note numbers.
        onset_q: float32 [n] onsets in quarter notes (or seconds when ``qpm`` == 60).
        duration_q: float32 [n] durations in the same unit.
        velocity: int16 [n], MIDI 1-127, or -1 where the source has no dynamics.
        qpm: tempo in quarter notes per minute.
        part: int16 [n] index of each note's part in the score (0-based; -1 for a note
            outside every part), or None where the parts are not known (a MIDI file, a
            corpus file whose parts were not asked for; see ``parts_styles`` of
            :func:`load_music21_corpus`).
    """

    name: str
    style: str
    pitch: np.ndarray
    onset_q: np.ndarray
    duration_q: np.ndarray
    velocity: np.ndarray
    qpm: float
    part: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.pitch)

    def notes(self, tempo_scale: float = 1.0) -> list[Note]:
        """The piece as :class:`Note`s in seconds; ``tempo_scale`` > 1 plays faster."""
        seconds_per_q = 60.0 / (self.qpm * tempo_scale)
        vel = np.where(self.velocity > 0, self.velocity, DEFAULT_VELOCITY)
        return [Note(int(p), int(v), float(o) * seconds_per_q, float(d) * seconds_per_q)
                for p, v, o, d in zip(self.pitch, vel, self.onset_q, self.duration_q)]


def cache_dir() -> Path:
    """Where parsed pieces are cached (``$LIVEGEN_CACHE`` or ``~/.cache/livegen``)."""
    base = os.environ.get("LIVEGEN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "livegen")
    return Path(base)


def _score_pieces(score, prefix: str, style: str) -> list[Piece]:
    """Pieces from a parsed music21 Score or Opus, with each note's part index."""
    from music21 import stream, tempo

    scores = list(score.scores) if isinstance(score, stream.Opus) else [score]
    pieces = []
    for index, sc in enumerate(scores):
        name = prefix if len(scores) == 1 else f"{prefix}#{index}"
        try:
            sc = sc.stripTies()
        except Exception as err:  # music21 raises many types on odd scores
            log.debug("%s: stripTies failed (%s); using tied notes as written", name, err)
        qpm = DEFAULT_QPM.get(style, 100.0)
        marks = list(sc.recurse().getElementsByClass(tempo.MetronomeMark))
        if marks and marks[0].getQuarterBPM():
            qpm = float(np.clip(marks[0].getQuarterBPM(), 30.0, 240.0))
        part_of = {id(el): i for i, part in enumerate(sc.parts) for el in part.recurse().notes}
        rows = []
        for element in sc.flatten().notes:
            onset = float(element.offset)
            duration = float(element.quarterLength)
            if duration <= 0:  # grace notes
                continue
            velocity = element.volume.velocity  # None unless the score sets it
            v = int(velocity) if velocity else -1
            for p in element.pitches:
                if 0 <= p.midi <= 127:
                    rows.append((p.midi, onset, duration, v, part_of.get(id(element), -1)))
        if len(rows) < 8:
            continue
        rows.sort(key=lambda r: (r[1], r[0]))  # stable: notes of one onset and pitch keep score order
        arr = np.asarray(rows, dtype=np.float64)
        pieces.append(Piece(name, style, arr[:, 0].astype(np.int16), arr[:, 1].astype(np.float32),
                            arr[:, 2].astype(np.float32), arr[:, 3].astype(np.int16), qpm,
                            arr[:, 4].astype(np.int16)))
    return pieces


def _parse_one(args: tuple[str, str, str, str]) -> tuple[str, int, str]:
    """Parse one corpus file into its cache file. Returns (rel, n_pieces, error)."""
    path, rel, style, out = args
    if os.path.exists(out):
        with np.load(out, allow_pickle=False) as data:
            return rel, len(data["names"]), ""
    try:
        from music21 import converter
        score = converter.parse(path)
        pieces = _score_pieces(score, rel, style)
    except Exception as err:  # a corpus file music21 cannot read is skipped and counted
        pieces, error = [], f"{type(err).__name__}: {err}"[:200]
    else:
        error = ""
    _save_pieces(out, pieces)
    return rel, len(pieces), error


def _parts_path(out: str) -> str:
    """The part-index file beside a cached notes file (its own folder: the notes cache is
    shared by runs that never ask for parts, and stays as it was)."""
    folder, name = os.path.split(out)
    return os.path.join(folder + "-parts", name)


def _parse_parts(args: tuple[str, str, str, str]) -> tuple[str, float]:
    """Parse one corpus file again for its part indices, kept only where the notes equal the
    cached ones (names, pitches and onsets). Returns (rel, parse seconds)."""
    path, rel, style, out = args
    t0 = time.perf_counter()
    try:
        from music21 import converter
        fresh = {p.name: p for p in _score_pieces(converter.parse(path), rel, style)}
    except Exception as err:  # as in _parse_one: the file then has no parts
        log.info("parts of %s: %s", rel, f"{type(err).__name__}: {err}"[:200])
        fresh = {}
    cached = _load_pieces(out) if os.path.exists(out) else []
    part = [fresh[p.name].part if p.name in fresh and np.array_equal(fresh[p.name].pitch, p.pitch)
            and np.array_equal(fresh[p.name].onset_q, p.onset_q) else np.full(len(p), -2, np.int16)
            for p in cached]
    target = _parts_path(out)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    _savez_atomic(target, part=np.concatenate(part) if part else np.zeros(0, np.int16),
                  lengths=np.asarray([len(p) for p in cached], np.int64))
    return rel, time.perf_counter() - t0


def _with_parts(pieces: list[Piece], out: str) -> list[Piece]:
    """``pieces`` (one cached file's) with their part indices where the part file matches."""
    with np.load(_parts_path(out), allow_pickle=False) as data:
        lengths, part = data["lengths"], data["part"]
    if list(lengths) != [len(p) for p in pieces]:
        return pieces
    bounds = np.concatenate(([0], np.cumsum(lengths)))
    return [replace(p, part=part[a:b]) if len(p) and part[a] != -2 else p
            for p, a, b in zip(pieces, bounds[:-1], bounds[1:])]


def _save_pieces(out: str, pieces: Sequence[Piece]) -> None:
    lengths = np.asarray([len(p) for p in pieces], dtype=np.int64)

    def cat(attr: str, dt) -> np.ndarray:
        if not pieces:
            return np.zeros(0, dt)
        return np.concatenate([getattr(p, attr) for p in pieces]).astype(dt)

    _savez_atomic(out, names=np.asarray([p.name for p in pieces], dtype=str),
                  styles=np.asarray([p.style for p in pieces], dtype=str), lengths=lengths,
                  qpm=np.asarray([p.qpm for p in pieces], dtype=np.float64),
                  pitch=cat("pitch", np.int16), onset_q=cat("onset_q", np.float32),
                  duration_q=cat("duration_q", np.float32), velocity=cat("velocity", np.int16))


def _savez_atomic(target: str, **arrays: np.ndarray) -> None:
    """``np.savez`` to a temporary file of its own, then renamed over ``target``: two
    processes filling the same cache at once (a training run and an evaluation) each write
    whole files, and neither renames the other's half-written one."""
    fd, tmp = tempfile.mkstemp(suffix=".tmp.npz", dir=os.path.dirname(target) or ".")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _load_pieces(path: str | os.PathLike) -> list[Piece]:
    with np.load(path, allow_pickle=False) as data:
        bounds = np.concatenate(([0], np.cumsum(data["lengths"])))
        return [Piece(str(data["names"][i]), str(data["styles"][i]),
                      data["pitch"][a:b], data["onset_q"][a:b], data["duration_q"][a:b],
                      data["velocity"][a:b], float(data["qpm"][i]))
                for i, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]))]


def load_music21_corpus(
    styles: Iterable[str] = STYLES,
    *,
    workers: int = 2,
    progress: bool = True,
    max_files_per_composer: int | None = None,
    folder_caps: dict[str, int] | None = None,
    parts_styles: Iterable[str] = (),
) -> tuple[list[Piece], Counter]:
    """Parse (once, then from cache) the music21 corpus files of the given styles.

    Args:
        styles: style names from :data:`STYLES`.
        workers: parser processes.
        progress: show a tqdm progress bar.
        max_files_per_composer: parse at most this many files per corpus folder
            (for quick tests).
        folder_caps: at most this many files of the named corpus folders (the
            big folk and renaissance collections), e.g. :data:`DEFAULT_CAPS`.
        parts_styles: styles whose pieces also get :attr:`Piece.part`. The notes cache
            has no parts, so each of their files is parsed again once (``workers``
            processes) and its part indices cached beside the notes; the notes
            themselves are the cached ones, unchanged.

    Returns:
        ``(pieces, failures)``: every piece with at least 8 notes, and a Counter
        of files music21 could not parse, by corpus folder.
    """
    import music21
    from music21 import corpus

    wanted = set(styles)
    paths = [str(p) for p in corpus.getPaths()]
    root = os.path.commonpath(paths)
    out_dir = cache_dir() / f"music21-{music21.__version__}"
    out_dir.mkdir(parents=True, exist_ok=True)
    jobs, per_folder = [], Counter()
    for path in sorted(paths):
        rel = os.path.relpath(path, root)
        folder = rel.split(os.sep)[0]
        style = COMPOSER_STYLE.get(folder)
        if style not in wanted:
            continue
        per_folder[folder] += 1
        if max_files_per_composer is not None and per_folder[folder] > max_files_per_composer:
            continue
        if folder_caps and folder in folder_caps and per_folder[folder] > folder_caps[folder]:
            continue
        key = hashlib.sha1(rel.encode()).hexdigest()[:16]
        jobs.append((path, rel.replace(os.sep, "/"), style, str(out_dir / f"{key}.npz")))
    # small styles first, so a time-limited parse always has them
    jobs.sort(key=lambda job: STYLES_BY_PRIORITY.index(job[2]))
    failures: Counter = Counter()
    todo = [job for job in jobs if not os.path.exists(job[3])]  # the rest is cached
    results = [_parse_one(job) for job in jobs if os.path.exists(job[3])]
    if workers > 1 and len(todo) > 1:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_parse_one, job) for job in todo]
            results += [f.result() for f in _progress(as_completed(futures), len(todo), progress)]
    else:
        results += list(_progress(map(_parse_one, todo), len(todo), progress))
    for rel, _, error in results:
        if error:
            failures[rel.split("/")[0]] += 1
            log.info("skipped %s: %s", rel, error)
    parts_styles = set(parts_styles)
    todo = [job for job in jobs if job[2] in parts_styles and not os.path.exists(_parts_path(job[3]))]
    if todo:
        t0 = time.perf_counter()
        if workers > 1 and len(todo) > 1:
            with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
                futures = [pool.submit(_parse_parts, job) for job in todo]
                list(_progress(as_completed(futures), len(todo), progress))
        else:
            list(_progress(map(_parse_parts, todo), len(todo), progress))
        log.info("parts: %d files parsed again in %.0f s", len(todo), time.perf_counter() - t0)
    pieces = [p for job in jobs for p in (_with_parts(_load_pieces(job[3]), job[3])
                                          if job[2] in parts_styles else _load_pieces(job[3]))]
    return pieces, failures


def _progress(iterator, total: int, enabled: bool):
    if not enabled:
        return iterator
    from tqdm import tqdm
    return tqdm(iterator, total=total, desc="parsing corpus", unit="file", mininterval=10)


def load_midi_dir(directory: str | os.PathLike, style: str) -> tuple[list[Piece], Counter]:
    """Every readable ``.mid``/``.midi`` file under ``directory`` as one piece, in seconds.

    Returns:
        ``(pieces, failures)``; unreadable files are skipped and counted.
    """
    pieces, failures = [], Counter()
    for path in sorted(Path(directory).rglob("*")):
        if path.suffix.lower() not in (".mid", ".midi"):
            continue
        try:
            notes = read_midi(path)
        except ValueError as err:
            failures["unreadable"] += 1
            log.info("skipped %s: %s", path, err)
            continue
        if len(notes) < 8:
            failures["too short"] += 1
            continue
        pieces.append(Piece(
            f"{style}/{path.relative_to(directory)}", style,
            np.asarray([n.pitch for n in notes], np.int16),
            np.asarray([n.onset_s for n in notes], np.float32),
            np.asarray([n.duration_s for n in notes], np.float32),
            np.asarray([n.velocity for n in notes], np.int16), 60.0))
    return pieces, failures


# --- deduplication and the split ------------------------------------------------------------

#: Split names, in the order reports list them.
SPLITS: tuple[str, ...] = ("train", "validation", "test")
#: A style with at least this many units always has a test unit; a smaller one (the
#: corpus's modern: 4 pieces, 1,742 notes) keeps every piece for training and cannot be
#: evaluated on held-out pieces of its own.
MIN_UNITS_FOR_TEST = 5
#: ... and with at least this many a validation unit.
MIN_UNITS_FOR_VAL = 10
#: A style with at least this many units has at least :data:`MIN_TEST_UNITS` test units,
#: so its test profile is not one piece's (music21's classical had 1 test piece of 51, a
#: Mozart quartet movement that even the real classical training music was further from
#: than from the romantic test pieces).
MANY_UNITS = 15
MIN_TEST_UNITS = 3
#: Jaccard similarity of two pieces' shingle sets at or above which they are one piece
#: (an edition, a transposed copy, a repeat-less variant); only the longest is kept.
#: On the capped music21 corpus every pair in a hand-checked sample above 0.5 was the same
#: music, and most pairs between 0.25 and 0.5 were variants of one folk tune or chorale.
DEDUP_JACCARD = 0.5
#: Jaccard at or above which two pieces are variants of one tune (kept, but in one split).
RELATED_JACCARD = 0.25
#: A hash bucket is a percentage with this many steps, so ``val_pct`` may be fractional.
HASH_BUCKETS = 10_000
assert RELATED_JACCARD <= DEDUP_JACCARD


def _components(n: int, edges: Iterable[tuple[int, int]]) -> list[int]:
    """Union-find: the root of each of ``n`` items (the smallest index in its component)."""
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for a, b in edges:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)
    return [find(x) for x in range(n)]


def _bucket(name: str) -> float:
    """A stable pseudo-random percentage in [0, 100) from a name."""
    return (zlib.crc32(name.encode()) % HASH_BUCKETS) * 100.0 / HASH_BUCKETS


@dataclass(frozen=True)
class CorpusSplit:
    """Pieces split by piece after deduplication (indexable like a dict: ``split["train"]``).

    Attributes:
        splits: ``{"train" | "validation" | "test": [Piece]}``, duplicates removed.
        duplicates: ``{kept name: (dropped names, ...)}`` for each group of near-duplicates.
        related: each group of variants (Jaccard >= :data:`RELATED_JACCARD`) kept together
            in one split, as a tuple of kept names; singletons are not listed.
        dropped: ``{style: pieces dropped as duplicates}``.
    """

    splits: dict[str, list[Piece]]
    duplicates: dict[str, tuple[str, ...]] = field(default_factory=dict)
    related: list[tuple[str, ...]] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)

    def __getitem__(self, split: str) -> list[Piece]:
        return self.splits[split]


def split_pieces(pieces: Sequence[Piece], *, val_pct: float = 5, test_pct: float = 5,
                 dedup_jaccard: float = DEDUP_JACCARD,
                 related_jaccard: float = RELATED_JACCARD) -> CorpusSplit:
    """Deduplicate pieces and split them by piece into train, validation and test.

    1. Near-duplicates (same style, shingle Jaccard >= ``dedup_jaccard``, see
       :func:`livegen_train.copies.similar_pairs`; transposed copies included) form groups, joined
       transitively; the longest of each group is kept (ties: the smallest name).
    2. Variants (Jaccard >= ``related_jaccard``) form units that go to one split,
       so no tune and no transposition of a held-out tune is trained on.
    3. Each unit's split comes from a CRC32 percentage of its first name (sorted):
       below ``test_pct`` test, below ``test_pct + val_pct`` validation, so a style's
       split depends only on its own pieces. A style with at least
       :data:`MIN_UNITS_FOR_TEST` units and no test unit (at least
       :data:`MIN_UNITS_FOR_VAL` and no validation unit) has its train unit with the
       lowest percentage moved there. A style with at least
       :data:`MANY_UNITS` units gets train units moved to test (lowest percentage first)
       until it has :data:`MIN_TEST_UNITS` test units and ``test_pct`` of its notes.
       Adding pieces to a style can therefore move a few of that style's units (retrain
       after changing the corpus); it never moves another style's.

    Args:
        pieces: pieces with unique names.
        val_pct: share of validation units per style, in percent.
        test_pct: share of test units per style, in percent.
        dedup_jaccard: duplicate threshold in [0, 1].
        related_jaccard: same-split threshold, <= ``dedup_jaccard``.

    Returns:
        The split, with the dedup report.

    Raises:
        ValueError: if names repeat, or the percentages or thresholds are out of range.
    """
    names = [p.name for p in pieces]
    if len(set(names)) != len(names):
        dup = next(n for n, c in Counter(names).items() if c > 1)
        raise ValueError(f"piece names must be unique (received {dup!r} twice)")
    if val_pct < 0 or test_pct < 0 or val_pct + test_pct > 100:
        raise ValueError(f"val_pct and test_pct must be >= 0 with a sum <= 100 "
                         f"(received {val_pct}, {test_pct})")
    if not 0 < related_jaccard <= dedup_jaccard <= 1:
        raise ValueError(f"need 0 < related_jaccard <= dedup_jaccard <= 1 "
                         f"(received {related_jaccard}, {dedup_jaccard})")
    pairs = similar_pairs(pieces, related_jaccard)
    group = _components(len(pieces), ((i, j) for i, j, jac in pairs if jac >= dedup_jaccard))
    members: dict[int, list[int]] = defaultdict(list)
    for index, root in enumerate(group):
        members[root].append(index)
    duplicates, dropped = {}, Counter()
    keep = set()
    for indices in members.values():
        best = min(indices, key=lambda k: (-len(pieces[k]), names[k]))
        keep.add(best)
        if len(indices) > 1:
            duplicates[names[best]] = tuple(sorted(names[k] for k in indices if k != best))
            dropped[pieces[best].style] += len(indices) - 1
    unit = _components(len(pieces), ((i, j) for i, j, _ in pairs if i in keep and j in keep))
    units: dict[int, list[int]] = defaultdict(list)
    for index in sorted(keep):
        units[unit[index]].append(index)
    by_style: dict[str, list[tuple[float, str, list[int]]]] = defaultdict(list)
    for indices in units.values():
        first = min(names[k] for k in indices)
        by_style[pieces[indices[0]].style].append((_bucket(first), first, indices))
    splits: dict[str, list[Piece]] = {s: [] for s in SPLITS}
    for style in sorted(by_style):
        rows = sorted(by_style[style])
        chosen = ["test" if b < test_pct else "validation" if b < test_pct + val_pct else "train"
                  for b, _, _ in rows]
        for need, min_units in (("test", MIN_UNITS_FOR_TEST), ("validation", MIN_UNITS_FOR_VAL)):
            if len(rows) >= min_units and need not in chosen and "train" in chosen:
                chosen[chosen.index("train")] = need
        if len(rows) >= MANY_UNITS:
            notes = [sum(len(pieces[k]) for k in indices) for _, _, indices in rows]
            while "train" in chosen and (
                    chosen.count("test") < MIN_TEST_UNITS
                    or sum(n for n, c in zip(notes, chosen) if c == "test") < sum(notes) * test_pct / 100):
                chosen[chosen.index("train")] = "test"
        for (_, _, indices), split in zip(rows, chosen):
            splits[split] += [pieces[k] for k in indices]
    for split in SPLITS:
        splits[split].sort(key=lambda p: p.name)
    related = sorted(tuple(sorted(names[k] for k in v)) for v in units.values() if len(v) > 1)
    return CorpusSplit(splits, duplicates, related, dict(dropped))


def corpus_counts(split: CorpusSplit | Mapping[str, Sequence[Piece]]) -> dict[str, dict[str, int]]:
    """Pieces and notes per style, overall and per split.

    Args:
        split: a :class:`CorpusSplit` or ``{split name: [Piece]}``.

    Returns:
        ``{style: {"pieces", "notes", "dropped", "<split>", "<split>_notes" for each split}}``
        where ``pieces``/``notes`` count the kept pieces and ``dropped`` the duplicates.
    """
    splits = split.splits if isinstance(split, CorpusSplit) else split
    dropped = split.dropped if isinstance(split, CorpusSplit) else {}
    counts: dict[str, dict[str, int]] = {}
    for name, members in splits.items():
        for piece in members:
            row = counts.setdefault(piece.style, {"pieces": 0, "notes": 0, "dropped": 0,
                                                  **{k: 0 for s in SPLITS
                                                     for k in (s, f"{s}_notes")}})
            row["pieces"] += 1
            row["notes"] += len(piece)
            row[name] += 1
            row[f"{name}_notes"] += len(piece)
    for style, n in dropped.items():
        counts[style]["dropped"] = n
    return counts
