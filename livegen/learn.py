"""MIDI learn: the next knob or pedal moved on the input becomes a live control in the user's preset.

``livegen learn --preset mine`` opens livegen's input (the virtual port
``livegen in``, or ``--in PORT``), waits for the next controller moved
(:func:`wait_for_control`), and writes the mapping into the user's preset
file (:func:`write_control`): ``cc_map`` for ``temperature``,
``response_length``, ``follow`` and ``enabled`` (:data:`livegen.sections.CC_TARGETS`),
``panic_cc`` for ``panic``. A packaged preset is first copied to the user's
folder under its own name (:func:`learn_file`), so the user's copy shadows it.

The file is edited as text, one line per key (``cc_map: {74: temperature}``),
so its comments and the other keys' lines stay as they were; only comments
inside a block-style ``cc_map`` mapping are lost. Should the edited text not
load as the intended preset (a file written as one flow mapping), the whole
file is written again by PyYAML, without its comments, and the result says so.
"""

from __future__ import annotations

import argparse
import queue
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from livegen import timebase
from livegen.errors import PresetError
from livegen.midi import CC_LAST_CONTROL, CC_SUSTAIN
from livegen.presets import Preset, load_preset, packaged_preset_dirs, preset_path, user_preset_dir
from livegen.sections import CC_TARGETS
from livegen.userpresets import copy_preset

__all__ = ["LEARN_TARGETS", "PANIC_TARGET", "Moved", "Learnt", "unlearnable", "wait_for_control",
           "learn_file", "write_control", "run_learn", "add_learn_arguments", "learn_doc",
           "LEARN_TIMEOUT_S", "EXIT_NOTHING_LEARNT"]

#: The ``panic`` target: the controller becomes the preset's ``panic_cc``.
PANIC_TARGET = "panic"
#: What a learnt controller may control: the ``cc_map`` targets and ``panic``.
LEARN_TARGETS = (*CC_TARGETS, PANIC_TARGET)
#: How long ``livegen learn`` waits for a controller by default, seconds.
LEARN_TIMEOUT_S = 60.0
#: ``livegen learn``'s exit status when no controller moved in time (nothing written).
EXIT_NOTHING_LEARNT = 1
_CONTROL_CHANGE = 0xB0
_STATUS_MASK = 0xF0


@dataclass(frozen=True)
class Moved:
    """A controller the performer moved.

    Attributes:
        control: controller number, 0-119 but not 64.
        value: its value, 0-127.
        channel: 0-15.
        stamp_s: when it arrived, seconds on the input's clock.
    """

    control: int
    value: int
    channel: int
    stamp_s: float


@dataclass(frozen=True)
class Learnt:
    """What :func:`write_control` wrote.

    Attributes:
        path: the preset file.
        preset: the preset the file now holds.
        comments_kept: False when the file had to be written again without its comments.
    """

    path: Path
    preset: Preset
    comments_kept: bool


def unlearnable(control: int) -> str | None:
    """Why a controller cannot be learnt (the sustain pedal, a channel mode message), or None."""
    if control == CC_SUSTAIN:
        return f"CC{control} is the sustain pedal, the performer's"
    if control > CC_LAST_CONTROL:
        return f"CC{control} is a channel mode message (120-127), not a controller"
    return None


def wait_for_control(messages: queue.Queue, timeout_s: float, *, say=lambda text: None) -> Moved | None:
    """The next learnable controller among ``messages``, or None after ``timeout_s``.

    Args:
        messages: ``(data, stamp_s)`` items, as an input port's handler puts them
            (``data``: the message's bytes).
        timeout_s: how long to wait in all, seconds.
        say: told, once per controller, why a moved controller is passed over.

    Returns:
        The first control change of a learnable controller (any channel).
    """
    told: set[int] = set()
    remaining_s = timeout_s
    while remaining_s > 0:
        started_s = timebase.now()
        try:
            data, stamp_s = messages.get(timeout=remaining_s)
        except queue.Empty:
            return None
        remaining_s -= timebase.now() - started_s
        data = list(data)
        if len(data) != 3 or data[0] & _STATUS_MASK != _CONTROL_CHANGE:
            continue  # notes, clock, program changes: not a knob or pedal
        why = unlearnable(data[1])
        if why is None:
            return Moved(data[1], data[2], data[0] & ~_STATUS_MASK, float(stamp_s))
        if data[1] not in told:
            told.add(data[1])
            say(f"{why}: move another knob or pedal")
    return None


def learn_file(name_or_path: str) -> tuple[Path, str | None]:
    """The file ``livegen learn --preset`` writes, and the packaged preset to copy there first.

    A user preset's name (or a path outside the packaged presets) is that
    file; a packaged preset's name or file is ``user_preset_dir() / NAME.yaml``,
    a copy of it made first (unless the user already has one of that name).

    Returns:
        ``(path, packaged preset name to copy first, or None)``.

    Raises:
        PresetError: an unknown name (with the nearest known one).
    """
    path = preset_path(name_or_path)
    if not _is_packaged(path):
        return path, None
    user = user_preset_dir() / f"{path.stem}.yaml"
    return user, (None if user.is_file() else path.stem)


def write_control(path: Path, control: int, target: str, *, copy_from: str | None = None) -> Learnt:
    """Map ``control`` to ``target`` in the preset file ``path``, keeping its comments.

    ``target`` takes the controller from any other use in ``cc_map`` or
    ``panic_cc``; a ``cc_map`` target another controller had moves to this one.

    Args:
        path: the user's preset file.
        control: controller number, 0-119 but not 64.
        target: one of :data:`LEARN_TARGETS`.
        copy_from: a packaged preset to copy to ``path`` first (a commented copy).

    Returns:
        What was written.

    Raises:
        PresetError: a target not in :data:`LEARN_TARGETS`, a controller that
            cannot be learnt, a preset the mapping makes invalid (the footswitch
            ``trigger_cc``, say), or a file that cannot be read or written.
    """
    if target not in LEARN_TARGETS:
        raise PresetError(f"a learnt control must be one of {', '.join(LEARN_TARGETS)} (received {target!r})")
    why = unlearnable(control)
    if why is not None:
        raise PresetError(f"cannot learn {why}")
    before = load_preset(path) if copy_from is None else load_preset(copy_from).replace(name=path.stem)
    cc_map = {cc: t for cc, t in before.controls.cc_map if cc != control and t != target}
    panic_cc = before.controls.panic_cc
    if target == PANIC_TARGET:
        panic_cc = control
    else:
        cc_map[control] = target
        panic_cc = None if panic_cc == control else panic_cc
    changes = {"cc_map": dict(sorted(cc_map.items())), "panic_cc": panic_cc}
    wanted = before.replace(cc_map=changes["cc_map"], panic_cc="off" if panic_cc is None else panic_cc)
    if copy_from is not None:
        path = copy_preset(copy_from, path.stem)
    text = path.read_text(encoding="utf-8")
    edited = text
    for key, value in changes.items():
        if key == "cc_map" or value != before.controls.panic_cc:  # a panic_cc line only if it changes
            edited = _set_line(edited, key, value)
    kept = _loads_as(edited, path, wanted)
    if not kept:  # not a file of top-level lines (one flow mapping?): PyYAML writes it again
        data = yaml.safe_load(text)
        edited = yaml.safe_dump({**(data if isinstance(data, dict) else {}), **changes}, sort_keys=False)
        if not _loads_as(edited, path, wanted):
            raise PresetError(f"{path}: cannot write the learnt control into this file")
    try:
        path.write_text(edited, encoding="utf-8")
    except OSError as err:
        raise PresetError(f"{path}: cannot write the preset ({err.strerror or err})") from err
    return Learnt(path, load_preset(path), kept)


def _is_packaged(path: Path) -> bool:
    return any(path.resolve().parent == d.resolve() for d in packaged_preset_dirs())


def _set_line(text: str, key: str, value: Any) -> str:
    """``text`` with the top-level ``key:`` line (and its indented block) set to ``value``, flow style."""
    if value is None:
        line = f"{key}: off"
    else:
        line = f"{key}: " + yaml.safe_dump(value, default_flow_style=True, width=10_000).strip()
        line = line.removesuffix("\n...").strip()
    lines = text.splitlines()
    start = next((i for i, s in enumerate(lines) if re.match(rf"{re.escape(key)}\s*:", s)), None)
    if start is None:
        return text.rstrip("\n") + f"\n{line}\n"
    end = start + 1
    while end < len(lines) and (lines[end].startswith((" ", "\t")) or not lines[end].strip()):
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1  # blank lines after the block stay
    return "\n".join([*lines[:start], line, *lines[end:]]) + "\n"


def _loads_as(text: str, path: Path, wanted: Preset) -> bool:
    """Whether ``text`` loads as ``wanted`` (the edit kept the file's meaning)."""
    try:
        data = yaml.safe_load(text)
        return Preset.from_dict(data, source=str(path)) == wanted
    except (yaml.YAMLError, PresetError, TypeError):
        return False


def learn_doc() -> str:
    """``livegen learn --help``'s description."""
    return ("Open livegen's input, wait for the next controller you move, and write it into your "
            "preset: a packaged preset is copied to your folder first, and the file's comments are "
            "kept. Stop a running livegen first, or listen to your keyboard's port with --in.")


def add_learn_arguments(parser: argparse.ArgumentParser, default_preset: str) -> None:
    """The options of ``livegen learn``."""
    from livegen.ports import BACKENDS, CLIENT_NAME

    parser.add_argument("--preset", default=default_preset, metavar="NAME|PATH",
                        help=f"the preset to write into (default {default_preset})")
    parser.add_argument("--target", choices=LEARN_TARGETS,
                        help="what the control sets (default: asked once you move it); "
                             "panic: the preset's panic_cc")
    parser.add_argument("--backend", choices=BACKENDS, default="auto")
    parser.add_argument("--in", dest="in_port", metavar="PORT",
                        help="listen to this existing port instead of the virtual port `livegen in`")
    parser.add_argument("--client-name", default=CLIENT_NAME, metavar="NAME",
                        help=f"the MIDI client name others see (default {CLIENT_NAME})")
    parser.add_argument("--timeout", type=float, default=LEARN_TIMEOUT_S, metavar="SECONDS",
                        help=f"give up after this long, nothing written (default {LEARN_TIMEOUT_S:g})")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def run_learn(args: argparse.Namespace, *, say: Callable[[str], None],
              ask: Callable[[str], str] | None, warn: Callable[[str], None]) -> int:
    """``livegen learn``: open the input, wait for a controller, write it into the preset.

    Args:
        args: :func:`add_learn_arguments`'s options.
        say: prints a line for the user.
        ask: asks a question and returns the answer; None when no one is there to ask.
        warn: prints a line on stderr.

    Returns:
        0 when a mapping was written, :data:`EXIT_NOTHING_LEARNT` on a timeout.

    Raises:
        PresetError: an unknown preset, no ``--target`` and no one to ask, or a
            mapping the preset refuses (see :func:`write_control`).
        BackendError: no MIDI backend, or another livegen holds ``livegen in``.
        PortNotFoundError: ``--in`` names no port.
    """
    from livegen import ports, serve

    path, copy_from = learn_file(args.preset)  # an unknown preset is refused before the port opens
    target = args.target
    if target is None and ask is None:
        raise PresetError(f"say what the control sets with --target ({', '.join(LEARN_TARGETS)})")
    backend = ports.resolve_backend(args.backend)
    if args.in_port is None:
        serve.check_alone(backend, args.client_name)
    messages: queue.SimpleQueue = queue.SimpleQueue()
    with ports.open_input(backend, args.in_port, client_name=args.client_name,
                          handler=lambda data, stamp_s: messages.put((data, stamp_s))) as port:
        say(f"move a knob or pedal on {port.name} (within {args.timeout:g} s)")
        moved = wait_for_control(messages, args.timeout, say=say)
    if moved is None:
        warn(f"no controller moved within {args.timeout:g} s; nothing written")
        return EXIT_NOTHING_LEARNT
    say(f"CC{moved.control} (channel {moved.channel + 1}, value {moved.value})")
    while target not in LEARN_TARGETS:
        target = ask(f"what does CC{moved.control} set? {' / '.join(LEARN_TARGETS)}: ").strip()
    done = write_control(path, moved.control, target, copy_from=copy_from)
    copied = f" (a copy of the packaged {copy_from})" if copy_from else ""
    kept = "" if done.comments_kept else "; the file's comments could not be kept"
    say(f"CC{moved.control} -> {target} in {done.path}{copied}{kept}; "
        f"use it: livegen --preset {done.path.stem}")
    return 0
