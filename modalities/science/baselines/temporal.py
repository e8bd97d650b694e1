"""Linear interpolation along time, cell by cell."""

from __future__ import annotations

import numpy as np

from ._common import check_values, fallback

__all__ = ["temporal_linear"]


def temporal_linear(values: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Each cell's time series interpolated linearly between its observed steps (constant
    before the first and after the last); cells never observed: the map's mean."""
    v = check_values(values, lat, lon)
    t = np.arange(v.shape[0], dtype=np.float64)
    flat = v.reshape(v.shape[0], -1)
    out = flat.copy()
    for j in range(flat.shape[1]):
        ok = np.isfinite(flat[:, j])
        if ok.any() and not ok.all():
            out[~ok, j] = np.interp(t[~ok], t[ok], flat[ok, j])
    return fallback(out.reshape(v.shape), v)
