"""Map-by-map interpolation: scipy ``griddata`` and ``RBFInterpolator``."""

from __future__ import annotations

import numpy as np
from scipy import interpolate

from ..grid import is_periodic
from ._common import check_values, fallback

__all__ = ["griddata", "rbf"]


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


def _each_map(values: np.ndarray, lat: np.ndarray, lon: np.ndarray, fill) -> np.ndarray:
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

    return _each_map(values, lat, lon, fill)


def rbf(values: np.ndarray, lat: np.ndarray, lon: np.ndarray, neighbors: int = 64,
        kernel: str = "thin_plate_spline", smoothing: float = 0.0) -> np.ndarray:
    """Radial basis function interpolation of each map in (lon, lat) degrees with the
    ``neighbors`` nearest observed points per target (scipy ``RBFInterpolator``); on global
    grids the points are repeated across the date line as in :func:`griddata`."""

    def fill(points, observed, targets):
        fit = interpolate.RBFInterpolator(points, observed, neighbors=min(neighbors,
                                          observed.size), kernel=kernel, smoothing=smoothing)
        return fit(targets)

    return _each_map(values, lat, lon, fill)
