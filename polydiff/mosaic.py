"""Tiling a batch of samples into one grid image (a mosaic), for the writers that show a whole
batch at once: image PNG grids, video frames of tiled clips.

:func:`mosaic` places ``x[k]`` (any leading axes, then ``(H, W)``) row by row, ``nrow`` tiles
per row, with ``padding`` pixels of ``pad_value`` between tiles and, with ``border``, around
them.
"""

from __future__ import annotations

import math
import operator

from torch import Tensor

__all__ = ["mosaic"]


def _count(value: int, name: str, at_least: int) -> int:
    """``value`` as an ``int`` (integer-like accepted, ``bool`` not) that is ``>= at_least``."""
    try:
        n = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        n = None
    if n is None or n < at_least:
        raise ValueError(f"mosaic: {name} must be an integer >= {at_least}"
                         f"{' or None' if name == 'nrow' else ''}, got {value!r}")
    return n


def mosaic(x: Tensor, nrow: int | None = None, padding: int = 2, pad_value: float = 0.0,
           border: bool = True) -> Tensor:
    """Tile ``x (B, *lead, H, W)`` into one ``(*lead, rows*(H+p)+e, n*(W+p)+e)``.

    ``n = min(nrow, B)`` tiles per row (``nrow=None``: ``ceil(sqrt(B))``), ``rows =
    ceil(B / n)``, ``p = padding`` pixels of ``pad_value`` between tiles, and ``e = p`` with a
    ``border`` of ``p`` pixels around the tiles, ``e = -p`` without one (then a single tile
    is ``x[0]`` itself). Tile ``k`` sits in row ``k // n``, column ``k % n``. The result has
    ``x``'s dtype and device.
    """
    if x.ndim < 3 or x.shape[0] == 0:
        raise ValueError(f"mosaic: x must have shape (B, *lead, H, W) with B >= 1, got "
                         f"{tuple(x.shape)}")
    nrow = None if nrow is None else _count(nrow, "nrow", 1)
    padding = _count(padding, "padding", 0)
    b, h, w = x.shape[0], x.shape[-2], x.shape[-1]
    n = min(nrow or math.ceil(math.sqrt(b)), b)
    rows = math.ceil(b / n)
    edge, offset = (padding, padding) if border else (-padding, 0)
    grid = x.new_full((*x.shape[1:-2], rows * (h + padding) + edge, n * (w + padding) + edge),
                      pad_value)
    for k in range(b):
        r, col = divmod(k, n)
        top, left = offset + r * (h + padding), offset + col * (w + padding)
        grid[..., top:top + h, left:left + w] = x[k]
    return grid
