"""GLIDE's caption encoder: a pre-LN transformer (CLIP ViT's block) without an attention mask.

Padding positions are not masked out; the model instead learns a separate `padding_embedding`
for them (see `Text2ImUNet.encode_text`), so every block attends over all `text_ctx` positions.
Attribute names follow the released checkpoints (`transformer.resblocks.N.attn.c_qkv`, ...).
"""

from __future__ import annotations

import torch
from torch import nn

from dermsynth.glide.nn import LayerNorm, attention


class MultiheadAttention(nn.Module):
    """Self-attention whose `c_qkv` output is laid out per head as [q | k | v]."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.c_qkv = nn.Linear(width, width * 3)
        self.c_proj = nn.Linear(width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, width = x.shape
        qkv = self.c_qkv(x).view(batch, length, self.heads, -1).transpose(1, 2)
        q, k, v = qkv.chunk(3, dim=-1)
        out = attention(q, k, v).transpose(1, 2).reshape(batch, length, width)
        return self.c_proj(out)


class MLP(nn.Module):
    """Width-4x feed-forward layer with exact (erf) GELU."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.c_fc = nn.Linear(width, width * 4)
        self.c_proj = nn.Linear(width * 4, width)
        self.gelu = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.c_proj(self.gelu(self.c_fc(x)))


class ResidualAttentionBlock(nn.Module):
    """Pre-LN block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attn = MultiheadAttention(width, heads)
        self.ln_1 = LayerNorm(width)
        self.mlp = MLP(width)
        self.ln_2 = LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    """A stack of `layers` residual attention blocks over (N, text_ctx, width) input."""

    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        if width % heads:
            raise ValueError(f"transformer width {width} is not divisible by {heads} heads")
        self.resblocks = nn.ModuleList(ResidualAttentionBlock(width, heads) for _ in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.resblocks:
            x = block(x)
        return x
