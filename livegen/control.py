"""Live control by MIDI: controllers mapped to preset settings, program changes to presets.

A preset's ``cc_map`` names what each controller (0-127 values) sets:

``temperature``
    0-127 maps linearly onto :data:`TEMPERATURE_RANGE`; takes effect from the
    next generated note, the response in progress carries on.
``response_length``
    with ``response_bars`` in use, 0-127 maps onto 1-16 bars; otherwise onto
    ``max_seconds`` of 1-30 s; takes effect from the next response.
``follow``
    0-127 maps linearly onto 0-1, how much the answer follows what the
    performer played (:mod:`livegen.follow`); takes effect from the next token.
``enabled``
    64-127 on, 0-63 off (a switch); off ends any response at once, with its
    note_offs, and no trigger fires until it is on again.

Panic: CC123 (all notes off) and CC120 (all sound off), on any channel, and a
press (64-127) of the preset's ``panic_cc`` silence livegen at once
(:meth:`Controls.is_panic`): the engine cancels everything scheduled, sends
each sounding note its note_off, then CC123 and CC120 on its channel, and
does not answer the phrase played so far.

A preset's ``program_map`` maps program numbers to preset names or YAML
paths; :func:`resolve_programs` loads them all when the engine is built
(validation at the boundary, never on the real-time path), so a program
change switches preset without any file access.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from livegen.errors import PresetError
from livegen.midi import CC_ALL_NOTES_OFF, CC_ALL_SOUND_OFF, DATA_MAX, SWITCH_ON_MIN
from livegen.presets import Preset, load_preset

__all__ = ["Controls", "apply_control", "resolve_programs", "TEMPERATURE_RANGE",
           "RESPONSE_BARS_RANGE", "RESPONSE_SECONDS_RANGE", "FOLLOW_RANGE", "check_programs", "one_model",
           "PANIC_CONTROLS"]

TEMPERATURE_RANGE = (0.1, 2.0)  # CC 0 -> 0.1, CC 127 -> 2.0
RESPONSE_BARS_RANGE = (1, 16)  # bars, when response_bars is in use
RESPONSE_SECONDS_RANGE = (1.0, 30.0)  # max_seconds otherwise
FOLLOW_RANGE = (0.0, 1.0)  # CC 0 -> the model alone, CC 127 -> the session model alone
#: The channel mode messages that silence livegen whatever their value (MIDI 1.0: both are 0).
PANIC_CONTROLS = (CC_ALL_NOTES_OFF, CC_ALL_SOUND_OFF)


def _scale(value: int, low: float, high: float) -> float:
    return low + (high - low) * min(max(value, 0), DATA_MAX) / DATA_MAX


def apply_control(preset: Preset, target: str, value: int) -> Preset:
    """The preset with ``target`` set from a controller value.

    Args:
        preset: the preset in use.
        target: ``temperature``, ``response_length`` or ``follow`` (``enabled`` is the
            engine's state).
        value: the controller value, 0-127.

    Returns:
        A new preset (the same one if nothing changes).

    Raises:
        ValueError: ``target`` is not ``temperature``, ``response_length`` or ``follow``.
    """
    if target == "temperature":
        changes = {"temperature": round(_scale(value, *TEMPERATURE_RANGE), 3)}
    elif target == "response_length" and preset.timing.response_bars > 0:
        changes = {"response_bars": round(_scale(value, *RESPONSE_BARS_RANGE))}
    elif target == "response_length":
        changes = {"max_seconds": round(_scale(value, *RESPONSE_SECONDS_RANGE), 2)}
    elif target == "follow":
        changes = {"follow": round(_scale(value, *FOLLOW_RANGE), 3)}
    else:
        raise ValueError(f"target must be temperature, response_length or follow "
                         f"(received {target!r})")
    if all(preset.value(key) == new for key, new in changes.items()):
        return preset
    return preset.replace(**changes)


def resolve_programs(preset: Preset, load=load_preset) -> dict[int, Preset]:
    """Load every preset ``preset.controls.program_map`` names.

    Args:
        preset: the preset whose ``program_map`` to resolve.
        load: loads a preset by name or path (:func:`livegen.presets.load_preset`).

    Returns:
        ``{program: preset}``; the presets' own ``program_map`` is not followed.

    Raises:
        PresetError: a name is unknown or a file is bad; the message names
            ``preset``, the program and the value.
    """
    programs: dict[int, Preset] = {}
    for program, name in preset.controls.program_map:
        try:
            programs[program] = load(name)
        except PresetError as err:
            raise PresetError(f"preset {preset.name!r}: program_map {program}: {name!r}: "
                              f"{err}") from err
    return programs


class Controls:
    """Live-control state: the program bank, the ``enabled`` switch, the footswitch trigger.

    Not thread-safe: the engine thread owns it.

    Args:
        programs: ``{program: preset}`` a program change switches to.

    Attributes:
        programs: the program bank.
        enabled: False while a ``cc_map`` ``enabled`` switch is off.
        requested: a hand-over (footswitch press or hand-over key) not yet served.
    """

    def __init__(self, programs: dict[int, Preset]) -> None:
        self.programs = programs
        self.enabled = True
        self.requested = False
        self._switch_down = False

    @staticmethod
    def is_handover_key(preset: Preset, pitch: int) -> bool:
        """Whether a note_on of ``pitch`` is the ``note`` trigger's key (not a performer note)."""
        return preset.triggering.trigger == "note" and pitch == preset.triggering.trigger_note

    @staticmethod
    def is_panic(preset: Preset, control: int, value: int) -> bool:
        """Whether a controller silences livegen: CC123 or CC120, or ``panic_cc`` at 64-127.

        Args:
            preset: the preset in use (its ``controls.panic_cc``).
            control: controller number 0-127 (any channel).
            value: its value 0-127.
        """
        return control in PANIC_CONTROLS or (control == preset.controls.panic_cc
                                             and value >= SWITCH_ON_MIN)

    def control_change(self, preset: Preset, control: int, value: int) -> tuple[str, Preset]:
        """Interpret a controller (not the sustain pedal) for ``preset``.

        A footswitch press is the value rising from below 64 to 64 or more;
        repeated "on" values (some pedals send several) count once.

        Returns:
            ``(action, preset)``: ``hand_over`` (the ``cc`` trigger's switch
            was pressed), ``disable`` (``enabled`` went off), ``live`` (the
            returned preset has a setting changed) or ``none``.
        """
        if preset.triggering.trigger == "cc" and control == preset.triggering.trigger_cc:
            down = value >= SWITCH_ON_MIN
            pressed, self._switch_down = down and not self._switch_down, down
            return ("hand_over" if pressed else "none"), preset
        target = dict(preset.controls.cc_map).get(control)
        if target == "enabled":
            was, self.enabled = self.enabled, value >= SWITCH_ON_MIN
            return ("disable" if was and not self.enabled else "none"), preset
        if target is not None:
            new = apply_control(preset, target, value)
            return ("live" if new is not preset else "none"), new
        return "none", preset


def one_model(model: Any) -> Callable[[Preset], Any]:
    """The models of a session that plays every preset with ``model`` (a step model),
    as :class:`livegen.model.ModelSet` gives them: the style of each preset checked."""
    def model_of(preset: Preset) -> Any:
        model.style_id(preset.conditioning.style)
        return model
    return model_of


def check_programs(preset: Preset, programs: dict[int, Preset] | None,
                   check: Callable[[Preset], object]) -> dict[int, Preset]:
    """``programs``, or :func:`resolve_programs` of ``preset``, each checked by ``check``.

    ``check`` is the engine's models (:class:`livegen.model.ModelSet`): it loads a
    program's model now, not at the program change, and checks its style.

    Raises:
        PresetError: see :func:`resolve_programs`.
        ModelError: ``check`` refuses a program (its model or its style).
    """
    programs = resolve_programs(preset) if programs is None else dict(programs)
    for program in programs.values():
        check(program)
    return programs
