"""The ONNX model: load, check its contract, run one step.

The model contract (DESIGN.md): one ``.onnx`` file running one step, with
inputs ``token`` (int64 [batch]), ``style`` (int64 [batch]) and the recurrent
state ``h``, ``c`` (float32 [layers, batch, hidden]); outputs ``logits``
(float32 [batch, vocab]) and ``h_out``, ``c_out``. Its ``metadata_props``
hold one key, ``livegen``, whose value is JSON with the vocabulary spec,
version and hash, the style names, the context length, the training corpus
manifest and the training metrics.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from livegen.copyguard import CopyGuard, guard_path
from livegen.errors import ModelError, VocabularyMismatchError
from livegen.tokens import VOCAB_HASH, VOCAB_SIZE, VOCAB_VERSION

__all__ = ["Model", "ModelSet", "State", "default_model_path", "model_path", "preset_model",
           "METADATA_KEY", "MODEL_ENV"]

METADATA_KEY = "livegen"
INPUT_NAMES = ("token", "style", "h", "c")
OUTPUT_NAMES = ("logits", "h_out", "c_out")
MAX_STATE_LAYERS = 64  # a recurrent state beyond this is no exported model (a 58 TiB state was asked)
MAX_STATE_HIDDEN = 65536
#: The environment variable naming one model for every preset (as ``livegen --model``).
MODEL_ENV = "LIVEGEN_MODEL"
_PACKAGED = Path(__file__).resolve().parent / "models"


def default_model_path() -> Path:
    """The model shipped as package data (``livegen/models/default.onnx``), or ``$LIVEGEN_MODEL``.

    The shipped graph is int8 (``livegen_train.quantize``); the float32 graph it is
    quantized from ships next to it as ``default.fp32.onnx`` (``livegen --model``).
    """
    if os.environ.get(MODEL_ENV):
        return Path(os.environ[MODEL_ENV])
    return model_path("")


def model_path(name: str) -> Path:
    """The file of a preset's ``model`` key: "" the default model, a packaged model's name
    (``baroque``: ``livegen/models/baroque.onnx``) or an ``.onnx`` path (``~`` expanded)."""
    if not name:
        return _PACKAGED / "default.onnx"
    return Path(name).expanduser() if name.endswith(".onnx") else _PACKAGED / f"{name}.onnx"


class ModelSet:
    """The models a session's presets play with, each file loaded once.

    A preset plays with its own ``model`` (:func:`model_path`); ``path``
    (``livegen --model``, else ``$LIVEGEN_MODEL``) overrides every preset's.
    Calling the set with a preset gives its model, its style checked. Where one
    model is asked (the evaluation's styles, baselines and scores), the set stands
    for its default model: other attributes are the default model's.

    Args:
        path: one model for every preset; None: each preset's own.
        threads: onnxruntime intra-op threads per model.
        env: ``$LIVEGEN_MODEL`` overrides when ``path`` is None (False: never, as the
            packaged examples).
    """

    def __init__(self, path: str | os.PathLike | None = None, *, threads: int = 1,
                 env: bool = True) -> None:
        if path is None and env:
            path = os.environ.get(MODEL_ENV) or None
        self.override: Path | None = Path(path) if path is not None else None
        self.threads = threads
        self._loaded: dict[Path, Model] = {}

    def default(self) -> Model:
        """The model of a preset without a ``model`` key (or the override)."""
        return self._load(self.override if self.override is not None else model_path(""))

    def _load(self, path: Path) -> Model:
        """The model at ``path``, loaded on first use (raises :class:`ModelError` as :meth:`Model.load`)."""
        if path not in self._loaded:
            self._loaded[path] = Model.load(path, threads=self.threads)
        return self._loaded[path]

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name in ("override", "threads"):
            raise AttributeError(name)
        return getattr(self.default(), name)

    def path_for(self, preset: Any) -> Path:
        """The ``.onnx`` file ``preset`` (a :class:`livegen.presets.Preset`) plays with."""
        return self.override if self.override is not None else model_path(preset.model)

    def __call__(self, preset: Any) -> Model:
        """The loaded model of ``preset``.

        Raises:
            ModelError: the file is missing or no livegen model (the message names the
                preset and its ``model`` key, and lists the packaged models), or the model
                has no style ``preset.conditioning.style``.
        """
        try:
            model = self._load(self.path_for(preset))
        except ModelError as err:
            if self.override is not None or not preset.model:
                raise
            packaged = ", ".join(sorted(p.stem for p in _PACKAGED.glob("*.onnx")))
            raise type(err)(f"preset {preset.name!r}: model {preset.model!r}: {err} "
                            f"(packaged models: {packaged})") from None
        model.style_id(preset.conditioning.style)
        return model


@dataclass
class State:
    """Recurrent state: ``h``, ``c`` float32 [layers, batch, hidden]; batch 1 for one
    sequence, one row per style for :meth:`Model.step_styles`."""

    h: np.ndarray
    c: np.ndarray

    def copy(self) -> State:
        """An independent copy (the arrays are copied)."""
        return State(self.h.copy(), self.c.copy())


@dataclass
class Model:
    """A loaded step model. Build with :meth:`load`.

    Attributes:
        path: the ``.onnx`` file.
        styles: style names, index = the ``style`` input.
        metadata: the decoded ``livegen`` metadata JSON.
        layers, hidden: shape of the recurrent state.
    """

    path: Path
    styles: tuple[str, ...]
    metadata: dict[str, Any]
    layers: int
    hidden: int
    _session: Any = field(repr=False, default=None)
    _token: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(1, np.int64))
    _style: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(1, np.int64))
    #: :meth:`step_styles`'s inputs, made once per set of styles (style ids -> feed)
    _feeds: dict[Any, dict[str, np.ndarray]] = field(repr=False, default_factory=dict)
    #: True when the graph's batch axis is dynamic (exported since style guidance);
    #: older files run :meth:`step_styles` as one step per style.
    batched: bool = False
    #: The runs of training notes a response must not complete, read from the file
    #: next to the model (:func:`livegen.copyguard.guard_path`); None when there is none.
    copy_guard: CopyGuard | None = None

    @classmethod
    def load(cls, path: str | os.PathLike | None = None, *, threads: int = 1) -> Model:
        """Open an exported model and check it against this runtime.

        Args:
            path: the ``.onnx`` file; default :func:`default_model_path`.
            threads: onnxruntime intra-op threads (1 is fastest for one step).

        Raises:
            ModelError: the file is missing or unreadable, or lacks the
                contract's inputs, outputs or metadata (a JSON object with a
                list of style names and integer state ``layers`` and ``hidden``);
                or its copy guard (``x.copies.npz`` next to ``x.onnx``) exists
                but is unreadable.
            VocabularyMismatchError: its vocabulary version or hash differs
                from this runtime's (the message names both versions).
        """
        import onnxruntime as ort

        path = Path(path) if path is not None else default_model_path()
        if not path.is_file():
            raise ModelError(f"model file not found: {path}")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as err:  # onnxruntime raises its own untyped errors
            raise ModelError(f"{path}: not a loadable ONNX model ({str(err).splitlines()[0]})") from err
        meta_text = session.get_modelmeta().custom_metadata_map.get(METADATA_KEY)
        if meta_text is None:
            raise ModelError(f"{path}: no '{METADATA_KEY}' metadata; not a livegen model")
        try:
            meta = json.loads(meta_text)
        except json.JSONDecodeError as err:
            raise ModelError(f"{path}: '{METADATA_KEY}' metadata is not JSON ({err})") from err
        if not isinstance(meta, dict):
            raise ModelError(f"{path}: '{METADATA_KEY}' metadata must be a JSON object "
                             f"(received a {type(meta).__name__})")
        version, digest = meta.get("vocab_version"), meta.get("vocab_hash")
        if version != VOCAB_VERSION or digest != VOCAB_HASH:
            raise VocabularyMismatchError(
                f"{path}: model vocabulary v{version} ({digest}) does not match "
                f"livegen's v{VOCAB_VERSION} ({VOCAB_HASH}); re-export or retrain the model")
        inputs = {i.name for i in session.get_inputs()}
        outputs = [o.name for o in session.get_outputs()]
        if set(INPUT_NAMES) - inputs or set(OUTPUT_NAMES) - set(outputs):
            raise ModelError(f"{path}: inputs {sorted(inputs)} / outputs {outputs} do not match "
                             f"the contract {list(INPUT_NAMES)} / {list(OUTPUT_NAMES)}")
        styles = meta.get("styles")
        if not isinstance(styles, list) or not styles or not all(isinstance(s, str) for s in styles):
            raise ModelError(f"{path}: metadata 'styles' must be a non-empty list of names "
                             f"(received {str(styles)[:80]!r})")
        styles = tuple(styles)
        state_meta = meta.get("state")
        try:
            layers, hidden = int(state_meta["layers"]), int(state_meta["hidden"])
        except (KeyError, TypeError, ValueError, OverflowError) as err:
            raise ModelError(f"{path}: metadata 'state' must hold integer 'layers' and 'hidden' "
                             f"(received {str(state_meta)[:80]!r})") from err
        if not (1 <= layers <= MAX_STATE_LAYERS and 1 <= hidden <= MAX_STATE_HIDDEN):
            raise ModelError(f"{path}: metadata 'state' must hold 'layers' 1-{MAX_STATE_LAYERS} and "
                             f"'hidden' 1-{MAX_STATE_HIDDEN} (received {layers} and {hidden})")
        batch_dim = next(i for i in session.get_inputs() if i.name == "token").shape[0]
        guard_file = guard_path(path)
        guard = CopyGuard.load(guard_file) if guard_file.is_file() else None
        return cls(path, styles, meta, layers, hidden,
                   session, batched=not isinstance(batch_dim, int), copy_guard=guard)

    @property
    def vocab_size(self) -> int:
        """Number of token ids (== :data:`livegen.tokens.VOCAB_SIZE`)."""
        return VOCAB_SIZE

    def style_id(self, style: str) -> int:
        """Index of a style name.

        Raises:
            ModelError: the model has no such style (the message lists its styles).
        """
        try:
            return self.styles.index(style)
        except ValueError:
            raise ModelError(f"{self.path.name}: no style {style!r} "
                             f"(the model has: {', '.join(self.styles)})") from None

    def initial_state(self) -> State:
        """A zero state for one sequence."""
        shape = (self.layers, 1, self.hidden)
        return State(np.zeros(shape, np.float32), np.zeros(shape, np.float32))

    def initial_style_states(self, styles: Sequence[int] | None = None) -> State:
        """A zero state for one sequence under several styles: [layers, len(styles), hidden].

        Args:
            styles: style ids, one batch row each; None: every style of the model.
        """
        n = len(self.styles) if styles is None else len(styles)
        shape = (self.layers, n, self.hidden)
        return State(np.zeros(shape, np.float32), np.zeros(shape, np.float32))

    def step_styles(self, token: int, state: State,
                    styles: Sequence[int] | None = None) -> tuple[np.ndarray, State]:
        """One step of one sequence under several styles at once (style guidance).

        Args:
            token: token id in ``[0, VOCAB_SIZE)``.
            state: from :meth:`initial_style_states` with the same ``styles``, or a previous
                call (not modified); row ``i`` of the batch axis is style ``styles[i]``.
            styles: style ids (see :meth:`style_id`); None: every style of the model, in order.

        Returns:
            ``(logits float32 [len(styles), VOCAB_SIZE], new_state)``. In a float32
            graph each row is bit for bit what :meth:`step` gives under its style; in
            the shipped int8 graph (``livegen_train.quantize``: activations quantized
            over the whole batch) within quantization noise. One run of the graph
            when its batch axis is dynamic, else one run per style.
        """
        key = styles if styles is None or isinstance(styles, tuple) else tuple(styles)
        feed = self._feeds.get(key)
        if feed is None:
            ids = np.arange(len(self.styles)) if key is None else np.asarray(key)
            feed = self._feeds[key] = {"token": np.zeros(len(ids), np.int64),
                                          "style": ids.astype(np.int64)}
        if self.batched:
            feed["token"][:] = token
            feed["h"], feed["c"] = state.h, state.c
            logits, h, c = self._session.run(OUTPUT_NAMES, feed)
            return logits, State(h, c)
        rows = [self.step(token, State(state.h[:, k:k + 1], state.c[:, k:k + 1]), int(style))
                for k, style in enumerate(feed["style"])]
        return (np.stack([logits for logits, _ in rows]),
                State(np.concatenate([s.h for _, s in rows], axis=1),
                      np.concatenate([s.c for _, s in rows], axis=1)))

    def step(self, token: int, state: State, style: int) -> tuple[np.ndarray, State]:
        """Run one step.

        Args:
            token: token id in ``[0, VOCAB_SIZE)``.
            state: the state after the previous token (not modified).
            style: style index (see :meth:`style_id`).

        Returns:
            ``(logits, new_state)``: logits float32 [VOCAB_SIZE] for the next token.
        """
        self._token[0] = token
        self._style[0] = style
        logits, h, c = self._session.run(
            OUTPUT_NAMES, {"token": self._token, "style": self._style, "h": state.h, "c": state.c})
        return logits[0], State(h, c)

    def run_tokens(self, tokens, state: State, style: int) -> tuple[np.ndarray, State]:
        """Feed several tokens; return the logits after the last one and the final state."""
        logits = None
        for token in tokens:
            logits, state = self.step(int(token), state, style)
        if logits is None:
            raise ValueError("run_tokens needs at least one token")
        return logits, state


def preset_model(model: Any, preset: Any) -> Any:
    """The step model ``preset`` plays with: ``model(preset)`` when ``model`` is a
    :class:`ModelSet`, else ``model`` itself (one model for every preset)."""
    return model(preset) if isinstance(model, ModelSet) else model
