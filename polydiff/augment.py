"""Random augmentations of tensors for data modules (torch's global RNG, so seeding and
``DataLoader`` workers behave as with torchvision's transforms).

- :func:`random_flip`: reversed along one axis with probability 1/2 (horizontal flips of
  images and frames, time reversal of clips);
- :func:`random_crop`: an ``(h, w)`` window of the last two axes at a random offset, or
  centred (for validation).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["random_crop", "random_flip"]


def random_flip(x: Tensor, dim: int, enabled: bool = True) -> Tensor:
    """``x`` reversed along ``dim`` with probability 1/2 when ``enabled``, else ``x``."""
    if enabled and torch.rand(()) < 0.5:
        return x.flip(dim)
    return x


def random_crop(x: Tensor, size: Sequence[int], random: bool = True) -> Tensor:
    """The ``size = (h, w)`` window of ``x (..., H, W)``: at a uniformly random offset
    (``random``) or centred. ``h <= H`` and ``w <= W`` are required."""
    h, w = (int(s) for s in size)
    height, width = x.shape[-2:]
    if not (0 < h <= height and 0 < w <= width):
        raise ValueError(f"random_crop: the crop {h}x{w} (HxW) must fit in the frames "
                         f"{height}x{width}")
    if random:
        top = int(torch.randint(height - h + 1, ()))
        left = int(torch.randint(width - w + 1, ()))
    else:
        top, left = (height - h) // 2, (width - w) // 2
    return x[..., top:top + h, left:left + w]
