"""Group normalisation with a valid group count for any number of channels."""

from __future__ import annotations

from torch import nn

__all__ = ["num_groups", "group_norm"]


def num_groups(channels: int, max_groups: int = 32, min_group_channels: int = 4) -> int:
    """The largest divisor ``g`` of ``channels`` with ``g <= max_groups`` and
    ``channels / g >= min_group_channels``; 1 when there is none.

    E.g. 128 -> 32, 64 -> 16, 32 -> 8, 24 -> 6, 3 -> 1.
    """
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels}")
    best = 1
    for g in range(1, min(max_groups, channels) + 1):
        if channels % g == 0 and channels // g >= min_group_channels:
            best = g
    return best


def group_norm(channels: int, max_groups: int = 32, min_group_channels: int = 4,
               eps: float = 1e-5) -> nn.GroupNorm:
    """``nn.GroupNorm`` over ``channels`` with :func:`num_groups` groups; any ``(B, C, *axes)``."""
    return nn.GroupNorm(num_groups(channels, max_groups, min_group_channels), channels, eps=eps)
