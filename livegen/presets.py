"""Presets: YAML files validated into frozen :class:`Preset` dataclasses.

A preset is five top-level fields (name, description, channel,
context_notes, model) and six frozen sections from :mod:`livegen.sections`, each
checked once, by its own class, when it is built: ``sampling``
(temperature, top_p, pitch range, max_duration_s, repetition guard, key
mask), ``triggering`` (trigger, silence, footswitch, hand-over key),
``timing`` (clock, bars, quantize, swing), ``answer`` (length, velocity,
lookahead, monophonic, chords, copy guard), ``conditioning`` (style, style
guidance, style contrast) and ``controls`` (cc_map, program_map).

The YAML stays flat: each key is a top-level field or a field of one section
(:data:`FIELD_SECTION`), so every preset file written before the sections
keeps loading. Packaged presets live in ``presets/`` (installed as
``livegen/presets``). A user's own presets live where the OS keeps a user's
settings (:func:`user_preset_dir`: ``platformdirs.user_config_path("livegen") /
"presets"``, or ``$LIVEGEN_PRESETS`` when set), searched first, so a user
preset named like a packaged one shadows it; a path to a YAML file works too.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from dataclasses import dataclass, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any

import platformdirs
import yaml

from livegen.checks import is_int, require
from livegen.errors import PresetError
from livegen.midi import N_CHANNELS
from livegen.repetition import MAX_REPETITION_WINDOW
from livegen.sections import (
    AnswerConfig,
    ControlConfig,
    SamplingConfig,
    StyleConfig,
    TimingConfig,
    TriggerConfig,
)

__all__ = ["Preset", "load_preset", "list_presets", "preset_dirs", "user_preset_dir", "packaged_preset_dirs",
           "SECTIONS", "FIELD_SECTION", "TOP_KEYS", "KEYS", "MAX_CONTEXT_NOTES", "MAX_PRESET_BYTES",
           "PRESETS_ENV", "APP_NAME", "preset_path"]

#: Most performer notes a preset may keep as context.
MAX_CONTEXT_NOTES = MAX_REPETITION_WINDOW
#: Preset attribute -> the class of that section.
SECTIONS: MappingProxyType[str, type] = MappingProxyType({
    "sampling": SamplingConfig, "triggering": TriggerConfig, "timing": TimingConfig,
    "answer": AnswerConfig, "conditioning": StyleConfig, "controls": ControlConfig})
#: The keys that are fields of :class:`Preset` itself.
TOP_KEYS = ("name", "description", "channel", "context_notes", "model")
#: Every YAML key of a section -> that section's attribute on :class:`Preset`.
FIELD_SECTION: MappingProxyType[str, str] = MappingProxyType(
    {f.name: section for section, cls in SECTIONS.items() for f in fields(cls)})
#: Every YAML key a preset may hold, in the order :meth:`Preset.to_dict` writes them.
KEYS = TOP_KEYS + tuple(FIELD_SECTION)
assert len(set(KEYS)) == len(KEYS) == 55, "a key in two sections"
assert not set(SECTIONS) & set(KEYS), "a section named like a key: replace(**keys) could not tell them apart"
#: YAML 1.1 reads a bare ``off``/``none``-like word as False; these keys mean their "off" then.
_FALSE_MEANS = {"clock": "none", "quantize_start": "off", "quantize": "off", "key_mask": "off",
                "panic_cc": "off", "register_window": 0}


@dataclass(frozen=True)
class Preset:
    """A validated preset. Times in seconds, pitches and velocities MIDI 0-127.

    Build one with :func:`load_preset`, :meth:`from_dict` (the flat YAML keys)
    or ``Preset(name, ..., sampling=SamplingConfig(...), ...)``; change one
    with :meth:`replace`. Every section is checked when it is built, the
    top-level fields and the checks across sections here.

    Attributes:
        name: preset name (the file's stem for packaged presets), non-empty.
        description: one line shown by ``livegen presets``.
        channel: MIDI channel of the answer, 0-15 (1-16 on a DAW's display).
        context_notes: performer notes kept and fed to the model, 1-512.
        model: the model this preset plays with (:class:`livegen.model.ModelSet`): a
            packaged model's name (``baroque``: ``livegen/models/baroque.onnx``) or an
            ``.onnx`` path (in a preset file, relative to the file); "" the default model.
        sampling: how each token is drawn (:class:`livegen.sections.SamplingConfig`).
        triggering: what starts an answer (:class:`livegen.sections.TriggerConfig`);
            ``trigger: bars`` needs ``timing.clock == "midi"``.
        timing: clock, bars and grid (:class:`livegen.sections.TimingConfig`).
        answer: the answer's length and shape (:class:`livegen.sections.AnswerConfig`).
        conditioning: the style asked of the model (:class:`livegen.sections.StyleConfig`).
        controls: live MIDI controls (:class:`livegen.sections.ControlConfig`); with
            ``trigger: cc`` the footswitch ``trigger_cc`` may not be in ``cc_map``
            nor be ``panic_cc``; ``panic_cc`` may not be in ``cc_map``.

    Raises:
        PresetError: a bad top-level field, a section that is not of its class,
            ``trigger: bars`` without ``clock: midi``, the footswitch CC also
            in ``cc_map`` or ``panic_cc``, or ``panic_cc`` also in ``cc_map``;
            the message names the preset, the key and the value.
    """

    name: str
    description: str = ""
    channel: int = 0
    context_notes: int = 50
    model: str = ""
    sampling: SamplingConfig = SamplingConfig()
    triggering: TriggerConfig = TriggerConfig()
    timing: TimingConfig = TimingConfig()
    answer: AnswerConfig = AnswerConfig()
    conditioning: StyleConfig = StyleConfig()
    controls: ControlConfig = ControlConfig()

    def __post_init__(self) -> None:
        prefix = f"preset {self.name!r}: "
        try:
            require(self, [
                ("name", isinstance(self.name, str) and bool(self.name), "a non-empty string"),
                ("description", isinstance(self.description, str), "a string"),
                ("channel", is_int(self.channel) and 0 <= self.channel < N_CHANNELS,
                 f"an integer 0-{N_CHANNELS - 1}"),
                ("context_notes", is_int(self.context_notes)
                 and 1 <= self.context_notes <= MAX_CONTEXT_NOTES,
                 f"an integer 1-{MAX_CONTEXT_NOTES}"),
                ("model", isinstance(self.model, str) and (self.model.endswith(".onnx") or (
                    "/" not in self.model and "\\" not in self.model)),
                 "a packaged model's name (no path) or a path to an .onnx file"),
                *((section, isinstance(getattr(self, section), cls), f"a {cls.__name__}")
                  for section, cls in SECTIONS.items()),
            ])
        except PresetError as err:
            raise PresetError(f"{prefix}{err}") from None
        trigger, clock = self.triggering.trigger, self.timing.clock
        if trigger == "bars" and clock != "midi":
            raise PresetError(f"{prefix}trigger: bars needs clock: midi "
                              f"(received {trigger!r} with clock {clock!r})")
        footswitch = self.triggering.trigger_cc
        if trigger == "cc" and footswitch in dict(self.controls.cc_map):
            raise PresetError(f"{prefix}cc_map must not map {footswitch}, the footswitch of "
                              f"trigger: cc (received {dict(self.controls.cc_map)!r})")
        panic = self.controls.panic_cc
        if panic is not None and (panic in dict(self.controls.cc_map)
                                  or (trigger == "cc" and panic == footswitch)):
            raise PresetError(f"{prefix}panic_cc {panic} is also a live control or the "
                              f"footswitch (cc_map {dict(self.controls.cc_map)!r}, trigger_cc "
                              f"{footswitch}): give it a controller of its own")

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "<dict>") -> Preset:
        """Build a preset from a mapping of the flat YAML keys, rejecting unknown keys.

        Args:
            data: :data:`KEYS` to values; ``name`` defaults to ``source``'s stem.
                A missing key takes its default; YAML's ``off``/``false`` means
                ``none`` for ``clock`` and ``off`` for the other "off" keys.
            source: where the data came from, for error messages (a file path).

        Raises:
            PresetError: not a mapping, an unknown key (with the nearest known
                one), or a bad value; the message names ``source``, the key and
                the value received.
        """
        if not isinstance(data, dict):
            raise PresetError(f"{source}: a preset must be a YAML mapping "
                              f"(received {type(data).__name__})")
        for key in map(str, data):
            if key not in KEYS:
                raise PresetError(f"{source}: unknown key {key!r} ({_nearest(key)})")
        values = {str(key): value for key, value in data.items()}
        values.setdefault("name", Path(source).stem)
        for key, off in _FALSE_MEANS.items():
            if values.get(key) is False:
                values[key] = off
        top = {key: values[key] for key in TOP_KEYS if key in values}
        flat = {key: value for key, value in values.items() if key in FIELD_SECTION}
        try:
            sections = _sections_with(top["name"], {s: c() for s, c in SECTIONS.items()}, flat)
            return cls(**top, **sections)
        except PresetError as err:
            raise PresetError(f"{source}: {err}") from None

    def to_dict(self) -> dict[str, Any]:
        """Every key of :data:`KEYS`, flat, the maps as dicts; ``Preset.from_dict(p.to_dict()) == p``."""
        data: dict[str, Any] = {key: getattr(self, key) for key in TOP_KEYS}
        for section in SECTIONS:
            data.update(dataclasses.asdict(getattr(self, section)))
        data["cc_map"] = dict(self.controls.cc_map)
        data["program_map"] = dict(self.controls.program_map)
        data["style_contrast"] = list(self.conditioning.style_contrast)
        return data

    def value(self, key: str) -> Any:
        """The value of one flat YAML key (``"temperature"``), wherever its section keeps it.

        Raises:
            PresetError: ``key`` is no preset key (the message suggests the nearest).
        """
        section = FIELD_SECTION.get(key)
        if section is not None:
            return getattr(getattr(self, section), key)
        if key in TOP_KEYS:
            return getattr(self, key)
        raise PresetError(f"preset {self.name!r}: unknown key {key!r} ({_nearest(key)})")

    def replace(self, **changes: Any) -> Preset:
        """A copy with some keys changed, validated again.

        Args:
            changes: flat YAML keys (``temperature=1.2``, as :meth:`from_dict`
                takes them), top-level fields, or whole sections
                (``sampling=SamplingConfig(...)``); a flat key wins over its
                section given in the same call.

        Raises:
            PresetError: an unknown key, or a bad value (as :class:`Preset`).
        """
        for key in changes:
            if key not in KEYS and key not in SECTIONS:
                raise PresetError(f"preset {self.name!r}: unknown key {key!r} ({_nearest(key)})")
        values = {f.name: changes.get(f.name, getattr(self, f.name)) for f in fields(self)}
        flat = {key: value for key, value in changes.items() if key in FIELD_SECTION}
        if flat:
            values.update(_sections_with(values["name"], {s: values[s] for s in SECTIONS}, flat))
        return Preset(**values)


#: A preset file's largest size, bytes: the packaged ones are under 2 KiB.
MAX_PRESET_BYTES = 64 * 1024
_NO_ALIASES = "YAML aliases (*name) are not allowed in a preset"


class _PresetLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` without aliases: a preset is a flat mapping, and a few hundred
    bytes of nested aliases expand to gigabytes (the "billion laughs" attack)."""

    def compose_node(self, parent, index):  # noqa: ANN001, ANN201 (PyYAML's signature)
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.composer.ComposerError(None, None, _NO_ALIASES, event.start_mark)
        return super().compose_node(parent, index)


def _nearest(key: str) -> str:
    """``did you mean 'top_p'?`` for the nearest known key (difflib), or the list of known keys."""
    near = difflib.get_close_matches(key, KEYS, n=1)
    return f"did you mean {near[0]!r}?" if near else f"known keys: {', '.join(sorted(KEYS))}"


def _sections_with(name: Any, sections: dict[str, Any], keys: dict[str, Any]) -> dict[str, Any]:
    """``sections`` with the flat ``keys`` applied, each changed section checked once.

    Raises:
        PresetError: a bad value, prefixed with the preset's name.
    """
    changes: dict[str, dict[str, Any]] = {}
    for key, value in keys.items():
        changes.setdefault(FIELD_SECTION[key], {})[key] = value
    out = dict(sections)
    try:
        for section, values in changes.items():
            base = sections[section]
            out[section] = (dataclasses.replace(base, **values) if isinstance(base, SECTIONS[section])
                            else SECTIONS[section](**values))
    except PresetError as err:
        raise PresetError(f"preset {name!r}: {err}") from None
    return out


#: The environment variable that names the user preset folder instead of the OS's (tests use it).
PRESETS_ENV = "LIVEGEN_PRESETS"
#: The application name platformdirs places the user's settings under.
APP_NAME = "livegen"


def user_preset_dir() -> Path:
    """The folder of the user's own presets, which may not exist yet.

    ``$LIVEGEN_PRESETS`` when set, else ``presets`` in the OS's folder for a
    user's settings (``platformdirs.user_config_path("livegen")``): Linux
    ``~/.config/livegen/presets`` (``$XDG_CONFIG_HOME``), macOS
    ``~/Library/Application Support/livegen/presets``, Windows
    ``%LOCALAPPDATA%\\livegen\\presets``.
    """
    override = os.environ.get(PRESETS_ENV)
    if override:
        return Path(override).expanduser()
    return platformdirs.user_config_path(APP_NAME) / "presets"


def packaged_preset_dirs() -> list[Path]:
    """The folders of the presets shipped with livegen that exist (installed, or a source checkout)."""
    here = Path(__file__).resolve().parent
    dirs = [here / "presets", here.parent / "presets"]  # package data; a source checkout
    return [d for d in dirs if d.is_dir()]


def preset_dirs() -> list[Path]:
    """Folders searched for ``NAME.yaml``: :func:`user_preset_dir` (if it exists), then the packaged ones."""
    user = user_preset_dir()
    return ([user] if user.is_dir() else []) + packaged_preset_dirs()


def list_presets() -> dict[str, Path]:
    """``{name: path}`` of every preset found, earlier directories winning."""
    found: dict[str, Path] = {}
    for directory in preset_dirs():
        for path in sorted(directory.glob("*.yaml")):
            found.setdefault(path.stem, path)
    return found


def preset_path(name_or_path: str | os.PathLike) -> Path:
    """The file a preset name (``romantic``: a user preset first) or a path names; not opened.

    Raises:
        PresetError: an unknown name; the message suggests the nearest known one.
    """
    text = os.fspath(name_or_path)
    if text.endswith((".yaml", ".yml")) or os.sep in text or (os.altsep or os.sep) in text:
        return Path(text)
    known = list_presets()
    if text not in known:
        near = difflib.get_close_matches(text, known, n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise PresetError(f"unknown preset {text!r} ({hint}known presets: "
                          f"{', '.join(sorted(known)) or 'none'}; `livegen presets` lists them)")
    return known[text]


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
    path = preset_path(name_or_path)
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_PRESET_BYTES + 1).decode("utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise PresetError(f"{path}: cannot read preset ({getattr(err, 'strerror', None) or err})") from err
    if len(raw) > MAX_PRESET_BYTES:
        raise PresetError(f"{path}: a preset is at most {MAX_PRESET_BYTES // 1024} KiB (this file is larger)")
    try:
        data = yaml.load(raw, Loader=_PresetLoader)  # a SafeLoader without aliases
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or ""
        detail = f": {problem}" if problem == _NO_ALIASES else ""
        raise PresetError(f"{path}: malformed YAML{where}{detail}") from err
    except RecursionError as err:  # PyYAML composes nested collections recursively
        raise PresetError(f"{path}: malformed YAML (nested too deep)") from err
    if data is None:
        raise PresetError(f"{path}: the preset file is empty (give at least one key, e.g. style: classical)")
    if overrides and isinstance(data, dict):
        data = {**data, **overrides}
    if isinstance(data, dict) and isinstance(data.get("model"), str) and data["model"].endswith(".onnx"):
        data = {**data, "model": str(path.parent / Path(data["model"]).expanduser())}  # next to the file
    return Preset.from_dict(data, source=str(path))
