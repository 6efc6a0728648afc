"""A symbolic style classifier: which of the model's styles does a window of notes sound like?

The seeds' genre classifier was a CNN-LSTM on audio; this one reads notes. A
window of 16-64 notes becomes one feature vector per note (:func:`note_features`),
two 1-D convolutions find local figures (a turn, a chord, a dotted rhythm), an
LSTM reads them in order, and the mean and last of its outputs give one of the
model's styles (:data:`livegen_train.corpus.STYLES`).

The features (:mod:`livegen_train.classifier_features`) carry the music and
not the rendering: no velocity, no absolute tempo, every window put through
the token vocabulary's time grid as the continuations are.

Classes are balanced by sampling: each training window's style is drawn
uniformly, then a piece of it with probability proportional to its length.
Modern (4 pieces, ~1.7 k notes, all in the training split) is drawn as often
as the others, so it is the most repeated; it has no validation or test piece,
so only how often other music is labelled modern can be measured.
Early stopping on the validation split's class-balanced loss, or weights
averaged over the later epochs (``ClassifierConfig.average_from``); test
accuracy and the confusion matrix on the test split (:func:`evaluate_classifier`).

Usage (the command line is :mod:`livegen_train.classifier_report`'s)::

    python -m livegen_train.classifier train [--json runs/classifier.json]
    python -m livegen_train.classifier report --json runs/classifier_report.json   # the presets
"""

from __future__ import annotations

import logging
import math
import time
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from livegen.notes import Note
from livegen_train.classifier_features import N_FEATURES, note_features, quantize_like_tokens
from livegen_train.corpus import STYLES, Piece
from livegen_train.dataset import Augment, part_pieces, piece_arrays

__all__ = ["ClassifierConfig", "StyleNet", "StyleClassifier", "StyleEnsemble", "WindowDrawer", "eval_windows",
           "separated_parts", "train_classifier", "evaluate_classifier", "main"]

log = logging.getLogger(__name__)

PLAYED = Augment(transpose=0)  # held-out windows: rendered as played, untransposed (as evaluate does)
DETACHED = Augment(transpose=0, staccato=1.0)  # ... every note played detached (x0.25-0.7 of its length)

# --- the network ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ClassifierConfig:
    """Network shape, data and training schedule (the cache key is built from all of it).

    Attributes:
        window_notes: notes per window (the continuations' length).
        min_notes: shortest training window; pieces shorter than this are not used.
        channels: convolution channels.
        kernel: convolution width in notes.
        hidden: LSTM hidden size.
        dropout: before the output layer, training only.
        batch: windows per batch.
        batches_per_epoch: freshly drawn batches per epoch.
        max_epochs: training stops here at the latest (with ``average_from``: here).
        patience: epochs without a better validation loss before stopping (early stopping only).
        lr: Adam learning rate.
        transpose: largest transposition of a training window, semitones.
        eval_windows_per_piece: validation/test windows per piece at most (evenly spread).
        seed: RNG seed (windows and weights).
        threads: torch CPU threads.
        parts: share of training windows (0-1) cut from one part of a score whose parts are
            known (:func:`separated_parts`): a line of a chorale or a quartet is that style
            too, and a player's single line is what livegen is asked to continue. The rest
            are full scores. Validation then holds both kinds of window.
        average_from: 0: stop early on the validation loss (``patience``) and keep the
            best epoch's weights (the judge until 2026-12-03, with ``max_epochs`` 20).
            k >= 1 (default 6): no early stopping; train ``max_epochs`` and keep
            the mean of the weights at the end of each epoch from epoch k on (stochastic
            weight averaging: Izmailov et al., "Averaging Weights Leads to Wider Optima and
            Better Generalization", UAI 2018), so that no single noisy validation loss on
            a few romantic and classical windows picks the weights.
        staccato: share of training windows (0-1) played detached (durations x 0.25-0.7 of
            their written length, :attr:`Augment.staccato`, instead of 0.8-1.0): a tune is the
            same tune played short, and players and MIDI files (game music, brass stabs) play
            detached while the corpus is rendered legato. 0: the windows of the judge before.
    """

    window_notes: int = 64
    min_notes: int = 16
    channels: int = 64
    kernel: int = 5
    hidden: int = 64
    dropout: float = 0.2
    batch: int = 64
    batches_per_epoch: int = 150
    max_epochs: int = 16
    patience: int = 4
    lr: float = 2e-3
    transpose: int = 6
    eval_windows_per_piece: int = 8
    seed: int = 0
    threads: int = 1
    parts: float = 0.0
    average_from: int = 6
    staccato: float = 0.0


class StyleNet(nn.Module):
    """Conv1d x 2 -> LSTM -> [mean of outputs, last output] -> style logits.

    Input float32 [batch, notes, :data:`N_FEATURES`] and lengths int64 [batch]
    (rows padded with zeros after their length); output float32 [batch, n_styles].
    """

    def __init__(self, n_styles: int, config: ClassifierConfig = ClassifierConfig()) -> None:
        super().__init__()
        pad = config.kernel // 2
        self.conv = nn.Sequential(
            nn.Conv1d(N_FEATURES, config.channels, config.kernel, padding=pad), nn.ReLU(),
            nn.Conv1d(config.channels, config.channels, config.kernel, padding=pad), nn.ReLU())
        self.lstm = nn.LSTM(config.channels, config.hidden, batch_first=True)
        self.drop = nn.Dropout(config.dropout)
        self.out = nn.Linear(2 * config.hidden, n_styles)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        mask = (torch.arange(x.shape[1])[None, :] < lengths[:, None]).float()
        h = self.conv(x.transpose(1, 2)).transpose(1, 2) * mask[..., None]
        packed = nn.utils.rnn.pack_padded_sequence(h, lengths.cpu(), batch_first=True, enforce_sorted=False)
        seq, (last, _) = self.lstm(packed)
        seq, _ = nn.utils.rnn.pad_packed_sequence(seq, batch_first=True, total_length=x.shape[1])
        mean = (seq * mask[..., None]).sum(1) / lengths[:, None].float()
        return self.out(self.drop(torch.cat([mean, last[-1]], dim=1)))


def _batch(rows: Sequence[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Feature rows [n_i, F] padded into float32 [batch, max n_i, F] and lengths int64 [batch]."""
    longest = max(len(r) for r in rows)
    x = np.zeros((len(rows), longest, N_FEATURES), dtype=np.float32)
    for i, r in enumerate(rows):
        x[i, :len(r)] = r
    return torch.from_numpy(x), torch.tensor([len(r) for r in rows], dtype=torch.int64)


class StyleClassifier:
    """A trained :class:`StyleNet` with its style names and config.

    Attributes:
        styles: class names, in the output order (the model's style order).
        config: the :class:`ClassifierConfig` it was trained with.
        metrics: what training measured (validation/test figures, epochs, seconds).
    """

    def __init__(self, net: StyleNet, styles: Sequence[str], config: ClassifierConfig,
                 metrics: dict[str, Any] | None = None) -> None:
        self.net = net.eval()
        self.styles = tuple(styles)
        self.config = config
        self.metrics = metrics or {}

    def predict_features(self, rows: Sequence[np.ndarray], batch: int = 256) -> np.ndarray:
        """Style probabilities float64 [len(rows), n_styles] of :func:`note_features` rows."""
        out = []
        with torch.no_grad():
            for k in range(0, len(rows), batch):
                x, lengths = _batch(rows[k:k + batch])
                out.append(torch.softmax(self.net(x, lengths), dim=1).double().numpy())
        return np.concatenate(out) if out else np.zeros((0, len(self.styles)))

    def predict(self, windows: Sequence[Sequence[Note]]) -> np.ndarray:
        """Style probabilities float64 [len(windows), n_styles] of note windows (each put through
        the token time bins first, and cut to the last ``window_notes`` notes).

        Raises:
            ValueError: a window has no notes.
        """
        rows = []
        for notes in windows:
            if not notes:
                raise ValueError("a window to classify needs at least one note (received none)")
            ordered = sorted(notes, key=lambda n: (n.onset_s, n.pitch))[-self.config.window_notes:]
            rows.append(note_features(*quantize_like_tokens(np.array([n.pitch for n in ordered]),
                                                            np.array([n.onset_s for n in ordered]),
                                                            np.array([n.duration_s for n in ordered]))))
        return self.predict_features(rows)

    def classify(self, windows: Sequence[Sequence[Note]]) -> list[str]:
        """The most likely style name of each note window."""
        return [self.styles[k] for k in self.predict(windows).argmax(axis=1)]

    def save(self, path: str | Path) -> None:
        """Weights, styles, config and metrics in one torch file."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        torch.save({"net": self.net.state_dict(), "styles": list(self.styles), "config": asdict(self.config),
                    "metrics": self.metrics}, path)

    @classmethod
    def load(cls, path: str | Path) -> StyleClassifier:
        """The classifier :meth:`save` wrote."""
        data = torch.load(path, weights_only=False)
        config = ClassifierConfig(**data["config"])
        net = StyleNet(len(data["styles"]), config)
        net.load_state_dict(data["net"])
        return cls(net, data["styles"], config, data["metrics"])


class StyleEnsemble(StyleClassifier):
    """Several :class:`StyleClassifier` runs of one config but their seeds, judging together:
    their style probabilities averaged. One run's verdict on a preset can move with its seed;
    the mean of several moves less, and the spread of the runs says by how much.

    Args:
        members: trained classifiers with the same styles and window length.

    Raises:
        ValueError: no member, or members with other styles.
    """

    def __init__(self, members: Sequence[StyleClassifier]) -> None:
        if not members:
            raise ValueError("an ensemble needs at least one classifier")
        if any(m.styles != members[0].styles for m in members):
            raise ValueError("the classifiers of an ensemble must have the same styles")
        self.members = list(members)
        self.net = None
        self.styles = members[0].styles
        self.config = members[0].config
        self.metrics = {}

    def predict_features(self, rows: Sequence[np.ndarray], batch: int = 256) -> np.ndarray:
        """The members' style probabilities averaged, float64 [len(rows), n_styles]."""
        return np.mean([m.predict_features(rows, batch) for m in self.members], axis=0)

    def save(self, path: str | Path) -> None:
        raise NotImplementedError("save each member; an ensemble is rebuilt from their cache")


# --- data ----------------------------------------------------------------------------------------


def separated_parts(pieces: Sequence[Piece]) -> list[Piece]:
    """Each part, as a piece of its own, of every piece with two parts or more
    (:func:`livegen_train.dataset.part_pieces`; a one-part piece is already a line)."""
    out = []
    for piece in pieces:
        parts = part_pieces(piece)
        if len(parts) >= 2:
            out.extend(parts)
    return out


def _window_features(piece: Piece, start: int, count: int, rng: np.random.Generator,
                     augment: Augment) -> np.ndarray:
    pitch, onset_s, duration_s, _ = piece_arrays(piece, start, count, rng, augment)  # velocity unused
    return note_features(*quantize_like_tokens(pitch, onset_s, duration_s))


class WindowDrawer:
    """Random augmented training windows, styles balanced by sampling.

    Each window's style is drawn uniformly over the styles that have pieces,
    then a piece of that style with probability proportional to its length,
    a length between ``min_notes`` and ``window_notes`` (at most the piece's)
    and a start. With probability ``config.parts``, for a style with separated
    parts (:func:`separated_parts`), the window is cut from one part instead,
    drawn by its length.

    Args:
        pieces: training pieces; those shorter than ``config.min_notes`` are left out.
        styles: class names; a piece's label is its style's index here.
        config: window sizes, transposition and seed.

    Raises:
        ValueError: no piece is long enough; ``config.parts`` > 0 and no piece has its parts.
    """

    def __init__(self, pieces: Sequence[Piece], styles: Sequence[str], config: ClassifierConfig) -> None:
        self.config = config
        self.augment = Augment(transpose=config.transpose, staccato=config.staccato)
        self.rng = np.random.default_rng(config.seed)
        by_style: dict[int, list[Piece]] = {}
        for piece in pieces:
            if len(piece) >= config.min_notes and piece.style in styles:
                by_style.setdefault(list(styles).index(piece.style), []).append(piece)
        if not by_style:
            raise ValueError(f"no training piece has {config.min_notes} notes or more")
        self.labels = sorted(by_style)
        self.members = [by_style[k] for k in self.labels]
        self.weights = [_by_length(m) for m in self.members]
        self.part_members: list[list[Piece]] = [[] for _ in self.members]
        if config.parts > 0:
            self.part_members = [[p for p in separated_parts(m) if len(p) >= config.min_notes]
                                 for m in self.members]
            if not any(self.part_members):
                raise ValueError("parts > 0 but no training piece has separated parts (load the corpus "
                                 "with parts_styles)")
        self.part_weights = [_by_length(m) if m else None for m in self.part_members]

    def draw(self, count: int) -> tuple[list[np.ndarray], np.ndarray]:
        """``count`` windows: feature rows [n_i, F] and labels int64 [count]."""
        rows, labels = [], np.empty(count, dtype=np.int64)
        for i in range(count):
            k = int(self.rng.integers(len(self.labels)))
            members, weights = self.members[k], self.weights[k]
            if self.part_members[k] and self.rng.random() < self.config.parts:
                members, weights = self.part_members[k], self.part_weights[k]
            piece = members[self.rng.choice(len(members), p=weights)]
            longest = min(self.config.window_notes, len(piece))
            n = int(self.rng.integers(self.config.min_notes, longest + 1))
            start = int(self.rng.integers(0, len(piece) - n + 1))
            rows.append(_window_features(piece, start, n, self.rng, self.augment))
            labels[i] = self.labels[k]
        return rows, labels


def _by_length(pieces: Sequence[Piece]) -> np.ndarray:
    lengths = np.array([len(p) for p in pieces], dtype=np.float64)
    return lengths / lengths.sum()


def eval_windows(pieces: Sequence[Piece], styles: Sequence[str], config: ClassifierConfig,
                 augment: Augment = PLAYED) -> tuple[list[np.ndarray], np.ndarray, list[str]]:
    """Deterministic held-out windows: up to ``eval_windows_per_piece`` non-overlapping
    ``window_notes``-note windows per piece, evenly spread, rendered as played (seeded by
    the piece's name and start, untransposed); a piece shorter than a window but at least
    ``min_notes`` long gives one window of its own length.

    Returns:
        ``(feature rows, labels int64 [n], piece names)``.
    """
    rows, labels, names = [], [], []
    for piece in pieces:
        if piece.style not in styles or len(piece) < config.min_notes:
            continue
        count = min(config.window_notes, len(piece))
        slots = len(piece) // count
        take = min(slots, config.eval_windows_per_piece)
        for slot in np.linspace(0, slots - 1, take).round().astype(int):
            start = int(slot) * count
            rng = np.random.default_rng(zlib.crc32(f"{piece.name}@{start}".encode()))
            rows.append(_window_features(piece, start, count, rng, augment))
            labels.append(list(styles).index(piece.style))
            names.append(piece.name)
    return rows, np.asarray(labels, dtype=np.int64), names


def _balanced_loss(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Cross-entropy averaged per class, then over the classes present (nats)."""
    nll = nn.functional.cross_entropy(logits, labels, reduction="none")
    return float(torch.stack([nll[labels == k].mean() for k in labels.unique()]).mean())


def train_classifier(split: dict[str, Sequence[Piece]], styles: Sequence[str] = STYLES,
                     config: ClassifierConfig = ClassifierConfig()) -> StyleClassifier:
    """Train on ``split["train"]``, stop early on ``split["validation"]``, measure on ``split["test"]``.

    Args:
        split: ``{"train", "validation", "test": [Piece]}`` (:func:`livegen_train.corpus.split_pieces`).
        styles: class names in output order.
        config: sizes and schedule.

    Returns:
        The classifier at its best validation epoch; ``metrics`` holds the history,
        the validation figures and :func:`evaluate_classifier` on the test split.

    Raises:
        ValueError: no training piece is long enough, the validation split has no window,
            or ``average_from`` is beyond ``max_epochs`` (no weights to average).
    """
    if config.average_from > config.max_epochs:
        raise ValueError(f"average_from {config.average_from} is beyond max_epochs {config.max_epochs}: "
                         "no epoch's weights would be averaged")
    started = time.monotonic()
    torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    drawer = WindowDrawer(split["train"], styles, config)
    validation = list(split["validation"])
    if config.parts > 0:
        validation += separated_parts(validation)
    val_rows, val_labels, _ = eval_windows(validation, styles, config)
    if not val_rows:
        raise ValueError("the validation split has no window to stop training on")
    val_x, val_len = _batch(val_rows)
    val_y = torch.from_numpy(val_labels)
    net = StyleNet(len(styles), config)
    optim = torch.optim.Adam(net.parameters(), lr=config.lr)
    best, best_state, history, waited = math.inf, None, [], 0
    for epoch in range(config.max_epochs):
        net.train()
        total = 0.0
        for _ in range(config.batches_per_epoch):
            rows, labels = drawer.draw(config.batch)
            x, lengths = _batch(rows)
            loss = nn.functional.cross_entropy(net(x, lengths), torch.from_numpy(labels))
            optim.zero_grad()
            loss.backward()
            optim.step()
            total += loss.item()
        net.eval()
        with torch.no_grad():
            logits = net(val_x, val_len)
        val_loss = _balanced_loss(logits, val_y)
        val_acc = _balanced_accuracy(logits.argmax(1).numpy(), val_labels)
        history.append({"epoch": epoch + 1, "train_loss": round(total / config.batches_per_epoch, 4),
                        "val_loss": round(val_loss, 4), "val_balanced_accuracy": round(val_acc, 4)})
        log.info("epoch %d: train %.3f, validation %.3f (balanced accuracy %.3f)", epoch + 1,
                 total / config.batches_per_epoch, val_loss, val_acc)
        if config.average_from:
            if epoch + 1 >= config.average_from:
                averaged = epoch + 2 - config.average_from  # epochs in the mean, this one too
                state = net.state_dict()
                best_state = {k: v.clone() for k, v in state.items()} if best_state is None else {
                    k: best_state[k] + (state[k] - best_state[k]) / averaged for k in state}
        elif val_loss < best:
            best, waited = val_loss, 0
            best_state = {k: v.clone() for k, v in net.state_dict().items()}
        else:
            waited += 1
            if waited >= config.patience:
                break
    net.load_state_dict(best_state)
    classifier = StyleClassifier(net, styles, config)
    best_epoch = min(history, key=lambda h: h["val_loss"])
    if config.average_from:  # the averaged weights, on the validation windows
        with torch.no_grad():
            logits = net(val_x, val_len)
        best_epoch = {"epoch": f"mean of {config.average_from}-{len(history)}",
                      "val_loss": round(_balanced_loss(logits, val_y), 4)}
        history.append({**best_epoch, "val_balanced_accuracy": round(
            _balanced_accuracy(logits.argmax(1).numpy(), val_labels), 4)})
    classifier.metrics = {"history": history, "best_epoch": best_epoch["epoch"],
                          "validation": evaluate_classifier(classifier, split["validation"]),
                          "test": evaluate_classifier(classifier, split["test"]),
                          "test_parts": evaluate_classifier(classifier, separated_parts(split["test"])),
                          "train_pieces": {s: sum(p.style == s for p in split["train"]) for s in styles},
                          "parameters": sum(p.numel() for p in net.parameters()),
                          "train_seconds": round(time.monotonic() - started, 1)}
    return classifier


def _balanced_accuracy(predicted: np.ndarray, labels: np.ndarray) -> float:
    """Mean over the classes present of the share of their windows labelled correctly."""
    return float(np.mean([np.mean(predicted[labels == k] == k) for k in np.unique(labels)]))


def evaluate_classifier(classifier: StyleClassifier, pieces: Sequence[Piece],
                        augment: Augment = PLAYED) -> dict[str, Any]:
    """Accuracy and confusion matrix on held-out pieces (windows as :func:`eval_windows`, rendered
    with ``augment``: :data:`PLAYED`, or :data:`DETACHED` to ask whether articulation sways it).

    Returns:
        ``{"windows", "pieces": {style: n}, "accuracy", "balanced_accuracy" (mean recall over
        the styles present), "confusion": [[count]] (rows: true style, columns: label, in
        ``classifier.styles`` order), "recall": {style: share}}``.
    """
    styles = classifier.styles
    rows, labels, names = eval_windows(pieces, styles, classifier.config, augment)
    if not rows:
        return {"windows": 0}
    predicted = classifier.predict_features(rows).argmax(axis=1)
    confusion = np.zeros((len(styles), len(styles)), dtype=np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    present = np.unique(labels)
    return {"windows": len(rows),
            "pieces": {styles[k]: len({n for n, y in zip(names, labels) if y == k}) for k in present},
            "accuracy": round(float(np.mean(predicted == labels)), 4),
            "balanced_accuracy": round(_balanced_accuracy(predicted, labels), 4),
            "confusion": confusion.tolist(),
            "recall": {styles[k]: round(float(confusion[k, k] / confusion[k].sum()), 4) for k in present}}


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m livegen_train.classifier train|report`` (:func:`livegen_train.classifier_report.main`)."""
    from livegen_train.classifier_report import main as cli_main

    return cli_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
