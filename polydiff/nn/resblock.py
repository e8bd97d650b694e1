"""Residual block with FiLM conditioning, for 1, 2 or 3 spatial axes."""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from ..conditioning import film
from .conv import Conv
from .emb import EmbBlock
from .init import zero_init
from .norm import group_norm

__all__ = ["ResBlock"]


class ResBlock(EmbBlock):
    """GroupNorm -> SiLU -> conv -> GroupNorm -> FiLM(emb) -> SiLU -> dropout -> zero conv, + skip.

    Args:
        dims: number of spatial axes (1, 2 or 3).
        in_channels, out_channels: channel counts; the skip is a 1x1 conv when they differ.
        emb_dim: size of the conditioning vector ``emb``; ``None`` for an unconditioned block.
        dropout: dropout probability before the last conv.
        periodic: one bool or one per axis: circular padding on those axes.

    ``forward(x (B, in_channels, *axes), emb (B, emb_dim)) -> (B, out_channels, *axes)``.
    The last conv is zero-initialised, so at initialisation the block returns ``skip(x)``.
    """

    def __init__(self, dims: int, in_channels: int, out_channels: int | None = None,
                 emb_dim: int | None = None, dropout: float = 0.0,
                 periodic: bool | Sequence[bool] = False, kernel_size: int = 3):
        super().__init__()
        out_channels = out_channels or in_channels
        self.dims = dims
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.emb_dim = emb_dim
        self.norm1 = group_norm(in_channels)
        self.act = nn.SiLU()
        self.conv1 = Conv(dims, in_channels, out_channels, kernel_size, periodic=periodic)
        self.norm2 = group_norm(out_channels)
        self.emb_proj = (
            nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, 2 * out_channels)) if emb_dim else None
        )
        self.dropout = nn.Dropout(dropout)
        self.conv2 = zero_init(
            Conv(dims, out_channels, out_channels, kernel_size, periodic=periodic)
        )
        self.skip: nn.Module = (
            nn.Identity() if in_channels == out_channels
            else Conv(dims, in_channels, out_channels, kernel_size=1)
        )

    def forward(self, x: Tensor, emb: Tensor | None = None) -> Tensor:
        """``(B, in_channels, *axes)``, ``(B, emb_dim)`` -> ``(B, out_channels, *axes)``."""
        h = self.conv1(self.act(self.norm1(x)))
        h = self.norm2(h)
        if self.emb_proj is not None:
            if emb is None:
                raise ValueError(f"ResBlock: emb of shape (B, {self.emb_dim}) is required")
            h = film(h, self.emb_proj(emb))
        h = self.conv2(self.dropout(self.act(h)))
        return self.skip(x) + h
