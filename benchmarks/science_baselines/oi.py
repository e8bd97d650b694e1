"""Optimal interpolation with the field's own local covariance (all variables together)."""

from __future__ import annotations

import numpy as np
import torch

from polydiff.modalities.science.data.grid import is_periodic
from polydiff.modalities.science.guesses import local_oi as oi_patches
from polydiff.modalities.science.statistics.background import background_at, fit_background_basis
from polydiff.modalities.science.statistics.covariance import field_covariance
from polydiff.modalities.science.statistics.filled import fill_maps

__all__ = ["local_oi"]


def local_oi(values: np.ndarray, lat: np.ndarray, lon: np.ndarray,
             times: np.ndarray | None = None, radius: int = 3, ridge: float = 0.01,
             years: np.ndarray | None = None) -> np.ndarray:
    """Fill ``values (C, T, Y, X)`` (variables, time, lat, lon; NaN = missing) at the time
    steps ``times`` (default all): anomalies from the field's background (the time mean of
    its filled maps; with ``years (T,)``, the dates of all time steps in years
    (:func:`~polydiff.modalities.science.statistics.background.annual_phase`), its seasonal cycle)
    estimated from the known values within ``radius`` cells of each gap,
    both variables together, under the covariance of the field's own filled maps
    (:mod:`~polydiff.modalities.science.statistics.covariance`); where no value is known within
    ``radius``, the biharmonic guess. Returns ``(C, len(times), Y, X)`` float64, observed
    values unchanged."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 4 or v.shape[2:] != (np.size(lat), np.size(lon)):
        raise ValueError(f"values must be (variable, time, lat, lon) = (C, T, {np.size(lat)}, "
                         f"{np.size(lon)}), got {v.shape}")
    if not np.isfinite(v).any(axis=(1, 2, 3)).all():
        raise ValueError("values: some variable holds no finite value (all NaN)")
    periodic = is_periodic(lon)
    times = np.arange(v.shape[1]) if times is None else np.asarray(times)
    coefs, basis = fit_background_basis(v, periodic, years)
    table = torch.from_numpy(field_covariance(v, coefs, radius, periodic, basis=basis))
    bg = background_at(coefs, None if basis is None else basis[times]).astype(np.float64)
    a = (v[:, times] - bg).transpose(1, 0, 2, 3)  # (K, C, Y, X)
    known = torch.from_numpy(np.isfinite(a))
    x = torch.from_numpy(np.nan_to_num(a).astype(np.float32))
    guess = torch.from_numpy(fill_maps(a, periodic))
    zeros = torch.zeros(len(times), dtype=torch.long)
    est = oi_patches(x, known, table, zeros, zeros, radius, periodic, fallback=guess,
                     ridge=ridge).numpy().astype(np.float64)
    out = est.transpose(1, 0, 2, 3) + bg
    return np.where(np.isfinite(v[:, times]), v[:, times], out)
