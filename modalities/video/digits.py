"""Moving digits: scikit-learn's real handwritten digits moving and bouncing on a canvas.

Each video is a function of ``(seed, index)`` only: the digit, its start position and its
velocity are drawn from a generator seeded with both, so any item can be made on demand, in
any order, and is the same on every machine.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["digit_images", "moving_digit", "bounce"]


def digit_images(digit_size: int = 12) -> tuple[Tensor, Tensor]:
    """All 1797 scikit-learn digits scaled to ``(N, digit_size, digit_size)`` in [0, 1], and
    their labels ``(N,)`` long (bilinear resize of the 8x8 originals)."""
    from sklearn.datasets import load_digits

    if digit_size < 4:
        raise ValueError(f"digit_size must be >= 4, got {digit_size}")
    d = load_digits()
    x = torch.from_numpy(d.images.astype(np.float32))[:, None] / 16.0
    if digit_size != 8:
        x = F.interpolate(x, size=(digit_size, digit_size), mode="bilinear",
                          align_corners=False).clamp(0, 1)
    return x[:, 0].contiguous(), torch.from_numpy(d.target.astype(np.int64))


def bounce(start: float, velocity: float, frames: int, span: float) -> Tensor:
    """Positions ``(frames,)`` of a point moving at ``velocity`` px/frame from ``start``,
    reflected at 0 and ``span`` (a triangle wave of period ``2 * span``)."""
    p = start + velocity * torch.arange(frames, dtype=torch.float64)
    if span <= 0:
        return torch.zeros(frames, dtype=torch.float64)
    p = torch.remainder(p, 2 * span)
    return torch.where(p > span, 2 * span - p, p)


def moving_digit(digit: Tensor, frames: int, size: int, generator: torch.Generator,
                 speed: tuple[float, float] = (1.0, 3.0)) -> Tensor:
    """One video ``(1, frames, size, size)`` in [0, 1]: ``digit (d, d)`` moving in a straight
    line at ``speed`` px/frame (uniform in the range, any direction) from a uniform start,
    bouncing off the edges. Positions are rounded to whole pixels."""
    d = digit.shape[-1]
    if size < d:
        raise ValueError(f"size ({size}) must be at least the digit size ({d})")
    span = float(size - d)
    r = torch.rand(4, generator=generator, dtype=torch.float64)
    y0, x0 = float(r[0]) * span, float(r[1]) * span
    v = speed[0] + float(r[2]) * (speed[1] - speed[0])
    angle = float(r[3]) * 2 * math.pi
    ys = bounce(y0, v * math.sin(angle), frames, span).round().long()
    xs = bounce(x0, v * math.cos(angle), frames, span).round().long()
    video = torch.zeros(1, frames, size, size)
    for f in range(frames):
        y, x = int(ys[f]), int(xs[f])
        video[0, f, y:y + d, x:x + d] = digit
    return video
