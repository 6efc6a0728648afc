"""The PyTorch model: a stateful LSTM over event tokens, conditioned on style.

Style conditioning: a learned style embedding is concatenated to every token
embedding, so one model learns what the styles share (romantic has too few
pieces to learn alone) while the style steers the distribution.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from livegen import tokens as tk

__all__ = ["NetConfig", "EventLSTM", "StepModule", "grammar_mask", "config_from_dict", "network_from_config",
           "state_shape"]


@dataclass(frozen=True)
class NetConfig:
    """Shape of the network.

    Attributes:
        vocab_size: token ids (== livegen.tokens.VOCAB_SIZE).
        n_styles: number of styles.
        embed: token embedding width.
        style_embed: style embedding width.
        hidden: LSTM hidden size.
        layers: LSTM layers.
        dropout: dropout between LSTM layers and before the output (training only).
    """

    vocab_size: int = tk.VOCAB_SIZE
    n_styles: int = 6
    embed: int = 128
    style_embed: int = 32
    hidden: int = 256
    layers: int = 2
    dropout: float = 0.1

    @property
    def state_hidden(self) -> int:
        """Width of the contract's ``h``/``c`` (the model metadata's ``hidden``)."""
        return self.hidden

    def to_dict(self) -> dict:
        return asdict(self)


def grammar_mask() -> torch.Tensor:
    """Additive mask [VOCAB_SIZE, VOCAB_SIZE]: row = current token, 0 where the next token's
    kind is allowed by the note grammar, -inf elsewhere."""
    kinds = torch.tensor([tk.token_kind(t) for t in range(tk.VOCAB_SIZE)])
    allowed_next = torch.tensor([tk.next_kind(t) for t in range(tk.VOCAB_SIZE)])
    ok = allowed_next[:, None] == kinds[None, :]
    return torch.where(ok, 0.0, float("-inf"))


class EventLSTM(nn.Module):
    """Embeddings -> LSTM -> logits.

    ``forward(tokens [B, T] int64, style [B] int64, state=None)`` returns
    ``(logits [B, T, V] float32, (h, c))`` with h, c [layers, B, hidden].
    """

    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        self.config = config
        self.token_embed = nn.Embedding(config.vocab_size, config.embed)
        self.style_embed = nn.Embedding(config.n_styles, config.style_embed)
        self.lstm = nn.LSTM(config.embed + config.style_embed, config.hidden, config.layers,
                            batch_first=True, dropout=config.dropout if config.layers > 1 else 0.0)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, config.vocab_size)

    def forward(self, tokens: torch.Tensor, style: torch.Tensor,
                state: tuple[torch.Tensor, torch.Tensor] | None = None):
        x = self.token_embed(tokens)
        s = self.style_embed(style)[:, None, :].expand(-1, tokens.shape[1], -1)
        out, state = self.lstm(torch.cat([x, s], dim=-1), state)
        return self.head(self.drop(out)), state

    def step_graph(self) -> StepModule:
        """The one-step graph that is exported (the model contract)."""
        return StepModule(self)


class StepModule(nn.Module):
    """One step with explicit state, the graph that is exported to ONNX.

    ``forward(token [B] int64, style [B] int64, h, c [layers, B, hidden] float32)``
    returns ``(logits [B, V], h_out, c_out)``.
    """

    def __init__(self, net: EventLSTM) -> None:
        super().__init__()
        self.net = net

    def forward(self, token: torch.Tensor, style: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        logits, (h_out, c_out) = self.net(token[:, None], style, (h, c))
        return logits[:, 0, :], h_out, c_out


def config_from_dict(config: dict):
    """The config a checkpoint's or model's ``config`` dict describes: a :class:`NetConfig`, or
    with ``kind: "transformer"`` a :class:`~livegen_train.transformer.TransformerConfig`.

    Raises:
        TypeError: a key the config class does not know.
    """
    if config.get("kind") == "transformer":
        from livegen_train.transformer import TransformerConfig

        return TransformerConfig(**config)
    return NetConfig(**config)


def network_from_config(config: dict) -> nn.Module:
    """The network (untrained) of :func:`config_from_dict`'s config.

    Raises:
        TypeError: a key the config class does not know.
    """
    config = config_from_dict(config)
    if isinstance(config, NetConfig):
        return EventLSTM(config)
    from livegen_train.transformer import EventTransformer

    return EventTransformer(config)


def state_shape(net: nn.Module) -> tuple[int, int]:
    """``(layers, hidden)`` of the contract's ``h`` and ``c`` ([layers, batch, hidden])."""
    return net.config.layers, net.config.state_hidden
