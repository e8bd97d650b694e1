"""Training-free baselines for the video tasks, to measure the model against.

- :func:`repeat_last`: prediction by holding the last given frame.
- :func:`linear_blend`: interpolation by blending the two given frames around each missing
  one, weighted by distance in time.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["repeat_last", "linear_blend"]


def repeat_last(context: Tensor, frames: int) -> Tensor:
    """``context (N, C, k, H, W)`` followed by its last frame repeated: ``(N, C, frames, H,
    W)``."""
    if context.ndim != 5 or not 1 <= context.shape[2] < frames:
        raise ValueError(f"repeat_last: context must be videos (N, C, k, H, W) with 1 <= k < "
                         f"frames={frames}, got {tuple(context.shape)}")
    tail = context[:, :, -1:].expand(-1, -1, frames - context.shape[2], -1, -1)
    return torch.cat([context, tail], dim=2)


def linear_blend(keyframes: Tensor, every: int) -> Tensor:
    """Frames between ``keyframes (N, C, K, H, W)`` by linear blending in time:
    ``(N, C, (K - 1) * every + 1, H, W)``; frame ``j * every + r`` is
    ``(1 - r / every) key[j] + (r / every) key[j + 1]``."""
    if keyframes.ndim != 5 or keyframes.shape[2] < 2 or every < 1:
        raise ValueError(f"linear_blend: keyframes must be videos (N, C, K, H, W) with K >= 2 "
                         f"and every >= 1, got {tuple(keyframes.shape)}, every={every}")
    a, b = keyframes[:, :, :-1], keyframes[:, :, 1:]
    n, c, k1, h, w = a.shape
    mixed = torch.stack([a + (b - a) * (r / every) for r in range(every)], dim=3)
    return torch.cat([mixed.reshape(n, c, k1 * every, h, w), keyframes[:, :, -1:]], dim=2)
