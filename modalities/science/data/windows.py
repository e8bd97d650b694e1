"""Where a window of a gridded field lies: its corner coordinates and its cells.

A field is an array ``(C, T, Y, X)`` (variables, time, latitude, longitude; ``T = 1`` for a
field without time), covered by the core's tiles (:class:`polydiff.inference.tiles.Tiles`
over ``(T, Y, X)``, longitude periodic on a global grid); a window is a tile's start
``(t0, y0, x0)``. What is the science modality's own: the coordinates of a window
(:func:`corners`, the network's ``vector``) and its rows and columns for static maps
(:func:`rows_cols`).
"""

from __future__ import annotations

import numpy as np

from polydiff.plugin import Tiles

__all__ = ["corners", "rows_cols"]


def rows_cols(tiles: Tiles, y0: int, x0: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(rows, cols, inside)``: the row and column indices of the window at ``(y0, x0)``
    (clipped into the grid, wrapped on a periodic longitude) and ``inside (wy, wx)``, which
    cells lie inside the grid (the others are padding)."""
    _, (rows, in_rows), (cols, in_cols) = tiles.index((0, y0, x0))
    return rows, cols, in_rows[:, None] & in_cols[None, :]


def corners(lat: np.ndarray, lon: np.ndarray, y0: int, x0: int,
            size: tuple[int, int]) -> np.ndarray:
    """``[lat_first, lat_last, lon_first, lon_last]`` (degrees) of a ``size = (wy, wx)``
    window at ``(y0, x0)`` on a regular grid with coordinates ``lat (Y,)`` and ``lon (X,)``;
    padding rows and columns and columns past the date line continue the grid's spacing."""
    wy, wx = size
    return np.array([_coord(lat, y0), _coord(lat, y0 + wy - 1), _coord(lon, x0),
                     _coord(lon, x0) + (wx - 1) * _step(lon)], dtype=np.float32)


def _step(values: np.ndarray) -> float:
    values = np.asarray(values, dtype=np.float64)
    return float(values[1] - values[0]) if values.size > 1 else 1.0


def _coord(values: np.ndarray, i: int) -> float:
    """``values[i]``, continued linearly past the end."""
    values = np.asarray(values, dtype=np.float64)
    if i < values.size:
        return float(values[i])
    return float(values[-1] + (i - values.size + 1) * _step(values))
