"""Overlap blending of tiles: grids larger than a model's window are filled window by window,
and where windows overlap their values are averaged with weights that ramp down towards each
window's edges (so no seam shows where one window ends)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .windows import Windows

__all__ = ["Blender", "ramp"]


def ramp(size: int, overlap: int) -> np.ndarray:
    """1-D blending weights ``(size,)``: rising over the first ``overlap`` cells and falling
    over the last ``overlap``, 1 in between (all ones without overlap); always > 0."""
    i = np.arange(size, dtype=np.float64)
    if overlap <= 0:
        return np.ones(size)
    return np.minimum(1.0, np.minimum(i + 1, size - i) / (overlap + 1))


class Blender:
    """Accumulates weighted windows of ``(S, C, wt, wy, wx)`` samples into a grid
    ``(S, C, T, Y, X)`` (float32 sums, float64 weights); :meth:`result` divides."""

    def __init__(self, windows: Windows, samples: int, channels: int,
                 overlap: Sequence[int]):
        self.windows = windows
        t, y, x = windows.shape
        self.num = np.zeros((samples, channels, t, y, x), dtype=np.float32)
        self.den = np.zeros((t, y, x), dtype=np.float64)
        self.weight = (ramp(windows.size[0], overlap[0])[:, None, None]
                       * ramp(windows.size[1], overlap[1])[None, :, None]
                       * ramp(windows.size[2], overlap[2])[None, None, :])

    def add(self, values: np.ndarray, t0: int, y0: int, x0: int) -> None:
        """Add one window's samples ``(S, C, wt, wy, wx)`` (padding cells are dropped)."""
        rows, cols, inside = self.windows.index(y0, x0)
        keep_r, keep_c = inside.any(axis=1), inside.any(axis=0)
        r, c = rows[keep_r], cols[keep_c]
        wt = self.windows.size[0]
        w = self.weight[:, keep_r][:, :, keep_c]
        v = values[:, :, :, keep_r][..., keep_c]
        ix = (slice(t0, t0 + wt), r[:, None], c[None, :])
        self.num[(slice(None), slice(None), *ix)] += (v * w).astype(np.float32)
        self.den[ix] += w

    def covered(self) -> bool:
        """Whether every cell received at least one window."""
        return bool((self.den > 0).all())

    def result(self) -> np.ndarray:
        """The blended samples ``(S, C, T, Y, X)`` (float32)."""
        if not self.covered():
            raise RuntimeError("tiling left cells without a window (a bug in the tile plan)")
        return (self.num / self.den).astype(np.float32)
