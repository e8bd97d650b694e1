"""Interpolation along time, cell by cell: linear, and optimal under the lag correlation."""

from __future__ import annotations

import numpy as np
import torch

from ._common import check_values, fallback

__all__ = ["temporal_linear", "temporal_oi"]


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


def temporal_oi(values: np.ndarray, lat: np.ndarray, lon: np.ndarray,
                years: np.ndarray | None = None, max_lag: int = 24) -> np.ndarray:
    """Optimal interpolation in time, cell by cell
    (:func:`polydiff.modalities.science.guesses.temporal_oi`): a missing step's anomaly from the
    field's background (the time mean of its filled maps; with ``years (T,)``, the steps'
    dates in years, its seasonal cycle) from the cell's nearest observed steps before and
    after it, under the anomalies' lag correlation
    (:func:`~polydiff.modalities.science.statistics.lag.lag_correlation`, up to
    ``max_lag``); cells never observed: the background."""
    from polydiff.modalities.science.data.grid import is_periodic
    from polydiff.modalities.science.guesses import temporal_oi as oi_in_time
    from polydiff.modalities.science.statistics.background import (
        background_at,
        fit_background_basis,
    )
    from polydiff.modalities.science.statistics.lag import lag_correlation

    v = check_values(values, lat, lon)[None]  # (1, T, Y, X)
    coefs, basis = fit_background_basis(v, is_periodic(lon), years)
    rho = torch.from_numpy(lag_correlation(v, coefs, basis, max_lag)).double()
    bg = background_at(coefs, basis).astype(np.float64)
    ok = np.isfinite(v)
    a = torch.from_numpy(np.where(ok, v - bg, 0.0))[None]  # (1, 1, T, Y, X)
    est = oi_in_time(a, torch.from_numpy(ok)[None], rho).numpy()[0] + bg
    return np.where(ok, v, est)[0]
