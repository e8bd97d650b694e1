"""Multi-head self-attention over all positions of 1, 2 or 3 spatial axes."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from .init import zero_init
from .norm import group_norm

__all__ = ["Attention"]


class Attention(nn.Module):
    """Residual self-attention over the flattened spatial positions.

    GroupNorm -> 1x1 qkv projection -> ``scaled_dot_product_attention`` over all positions ->
    zero-initialised 1x1 output projection -> ``x + out``. Works for any number of axes:
    ``(B, channels, *axes) -> (B, channels, *axes)``. There is no position encoding, so the block
    is permutation-equivariant over positions, and it is the identity at initialisation.

    Args:
        channels: number of channels (divisible by ``heads``).
        heads: number of attention heads.
    """

    def __init__(self, channels: int, heads: int = 1):
        super().__init__()
        if heads < 1 or channels % heads:
            raise ValueError(
                f"Attention: channels ({channels}) must be divisible by heads ({heads})"
            )
        self.channels = channels
        self.heads = heads
        self.norm = group_norm(channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj = zero_init(nn.Conv1d(channels, channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        """``(B, channels, *axes) -> (B, channels, *axes)``."""
        if x.ndim < 3 or x.shape[1] != self.channels:
            raise ValueError(
                f"Attention: x must have shape (B, {self.channels}, *axes), got {tuple(x.shape)}"
            )
        b, c, *axes = x.shape
        h = self.norm(x).reshape(b, c, -1)  # (B, C, N)
        n = h.shape[-1]
        qkv = self.qkv(h).reshape(b, 3, self.heads, c // self.heads, n).transpose(-1, -2)
        q, k, v = qkv.unbind(1)  # each (B, heads, N, head_dim)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, N, head_dim)
        out = out.transpose(-1, -2).reshape(b, c, n)
        return x + self.proj(out).reshape(b, c, *axes)
