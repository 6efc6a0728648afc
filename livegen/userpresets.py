"""The user's own presets: listing them beside the packaged ones, and commented copies.

A user preset is a YAML file in :func:`livegen.presets.user_preset_dir` (the
OS's folder for a user's settings, or ``$LIVEGEN_PRESETS``). ``livegen
presets`` lists both kinds with their paths (:func:`preset_entries`), and
``livegen presets --copy romantic mine`` writes ``mine.yaml`` there
(:func:`copy_preset`): every key, with its meaning and range as a YAML
comment taken from the section classes' docstrings, and its value from the
source preset.
"""

from __future__ import annotations

import inspect
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from livegen import sections
from livegen.errors import PresetError
from livegen.presets import (
    FIELD_SECTION,
    SECTIONS,
    TOP_KEYS,
    Preset,
    load_preset,
    packaged_preset_dirs,
    preset_path,
    user_preset_dir,
)

__all__ = ["PresetEntry", "preset_entries", "listing_lines", "copy_preset", "commented_yaml", "key_docs",
           "check_preset_name", "COMMENT_WIDTH"]

#: Widest comment line a commented copy holds, characters.
COMMENT_WIDTH = 96
#: A user preset's name: a letter or digit, then letters, digits, ``_``, ``-`` or ``.``.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
#: The keys whose "off" a YAML file may write bare (YAML 1.1 reads it as False; presets map it back).
_BARE_OFF = ("clock", "quantize_start", "quantize", "key_mask", "panic_cc")


@dataclass(frozen=True)
class PresetEntry:
    """One preset file ``livegen presets`` lists.

    Attributes:
        name: the preset's name (the file's stem).
        path: the YAML file.
        user: True in the user folder, False packaged.
        shadowed: True when another file of this name wins (a packaged preset
            under a user preset of its name).
    """

    name: str
    path: Path
    user: bool
    shadowed: bool


def preset_entries() -> list[PresetEntry]:
    """Every preset file found: the user's (sorted by name), then the packaged ones.

    A packaged preset that a user preset of the same name shadows is listed,
    with ``shadowed`` set: ``--preset NAME`` loads the user's.
    """
    user_dir = user_preset_dir()
    user = sorted(user_dir.glob("*.yaml")) if user_dir.is_dir() else []
    entries = [PresetEntry(p.stem, p, True, False) for p in user]
    taken = {p.stem for p in user}
    for directory in packaged_preset_dirs():
        for path in sorted(directory.glob("*.yaml")):
            if any(e.name == path.stem and not e.user for e in entries):
                continue  # an installed package and a source checkout: the first wins
            entries.append(PresetEntry(path.stem, path, False, path.stem in taken))
    return entries


def listing_lines() -> list[str]:
    """What ``livegen presets`` prints: the user's presets, then the packaged ones, with their files.

    Each line is the name, the description (or why the file does not load,
    in one line), the preset's own model if it has one, a note when a user preset
    shadows a packaged one, and the path.
    """
    entries = preset_entries()
    width = max((len(e.name) for e in entries), default=0)
    user_dir = user_preset_dir()
    lines = []
    for user, title in ((True, f"your presets, in {user_dir}"), (False, "packaged presets")):
        lines.append(f"{title}:")
        for entry in (e for e in entries if e.user == user):
            try:
                preset = load_preset(entry.path)
                about = preset.description + (f"  [model {preset.model}]" if preset.model else "")
            except PresetError as err:
                about = f"(cannot load: {' '.join(str(err).split())})"
            if entry.shadowed:
                about += f"  [shadowed by yours, {user_dir / entry.path.name}]"
            elif user and any(e.name == entry.name and not e.user for e in entries):
                about += "  [shadows the packaged one]"
            lines.append(f"  {entry.name:<{width}}  {about}  {entry.path}")
        if user and not any(e.user for e in entries):
            lines.append("  (none yet: `livegen presets --copy romantic mine` makes one)")
    return lines


def check_preset_name(name: str) -> str:
    """A new user preset's name (``mine``; a trailing ``.yaml`` is dropped).

    Raises:
        PresetError: not a plain name (a path, empty, or other characters).
    """
    stem = name[:-5] if name.endswith(".yaml") else name
    if not _NAME.fullmatch(stem):
        raise PresetError(f"a preset name is letters, digits, '_', '-' or '.', starting with a "
                          f"letter or digit (received {name!r})")
    return stem


def copy_preset(source: str, name: str, *, force: bool = False) -> Path:
    """Write a commented copy of preset ``source`` as the user preset ``name``.

    Args:
        source: a preset name (user presets first) or a YAML path.
        name: the new preset's name; the file is ``user_preset_dir() / f"{name}.yaml"``.
        force: overwrite a file already there.

    Returns:
        The path written.

    Raises:
        PresetError: ``source`` is unknown or bad, ``name`` is not a plain name,
            the file exists and ``force`` is False, or it cannot be written.
    """
    name = check_preset_name(name)
    source_path = preset_path(source)
    preset = load_preset(source_path)
    target = user_preset_dir() / f"{name}.yaml"
    if target.exists() and not force:
        raise PresetError(f"{target} exists: pass --force to overwrite it, or choose another name")
    header = [f"livegen preset {name!r}, copied from {preset.name!r} ({source_path}).",
              f"Use it with `livegen --preset {name}`: a user preset comes before a packaged one",
              "of the same name. Each key says what it does and its range; delete a key's line",
              "to take its default. A typo in a key is refused with the nearest known key."]
    text = commented_yaml(preset.replace(name=name), header)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except OSError as err:
        raise PresetError(f"{target}: cannot write the preset ({err.strerror or err})") from err
    return target


def key_docs() -> dict[str, str]:
    """Every preset key -> its meaning and range, one line, from the classes' docstrings."""
    docs: dict[str, str] = {}
    for cls in (Preset, *SECTIONS.values()):
        for key, text in _attributes(cls).items():
            if key in TOP_KEYS or key in FIELD_SECTION:
                docs[key] = _plain(text)
    return docs


def commented_yaml(preset: Preset, header: list[str]) -> str:
    """``preset`` as YAML text: every key after a comment with its meaning and range.

    The top-level keys come first, then each section under a heading comment.
    ``Preset.from_dict(yaml.safe_load(text)) == preset`` (``off`` is written
    bare where YAML 1.1 reads it as False and presets map it back).

    Args:
        preset: the preset whose values to write.
        header: comment lines for the top of the file, without ``#``.
    """
    docs, values = key_docs(), preset.to_dict()
    lines = [f"# {line}".rstrip() for line in header]
    groups = [("top level", "", TOP_KEYS)]
    groups += [(section, _summary(cls), tuple(k for k, s in FIELD_SECTION.items() if s == section))
               for section, cls in SECTIONS.items()]
    for title, summary, keys in groups:
        lines += ["", f"# --- {title}{': ' + summary if summary else ''} ---"]
        for key in keys:
            lines += _comment(f"{key}: {docs.get(key, '')}")
            lines.append(_yaml_line(key, values[key]))
    return "\n".join(lines) + "\n"


def _yaml_line(key: str, value: Any) -> str:
    """One ``key: value`` line; maps and lists in flow style (``cc_map: {74: temperature}``)."""
    if value is None and key in _BARE_OFF:
        return f"{key}: off"
    if isinstance(value, (dict, list)):
        flow = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10_000)
        return f"{key}: {flow.strip()}"
    line = yaml.safe_dump({key: value}, default_flow_style=False, allow_unicode=True,
                          width=10_000).strip()
    if key in _BARE_OFF and line == f"{key}: '{value}'" and value in ("off", "none"):
        return f"{key}: {value}"
    return line


def _comment(text: str) -> list[str]:
    return textwrap.wrap(text, COMMENT_WIDTH, initial_indent="# ", subsequent_indent="#   ",
                         break_on_hyphens=False) or ["#"]


def _attributes(cls: type) -> dict[str, str]:
    """The ``Attributes:`` block of a Google-style class docstring: name -> text, joined."""
    found: dict[str, str] = {}
    inside, current = False, None
    for line in inspect.cleandoc(cls.__doc__ or "").splitlines():
        if line.strip() == "Attributes:":
            inside = True
        elif inside and line and not line.startswith(" "):
            break  # the next block (Raises:)
        elif inside and (match := re.match(r" {4}(\w+): (.*)", line)):
            current = match[1]
            found[current] = match[2]
        elif inside and current and line.startswith(" " * 8):
            found[current] += " " + line.strip()
    return found


def _summary(cls: type) -> str:
    """A section class's first docstring line, without its "the ``x`` section" tail."""
    first = _plain(inspect.cleandoc(cls.__doc__ or "").splitlines()[0])
    first = re.sub(r":? the \w+ section of a preset\.?$", "", first).rstrip(".")
    return first[:1].lower() + first[1:]


def _plain(text: str) -> str:
    """reStructuredText roles and literals as plain text; ``:data:`NAME``` as its value."""
    def data(match: re.Match) -> str:
        value = getattr(sections, match[1].rsplit(".", 1)[-1], None)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return f"{value:g}"
        if isinstance(value, (tuple, dict)) and all(isinstance(v, str) for v in value):
            return ", ".join(value)
        return match[1].rsplit(".", 1)[-1]

    text = re.sub(r":data:`~?([\w.]+)`", data, text)
    text = re.sub(r":\w+:`~?([\w.]+)(\(\))?`", lambda m: m[1].rsplit(".", 1)[-1], text)
    return text.replace("``", "")
