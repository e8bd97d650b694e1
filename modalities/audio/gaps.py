"""Gaps in recordings: from seconds to sample masks (their runs: :func:`polydiff.masks.runs`)."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["gap_mask"]


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
