"""Multi-head self-attention over all positions, or over a group of spatial axes."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from .init import zero_init
from .norm import group_norm
from .relpos import RelativePositionBias

__all__ = ["Attention", "check_axes"]


def check_axes(axes, name: str, dims: int | None = None) -> tuple[int, ...]:
    """``axes`` as a sorted tuple of distinct 0-based spatial axes (``< dims`` when given)."""
    ok = (isinstance(axes, Sequence) and not isinstance(axes, str)
          and all(isinstance(a, int) and not isinstance(a, bool) and a >= 0 for a in axes))
    if not ok or len(set(axes)) != len(axes):
        raise ValueError(f"{name} must be a list of distinct spatial axes (ints >= 0, 0 = the "
                         f"first axis after the channels), got {axes!r}")
    if dims is not None and any(a >= dims for a in axes):
        raise ValueError(f"{name} must name spatial axes 0..{dims - 1} (dims={dims}), got "
                         f"{axes!r}")
    return tuple(sorted(axes))


class Attention(nn.Module):
    """Residual self-attention over the flattened positions of some (default: all) spatial axes.

    GroupNorm -> 1x1 qkv projection -> ``scaled_dot_product_attention`` -> zero-initialised 1x1
    output projection -> ``x + out``: ``(B, channels, *axes) -> (B, channels, *axes)``, the
    identity at initialisation.

    - ``axes=None``: one sequence of all ``prod(axes)`` positions per sample (any number of axes).
    - ``axes=(1, 2)`` on ``(B, C, F, H, W)``: one sequence of ``H * W`` positions per frame,
      batched over ``B`` and ``F``; ``axes=(0,)``: one sequence of ``F`` frames per pixel. A
      length-1 sequence attends only to itself, so the attention returns ``v``.

    Without ``relative_axes`` there is no position encoding: the block is permutation-equivariant
    over the attended positions. Each axis in ``relative_axes`` (a subset of ``axes``) adds a
    learned per-head :class:`RelativePositionBias` of the distance along it, passed to
    ``scaled_dot_product_attention`` as ``attn_mask``; over several axes the biases add up.

    Args:
        channels: number of channels (divisible by ``heads``).
        heads: number of attention heads.
        axes: the spatial axes (0-based, after ``B, C``) attended over jointly; ``None``: all.
        relative_axes: spatial axes with a relative-position bias.
        max_distance: distances beyond this share the bias table's edge entries.
    """

    def __init__(self, channels: int, heads: int = 1, axes: Sequence[int] | None = None,
                 relative_axes: Sequence[int] = (), max_distance: int = 8):
        super().__init__()
        if heads < 1 or channels % heads:
            raise ValueError(
                f"Attention: channels ({channels}) must be divisible by heads ({heads})"
            )
        self.channels = channels
        self.heads = heads
        self.axes = None if axes is None else check_axes(axes, "Attention: axes")
        if self.axes == ():
            raise ValueError("Attention: axes must name at least one axis (or be None: all)")
        self.relative_axes = check_axes(relative_axes, "Attention: relative_axes")
        if self.axes is not None and not set(self.relative_axes) <= set(self.axes):
            raise ValueError(f"Attention: relative_axes {list(self.relative_axes)} must be among "
                             f"the attended axes {list(self.axes)}")
        self.norm = group_norm(channels)
        self.qkv = nn.Conv1d(channels, 3 * channels, 1)
        self.proj = zero_init(nn.Conv1d(channels, channels, 1))
        if self.relative_axes:
            self.relative_bias = nn.ModuleList(
                RelativePositionBias(heads, max_distance) for _ in self.relative_axes
            )

    def forward(self, x: Tensor) -> Tensor:
        """``(B, channels, *axes) -> (B, channels, *axes)``."""
        if x.ndim < 3 or x.shape[1] != self.channels:
            raise ValueError(
                f"Attention: x must have shape (B, {self.channels}, *axes), got {tuple(x.shape)}"
            )
        b, c, *sizes = x.shape
        h = self.norm(x).reshape(b, c, -1)  # (B, C, N)
        if self.axes is None and not self.relative_axes:
            out = self._attend_all(self.qkv(h))
        else:
            out = self._attend_axes(self.qkv(h), sizes)
        return x + self.proj(out).reshape(b, c, *sizes)

    def _attend_all(self, qkv: Tensor) -> Tensor:
        """``(B, 3C, N) -> (B, C, N)``: one sequence of all N positions."""
        b, c3, n = qkv.shape
        c = c3 // 3
        qkv = qkv.reshape(b, 3, self.heads, c // self.heads, n).transpose(-1, -2)
        q, k, v = qkv.unbind(1)  # each (B, heads, N, head_dim)
        out = F.scaled_dot_product_attention(q, k, v)  # (B, heads, N, head_dim)
        return out.transpose(-1, -2).reshape(b, c, n)

    def _attend_axes(self, qkv: Tensor, sizes: list[int]) -> Tensor:
        """``(B, 3C, N) -> (B, C, N)``: one sequence per position of the other axes."""
        nax = len(sizes)
        axes = tuple(range(nax)) if self.axes is None else self.axes
        if max(axes + self.relative_axes) >= nax:
            raise ValueError(f"Attention: axes {list(axes)} and relative_axes "
                             f"{list(self.relative_axes)} need that many spatial axes, got x "
                             f"with {nax} ({sizes})")
        other = tuple(a for a in range(nax) if a not in axes)
        b, c3, _ = qkv.shape
        c, hd = c3 // 3, c3 // 3 // self.heads
        group = [sizes[a] for a in axes]
        rest = [sizes[a] for a in other]
        # dims of qkv: B, 3, heads, head_dim, *spatial -> B, *other, 3, heads, *group, head_dim
        qkv = qkv.reshape(b, 3, self.heads, hd, *sizes)
        qkv = qkv.permute(0, *(4 + a for a in other), 1, 2, *(4 + a for a in axes), 3)
        qkv = qkv.reshape(b * math.prod(rest), 3, self.heads, math.prod(group), hd)
        q, k, v = qkv.unbind(1)  # each (B * prod(other), heads, L, head_dim), L = prod(group)
        bias = self._bias(axes, group)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=None if bias is None else bias.to(q.dtype)
        )
        # back: B, *other, heads, *group, head_dim -> B, heads, head_dim, *spatial
        out = out.reshape(b, *rest, self.heads, *group, hd)
        labels = [-1, *other, -2, *axes, -3]  # -1 = B, -2 = heads, -3 = head_dim
        out = out.permute(*(labels.index(t) for t in (-1, -2, -3, *range(nax))))
        return out.reshape(b, c, -1)

    def _bias(self, axes: tuple[int, ...], group: list[int]) -> Tensor | None:
        """``(heads, L, L)`` sum of the relative biases over the flattened ``group`` positions."""
        if not self.relative_axes:
            return None
        k = len(axes)
        total = None
        for axis, table in zip(self.relative_axes, self.relative_bias, strict=True):
            i = axes.index(axis)
            n = group[i]
            one = [1] * k
            shape = one[:i] + [n] + one[i + 1:]
            term = table(n).reshape(self.heads, *shape, *shape)  # query dims, then key dims
            total = term if total is None else total + term
        length = math.prod(group)
        return total.expand(self.heads, *group, *group).reshape(self.heads, length, length)

    def extra_repr(self) -> str:
        return (f"channels={self.channels}, heads={self.heads}, axes="
                f"{'all' if self.axes is None else list(self.axes)}, relative_axes="
                f"{list(self.relative_axes)}")
