"""Learned relative-position bias along one axis: a clipped-distance table per head."""

from __future__ import annotations

import torch
from torch import Tensor, nn

__all__ = ["RelativePositionBias"]


class RelativePositionBias(nn.Module):
    """Per-head bias ``table[head, clip(j - i, -max_distance, max_distance)]`` for query ``i``
    and key ``j`` on one axis.

    Works for any axis length at run time: distances beyond ``max_distance`` share the edge
    entries, so a model trained on 8 frames can be sampled on 16 (with ``max_distance <= 7``
    every entry it uses was trained). ``self.table`` ``(heads, 2 * max_distance + 1)`` starts at
    zero: no bias at initialisation.

    ``forward(length) -> (heads, length, length)``.
    """

    def __init__(self, heads: int, max_distance: int = 8):
        super().__init__()
        if isinstance(heads, bool) or not isinstance(heads, int) or heads < 1:
            raise ValueError(f"RelativePositionBias: heads must be an int >= 1, got {heads!r}")
        if isinstance(max_distance, bool) or not isinstance(max_distance, int) or max_distance < 0:
            raise ValueError(
                f"RelativePositionBias: max_distance must be an int >= 0, got {max_distance!r}"
            )
        self.heads = heads
        self.max_distance = max_distance
        self.table = nn.Parameter(torch.zeros(heads, 2 * max_distance + 1))

    def forward(self, length: int) -> Tensor:
        """``(heads, length, length)``: entry ``[h, i, j]`` is the bias of key ``j`` for query
        ``i``."""
        pos = torch.arange(length, device=self.table.device)
        rel = (pos[None, :] - pos[:, None]).clamp(-self.max_distance, self.max_distance)
        return self.table[:, rel + self.max_distance]

    def extra_repr(self) -> str:
        return f"heads={self.heads}, max_distance={self.max_distance}"
