"""A decoder-only Transformer over event tokens, with a KV cache that fits the model contract.

Issue 13's "model that copies in context": attention can look back at the
player's own motifs, where the LSTM's state gains 0.01 bits over a stateless
window (docs/adherence.md). Rotary positions (RoPE; Su et al. 2021,
"RoFormer", arXiv:2104.09864) make attention depend only on the distance
between two tokens, so a ring of the last ``context`` tokens can be kept
without absolute positions.

The step graph keeps the livegen model contract (``token``, ``style``,
``h``, ``c`` -> ``logits``, ``h_out``, ``c_out``; livegen/model.py), so the
runtime loads it like the LSTM: the cache travels in ``h`` and ``c``.
``h`` is float32 [layers, batch, context * (d_model + 1)], viewed as
[layers, batch, context, d_model + 1]: each slot's key (before rotation) and,
last, 1.0 where the slot holds a token (0.0 while the ring is filling).
``c`` has the same shape and holds each slot's value (its last column is
unused). Each step shifts the ring by one slot and writes the new token's key
and value into the last slot; its position is ``context - 1`` and slot ``i``'s
is ``i``, the distances seen in training (windows of ``context`` tokens).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn
from torch.nn import functional as F

from livegen import tokens as tk

__all__ = ["TransformerConfig", "EventTransformer", "TransformerStep"]


@dataclass(frozen=True)
class TransformerConfig:
    """Shape of the Transformer.

    Attributes:
        vocab_size: token ids (== livegen.tokens.VOCAB_SIZE).
        n_styles: number of styles (a learned style embedding is added to every token's).
        d_model: width of the residual stream.
        heads: attention heads (``d_model`` must divide by it; head width even, for RoPE).
        layers: Transformer blocks (pre-LayerNorm).
        ff: feed-forward width.
        context: tokens the step graph's ring keeps (training windows are this long).
        dropout: dropout on attention output and feed-forward (training only).
        kind: ``"transformer"`` (the LSTM's :class:`~livegen_train.network.NetConfig` has none).
    """

    vocab_size: int = tk.VOCAB_SIZE
    n_styles: int = 6
    d_model: int = 128
    heads: int = 4
    layers: int = 4
    ff: int = 512
    context: int = 256
    dropout: float = 0.1
    kind: str = "transformer"

    def __post_init__(self) -> None:
        if self.d_model % self.heads or (self.d_model // self.heads) % 2:
            raise ValueError(f"d_model {self.d_model} must divide into {self.heads} heads of even width")

    @property
    def state_hidden(self) -> int:
        """Width of the contract's ``h``/``c`` (the model metadata's ``hidden``)."""
        return self.context * (self.d_model + 1)

    def to_dict(self) -> dict:
        return asdict(self)


def rope_tables(head_dim: int, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin [len(positions), head_dim] for rotary positions (base 10000, RoFormer)."""
    inv = 1.0 / (10000.0 ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    angles = positions.float()[:, None] * inv[None, :]
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotary position on the last axis (halves rotated against each other)."""
    half = x.shape[-1] // 2
    turned = torch.cat([-x[..., half:], x[..., :half]], dim=-1)
    return x * cos + turned * sin


class Block(nn.Module):
    """Pre-LayerNorm block: x + attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        d = config.d_model
        self.heads, self.head_dim = config.heads, d // config.heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, config.ff), nn.GELU(), nn.Linear(config.ff, d))
        self.drop = nn.Dropout(config.dropout)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        """[B, T, d] -> [B, heads, T, head_dim]."""
        return x.view(x.shape[0], x.shape[1], self.heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                band: torch.Tensor | None = None) -> torch.Tensor:
        q, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        q, k, v = rotate(self.split(q), cos, sin), rotate(self.split(k), cos, sin), self.split(v)
        if band is None:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=band)
        out = out.transpose(1, 2).reshape(x.shape)
        x = x + self.drop(self.proj(out))
        return x + self.drop(self.mlp(self.ln2(x)))


class EventTransformer(nn.Module):
    """Embeddings (token + style) -> blocks -> LayerNorm -> logits.

    ``forward(tokens [B, T] int64, style [B] int64, state=None)`` returns
    ``(logits [B, T, V] float32, None)``, the LSTM's signature (``state`` is
    ignored: training and evaluation windows are stateless). Beyond
    ``config.context`` tokens each token attends to the last ``context`` only
    (a sliding window, as the step graph's ring does; each layer's cached
    keys still carry what came before them).
    """

    def __init__(self, config: TransformerConfig) -> None:
        super().__init__()
        self.config = config
        self.token_embed = nn.Embedding(config.vocab_size, config.d_model)
        self.style_embed = nn.Embedding(config.n_styles, config.d_model)
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.layers))
        self.ln = nn.LayerNorm(config.d_model)
        self.head = nn.Linear(config.d_model, config.vocab_size)
        nn.init.normal_(self.token_embed.weight, std=0.02)
        nn.init.normal_(self.style_embed.weight, std=0.02)

    def forward(self, tokens: torch.Tensor, style: torch.Tensor, state=None):
        x = self.token_embed(tokens) + self.style_embed(style)[:, None, :]
        cos, sin = rope_tables(self.config.d_model // self.config.heads,
                               torch.arange(tokens.shape[1]))
        n = tokens.shape[1]
        band = None
        if n > self.config.context:
            distance = torch.arange(n)[:, None] - torch.arange(n)[None, :]
            band = (distance >= 0) & (distance < self.config.context)
        for block in self.blocks:
            x = block(x, cos, sin, band)
        return self.head(self.ln(x)), None


class TransformerStep(nn.Module):
    """One step with the KV cache in ``h``/``c`` (module docstring), the graph exported to ONNX.

    ``forward(token [B] int64, style [B] int64, h, c [layers, B, context * (d_model + 1)]
    float32)`` returns ``(logits [B, V], h_out, c_out)``.
    """

    def __init__(self, net: EventTransformer) -> None:
        super().__init__()
        self.net = net
        cfg = net.config
        cos, sin = rope_tables(cfg.d_model // cfg.heads, torch.arange(cfg.context))
        self.register_buffer("cos", cos, persistent=False)  # [context, head_dim]
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, token: torch.Tensor, style: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        # Shapes use -1 for the batch axis: no shape arithmetic in the exported graph.
        cfg = self.net.config
        n, d = cfg.context, cfg.d_model
        heads, head_dim = cfg.heads, d // cfg.heads
        x = self.net.token_embed(token) + self.net.style_embed(style)  # [B, d]
        h = h.reshape(cfg.layers, -1, n, d + 1)
        c = c.reshape(cfg.layers, -1, n, d + 1)
        h_rows, c_rows = [], []
        for i, block in enumerate(self.net.blocks):
            q, k, v = block.qkv(block.ln1(x)).chunk(3, dim=-1)  # [B, d] each
            flag = torch.ones_like(k[:, :1])
            keys = torch.cat([h[i, :, 1:, :], torch.cat([k, flag], dim=-1)[:, None, :]], dim=1)
            values = torch.cat([c[i, :, 1:, :], torch.cat([v, flag], dim=-1)[:, None, :]], dim=1)
            h_rows.append(keys)
            c_rows.append(values)
            empty = keys[:, None, None, :, d] < 0.5  # [B, 1, 1, n]: slots not yet filled
            kh = keys[:, :, :d].reshape(-1, n, heads, head_dim).transpose(1, 2)  # [B, H, n, hd]
            vh = values[:, :, :d].reshape(-1, n, heads, head_dim).transpose(1, 2)
            kh = rotate(kh, self.cos, self.sin)
            qh = rotate(q.reshape(-1, heads, 1, head_dim), self.cos[-1:], self.sin[-1:])
            scores = (qh @ kh.transpose(-1, -2)) / math.sqrt(head_dim)  # [B, H, 1, n]
            scores = scores.masked_fill(empty, float("-inf"))
            out = (scores.softmax(-1) @ vh).reshape(-1, d)
            x = x + block.proj(out)
            x = x + block.mlp(block.ln2(x))
        logits = self.net.head(self.net.ln(x))
        h_out = torch.stack(h_rows).reshape(cfg.layers, -1, n * (d + 1))
        c_out = torch.stack(c_rows).reshape(cfg.layers, -1, n * (d + 1))
        return logits, h_out, c_out
