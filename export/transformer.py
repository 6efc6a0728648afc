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
[layers, batch, context, d_model + 1]: each slot's key, rotated at its
token's position, and, last, that position + 1 (0.0: the slot is empty).
``c`` has the same shape and holds each slot's value (its last column repeats
the position). The token at position ``p`` (0 for the first) goes to slot
``p mod context``, over the oldest, so attention sees the last ``context``
tokens at their true distances, as in training (windows of ``context``
tokens). Positions are exact integers in float32 up to 2**24 tokens (about
five days at 40 tokens a second); the rotation angles are computed in float64.
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
        sink: past ``context`` tokens, keep the first token (BOS) in the window as its first
            slot, at the distance it had in training, as every training window opens with
            it (an attention sink: Xiao et al. 2023, "Efficient Streaming Language Models
            with Attention Sinks", arXiv:2309.17453); the last ``context - 1`` tokens follow
            it. Without it, the window is the last ``context`` tokens. Inference only: the
            training windows are ``context`` tokens long either way.
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
    sink: bool = False
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


def inverse_frequencies(head_dim: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Rotary frequencies, radians per position [head_dim] (base 10000, RoFormer), the half
    repeated: one per pair that :func:`rotate` turns."""
    inv = 1.0 / (10000.0 ** (torch.arange(0, head_dim, 2, dtype=dtype) / head_dim))
    return torch.cat([inv, inv])


def rope_tables(head_dim: int, positions: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin [len(positions), head_dim] for rotary positions."""
    angles = positions.float()[:, None] * inverse_frequencies(head_dim)[None, :]
    return angles.cos(), angles.sin()


def step_tables(position: torch.Tensor, inv_freq: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cos, sin float32 [B, 1, head_dim] of positions [B, 1] (float32 integers), computed in
    float64 (``inv_freq`` float64 [head_dim], halves repeated) so that a long session's large
    positions keep their distances exact."""
    angles = position.double() * inv_freq[None, :]
    return angles.cos().float()[:, None, :], angles.sin().float()[:, None, :]


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
                band: torch.Tensor | None = None, sink_distance: int = 0) -> torch.Tensor:
        q_raw, k, v = self.qkv(self.ln1(x)).chunk(3, dim=-1)
        q_raw, k, v = self.split(q_raw), self.split(k), self.split(v)
        q, k = rotate(q_raw, cos, sin), rotate(k, cos, sin)
        if band is None:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:  # longer than the context: a sliding window (TransformerConfig.sink)
            scores = (q @ k.transpose(-1, -2)) / math.sqrt(self.head_dim)
            if sink_distance:  # the first token seen from sink_distance at most
                far = rotate(q_raw, cos[sink_distance], sin[sink_distance]) @ k[:, :, :1].transpose(-1, -2)
                rows = torch.arange(band.shape[0])[:, None] >= sink_distance
                scores[..., :1] = torch.where(rows, far / math.sqrt(self.head_dim), scores[..., :1])
            scores = scores.masked_fill(~band, float("-inf"))
            out = scores.softmax(-1) @ v
        out = out.transpose(1, 2).reshape(x.shape)
        x = x + self.drop(self.proj(out))
        return x + self.drop(self.mlp(self.ln2(x)))


class EventTransformer(nn.Module):
    """Embeddings (token + style) -> blocks -> LayerNorm -> logits.

    ``forward(tokens [B, T] int64, style [B] int64, state=None)`` returns
    ``(logits [B, T, V] float32, None)``, the LSTM's signature (``state`` is
    ignored: training and evaluation windows are stateless). Beyond
    ``config.context`` tokens each token attends to a sliding window, as the
    step graph's ring does (:attr:`TransformerConfig.sink`; each layer's cached
    keys still carry what came before them), so both give the same logits.
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
        n, context, sink = tokens.shape[1], self.config.context, self.config.sink
        band = None
        if n > context:
            distance = torch.arange(n)[:, None] - torch.arange(n)[None, :]
            band = (distance >= 0) & (distance < context - int(sink))
            if sink:
                band[:, 0] = True
        for block in self.blocks:
            x = block(x, cos, sin, band, (context - 1) if sink else 0)
        return self.head(self.ln(x)), None

    def step_graph(self) -> TransformerStep:
        """The one-step graph that is exported (the model contract)."""
        return TransformerStep(self)


class TransformerStep(nn.Module):
    """One step with the KV cache in ``h``/``c`` (module docstring), the graph exported to ONNX.

    ``forward(token [B] int64, style [B] int64, h, c [layers, B, context * (d_model + 1)]
    float32)`` returns ``(logits [B, V], h_out, c_out)``.
    """

    def __init__(self, net: EventTransformer) -> None:
        super().__init__()
        self.net = net
        cfg = net.config
        self.register_buffer("inv_freq", inverse_frequencies(cfg.d_model // cfg.heads, torch.float64),
                             persistent=False)  # [head_dim]
        self.register_buffer("slots", torch.arange(cfg.context, dtype=torch.float32), persistent=False)

    def forward(self, token: torch.Tensor, style: torch.Tensor, h: torch.Tensor, c: torch.Tensor):
        # Shapes use -1 for the batch axis: no shape arithmetic in the exported graph.
        cfg = self.net.config
        n, d = cfg.context, cfg.d_model
        heads, head_dim = cfg.heads, d // cfg.heads
        x = self.net.token_embed(token) + self.net.style_embed(style)  # [B, d]
        h = h.reshape(cfg.layers, -1, n, d + 1)
        c = c.reshape(cfg.layers, -1, n, d + 1)
        # Each slot's last column of h holds its token's position + 1 (0: empty). The new
        # token's position p is the newest + 1; it goes to slot p mod n, over the oldest
        # (with the sink: the first token keeps slot 0, the others ring over slots 1..n-1).
        position = h[0, :, :, d].amax(dim=-1, keepdim=True)  # [B, 1] float32, exact below 2**24
        stamp = position + 1.0
        if cfg.sink:
            slot = torch.where(position < 0.5, position, 1.0 + torch.remainder(position - 1.0, float(n - 1)))
            sink_cos, sink_sin = step_tables((position - float(n - 1)).clamp(min=0.0), self.inv_freq)
        else:
            slot = torch.remainder(position, float(n))
        write = (self.slots[None, :] == slot)[:, :, None]  # [B, n, 1]
        cos, sin = step_tables(position, self.inv_freq)  # [B, 1, head_dim]
        h_rows, c_rows = [], []
        for i, block in enumerate(self.net.blocks):
            q, k, v = block.qkv(block.ln1(x)).chunk(3, dim=-1)  # [B, d] each
            q = rotate(q.reshape(-1, heads, head_dim), cos, sin)  # [B, H, hd]
            k = rotate(k.reshape(-1, heads, head_dim), cos, sin).reshape(-1, d)
            keys = torch.where(write, torch.cat([k, stamp], dim=-1)[:, None, :], h[i])  # [B, n, d+1]
            values = torch.where(write, torch.cat([v, stamp], dim=-1)[:, None, :], c[i])
            h_rows.append(keys)
            c_rows.append(values)
            empty = keys[:, None, None, :, d] < 0.5  # [B, 1, 1, n]
            if cfg.sink:  # slot 0's key was rotated at position 0: now at the window's start
                first = rotate(keys[:, 0, :d].reshape(-1, heads, head_dim), sink_cos, sink_sin)
                keys_now = torch.cat([first.reshape(-1, 1, d), keys[:, 1:, :d]], dim=1)
            else:
                keys_now = keys[:, :, :d]
            kh = keys_now.reshape(-1, n, heads, head_dim).transpose(1, 2)  # [B, H, n, hd]
            vh = values[:, :, :d].reshape(-1, n, heads, head_dim).transpose(1, 2)
            scores = (q[:, :, None, :] @ kh.transpose(-1, -2)) / math.sqrt(head_dim)  # [B, H, 1, n]
            scores = scores.masked_fill(empty, float("-inf"))
            out = (scores.softmax(-1) @ vh).reshape(-1, d)
            x = x + block.proj(out)
            x = x + block.mlp(block.ln2(x))
        logits = self.net.head(self.net.ln(x))
        h_out = torch.stack(h_rows).reshape(cfg.layers, -1, n * (d + 1))
        c_out = torch.stack(c_rows).reshape(cfg.layers, -1, n * (d + 1))
        return logits, h_out, c_out
