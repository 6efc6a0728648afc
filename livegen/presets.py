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

__all__ = ["Preset", "load_preset", "list_presets", "preset_dirs", "TRIGGERS"]

TRIGGERS = ("silence",)


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
        trigger: what starts a response; ``silence`` (call and response).
        max_duration_s: longest note the response may hold, seconds > 0.
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

    def __post_init__(self) -> None:
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
            ("trigger", self.trigger in TRIGGERS, f"one of {', '.join(TRIGGERS)}"),
            ("max_duration_s", _num(self.max_duration_s) and 0 < self.max_duration_s <= 30,
             "in (0, 30] seconds"),
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
        for key in ("temperature", "top_p", "silence_s", "max_seconds", "velocity_scale",
                    "lookahead_s", "max_duration_s"):
            if _int(values.get(key)):
                values[key] = float(values[key])
        try:
            return cls(**values)
        except PresetError as err:
            raise PresetError(f"{source}: {err}") from None

    def to_dict(self) -> dict[str, Any]:
        """All fields as a plain dict; ``Preset.from_dict(p.to_dict()) == p``."""
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> Preset:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)


def _num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value == value


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


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


def load_preset(name_or_path: str | os.PathLike) -> Preset:
    """Load a preset by name (``romantic``) or from a YAML file path.

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
    return Preset.from_dict(data if data is not None else {}, source=str(path))
