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
import torch
from torch import Tensor

from .background import background_at

__all__ = ["MAX_LAG", "lag_correlation", "temporal_oi"]

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


def temporal_oi(anomalies: Tensor, known: Tensor, rho: Tensor, dim: int = 2) -> Tensor:
    """The optimal-interpolation estimate of every entry of ``anomalies (B, C, ...)`` along
    axis ``dim`` (time) from its nearest ``known`` (bool, same shape) entries before and
    after it, under ``rho (C, L + 1)`` (:func:`lag_correlation`; lags past ``L``: 0; both
    sides only where ``p + n <= L`` and the correlations form a covariance, else the nearer
    one); known entries are returned exactly, entries with no known neighbour are 0."""
    if anomalies.shape != known.shape or anomalies.ndim < 3 or not 2 <= dim < anomalies.ndim:
        raise ValueError(f"temporal_oi: anomalies {tuple(anomalies.shape)} and known "
                         f"{tuple(known.shape)} must be the same (B, C, ...) shape with the "
                         f"time axis dim={dim} past the channels")
    c = anomalies.shape[1]
    if rho.ndim != 2 or rho.shape[0] != c:
        raise ValueError(f"temporal_oi: rho must be (C={c}, lags), got {tuple(rho.shape)}")
    t = anomalies.shape[dim]
    view = [1] * anomalies.ndim
    view[dim] = t
    steps = torch.arange(t, device=anomalies.device).view(view).expand_as(anomalies)
    prev = torch.where(known, steps, -1).cummax(dim).values
    nxt = torch.where(known, steps, t).flip(dim).cummin(dim).values.flip(dim)
    has_p, has_n = prev >= 0, nxt < t
    lags = rho.shape[1]
    table = torch.cat([rho, rho.new_zeros(c, 1)], dim=1).to(anomalies.dtype)  # 0 past L
    chan = torch.arange(c, device=anomalies.device).view(1, c, *[1] * (anomalies.ndim - 2))

    def r(lag: Tensor) -> Tensor:
        return table[chan.expand_as(lag), lag.clamp(0, lags)]

    rp, rn = r(steps - prev), r(nxt - steps)
    rpn = r(nxt - prev)
    # both sides only where the three correlations are a covariance (a lag past L reads 0,
    # which with rho_p, rho_n near 1 is not): else the nearer side alone
    det = 1.0 - rp * rp - rn * rn - rpn * rpn + 2.0 * rp * rn * rpn
    both = has_p & has_n & (nxt - prev <= lags - 1) & (det > 1e-6)
    near_p = has_p & (~has_n | (steps - prev <= nxt - steps))
    den = (1.0 - rpn * rpn).clamp_min(1e-6)
    wp = torch.where(both, (rp - rpn * rn) / den, torch.where(near_p, rp, 0.0))
    wn = torch.where(both, (rn - rpn * rp) / den,
                     torch.where(has_n & ~near_p, rn, 0.0))
    a = torch.where(known, anomalies, torch.zeros_like(anomalies))
    a_prev = a.gather(dim, prev.clamp(0, t - 1))
    a_next = a.gather(dim, nxt.clamp(0, t - 1))
    return torch.where(known, anomalies, wp * a_prev + wn * a_next)
