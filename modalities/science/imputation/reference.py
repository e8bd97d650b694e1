"""The classical reference the science demo reports beside polydiff: scipy's ``griddata`` on
each map of a field, bridged across the date line on global grids.

:func:`map_by_map` is the mechanism (each map filled from its observed cells by any
scattered-data interpolator); the benchmarks' other map-by-map baselines
(``benchmarks/science_baselines``) build on it. Every function takes one variable
``values (T, Y, X)`` (NaN = missing) with ``lat (Y,)``, ``lon (X,)`` in degrees and returns
the filled array, observed values unchanged."""

from __future__ import annotations

import numpy as np
from scipy import interpolate

from ..data.grid import is_periodic

__all__ = ["check_values", "fallback", "griddata", "map_by_map"]


def check_values(values: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """``values`` as float64 ``(T, Y, X)`` matching ``lat (Y,)`` and ``lon (X,)``."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 3 or v.shape[1:] != (np.size(lat), np.size(lon)):
        raise ValueError(f"values must be (time, lat, lon) = (T, {np.size(lat)}, "
                         f"{np.size(lon)}), got {v.shape}")
    if not np.isfinite(v).any():
        raise ValueError("values hold no finite value (all NaN)")
    return v


def fallback(filled: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Entries a method could not reach (NaN): the map's mean of observed values, else the
    field's."""
    out = filled.copy()
    overall = np.nanmean(values)
    for t in range(out.shape[0]):
        bad = ~np.isfinite(out[t])
        if bad.any():
            m = values[t][np.isfinite(values[t])]
            out[t][bad] = m.mean() if m.size else overall
    return out


def _wrapped(px: np.ndarray, py: np.ndarray, pv: np.ndarray, lon: np.ndarray,
             periodic: bool, band: float = 60.0) -> tuple[np.ndarray, ...]:
    """Observed points, repeated ``band`` degrees beyond either longitude edge of a global
    grid (so interpolation bridges the date line)."""
    if not periodic:
        return px, py, pv
    lo, hi = lon.min(), lon.max()
    left, right = px > hi - band, px < lo + band
    return (np.concatenate([px, px[left] - 360, px[right] + 360]),
            np.concatenate([py, py[left], py[right]]),
            np.concatenate([pv, pv[left], pv[right]]))


def map_by_map(values: np.ndarray, lat: np.ndarray, lon: np.ndarray, fill) -> np.ndarray:
    """Fill the NaN of each map ``values (T, lat, lon)``: ``fill(points (N, 2), observed
    (N,), targets (M, 2)) -> (M,)`` in (lon, lat) degrees, with the observed points repeated
    across the date line on global grids; maps with fewer than 4 observed cells are left to
    :func:`fallback`."""
    v = check_values(values, lat, lon)
    lon = np.asarray(lon, dtype=np.float64)
    yy, xx = np.meshgrid(np.asarray(lat, dtype=np.float64), lon, indexing="ij")
    periodic = is_periodic(lon)
    out = np.full_like(v, np.nan)
    for t in range(v.shape[0]):
        ok = np.isfinite(v[t])
        if ok.sum() < 4:
            continue
        px, py, pv = _wrapped(xx[ok], yy[ok], v[t][ok], lon, periodic)
        out[t] = v[t]
        out[t][~ok] = fill(np.stack([px, py], 1), pv, np.stack([xx[~ok], yy[~ok]], 1))
    return fallback(out, v)


def griddata(values: np.ndarray, lat: np.ndarray, lon: np.ndarray, method: str = "linear"
             ) -> np.ndarray:
    """Delaunay interpolation of each map in (lon, lat) degrees (``"linear"`` or
    ``"cubic"``); on global grids the observed points are repeated one band of 60 degrees
    beyond either edge, so gaps across the date line are bridged. Cells outside the hull:
    nearest observed value. Maps without observed values: the field's mean."""
    if method not in ("linear", "cubic"):
        raise ValueError(f"griddata method must be 'linear' or 'cubic', got {method!r}")

    def fill(points, observed, targets):
        got = interpolate.griddata(points, observed, targets, method=method)
        bad = ~np.isfinite(got)
        if bad.any():
            got[bad] = interpolate.griddata(points, observed, targets[bad], method="nearest")
        return got

    return map_by_map(values, lat, lon, fill)
