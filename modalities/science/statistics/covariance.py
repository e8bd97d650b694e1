"""Optimal interpolation with the field's own local covariance.

Each missing value is estimated from the known values within ``radius`` cells of it (all
variables) as the Gaussian conditional mean under the covariance of the field's anomalies
from its background, ``a_h = c_hk^T (C_kk + ridge diag C_kk)^-1 a_k``: simple kriging with an
empirical, non-stationary covariance (optimal interpolation as in weather and ocean
analysis). The covariance of every cell with every cell up to ``2 radius`` away
(:func:`local_covariance`) is estimated from the field's own maps, each filled by the
biharmonic first guess (:func:`field_covariance`), so it is learned from the observed values
of the same file. Unlike a stationary kernel it can represent correlation lengths, shapes
and couplings between variables that change from place to place (measured against the
classical methods in docs/science.md and docs/benchmarks.md).

:func:`local_oi` is the first guess of ``FieldUNet(fill_method="covariance")`` (the table is
stored with the model) and ``science_baselines.local_oi`` (``benchmarks/``) the
classical method built on it. Where a cell has no known value within ``radius`` the caller's
fallback (the biharmonic guess) is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .background import background_at
from .filled import fill_maps

__all__ = ["decode_table", "encode_table", "field_covariance", "local_covariance",
          "offsets", "table_grid"]


def offsets(radius: int) -> tuple[np.ndarray, np.ndarray]:
    """``(dy, dx)``: the ``(2 radius + 1)^2`` cell offsets of a neighbourhood, row-major."""
    r = np.arange(-radius, radius + 1)
    dy, dx = np.meshgrid(r, r, indexing="ij")
    return dy.ravel(), dx.ravel()


def _check_radius(radius: int) -> int:
    if not isinstance(radius, (int, np.integer)) or isinstance(radius, bool) or radius < 1:
        raise ValueError(f"covariance radius must be an integer >= 1 (cells), got {radius!r}")
    return int(radius)


def _shifted(a: np.ndarray, dy: int, dx: int, periodic: bool) -> np.ndarray:
    """``a (..., Y, X)`` read at ``(y + dy, x + dx)``: 0 beyond the latitudes (and the
    longitudes of a regional grid), wrapped around a global one."""
    y, x = a.shape[-2:]
    out = np.zeros_like(a)
    src_y = slice(max(0, dy), min(y, y + dy))
    dst_y = slice(max(0, -dy), min(y, y - dy))
    if periodic:
        out[..., dst_y, :] = np.roll(a[..., src_y, :], -dx, axis=-1)
    else:
        src_x = slice(max(0, dx), min(x, x + dx))
        dst_x = slice(max(0, -dx), min(x, x - dx))
        out[..., dst_y, dst_x] = a[..., src_y, src_x]
    return out


def local_covariance(anomalies: np.ndarray, radius: int, periodic: bool,
                     block: int = 16) -> np.ndarray:
    """``(C, C, D, D, Y, X)`` float32, ``D = 4 radius + 1``: ``table[a, b, R + dy, R + dx,
    y, x] = mean_t anomalies[a, t, y, x] * anomalies[b, t, y + dy, x + dx]`` (``R = 2
    radius``; 0 where ``y + dy`` leaves the grid) for complete ``anomalies (C, T, Y, X)``
    (no NaN). Offsets reach ``2 radius`` so the covariance between any two cells of one
    neighbourhood is in the table."""
    radius = _check_radius(radius)
    a = np.asarray(anomalies)
    if a.ndim != 4:
        raise ValueError(f"anomalies must be (C, T, Y, X), got shape {tuple(a.shape)}")
    acc = _Accumulator(a.shape[0], a.shape[2:], radius, periodic)
    for t0 in range(0, a.shape[1], block):
        acc.add(np.asarray(a[:, t0:t0 + block], dtype=np.float64))
    return acc.table()


class _Accumulator:
    """Sums of lagged products over time blocks (the covariance of a long record)."""

    def __init__(self, channels: int, grid: tuple[int, int], radius: int, periodic: bool):
        self.big = 2 * radius
        d = 2 * self.big + 1
        self.periodic = bool(periodic)
        self.sums = np.zeros((channels, channels, d, d, *grid), dtype=np.float64)
        self.count = 0

    def add(self, part: np.ndarray) -> None:
        if not np.isfinite(part).all():
            raise ValueError("local_covariance: anomalies must be complete (no NaN); fill the "
                             "maps first (field_covariance does)")
        big = self.big
        for i in range(2 * big + 1):
            for j in range(2 * big + 1):
                moved = _shifted(part, i - big, j - big, self.periodic)
                self.sums[:, :, i, j] += np.einsum("atyx,btyx->abyx", part, moved)
        self.count += part.shape[1]

    def table(self) -> np.ndarray:
        if self.count == 0:
            raise ValueError("local_covariance: no time step to estimate a covariance from")
        return (self.sums / self.count).astype(np.float32)


def field_covariance(values: Any, background: np.ndarray, radius: int, periodic: bool,
                     block: int = 16, method: str = "biharmonic",
                     basis: np.ndarray | None = None) -> np.ndarray:
    """:func:`local_covariance` of the anomalies ``values - background`` of a gappy field
    ``values (C, T, Y, X)`` (numpy or dask, NaN = missing; ``background`` a time mean ``(C,
    Y, X)`` or seasonal coefficients ``(C, P, Y, X)`` with their ``basis (T, P)``, see
    :mod:`~polydiff.modalities.science.statistics.background`), each map filled by
    :func:`~polydiff.interpolate.first_guess` (``method``). Maps with no known
    value are left out. Reads ``block`` time steps at a time."""
    radius = _check_radius(radius)
    c, t, y, x = values.shape
    acc = _Accumulator(c, (y, x), radius, periodic)
    coefs = np.asarray(background, dtype=np.float32)
    for t0 in range(0, t, block):
        bg = background_at(coefs, None if basis is None else basis[t0:t0 + block])
        part = np.asarray(values[:, t0:t0 + block], dtype=np.float32) - bg
        some = np.isfinite(part).any(axis=(0, 2, 3))
        if some.any():
            filled = fill_maps(part[:, some].transpose(1, 0, 2, 3), periodic, method)
            acc.add(filled.transpose(1, 0, 2, 3).astype(np.float64))
    return acc.table()


def encode_table(radius: int, table: np.ndarray, lat: np.ndarray, lon: np.ndarray,
                 periodic: bool) -> dict[str, Any]:
    """JSON-able record of a covariance table (float16, base64) and the grid it indexes (how
    models written before the table became a fitted buffer recorded it in their description;
    :meth:`FieldUNet.use_data_info` still reads it)."""
    from .background import encode_background

    radius, periodic, lat0, lon0, dlat, dlon = table_grid(radius, lat, lon, periodic)
    return {"radius": int(radius), "periodic": bool(periodic), "lat0": lat0, "dlat": dlat,
            "lon0": lon0, "dlon": dlon, "table": encode_background(table, dtype="float16")}


def table_grid(radius: int, lat: np.ndarray, lon: np.ndarray, periodic: bool) -> list[float]:
    """``[radius, periodic, lat0, lon0, dlat, dlon]``: how a covariance table indexes its grid
    (degrees; a one-cell axis gets step 1)."""
    lat, lon = np.asarray(lat, np.float64), np.asarray(lon, np.float64)
    return [float(radius), float(bool(periodic)), float(lat[0]), float(lon[0]),
            float(lat[1] - lat[0]) if lat.size > 1 else 1.0,
            float(lon[1] - lon[0]) if lon.size > 1 else 1.0]


def decode_table(entry: Mapping[str, Any]) -> np.ndarray:
    """The ``(C, C, D, D, Y, X)`` float32 table of :func:`encode_table`'s record."""
    from .background import decode_background

    return decode_background(entry["table"])
