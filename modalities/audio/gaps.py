"""Gaps in recordings: from seconds to sample masks, and masks to runs."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["gap_mask", "gap_runs"]


def gap_mask(length: int, gaps: Sequence[tuple[float, float]], sample_rate: int) -> Tensor:
    """``missing (length,)`` bool from gaps ``(start, end)`` in seconds; a gap past the end of
    the recording or empty is a ``ValueError``."""
    missing = torch.zeros(length, dtype=torch.bool)
    for start, end in gaps:
        a, b = round(start * sample_rate), round(end * sample_rate)
        if not 0 <= a < b:
            raise ValueError(f"gap {start}-{end} s: need 0 <= start < end")
        if b > length:
            raise ValueError(f"gap {start}-{end} s ends after the recording ({length} samples, "
                             f"{length / sample_rate:.3f} s)")
        missing[a:b] = True
    return missing


def gap_runs(missing: Tensor) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` (end exclusive) of the True runs of a 1-D bool tensor."""
    padded = torch.cat([torch.zeros(1, dtype=torch.int8), missing.to(torch.int8),
                        torch.zeros(1, dtype=torch.int8)])
    edges = torch.diff(padded).nonzero().flatten().tolist()
    return list(zip(edges[::2], edges[1::2], strict=True))
