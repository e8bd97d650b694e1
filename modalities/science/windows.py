"""Space-time windows of a gridded field: where patches start, and reading one.

A field is an array ``(C, T, Y, X)`` (variables, time, latitude, longitude; ``T = 1`` for a
field without time). A window is ``(t0, y0, x0)`` with a size ``(wt, wy, wx)``; rows beyond the
grid (padding up to a multiple of the network's size) read as NaN, and on periodic longitudes
columns wrap around the globe.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Windows", "corners", "starts"]


def starts(n: int, size: int, stride: int, periodic: bool = False) -> list[int]:
    """Start indices of windows of ``size`` every ``stride`` along an axis of ``n`` cells that
    cover it: the last window ends at the last cell (or, on a periodic axis, windows start
    anywhere on the circle)."""
    if size < 1 or stride < 1:
        raise ValueError(f"window size and stride must be >= 1, got {size} and {stride}")
    if periodic:
        return list(range(0, n, stride))
    if size >= n:
        return [0]
    out = list(range(0, n - size + 1, stride))
    if out[-1] != n - size:
        out.append(n - size)
    return out


@dataclass(frozen=True)
class Windows:
    """Windows of ``size = (wt, wy, wx)`` over a grid of ``shape = (T, Y, X)``.

    ``periodic``: longitudes wrap (windows may cross the date line); ``stride``: the step
    between window starts per axis."""

    shape: tuple[int, int, int]
    size: tuple[int, int, int]
    stride: tuple[int, int, int]
    periodic: bool = False

    def __post_init__(self) -> None:
        t, y, x = self.shape
        wt, wy, wx = self.size
        if wt > t:
            raise ValueError(f"a time window of {wt} steps does not fit the {t} time steps")
        if wx > x and self.periodic:
            raise ValueError(f"a patch of {wx} longitudes is wider than the {x} longitudes of "
                             f"the globe")

    def positions(self) -> list[tuple[int, int, int]]:
        """Every window start ``(t0, y0, x0)``, time-major."""
        t, y, x = self.shape
        wt, wy, wx = self.size
        st, sy, sx = self.stride
        xs = starts(x, wx, sx, self.periodic and wx < x) if wx != x else [0]
        return [(a, b, c) for a in starts(t, wt, st) for b in starts(y, wy, sy) for c in xs]

    def index(self, y0: int, x0: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(rows, cols, inside)``: row and column indices of a window (clipped into the
        grid) and ``inside (wy, wx)``, which cells lie inside the grid (the others are
        padding)."""
        _, y, x = self.shape
        _, wy, wx = self.size
        rows = np.arange(y0, y0 + wy)
        cols = np.arange(x0, x0 + wx)
        inside = (rows < y)[:, None] & ((cols < x) | self.periodic)[None, :]
        cols = cols % x if self.periodic else np.minimum(cols, x - 1)
        return np.minimum(rows, y - 1), cols, inside

    def read(self, field, t0: int, y0: int, x0: int) -> np.ndarray:
        """The window of ``field`` (an array ``(C, T, Y, X)``, numpy or anything with numpy
        indexing such as a lazily loaded ``xr.Variable``): ``(C, wt, wy, wx)`` float32, NaN
        in padding rows."""
        rows, cols, inside = self.index(y0, x0)
        wt = self.size[0]
        block = _take(field, slice(t0, t0 + wt), rows, cols)
        block = np.asarray(block, dtype=np.float32)
        if not inside.all():
            block[:, :, ~inside] = np.nan
        return block

    def corners(self, lat: np.ndarray, lon: np.ndarray, y0: int, x0: int) -> np.ndarray:
        """``[lat_first, lat_last, lon_first, lon_last]`` (degrees) of a window on a regular
        grid with coordinates ``lat (Y,)`` and ``lon (X,)``; padding rows and columns and
        columns past the date line continue the grid's spacing."""
        return corners(lat, lon, y0, x0, self.size[1:])


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


def _take(field, t: slice, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``field[:, t, rows][..., cols]``, reading one contiguous band of rows (and of columns
    when they do not wrap), so lazy (dask) arrays load only that block."""
    r0, r1 = int(rows.min()), int(rows.max()) + 1
    band = field[:, t, r0:r1]
    if np.all(np.diff(cols) == 1):
        band = band[..., int(cols[0]):int(cols[-1]) + 1]
    else:
        band = band[..., cols]
    return np.asarray(band)[:, :, rows - r0]
