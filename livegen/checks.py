"""Checks shared by the preset sections: one message format, one place.

Each preset section (:class:`livegen.sampling.SamplingConfig`, the classes of
:mod:`livegen.sections`) checks its own fields once, in ``__post_init__``,
with :func:`normalize` and :func:`require`; the message names the key and the
value received (``top_p must be in (0, 1] (received 1.5)``), and
:class:`livegen.presets.Preset` puts the preset's name and file in front.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Iterable
from typing import Any

from livegen.errors import PresetError
from livegen.midi import CC_LAST_CONTROL, CC_SUSTAIN

__all__ = ["is_number", "is_int", "is_control", "as_pairs", "as_names", "normalize", "require"]


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool, not NaN or ±inf)."""
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(value))


def is_int(value: Any) -> bool:
    """An integer (a numpy one too), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_control(value: Any) -> bool:
    """A controller number a preset may claim: 0-119 (not a mode message), not the sustain pedal."""
    return is_int(value) and 0 <= value <= CC_LAST_CONTROL and value != CC_SUSTAIN


def normalize(section: Any) -> None:
    """Store a frozen dataclass's numbers in their declared types, in place.

    An integer given for a ``float`` field (YAML reads ``swing: 0`` as an int)
    becomes a float; a numpy integer given for an ``int`` field becomes an
    int. Anything else is left for :func:`require` to judge.

    Args:
        section: a dataclass instance, inside its ``__post_init__`` (its
            annotations may be the types or their names).
    """
    for field in dataclasses.fields(section):
        value = getattr(section, field.name)
        if field.type in ("float", float) and is_int(value):
            object.__setattr__(section, field.name, float(value))
        elif field.type in ("int", int) and is_int(value) and type(value) is not int:
            object.__setattr__(section, field.name, int(value))


def require(section: Any, checks: Iterable[tuple[str, bool, str]]) -> None:
    """Raise on the first failed check.

    Args:
        section: the object whose fields are checked (for the value received).
        checks: ``(field name, ok, what it must be)`` triples, in field order.

    Raises:
        PresetError: a check failed: ``"<field> must be <what> (received <value>)"``.
    """
    for key, ok, expected in checks:
        if not ok:
            raise PresetError(f"{key} must be {expected} (received {getattr(section, key)!r})")


def as_pairs(value: Any, key_ok: Callable[[Any], bool],
             value_ok: Callable[[Any], bool]) -> tuple[tuple[Any, Any], ...] | None:
    """A mapping (or pairs) as sorted ``(key, value)`` pairs; None if not one or a pair is bad."""
    if isinstance(value, (str, bytes)):
        return None
    try:
        items = list(value.items()) if isinstance(value, dict) else [tuple(p) for p in value]
    except TypeError:
        return None
    if any(len(p) != 2 for p in items) or not all(key_ok(k) and value_ok(v) for k, v in items):
        return None
    if len({k for k, _ in items}) != len(items):
        return None
    return tuple(sorted(items))


def as_names(value: Any) -> tuple[str, ...] | None:
    """A list of distinct non-empty names (or one name) as a tuple; None if not one."""
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        return None
    if not all(isinstance(v, str) and v.strip() for v in value) or len(set(value)) != len(value):
        return None
    return tuple(value)
