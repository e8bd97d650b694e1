"""Temporal layers of the factorised space-time U-Net, on frames folded into the batch.

The video U-Net keeps its activations as ``(B * F, C, H, W)`` (frame ``f`` of video ``b`` at
row ``b * F + f``), so every spatial layer is an image layer. The layers here mix information
across the ``F`` frames of each video at every pixel:

- :class:`TemporalConv`: a residual block of two 1-D convolutions along time (FiLM conditioned),
- :class:`TemporalAttention`: attention over the frames of each pixel with a learned
  relative-position bias.

Both are the identity at initialisation (zero-initialised last layers) and skip a one-frame
video entirely (``frames == 1`` returns the input), so an image goes through the image path.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from polydiff.plugin import Attention, film, group_norm

__all__ = ["TemporalConv", "TemporalAttention", "fold", "unfold", "shift_conv"]


def fold(x: Tensor) -> Tensor:
    """``(B, C, F, H, W) -> (B * F, C, H, W)``: frames into the batch (frame-major per video)."""
    b, c, f, h, w = x.shape
    return x.transpose(1, 2).reshape(b * f, c, h, w)


def unfold(x: Tensor, frames: int) -> Tensor:
    """``(B * F, C, H, W) -> (B, C, F, H, W)``, the inverse of :func:`fold`."""
    bf, c, h, w = x.shape
    return x.reshape(bf // frames, frames, c, h, w).transpose(1, 2)


def shift_conv(x: Tensor, weight: Tensor, bias: Tensor | None, frames: int) -> Tensor:
    """A 1-D convolution along time with zero "same" padding, on folded frames.

    ``x (B * F, C_in, H, W)``, ``weight (C_out, C_in, k)`` (``k`` odd), ``bias (C_out,)`` ->
    ``(B * F, C_out, H, W)``: ``out[f] = sum_j weight[:, :, j] @ x[f + j - k // 2]``. One 1x1
    convolution computes every tap at once; the taps are then added with their time shifts,
    so no transpose of the activations is needed.
    """
    c_out, c_in, k = weight.shape
    bf, _, h, w = x.shape
    taps = F.conv2d(x, weight.permute(2, 0, 1).reshape(k * c_out, c_in, 1, 1))
    taps = taps.reshape(bf // frames, frames, k, c_out, h, w)
    half = k // 2
    out = taps[:, :, half].clone()
    for j in range(k):
        d = j - half  # output frame f reads input frame f + d
        if d == 0 or abs(d) >= frames:
            continue
        if d > 0:
            out[:, :-d] += taps[:, d:, j]
        else:
            out[:, -d:] += taps[:, :d, j]
    if bias is not None:
        out = out + bias.reshape(1, 1, c_out, 1, 1)
    return out.reshape(bf, c_out, h, w)


class TemporalConv(nn.Module):
    """Residual temporal block: GroupNorm -> SiLU -> time conv -> GroupNorm -> FiLM(emb) ->
    SiLU -> dropout -> zero-initialised time conv, plus the input.

    ``forward(x (B * F, C, H, W), emb (B * F, emb_dim), frames) -> (B * F, C, H, W)``. The
    normalisations are per frame (like the spatial layers); the convolutions have ``kernel``
    taps along time (odd) and none across space. Returns ``x`` unchanged when ``frames == 1``.
    """

    def __init__(self, channels: int, emb_dim: int, kernel: int = 3, dropout: float = 0.0):
        super().__init__()
        if kernel < 1 or kernel % 2 == 0:
            raise ValueError(f"TemporalConv: temporal_kernel must be an odd int >= 1, got "
                             f"{kernel}")
        self.channels, self.kernel = channels, kernel
        self.norm1 = group_norm(channels)
        self.norm2 = group_norm(channels)
        self.act = nn.SiLU()
        self.dropout = nn.Dropout(dropout)
        bound = 1.0 / (channels * kernel) ** 0.5
        self.weight1 = nn.Parameter(torch.empty(channels, channels, kernel).uniform_(-bound, bound))
        self.bias1 = nn.Parameter(torch.zeros(channels))
        self.weight2 = nn.Parameter(torch.zeros(channels, channels, kernel))
        self.bias2 = nn.Parameter(torch.zeros(channels))
        self.emb_proj = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, 2 * channels))

    def forward(self, x: Tensor, emb: Tensor, frames: int) -> Tensor:
        """``(B * F, C, H, W)``, ``(B * F, emb_dim)`` -> ``(B * F, C, H, W)``."""
        if frames == 1:
            return x
        h = shift_conv(self.act(self.norm1(x)), self.weight1, self.bias1, frames)
        h = film(self.norm2(h), self.emb_proj(emb))
        h = shift_conv(self.dropout(self.act(h)), self.weight2, self.bias2, frames)
        return x + h

    def extra_repr(self) -> str:
        return f"channels={self.channels}, kernel={self.kernel}"


class TemporalAttention(nn.Module):
    """Attention over the ``F`` frames of each pixel, with a relative-position bias along time.

    :class:`polydiff.nn.Attention` with ``axes=(0,)`` and ``relative_axes=(0,)`` on the
    unfolded ``(B, C, F, H, W)`` video; ``forward(x (B * F, C, H, W), frames) ->
    (B * F, C, H, W)``, the identity at initialisation and for ``frames == 1``. Distances
    beyond ``max_distance`` share the bias table's edge entries, so any frame count works.
    """

    def __init__(self, channels: int, heads: int, max_distance: int = 8):
        super().__init__()
        self.attention = Attention(channels, heads, axes=(0,), relative_axes=(0,),
                                   max_distance=max_distance)

    def forward(self, x: Tensor, frames: int) -> Tensor:
        """``(B * F, C, H, W) -> (B * F, C, H, W)``."""
        if frames == 1:
            return x
        return fold(self.attention(unfold(x, frames)))
