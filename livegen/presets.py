"""Presets: YAML files validated into frozen :class:`Preset` dataclasses.

Packaged presets live in ``presets/`` (installed as ``livegen/presets``); a user
may pass a path to their own YAML file instead of a name, or put files in
``$LIVEGEN_PRESETS`` (a directory), which is searched first.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

from livegen.errors import PresetError
from livegen.grid import DIVISIONS

__all__ = ["Preset", "load_preset", "list_presets", "preset_dirs", "TRIGGERS", "CLOCKS",
           "QUANTIZE_STARTS", "QUANTIZE_VALUES", "CC_TARGETS", "KEY_MASKS"]

TRIGGERS = ("silence", "bars", "continuous", "cc", "note")
CLOCKS = ("none", "midi")
QUANTIZE_STARTS = ("off", "beat", "bar")
QUANTIZE_VALUES = ("off", *DIVISIONS)
CC_TARGETS = ("temperature", "response_length", "enabled")
KEY_MASKS = ("off", "soft", "strict", "palette")
#: largest logit penalty a preset may set: e**-20 is ~2e-9, already a mask
#: Largest ``style_guidance``: beyond it the extrapolated logits leave what the model learned.
MAX_STYLE_GUIDANCE = 4.0
MAX_PENALTY_LOGITS = 20.0
#: longest repetition-guard window, notes (the most a preset's context may hold)
MAX_REPETITION_WINDOW = 512
MAX_REPETITION_NGRAM = 16
MAX_REPETITION_COUNT = 64
#: Most notes ``max_chord`` allows in one chord.
MAX_CHORD_NOTES = 32
CC_SUSTAIN = 64  # MIDI 1.0 damper pedal: the buffer's, never a control
CC_LAST_CONTROL = 119  # MIDI 1.0: 120-127 are channel mode messages
#: YAML 1.1 reads a bare ``off``/``none``-like word as False; these keys mean their "off" then.
_FALSE_MEANS = {"clock": "none", "quantize_start": "off", "quantize": "off", "key_mask": "off"}


@dataclass(frozen=True)
class Preset:
    """A validated preset. Times in seconds, pitches and velocities MIDI 0-127.

    Attributes:
        name: preset name (the file's stem for packaged presets).
        description: one line shown by ``livegen presets``.
        style: the model style to condition on (one of the model's style names).
        temperature: softmax temperature, > 0 (1 = the model's own distribution).
        top_p: nucleus sampling mass, in (0, 1].
        context_notes: performer notes kept and fed to the model, 1-512.
        silence_s: performer silence that triggers a response, seconds > 0.
        max_notes: most notes in one response, >= 1.
        max_seconds: longest response, seconds > 0.
        pitch_low: lowest pitch the response may play, 0-127.
        pitch_high: highest pitch the response may play, pitch_low-127.
        channel: MIDI channel of the response, 0-15 (1-16 on a DAW's display).
        velocity_scale: multiplies generated velocities, > 0 (result clipped 1-127).
        lookahead_s: how far generation runs ahead of playback, seconds > 0.
        trigger: what starts a response: ``silence`` (call and response), ``bars``
            (every ``trigger_bars`` bars of the MIDI clock), ``continuous`` (plays
            alongside), ``cc`` (a footswitch, ``trigger_cc``) or ``note`` (the key
            ``trigger_note``).
        max_duration_s: longest note the response may hold, seconds > 0.
        clock: ``none`` or ``midi`` (follow MIDI beat clock on the input port).
        beats_per_bar: quarter notes per bar, 1-16 (bars count from song position 0).
        quantize_start: the response starts on the next ``beat``, ``bar``, or ``off`` (at once).
        quantize: note value onsets snap to (``1/16``...; see :data:`livegen.clock.DIVISIONS`)
            or ``off``.
        quantize_strength: how far onsets move to the grid, 0-1.
        swing: every second grid line is late by this fraction of a step, 0-0.5.
        response_bars: response length in bars when a tempo is known, 0-64 (0: max_seconds).
        trigger_bars: the ``bars`` trigger fires every this many bars, 1-64.
        trigger_cc: the ``cc`` trigger's controller, 0-119 but not 64 (fires on press, >= 64).
        trigger_note: the ``note`` trigger's key, 0-127 (never played into the buffer).
        silence_adaptive: the silence threshold follows the performer's note spacing
            (twice the median inter-onset interval) within ``silence_min_s``-``silence_max_s``.
        silence_min_s: lowest adaptive silence threshold, seconds > 0.
        silence_max_s: highest adaptive silence threshold, silence_min_s-30 seconds.
        cc_map: ``{cc: target}`` live controls; targets :data:`CC_TARGETS`; stored as
            sorted ``(cc, target)`` pairs (a dict is accepted).
        program_map: ``{program: preset name or path}`` for program changes (0-127);
            stored as sorted pairs (a dict is accepted).
        repetition_penalty: logits (after temperature) taken from a pitch that would
            complete a ``repetition_ngram``-note interval pattern already used
            ``repetition_max`` times in the last ``repetition_window`` notes, once more
            per further use; 0-20, 0 = off (see :class:`livegen.sampling.Sampler`).
        repetition_ngram: notes in a guarded interval pattern, 2-16.
        repetition_window: notes (performer's and generated) the guard remembers,
            repetition_ngram-512.
        repetition_max: uses of a pattern in the window before completing it again
            is penalised, 1-64.
        key_mask: ``off``, ``soft`` (out-of-key pitches lose ``key_penalty`` logits),
            ``strict`` (they are never drawn); the key is estimated from the performer's
            context notes (Krumhansl-Schmuckler); or ``palette`` (each pitch class
            weighted by its share of the context, see :class:`livegen.sampling.Sampler`).
        key_penalty: logits a ``soft`` key mask takes from an out-of-key pitch, or the
            weight of ``palette``, 0-20.
        style_guidance: how far the style is pushed away from the model's average over
            all its styles, 0-4 (0 = off): each token's logits become
            ``l_style + style_guidance * (l_style - mean over styles of l)``, like
            classifier-free guidance (Ho & Salimans 2022) with the style mean as the
            unconditional model; costs one model step per style per token
            (see :class:`livegen.generation.Generator`).
        style_contrast: the styles style guidance pushes away from, instead of the
            mean over all styles: ``l_style + style_guidance * (l_style - mean over these
            styles of l)``, like a negative prompt (a YAML list of names, none of them
            ``style``; empty: all styles). Names the model lacks raise ModelError when
            the preset is used.
        copy_guard: when the model ships a copy guard (:mod:`livegen.copyguard`),
            never complete a run of 13 notes copied from a training piece (the
            longest copied run stays at most 12 notes); false lets it quote.
        monophonic: play one note at a time, a single melodic line for a mono synth
            or a tune: no two answer notes start within
            :data:`livegen.sampling.CHORD_SPAN_S` (40 ms) of each other, and each
            note ends by the next one's onset.
        max_chord: most answer notes in one chord (notes starting within
            :data:`livegen.sampling.CHORD_SPAN_S` of its first note), 1-32; a
            full chord makes the next onset wait. 10: two hands.
    """

    name: str
    description: str = ""
    style: str = "classical"
    temperature: float = 0.9
    top_p: float = 0.95
    context_notes: int = 50
    silence_s: float = 0.6
    max_notes: int = 32
    max_seconds: float = 12.0
    pitch_low: int = 21
    pitch_high: int = 108
    channel: int = 0
    velocity_scale: float = 1.0
    lookahead_s: float = 1.0
    trigger: str = "silence"
    max_duration_s: float = 4.0
    clock: str = "none"
    beats_per_bar: int = 4
    quantize_start: str = "off"
    quantize: str = "off"
    quantize_strength: float = 1.0
    swing: float = 0.0
    response_bars: int = 0
    trigger_bars: int = 4
    trigger_cc: int = 67
    trigger_note: int = 21
    silence_adaptive: bool = False
    silence_min_s: float = 0.25
    silence_max_s: float = 2.0
    cc_map: tuple[tuple[int, str], ...] = ()
    program_map: tuple[tuple[int, str], ...] = ()
    repetition_penalty: float = 0.0
    repetition_ngram: int = 4
    repetition_window: int = 32
    repetition_max: int = 2
    key_mask: str = "off"
    key_penalty: float = 1.0
    style_guidance: float = 0.0
    style_contrast: tuple[str, ...] = ()
    copy_guard: bool = True
    monophonic: bool = False
    max_chord: int = 10

    def __post_init__(self) -> None:
        contrast = _names(self.style_contrast)
        if contrast is not None:
            object.__setattr__(self, "style_contrast", contrast)
        cc_map = _pairs(self.cc_map, lambda cc: _control(cc) and not (
            self.trigger == "cc" and cc == self.trigger_cc), lambda v: v in CC_TARGETS)
        program_map = _pairs(self.program_map, lambda p: _int(p) and 0 <= p <= 127,
                             lambda v: isinstance(v, str) and bool(v.strip()))
        for key, pairs in (("cc_map", cc_map), ("program_map", program_map)):
            if pairs is not None:
                object.__setattr__(self, key, pairs)
        checks: list[tuple[str, bool, str]] = [
            ("name", isinstance(self.name, str) and bool(self.name), "a non-empty string"),
            ("description", isinstance(self.description, str), "a string"),
            ("style", isinstance(self.style, str) and bool(self.style), "a style name"),
            ("temperature", _num(self.temperature) and 0 < self.temperature <= 5, "in (0, 5]"),
            ("top_p", _num(self.top_p) and 0 < self.top_p <= 1, "in (0, 1]"),
            ("context_notes", _int(self.context_notes) and 1 <= self.context_notes <= 512,
             "an integer 1-512"),
            ("silence_s", _num(self.silence_s) and 0 < self.silence_s <= 30, "in (0, 30] seconds"),
            ("max_notes", _int(self.max_notes) and 1 <= self.max_notes <= 10_000,
             "an integer 1-10000"),
            ("max_seconds", _num(self.max_seconds) and 0 < self.max_seconds <= 3600,
             "in (0, 3600] seconds"),
            ("pitch_low", _int(self.pitch_low) and 0 <= self.pitch_low <= 127, "an integer 0-127"),
            ("pitch_high", _int(self.pitch_high) and _int(self.pitch_low)
             and self.pitch_low <= self.pitch_high <= 127, "an integer pitch_low-127"),
            ("channel", _int(self.channel) and 0 <= self.channel <= 15, "an integer 0-15"),
            ("velocity_scale", _num(self.velocity_scale) and 0 < self.velocity_scale <= 4,
             "in (0, 4]"),
            ("lookahead_s", _num(self.lookahead_s) and 0 < self.lookahead_s <= 10,
             "in (0, 10] seconds"),
            ("trigger", self.trigger in TRIGGERS and (self.trigger != "bars" or self.clock == "midi"),
             f"one of {', '.join(TRIGGERS)} (bars needs clock: midi)"),
            ("max_duration_s", _num(self.max_duration_s) and 0 < self.max_duration_s <= 30,
             "in (0, 30] seconds"),
            ("clock", self.clock in CLOCKS, f"one of {', '.join(CLOCKS)}"),
            ("beats_per_bar", _int(self.beats_per_bar) and 1 <= self.beats_per_bar <= 16,
             "an integer 1-16"),
            ("quantize_start", self.quantize_start in QUANTIZE_STARTS,
             f"one of {', '.join(QUANTIZE_STARTS)}"),
            ("quantize", self.quantize in QUANTIZE_VALUES, f"one of {', '.join(QUANTIZE_VALUES)}"),
            ("quantize_strength", _num(self.quantize_strength) and 0 <= self.quantize_strength <= 1,
             "in [0, 1]"),
            ("swing", _num(self.swing) and 0 <= self.swing <= 0.5, "in [0, 0.5]"),
            ("response_bars", _int(self.response_bars) and 0 <= self.response_bars <= 64,
             "an integer 0-64 (0: off)"),
            ("trigger_bars", _int(self.trigger_bars) and 1 <= self.trigger_bars <= 64,
             "an integer 1-64"),
            ("trigger_cc", _control(self.trigger_cc),
             f"an integer 0-{CC_LAST_CONTROL} other than {CC_SUSTAIN} (the sustain pedal)"),
            ("trigger_note", _int(self.trigger_note) and 0 <= self.trigger_note <= 127,
             "an integer 0-127"),
            ("silence_adaptive", isinstance(self.silence_adaptive, bool), "true or false"),
            ("silence_min_s", _num(self.silence_min_s) and 0 < self.silence_min_s <= 30,
             "in (0, 30] seconds"),
            ("silence_max_s", _num(self.silence_max_s) and _num(self.silence_min_s)
             and self.silence_min_s <= self.silence_max_s <= 30, "in [silence_min_s, 30] seconds"),
            ("cc_map", cc_map is not None,
             f"a mapping of CC numbers 0-{CC_LAST_CONTROL} (not {CC_SUSTAIN}, nor trigger_cc "
             f"with trigger: cc) to {', '.join(CC_TARGETS)}"),
            ("program_map", program_map is not None,
             "a mapping of program numbers 0-127 to preset names or paths"),
            ("repetition_penalty", _num(self.repetition_penalty)
             and 0 <= self.repetition_penalty <= MAX_PENALTY_LOGITS,
             f"in [0, {MAX_PENALTY_LOGITS:g}] logits (0: off)"),
            ("repetition_ngram", _int(self.repetition_ngram)
             and 2 <= self.repetition_ngram <= MAX_REPETITION_NGRAM,
             f"an integer 2-{MAX_REPETITION_NGRAM} notes"),
            ("repetition_window", _int(self.repetition_window) and _int(self.repetition_ngram)
             and self.repetition_ngram <= self.repetition_window <= MAX_REPETITION_WINDOW,
             f"an integer repetition_ngram-{MAX_REPETITION_WINDOW} notes"),
            ("repetition_max", _int(self.repetition_max)
             and 1 <= self.repetition_max <= MAX_REPETITION_COUNT,
             f"an integer 1-{MAX_REPETITION_COUNT}"),
            ("key_mask", self.key_mask in KEY_MASKS, f"one of {', '.join(KEY_MASKS)}"),
            ("key_penalty", _num(self.key_penalty) and 0 <= self.key_penalty <= MAX_PENALTY_LOGITS,
             f"in [0, {MAX_PENALTY_LOGITS:g}] logits"),
            ("style_guidance", _num(self.style_guidance)
             and 0 <= self.style_guidance <= MAX_STYLE_GUIDANCE,
             f"in [0, {MAX_STYLE_GUIDANCE:g}] (0: off)"),
            ("style_contrast", contrast is not None and self.style not in contrast,
             "a list of other style names (empty: the mean over all styles)"),
            ("copy_guard", isinstance(self.copy_guard, bool), "true or false"),
            ("monophonic", isinstance(self.monophonic, bool), "true or false"),
            ("max_chord", _int(self.max_chord) and 1 <= self.max_chord <= MAX_CHORD_NOTES,
             f"an integer number of notes in [1, {MAX_CHORD_NOTES}]"),
        ]
        for key, ok, expected in checks:
            if not ok:
                raise PresetError(f"preset {self.name!r}: {key} must be {expected} "
                                  f"(received {getattr(self, key)!r})")

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "<dict>") -> Preset:
        """Build a preset from a mapping, rejecting unknown keys.

        Args:
            data: the keys of :class:`Preset`; ``name`` defaults to ``source``'s stem.
            source: where the data came from, for error messages (a file path).

        Raises:
            PresetError: not a mapping, an unknown key, or a bad value; the
                message names ``source``, the key and the value received.
        """
        if not isinstance(data, dict):
            raise PresetError(f"{source}: a preset must be a YAML mapping "
                              f"(received {type(data).__name__})")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(map(str, data)) - known)
        if unknown:
            raise PresetError(f"{source}: unknown key {unknown[0]!r} "
                              f"(known keys: {', '.join(sorted(known))})")
        values = dict(data)
        values.setdefault("name", Path(source).stem)
        # YAML reads `swing: 0` as an int: float fields (known from their annotations) take it
        for key in (f.name for f in fields(cls) if f.type == "float"):
            if _int(values.get(key)):
                values[key] = float(values[key])
        for key, off in _FALSE_MEANS.items():
            if values.get(key) is False:
                values[key] = off
        try:
            return cls(**values)
        except PresetError as err:
            raise PresetError(f"{source}: {err}") from None

    def to_dict(self) -> dict[str, Any]:
        """All fields as a plain dict (the maps as dicts); ``Preset.from_dict(p.to_dict()) == p``."""
        data = dataclasses.asdict(self)
        data["cc_map"] = dict(self.cc_map)
        data["program_map"] = dict(self.program_map)
        return data

    def replace(self, **changes: Any) -> Preset:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def _num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _control(value: Any) -> bool:
    """A controller number a preset may claim: 0-119 (not a mode message), not the sustain pedal."""
    return _int(value) and 0 <= value <= CC_LAST_CONTROL and value != CC_SUSTAIN


def _pairs(value: Any, key_ok, value_ok) -> tuple[tuple[Any, Any], ...] | None:
    """A mapping (or pairs) as sorted ``(key, value)`` pairs; None if not one or a pair is bad."""
    try:
        items = list(value.items()) if isinstance(value, dict) else [tuple(p) for p in value]
    except TypeError:
        return None
    if isinstance(value, (str, bytes)) or any(len(p) != 2 for p in items):
        return None
    if not all(key_ok(k) and value_ok(v) for k, v in items):
        return None
    if len({k for k, _ in items}) != len(items):
        return None
    return tuple(sorted(items))


def _names(value: Any) -> tuple[str, ...] | None:
    """A list of distinct non-empty names (or one name) as a tuple; None if not one."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        return None
    if not all(isinstance(v, str) and v.strip() for v in value) or len(set(value)) != len(value):
        return None
    return tuple(value)


def preset_dirs() -> list[Path]:
    """Directories searched for ``NAME.yaml``: ``$LIVEGEN_PRESETS`` first, then the packaged ones."""
    dirs = []
    if os.environ.get("LIVEGEN_PRESETS"):
        dirs.append(Path(os.environ["LIVEGEN_PRESETS"]))
    here = Path(__file__).resolve().parent
    dirs.append(here / "presets")              # installed package data
    dirs.append(here.parent / "presets")       # a source checkout
    return [d for d in dirs if d.is_dir()]


def list_presets() -> dict[str, Path]:
    """``{name: path}`` of every preset found, earlier directories winning."""
    found: dict[str, Path] = {}
    for directory in preset_dirs():
        for path in sorted(directory.glob("*.yaml")):
            found.setdefault(path.stem, path)
    return found


def load_preset(name_or_path: str | os.PathLike, overrides: dict[str, Any] | None = None) -> Preset:
    """Load a preset by name (``romantic``) or from a YAML file path.

    Args:
        name_or_path: a preset name or a YAML file.
        overrides: keys that replace the file's before validation (command-line
            options such as ``--clock``), so they may make it valid.

    Raises:
        PresetError: unknown name (the message lists the known ones), an
            unreadable file, malformed YAML, an unknown key or a bad value.
    """
    text = os.fspath(name_or_path)
    if text.endswith((".yaml", ".yml")) or os.sep in text:
        path = Path(text)
    else:
        known = list_presets()
        if text not in known:
            raise PresetError(f"unknown preset {text!r} (known presets: {', '.join(known) or 'none'})")
        path = known[text]
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError as err:
        raise PresetError(f"{path}: cannot read preset ({err.strerror or err})") from err
    try:
        data = yaml.safe_load(raw)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise PresetError(f"{path}: malformed YAML{where}") from err
    if data is None:
        data = {}
    if overrides and isinstance(data, dict):
        data = {**data, **overrides}
    return Preset.from_dict(data, source=str(path))
