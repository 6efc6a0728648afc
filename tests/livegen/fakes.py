"""Test doubles: a clock you move by hand, a port that records, a tiny deterministic model."""

from __future__ import annotations

from collections.abc import Sequence

import mido
import numpy as np

from livegen.errors import ModelError
from livegen.model import State
from livegen.tokens import (
    DUR_OFFSET,
    DURATION_BINS_S,
    SHIFT_BINS_S,
    SHIFT_OFFSET,
    VOCAB_SIZE,
)

STYLES = ("classical", "romantic", "baroque", "modern", "folk")


class FakeClock:
    """A monotonic clock in seconds that only moves when told to; call it like time.monotonic."""

    def __init__(self, start_s: float = 100.0) -> None:
        self.t = start_s

    def __call__(self) -> float:
        return self.t

    def advance(self, dt_s: float) -> float:
        assert dt_s >= 0
        self.t += dt_s
        return self.t


class FakePort:
    """Collects sent messages (with the clock's time); can be told to fail."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self.clock = clock
        self.messages: list[mido.Message] = []
        self.times: list[float] = []
        self.fail = False

    def send(self, msg: mido.Message) -> None:
        if self.fail:
            raise OSError("port gone")
        self.messages.append(msg)
        self.times.append(self.clock() if self.clock is not None else 0.0)

    def of_type(self, kind: str) -> list[mido.Message]:
        return [m for m in self.messages if m.type == kind]

    def note_ons(self) -> list[mido.Message]:
        return [m for m in self.messages if m.type == "note_on" and m.velocity > 0]

    def controls(self, control: int) -> list[mido.Message]:
        return [m for m in self.messages if m.type == "control_change" and m.control == control]


def hanging_notes(messages: Sequence[mido.Message]) -> dict[tuple[int, int], int]:
    """Replay a message log; return the keys left sounding and assert no double voice.

    A note_off for a key not sounding is allowed (harmless) but never needed;
    a note_on for a key already sounding is a stuck double and fails.
    """
    sounding: dict[tuple[int, int], int] = {}
    for msg in messages:
        if msg.type == "note_on" and msg.velocity > 0:
            key = (msg.channel, msg.note)
            assert not sounding.get(key), f"double note_on without note_off: {msg}"
            sounding[key] = 1
        elif msg.type in ("note_on", "note_off"):
            sounding.pop((msg.channel, msg.note), None)
    return sounding


class FakeModel:
    """A small random tanh RNN with the :class:`livegen.model.Model` interface.

    Deterministic for a seed. Its logits carry a bias against long shifts and
    durations (``time_bias`` per second) so responses move at a musical pace;
    every kind of token gets varied probabilities.

    Args:
        seed: seed of the random weights.
        hidden: state size.
        time_bias: logit penalty per second of a SHIFT or DUR bin.
        fail_at_step: raise RuntimeError from this step on (1-based), if given.
    """

    def __init__(self, seed: int = 0, *, hidden: int = 16, time_bias: float = 3.0,
                 styles: Sequence[str] = STYLES, fail_at_step: int | None = None) -> None:
        rng = np.random.default_rng(seed)
        self.styles = tuple(styles)
        self.layers = 1
        self.hidden = hidden
        self._embed = rng.normal(0.0, 1.0, (VOCAB_SIZE, hidden))
        self._style = rng.normal(0.0, 0.5, (len(self.styles), hidden))
        self._rec = rng.normal(0.0, 1.0 / np.sqrt(hidden), (hidden, hidden))
        self._out = rng.normal(0.0, 1.0, (hidden, VOCAB_SIZE))
        bias = np.zeros(VOCAB_SIZE)
        bias[SHIFT_OFFSET:SHIFT_OFFSET + len(SHIFT_BINS_S)] = -time_bias * SHIFT_BINS_S
        bias[DUR_OFFSET:DUR_OFFSET + len(DURATION_BINS_S)] = -time_bias * DURATION_BINS_S
        self._bias = bias
        self.fail_at_step = fail_at_step
        self.steps = 0
        self.tokens: list[int] = []

    @property
    def vocab_size(self) -> int:
        return VOCAB_SIZE

    def style_id(self, style: str) -> int:
        try:
            return self.styles.index(style)
        except ValueError:
            raise ModelError(f"fake: no style {style!r} (the model has: "
                             f"{', '.join(self.styles)})") from None

    def initial_state(self) -> State:
        shape = (self.layers, 1, self.hidden)
        return State(np.zeros(shape, np.float32), np.zeros(shape, np.float32))

    def step(self, token: int, state: State, style: int) -> tuple[np.ndarray, State]:
        self.steps += 1
        if self.fail_at_step is not None and self.steps >= self.fail_at_step:
            raise RuntimeError("fake model failure")
        assert 0 <= token < VOCAB_SIZE
        self.tokens.append(int(token))
        h = np.tanh(state.h[0, 0] @ self._rec + self._embed[token] + self._style[style])
        logits = (h @ self._out + self._bias).astype(np.float32)
        h = h.astype(np.float32).reshape(1, 1, -1)
        return logits, State(h, state.c.copy())
