"""Follow the player: mix the session model into the network's distribution, token by token.

:class:`Follower` holds the :class:`~livegen.session.SessionModel` of what the
performer has played since livegen started, and the context of the token
stream (performer and answer alike). The generator tells it every token it
feeds the network (:meth:`Follower.observe`; only the performer's are
learnt) and asks it to mix each distribution it samples from
(:meth:`Follower.mix`)::

    logits' = (1 - follow) * log_softmax(logits) + follow * log p_session

over the token kind's slice: a weighted geometric mean of the two
distributions (``follow`` 0: the network alone; 1: the session model alone).
The weight may differ by token kind (:attr:`Follower.weights`; presets'
``follow_pitch``, ``follow_duration``, ``follow_velocity``): on out-of-corpus prompts
(docs/adherence.md) the style classifier still heard romantic and classical
answers whose onsets and pitches followed the player at 0.75 when their
durations (articulation, legato, pedal) were the network's alone.
This form was chosen by measurement: on out-of-corpus music
(``python -m livegen_train.conditional``, 92 prompts of openttd-openmsx,
classical style), the real continuation cost 14.0 bits per note under the
network, 7.1 under the session model, 6.3 under this mix at ``follow`` 0.5,
and 7.4 under the product ``log p_net + 0.5 log p_session``; on music never
tuned on (simutrans-data) 14.6, 9.7 and 8.3.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from livegen.session import KIND_SLICES, SessionContext, SessionModel
from livegen.tokens import Kind

__all__ = ["Follower"]


class Follower:
    """The session model, its context and the weights it is mixed with.

    Args:
        follow: the session model's weight, 0-1 (0: not consulted, no cost), for
            every token kind not in ``kinds``.
        model: the session model to learn into (default: a new one); the
            engine keeps one for the whole session.
        kinds: ``{Kind: weight 0-1}``, a token kind's own weight instead of ``follow``.

    Attributes:
        weights: ``{Kind: weight}`` for SHIFT, PITCH, VEL and DUR (:meth:`set_weights`).
    """

    def __init__(self, follow: float = 0.0, model: SessionModel | None = None,
                 kinds: Mapping[int, float] | None = None) -> None:
        self.weights: dict[int, float] = {}
        self.set_weights(follow, kinds)
        self.model = model if model is not None else SessionModel()
        self.context: SessionContext = self.model.new_context()

    def set_weights(self, follow: float, kinds: Mapping[int, float] | None = None) -> None:
        """Mix the session model in at ``follow``, or at ``kinds[kind]`` for the kinds given."""
        kinds = kinds or {}
        self.weights = {kind: float(kinds.get(kind, follow)) for kind in KIND_SLICES}

    @classmethod
    def weights_of(cls, conditioning) -> dict[str, Any]:  # noqa: ANN001 (a StyleConfig)
        """``{"follow", "kinds"}`` (:meth:`set_weights`' arguments) of a preset's ``conditioning``
        section: ``follow_pitch`` for PITCH, ``follow_duration`` for DUR, ``follow_velocity`` for VEL,
        where set (not None)."""
        kinds = {kind: getattr(conditioning, key) for kind, key in
                 ((Kind.PITCH, "follow_pitch"), (Kind.DUR, "follow_duration"), (Kind.VEL, "follow_velocity"))}
        return {"follow": conditioning.follow, "kinds": {k: v for k, v in kinds.items() if v is not None}}

    @property
    def follow(self) -> float:
        """The largest weight over the token kinds (0: the session model is never consulted)."""
        return max(self.weights.values())

    def observe(self, token: int, learn: bool) -> None:
        """A token the network was fed: a performer's (``learn``) or an answer's (context only)."""
        if learn:
            self.model.learn(self.context, token)
        else:
            self.context.push(token)

    def reset_context(self) -> None:
        """Forget the recent tokens (what was learnt stays)."""
        self.context = self.model.new_context()

    def snapshot(self) -> SessionContext:
        """A copy of the context, to :meth:`restore` after an answer."""
        return self.context.copy()

    def restore(self, context: SessionContext) -> None:
        """Return to a :meth:`snapshot` (it may be restored again)."""
        self.context = context.copy()

    def mix(self, logits: np.ndarray, kind: int) -> np.ndarray:
        """The logits to sample the next token of ``kind`` from.

        Args:
            logits: float32 [VOCAB_SIZE], the network's (not modified).
            kind: the :class:`livegen.tokens.Kind` of the next token.

        Returns:
            ``logits`` itself when the kind's weight is 0 or nothing was learnt yet;
            else float64 [VOCAB_SIZE], the mix over the kind's slice and -inf
            outside it (the grammar masks it anyway).
        """
        follow = self.weights[kind]
        if follow <= 0.0 or self.model.notes_learnt == 0:
            return logits
        run = KIND_SLICES[kind]
        own = self.model.kind_log_probs(kind, self.context)
        part = logits[run].astype(np.float64)
        part -= np.logaddexp.reduce(part)
        if follow < 1.0:
            mixed = (1.0 - follow) * part + follow * own
        else:
            with np.errstate(invalid="ignore"):  # 0 * -inf at follow 1: the mask below decides
                mixed = (1.0 - follow) * part + follow * own
        mixed[part == -math.inf] = -math.inf  # what the caller masked stays masked
        out = np.full(logits.shape, -math.inf)
        out[run] = mixed
        return out
