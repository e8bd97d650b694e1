"""Optimal interpolation in time with the field's own lag correlation.

A missing value's anomaly from the background is estimated from the same cell's nearest
known time steps before and after it, at lags ``p`` and ``n``, as the Gaussian conditional
mean under the anomalies' lag correlation ``rho(L)``: weights ``(rho_p - r rho_n, rho_n - r
rho_p) / (1 - r^2)`` with ``r = rho(p + n)``, where ``p + n`` is within the estimated lags
and the three correlations form a covariance; else ``rho`` of the nearer known step (of the
one side that has one); the background (anomaly 0) when neither has. Unlike linear
interpolation in time it falls back to the background as the known steps grow apart, by as
much as the data says.

``rho`` is estimated per variable from every pair of observed anomalies ``L`` steps apart,
pooled over (at most ``cells``) cells: :func:`lag_correlation`. :func:`temporal_oi` is the
first guess of ``FieldUNet(fill_method="temporal_oi")`` (time-axis models; ``rho`` recorded
by :class:`~polydiff.modalities.science.FieldData` with a background) and of the classical
``science_baselines.temporal_oi`` (``benchmarks/``; measured with whole months
missing in docs/science.md).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .background import background_at

__all__ = ["MAX_LAG", "lag_correlation"]

#: the longest lag whose correlation is estimated (0 beyond)
MAX_LAG = 24


def lag_correlation(values: Any, background: np.ndarray, basis: np.ndarray | None = None,
                    max_lag: int = MAX_LAG, cells: int = 4096) -> np.ndarray:
    """``(C, max_lag + 1)`` float32: per variable, the correlation of the observed anomalies
    of ``values (C, T, Y, X)`` (numpy or dask, NaN = missing) from ``background`` (a time mean
    ``(C, Y, X)`` or seasonal coefficients ``(C, P, Y, X)`` with their ``basis (T, P)``) with
    those ``L`` steps later, for ``L = 0 .. max_lag`` (pooled over every ``k``-th row and
    column, at most about ``cells`` cells; 0 where no pair is observed)."""
    c, t, y, x = values.shape
    step = max(1, int(np.ceil(np.sqrt(y * x / cells))))
    v = np.asarray(values[:, :, ::step, ::step], dtype=np.float32)
    bg = background_at(np.asarray(background)[..., ::step, ::step], basis)
    ok = np.isfinite(v)
    a = np.where(ok, v - bg, 0.0).astype(np.float32)
    rho = np.zeros((c, max_lag + 1), dtype=np.float64)
    rho[:, 0] = 1.0
    for lag in range(1, min(max_lag, t - 1) + 1):
        both = ok[:, :-lag] & ok[:, lag:]
        first, later = a[:, :-lag] * both, a[:, lag:] * both
        num = (first * later).sum(axis=(1, 2, 3), dtype=np.float64)
        den = np.sqrt((first ** 2).sum(axis=(1, 2, 3), dtype=np.float64)
                      * (later ** 2).sum(axis=(1, 2, 3), dtype=np.float64))
        rho[:, lag] = np.where(den > 0, np.clip(num / np.where(den > 0, den, 1.0), -1, 1), 0.0)
    return rho.astype(np.float32)
