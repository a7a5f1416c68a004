"""Small layers of the GLIDE network, each numerically equal to the released model's.

The released checkpoints run their torso in float16; the layers here keep the statistics that
overflow or lose precision in half precision (normalisation, attention softmax) in float32 and
cast back, so the same code serves float32 and float16 weights.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class GroupNorm32(nn.GroupNorm):
    """GroupNorm computed in float32, cast back to the input's dtype, with optional fused SiLU.

    A group's variance over a 64x64 feature map overflows float16, hence float32 statistics;
    SiLU runs before the cast back so that it too sees float32 values.
    """

    def __init__(
        self, num_channels: int, *, swish: bool = False, num_groups: int = 32, eps: float = 1e-5
    ) -> None:
        super().__init__(num_groups=num_groups, num_channels=num_channels, eps=eps)
        self.swish = swish

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.group_norm(x.float(), self.num_groups, self.weight, self.bias, self.eps)
        if self.swish:
            y = F.silu(y)
        return y.to(x.dtype)


def normalization(channels: int, *, swish: bool = False) -> GroupNorm32:
    """The UNet's only normalisation: 32 groups, eps 1e-5, float32 statistics."""
    return GroupNorm32(channels, swish=swish)


class LayerNorm(nn.LayerNorm):
    """LayerNorm computed in float32 (gains stay float32 when the transformer is float16)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.layer_norm(x.float(), self.normalized_shape, self.weight, self.bias, self.eps)
        return y.to(x.dtype)


def zero_module(module: nn.Module) -> nn.Module:
    """Zero a module's parameters, so that a residual branch starts as the identity."""
    for p in module.parameters():
        p.detach().zero_()
    return module


def timestep_embedding(
    timesteps: torch.Tensor, dim: int, max_period: float = 10000.0
) -> torch.Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps, shape (N, dim), [cos | sin].

    Frequencies are exp(-ln(max_period) * i / half) for i < half, as in the released model; an
    odd `dim` is padded with one zero column.
    """
    half = dim // 2
    exponents = torch.arange(half, dtype=torch.float32, device=timesteps.device) / half
    freqs = torch.exp(-math.log(max_period) * exponents)
    args = timesteps[:, None].float() * freqs[None]
    embedding = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        embedding = torch.cat([embedding, torch.zeros_like(embedding[:, :1])], dim=-1)
    return embedding


def attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """softmax(q kᵀ / √ch) v over (batch, heads, length, ch) tensors, without a mask.

    The reference scales q and k by ch^(-1/4) each and takes the softmax in float32. Torch's
    fused kernels accumulate in float32 and its math kernel splits the scale the same way, so
    one `scale` argument gives the same numbers (within float rounding) at fused-kernel speed.
    """
    return F.scaled_dot_product_attention(q, k, v, scale=1.0 / math.sqrt(q.shape[-1]))


def pointwise(conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    """Apply a kernel-size-1 Conv1d to channels-last (N, L, C) input, returning (N, L, C_out).

    The checkpoints store the attention projections as Conv1d weights (C_out, C_in, 1); applying
    them as a matrix product on (N, L, C) avoids transposing activations around every attention.
    """
    return F.linear(x, conv.weight[..., 0], conv.bias)
