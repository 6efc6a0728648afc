"""The sections of a preset, each a frozen dataclass whose fields are checked once, here.

A :class:`livegen.presets.Preset` holds one of each:

==================  =======================  ==========================================
attribute           class                    read by
==================  =======================  ==========================================
``sampling``        :class:`SamplingConfig`  the sampler (:class:`livegen.sampling.Sampler`)
``triggering``      :class:`TriggerConfig`   the triggers, the controls (footswitch, key)
``timing``          :class:`TimingConfig`    the engine's clock, the triggers, the response
``answer``          :class:`AnswerConfig`    the generator, the response
``conditioning``    :class:`StyleConfig`     the generator (style, guidance)
``controls``        :class:`ControlConfig`   the controls, the engine (program changes)
==================  =======================  ==========================================

Each section checks its own fields in ``__post_init__`` (the only place they are checked,
against the limits defined here), so ``TimingConfig(swing=0.7)`` raises at once. Checks across
sections (``trigger: bars`` needs ``clock: midi``; the footswitch CC is no mapped control) are
:class:`livegen.presets.Preset`'s. The YAML keys are the field names, unchanged; the sections
exist in code only. This module imports no numpy, so ``livegen presets`` stays quick.
"""

from __future__ import annotations

from dataclasses import dataclass

from livegen.checks import as_names, as_pairs, is_control, is_int, is_number, normalize, require
from livegen.grid import DIVISIONS
from livegen.midi import CC_LAST_CONTROL, CC_SUSTAIN, DATA_MAX
from livegen.repetition import MAX_REPETITION_COUNT, MAX_REPETITION_NGRAM, MAX_REPETITION_WINDOW

__all__ = ["SamplingConfig", "TriggerConfig", "TimingConfig", "AnswerConfig", "StyleConfig", "ControlConfig",
           "TRIGGERS", "CLOCKS", "QUANTIZE_STARTS", "QUANTIZE_VALUES", "CC_TARGETS",
           "KEY_MASKS", "ANSWER_LENGTHS", "MAX_TEMPERATURE", "MAX_PENALTY_LOGITS", "MAX_DURATION_S",
           "MAX_SILENCE_S", "MAX_BARS", "MAX_CHORD_NOTES", "MAX_STYLE_GUIDANCE", "MAX_DENSITY_LIMIT"]

TRIGGERS = ("silence", "bars", "continuous", "cc", "note")
CLOCKS = ("none", "midi")
QUANTIZE_STARTS = ("off", "beat", "bar")
QUANTIZE_VALUES = ("off", *DIVISIONS)
CC_TARGETS = ("temperature", "response_length", "follow", "enabled")
KEY_MASKS = ("off", "soft", "strict", "palette")
ANSWER_LENGTHS = ("fixed", "match")
CHORD_VOICES, ARTICULATIONS = ("top", "middle"), ("model", "legato", "player")  # AnswerConfig fields
KIND_FOLLOWS = ("follow_pitch", "follow_duration", "follow_velocity")  # StyleConfig: follow per token kind
DURATION_FEEDBACKS = ("played", "own")  # StyleConfig.duration_feedback
MAX_TEMPERATURE = 5.0  #: Highest temperature: at 5 the softmax of logits ~10 units apart is near uniform.
MAX_PENALTY_LOGITS = 20.0  #: Largest logit penalty a preset may set: e**-20 is ~2e-9, already a mask.
MAX_DURATION_S = 30.0  #: Longest note a preset may allow, seconds (the longest duration bin is 4 s).
MAX_SILENCE_S = 30.0  #: Longest silence threshold, seconds.
MAX_BARS = 64  #: Most bars a response or the ``bars`` trigger may count.
MAX_BEATS_PER_BAR = 16  #: Most quarter notes in a bar.
MAX_CHORD_NOTES = 32  #: Most notes ``max_chord`` allows in one chord.
MAX_DENSITY_LIMIT = 4.0  #: Largest ``density_limit``: 4x the player's notes/s no longer keeps their pace.
MAX_STYLE_GUIDANCE = 4.0  #: Largest ``style_guidance``: beyond it the logits leave what the model learned.
_BOOL = "true or false"


@dataclass(frozen=True)
class SamplingConfig:
    """How the sampler draws each token: the ``sampling`` section of a preset.

    Attributes:
        temperature: softmax temperature, in (0, :data:`MAX_TEMPERATURE`] (1 = the
            model's own distribution, lower = more conservative).
        top_p: nucleus mass in (0, 1]; 1 disables the nucleus cut.
        pitch_low: lowest MIDI pitch a PITCH token may take, 0-127.
        pitch_high: highest MIDI pitch a PITCH token may take, pitch_low-127.
        max_duration_s: DUR tokens whose bin is longer are never drawn, seconds in
            (0, :data:`MAX_DURATION_S`]; if even the shortest bin (10 ms) is longer,
            only the shortest bin is allowed; 4 (the longest bin) limits nothing.
        repetition_penalty: logits, after the temperature, subtracted from a pitch
            that would complete an interval pattern of ``repetition_ngram`` notes
            used ``repetition_max`` times in the last ``repetition_window``
            remembered notes, and as much again for each further use: its odds against
            the other pitches fall by ``exp(-repetition_penalty * (uses - repetition_max + 1))``.
            0-:data:`MAX_PENALTY_LOGITS`; 0 turns the guard off (draws are then
            exactly as without it). See :mod:`livegen.repetition`.
        repetition_ngram: notes per pattern, 2-16 (4: three intervals).
        repetition_window: notes remembered, repetition_ngram-512.
        repetition_max: uses of a pattern that go unpenalised, 1-64.
        key_mask: ``off``; ``soft``: out-of-key pitches lose ``key_penalty`` logits
            (after the temperature); ``strict``: they are never drawn, unless that
            would leave no pitch to draw (then the mask is ignored for that draw).
            No context, or one whose best key correlation is below
            :data:`livegen.keys.KEY_MIN_CORRELATION`, masks nothing. ``palette``:
            no key template; each pitch gets ``key_penalty`` times the log of its
            pitch class's share of the context (duration weighted, the commonest
            class = 1, floored at :data:`livegen.sampling.PALETTE_FLOOR`), so the answer keeps
            the prompt's own tonal palette, modal or chromatic alike.
        key_penalty: logits for ``soft``, the weight for ``palette``, 0-:data:`MAX_PENALTY_LOGITS`.
        register_window: semitones, 0-48; 0 = off. A pitch more than this below the
            lowest or above the highest of the performer's context notes loses
            :data:`livegen.sampling.REGISTER_SLOPE` logits (after the temperature) per
            semitone beyond, so a bass line is answered low and a melody high.

    Raises:
        PresetError: a field is out of its range or of the wrong type; the message names the
            field and the value received. (A ValueError.) An int for a float field is stored as a float.
    """

    temperature: float = 0.9
    top_p: float = 0.95
    pitch_low: int = 21
    pitch_high: int = 108
    max_duration_s: float = 4.0
    repetition_penalty: float = 0.0
    repetition_ngram: int = 4
    repetition_window: int = 32
    repetition_max: int = 2
    key_mask: str = "off"
    key_penalty: float = 1.0
    register_window: int = 0

    def __post_init__(self) -> None:
        normalize(self)
        require(self, [
            ("temperature", is_number(self.temperature) and 0 < self.temperature <= MAX_TEMPERATURE,
             f"in (0, {MAX_TEMPERATURE:g}]"),
            ("top_p", is_number(self.top_p) and 0 < self.top_p <= 1, "in (0, 1]"),
            ("pitch_low", is_int(self.pitch_low) and 0 <= self.pitch_low <= DATA_MAX,
             f"an integer 0-{DATA_MAX}"),
            ("pitch_high", is_int(self.pitch_high) and is_int(self.pitch_low)
             and self.pitch_low <= self.pitch_high <= DATA_MAX, f"an integer pitch_low-{DATA_MAX}"),
            ("max_duration_s", is_number(self.max_duration_s) and 0 < self.max_duration_s <= MAX_DURATION_S,
             f"in (0, {MAX_DURATION_S:g}] seconds"),
            ("repetition_penalty", is_number(self.repetition_penalty) and 0 <= self.repetition_penalty
             <= MAX_PENALTY_LOGITS, f"in [0, {MAX_PENALTY_LOGITS:g}] logits (0: off)"),
            ("repetition_ngram", is_int(self.repetition_ngram) and 2 <= self.repetition_ngram
             <= MAX_REPETITION_NGRAM, f"an integer 2-{MAX_REPETITION_NGRAM} notes"),
            ("repetition_window", is_int(self.repetition_window) and is_int(self.repetition_ngram)
             and self.repetition_ngram <= self.repetition_window <= MAX_REPETITION_WINDOW,
             f"an integer repetition_ngram-{MAX_REPETITION_WINDOW} notes"),
            ("repetition_max", is_int(self.repetition_max)
             and 1 <= self.repetition_max <= MAX_REPETITION_COUNT, f"an integer 1-{MAX_REPETITION_COUNT}"),
            ("key_mask", self.key_mask in KEY_MASKS, f"one of {', '.join(KEY_MASKS)}"),
            ("key_penalty", is_number(self.key_penalty) and 0 <= self.key_penalty <= MAX_PENALTY_LOGITS,
             f"in [0, {MAX_PENALTY_LOGITS:g}] logits"),
            ("register_window", is_int(self.register_window) and 0 <= self.register_window <= 48,
             "an integer 0-48 semitones (0: off)"),
        ])


@dataclass(frozen=True)
class TriggerConfig:
    """What starts an answer: the ``triggering`` section of a preset.

    Attributes:
        trigger: ``silence`` (call and response), ``bars`` (every ``trigger_bars``
            bars of the MIDI clock; needs ``clock: midi``), ``continuous`` (plays
            alongside), ``cc`` (a footswitch, ``trigger_cc``) or ``note`` (the key
            ``trigger_note``).
        silence_s: performer silence that triggers an answer, seconds in (0, 30].
        trigger_bars: the ``bars`` trigger fires every this many bars, 1-64.
        trigger_cc: the ``cc`` trigger's controller, 0-119 but not 64 (fires on press, >= 64).
        trigger_note: the ``note`` trigger's key, 0-127 (never played into the buffer).
        silence_adaptive: the silence threshold follows the performer's note spacing
            (twice the median inter-onset interval) within ``silence_min_s``-``silence_max_s``.
        silence_min_s: lowest adaptive silence threshold, seconds in (0, 30].
        silence_max_s: highest adaptive silence threshold, silence_min_s-30 seconds.

    Raises:
        PresetError: a field out of its range; the message names it and the value received.
    """

    trigger: str = "silence"
    silence_s: float = 0.6
    trigger_bars: int = 4
    trigger_cc: int = 67
    trigger_note: int = 21
    silence_adaptive: bool = False
    silence_min_s: float = 0.25
    silence_max_s: float = 2.0

    def __post_init__(self) -> None:
        normalize(self)
        seconds = f"in (0, {MAX_SILENCE_S:g}] seconds"
        require(self, [
            ("trigger", self.trigger in TRIGGERS, f"one of {', '.join(TRIGGERS)}"),
            ("silence_s", is_number(self.silence_s) and 0 < self.silence_s <= MAX_SILENCE_S, seconds),
            ("trigger_bars", is_int(self.trigger_bars) and 1 <= self.trigger_bars <= MAX_BARS,
             f"an integer 1-{MAX_BARS}"),
            ("trigger_cc", is_control(self.trigger_cc),
             f"an integer 0-{CC_LAST_CONTROL} other than {CC_SUSTAIN} (the sustain pedal)"),
            ("trigger_note", is_int(self.trigger_note) and 0 <= self.trigger_note <= DATA_MAX,
             f"an integer 0-{DATA_MAX}"),
            ("silence_adaptive", isinstance(self.silence_adaptive, bool), _BOOL),
            ("silence_min_s", is_number(self.silence_min_s)
             and 0 < self.silence_min_s <= MAX_SILENCE_S, seconds),
            ("silence_max_s", is_number(self.silence_max_s) and is_number(self.silence_min_s)
             and self.silence_min_s <= self.silence_max_s <= MAX_SILENCE_S,
             f"in [silence_min_s, {MAX_SILENCE_S:g}] seconds"),
        ])


@dataclass(frozen=True)
class TimingConfig:
    """Where the answer sits in time: the ``timing`` section of a preset.

    Attributes:
        clock: ``none`` or ``midi`` (follow MIDI beat clock on the input port).
        beats_per_bar: quarter notes per bar, 1-16 (bars count from song position 0).
        quantize_start: the answer starts on the next ``beat``, ``bar``, or ``off`` (at once).
        quantize: note value onsets snap to (``1/16``...; see :data:`livegen.grid.DIVISIONS`)
            or ``off``.
        quantize_strength: how far onsets move to the grid, 0-1.
        swing: every second grid line is late by this fraction of a step, 0-0.5.
        response_bars: answer length in bars when a tempo is known, 0-64 (0: max_seconds).

    Raises:
        PresetError: a field out of its range; the message names it and the value received.
    """

    clock: str = "none"
    beats_per_bar: int = 4
    quantize_start: str = "off"
    quantize: str = "off"
    quantize_strength: float = 1.0
    swing: float = 0.0
    response_bars: int = 0

    def __post_init__(self) -> None:
        normalize(self)
        require(self, [
            ("clock", self.clock in CLOCKS, f"one of {', '.join(CLOCKS)}"),
            ("beats_per_bar", is_int(self.beats_per_bar)
             and 1 <= self.beats_per_bar <= MAX_BEATS_PER_BAR, f"an integer 1-{MAX_BEATS_PER_BAR}"),
            ("quantize_start", self.quantize_start in QUANTIZE_STARTS,
             f"one of {', '.join(QUANTIZE_STARTS)}"),
            ("quantize", self.quantize in QUANTIZE_VALUES, f"one of {', '.join(QUANTIZE_VALUES)}"),
            ("quantize_strength", is_number(self.quantize_strength)
             and 0 <= self.quantize_strength <= 1, "in [0, 1]"),
            ("swing", is_number(self.swing) and 0 <= self.swing <= 0.5, "in [0, 0.5]"),
            ("response_bars", is_int(self.response_bars) and 0 <= self.response_bars <= MAX_BARS,
             f"an integer 0-{MAX_BARS} (0: off)"),
        ])


@dataclass(frozen=True)
class AnswerConfig:
    """How long and in what shape the answer plays: the ``answer`` section of a preset.

    Attributes:
        max_notes: most notes in one answer, 1-10000.
        max_seconds: longest answer, seconds in (0, 3600].
        velocity_scale: multiplies generated velocities, in (0, 4] (result clipped 1-127).
        lookahead_s: how far generation runs ahead of playback, seconds in (0, 10].
        monophonic: play one note at a time, a single melodic line for a mono synth or a tune: no
            two answer notes start within 40 ms of each other, and each note ends by the next one's
            onset. ``auto``: so when the phrase answered is one line (:func:`livegen.phrases.plays_one_line`).
        chord_voice: which note of each of the player's chords a ``monophonic: true`` answer
            hears and carries on: ``top`` (the melody) or ``middle`` (the median note: the
            register the hands span) (:func:`livegen.phrases.voice_line`).
        max_chord: most answer notes in one chord (notes starting within 40 ms of
            its first note), 1-32; a full chord makes the next onset wait. 10: two hands.
        copy_guard: when the model ships a copy guard (:mod:`livegen.copyguard`), never complete
            a run of 13 notes copied from a training piece (at most 12 copied); false: it may quote.
        density_limit: 0 (none), or 1-:data:`MAX_DENSITY_LIMIT`: the answer's notes per second, from
            its first onset, at most this many times the player's (:class:`livegen.placement.DensityLimit`).
        answer_length: ``fixed`` (``response_bars`` or ``max_seconds``) or ``match``: as long as the phrase
            answered, in whole bars when a pulse is known, else seconds, at most ``max_seconds``.
        articulation: ``model`` (as drawn), ``legato`` (held through the gap to the next onset where the
            player's are) or ``player`` (also cut where theirs are detached); livegen.placement.Articulation.

    Raises:
        PresetError: a field out of its range; the message names it and the value received.
    """

    max_notes: int = 32
    max_seconds: float = 12.0
    velocity_scale: float = 1.0
    lookahead_s: float = 1.0
    monophonic: bool | str = False
    chord_voice: str = "top"
    max_chord: int = 10
    copy_guard: bool = True
    answer_length: str = "fixed"
    density_limit: float = 0.0
    articulation: str = "model"

    def __post_init__(self) -> None:
        normalize(self)
        require(self, [
            ("max_notes", is_int(self.max_notes) and 1 <= self.max_notes <= 10_000, "an integer 1-10000"),
            ("max_seconds", is_number(self.max_seconds) and 0 < self.max_seconds <= 3600,
             "in (0, 3600] seconds"),
            ("velocity_scale", is_number(self.velocity_scale) and 0 < self.velocity_scale <= 4, "in (0, 4]"),
            ("lookahead_s", is_number(self.lookahead_s) and 0 < self.lookahead_s <= 10, "in (0, 10] seconds"),
            ("monophonic", isinstance(self.monophonic, bool) or self.monophonic == "auto",
             "true, false or auto"),
            ("chord_voice", self.chord_voice in CHORD_VOICES, f"one of {', '.join(CHORD_VOICES)}"),
            ("max_chord", is_int(self.max_chord) and 1 <= self.max_chord <= MAX_CHORD_NOTES,
             f"an integer number of notes in [1, {MAX_CHORD_NOTES}]"),
            ("copy_guard", isinstance(self.copy_guard, bool), _BOOL),
            ("answer_length", self.answer_length in ANSWER_LENGTHS, f"one of {', '.join(ANSWER_LENGTHS)}"),
            ("articulation", self.articulation in ARTICULATIONS, f"one of {', '.join(ARTICULATIONS)}"),
            ("density_limit", is_number(self.density_limit) and (self.density_limit == 0 or 1 <= (
                self.density_limit) <= MAX_DENSITY_LIMIT), f"0 (no limit) or in [1, {MAX_DENSITY_LIMIT}]"),
        ])


@dataclass(frozen=True)
class StyleConfig:
    """Which style the model is asked for: the ``conditioning`` section of a preset.

    Attributes:
        style: the model style to condition on (one of the model's style names;
            the model checks the name when the preset is used).
        style_guidance: how far the style is pushed away from the model's average over
            all its styles, 0-4 (0 = off): each token's logits become
            ``l_style + style_guidance * (l_style - mean over styles of l)``, like
            classifier-free guidance (Ho & Salimans 2022) with the style mean as the
            unconditional model; costs one model step per style per token
            (see :class:`livegen.generation.Generator`).
        style_contrast: the styles style guidance pushes away from, instead of the
            mean over all styles, like a negative prompt: distinct names, none of them
            ``style`` (empty: all styles); a list or one name is stored as a tuple.
        guidance_register: ``style`` (guidance may move the register) or ``player`` (:mod:`livegen.guidance`).
        follow: how much the answer follows what the performer played this session,
            0-1: each token's distribution is ``(1 - follow) * log p_model + follow *
            log p_session`` (:mod:`livegen.follow`); 0 = the model alone.
        follow_pitch: ``follow`` for the PITCH tokens only (the answer's pitches), 0-1; None: ``follow``.
        follow_duration: ``follow`` for the DUR tokens only (note lengths), 0-1; None: ``follow``.
        follow_velocity: ``follow`` for the VEL tokens only (the player's dynamics), 0-1; None: ``follow``.
        duration_feedback: the note length the model hears after an answer note: ``played`` (drawn
            with ``follow_duration``) or ``own`` (a draw of its own, without ``follow``).

    Raises:
        PresetError: a field out of its range; the message names it and the value received.
    """

    style: str = "classical"
    style_guidance: float = 0.0
    style_contrast: tuple[str, ...] = ()
    guidance_register: str = "style"
    follow: float = 0.0
    follow_pitch: float | None = None
    follow_duration: float | None = None
    follow_velocity: float | None = None
    duration_feedback: str = "played"

    def __post_init__(self) -> None:
        normalize(self)
        for key in KIND_FOLLOWS:  # an int weight is stored as a float
            object.__setattr__(self, key, float(getattr(self, key)) if is_int(getattr(self, key))
                               else getattr(self, key))
        contrast = as_names(self.style_contrast)
        if contrast is not None:
            object.__setattr__(self, "style_contrast", contrast)
        require(self, [
            ("style", isinstance(self.style, str) and bool(self.style), "a style name"),
            ("style_guidance", is_number(self.style_guidance)
             and 0 <= self.style_guidance <= MAX_STYLE_GUIDANCE, f"in [0, {MAX_STYLE_GUIDANCE:g}] (0: off)"),
            ("style_contrast", contrast is not None and self.style not in contrast,
             "a list of other style names (empty: the mean over all styles)"),
            ("guidance_register", self.guidance_register in ("style", "player"), "style or player"),
            ("follow", is_number(self.follow) and 0 <= self.follow <= 1, "in [0, 1] (0: off)"),
            *((key, v is None or (is_number(v) and 0 <= v <= 1), "in [0, 1], or null (as follow)")
              for key, v in ((key, getattr(self, key)) for key in KIND_FOLLOWS)),
            ("duration_feedback", self.duration_feedback in DURATION_FEEDBACKS,
             f"one of {', '.join(DURATION_FEEDBACKS)}"),
        ])


@dataclass(frozen=True)
class ControlConfig:
    """Live control by MIDI: the ``controls`` section of a preset.

    Attributes:
        cc_map: ``{cc: target}`` live controls, CC 0-119 but not 64, targets
            :data:`CC_TARGETS`; stored as sorted ``(cc, target)`` pairs (a dict is accepted).
        program_map: ``{program: preset name or path}`` for program changes (0-127);
            stored as sorted pairs (a dict is accepted).
        panic_cc: a controller (0-119, not 64) whose press (value >= 64) silences an answer at
            once, as CC123/CC120 on the input always do; ``off`` (None, the default): none.

    Raises:
        PresetError: a bad map or entry, or ``panic_cc``; the message names it and the value.
    """

    cc_map: tuple[tuple[int, str], ...] = ()
    program_map: tuple[tuple[int, str], ...] = ()
    panic_cc: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "panic_cc", None if self.panic_cc == "off" else self.panic_cc)
        cc_map = as_pairs(self.cc_map, is_control, lambda v: v in CC_TARGETS)
        program_map = as_pairs(self.program_map, lambda p: is_int(p) and 0 <= p <= DATA_MAX,
                             lambda v: isinstance(v, str) and bool(v.strip()))
        for key, pairs in (("cc_map", cc_map), ("program_map", program_map)):
            if pairs is not None:
                object.__setattr__(self, key, pairs)
        require(self, [
            ("cc_map", cc_map is not None, f"a mapping of CC numbers 0-{CC_LAST_CONTROL} (not "
             f"{CC_SUSTAIN}) to {', '.join(CC_TARGETS)}"),
            ("program_map", program_map is not None,
             f"a mapping of program numbers 0-{DATA_MAX} to preset names or paths"),
            ("panic_cc", self.panic_cc is None or is_control(self.panic_cc),
             f"off or a controller 0-{CC_LAST_CONTROL} other than {CC_SUSTAIN}"),
        ])
