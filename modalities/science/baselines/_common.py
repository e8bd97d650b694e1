"""Shared pieces of the classical baselines: checks and coordinates on the sphere."""

from __future__ import annotations

import numpy as np

EARTH_KM = 6371.0


def check_values(values: np.ndarray, lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """``values`` as float64 ``(T, Y, X)`` matching ``lat (Y,)`` and ``lon (X,)``."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 3 or v.shape[1:] != (np.size(lat), np.size(lon)):
        raise ValueError(f"values must be (time, lat, lon) = (T, {np.size(lat)}, "
                         f"{np.size(lon)}), got {v.shape}")
    if not np.isfinite(v).any():
        raise ValueError("values hold no finite value (all NaN)")
    return v


def unit_xyz(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Points on the unit sphere ``(..., 3)`` for latitudes / longitudes in degrees."""
    la, lo = np.deg2rad(lat), np.deg2rad(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)


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
