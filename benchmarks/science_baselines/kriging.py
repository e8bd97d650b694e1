"""Space-time optimal interpolation (simple kriging) with a covariance fitted to the data.

The background is each cell's mean of its observed values (``background="cell"``, for long
records) or the field's mean (``"global"``); the anomalies have the covariance
``C(d, dt) = s2 exp(-d / L) exp(-|dt| / tau) + n2 [d = dt = 0]`` (great-circle distance ``d``
in km, ``dt`` in time steps), whose four parameters are fitted by maximum likelihood on
random subsets of the observed anomalies. Each block of target cells of one time step is
predicted from the ``max_points`` observed values most correlated with its centre, within
``window`` time steps: the kriging mean and the predictive standard deviation (of a new
observation, nugget included), so the method gives a predictive distribution.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import linalg, optimize

from ._common import EARTH_KM, check_values, fallback, unit_xyz

__all__ = ["KrigingFit", "fit_covariance", "kriging"]


@dataclass(frozen=True)
class KrigingFit:
    """Covariance parameters: variance ``s2``, length ``length_km``, time scale ``tau``
    (steps), nugget ``n2`` (same units as ``s2``)."""

    s2: float
    length_km: float
    tau: float
    n2: float

    def cov(self, d_km: np.ndarray, dt: np.ndarray) -> np.ndarray:
        """Covariance without the nugget."""
        return self.s2 * np.exp(-d_km / self.length_km - np.abs(dt) / self.tau)


def _dist_km(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Great-circle distances between unit vectors ``p (n, 3)`` and ``q (m, 3)``."""
    return EARTH_KM * np.arccos(np.clip(p @ q.T, -1.0, 1.0))


def fit_covariance(anom: np.ndarray, xyz: np.ndarray, n_points: int = 300, n_sets: int = 2,
                   seed: int = 0) -> KrigingFit:
    """Maximum-likelihood covariance of the anomalies ``anom (T, Y, X)`` (NaN = missing) on
    the grid ``xyz (Y, X, 3)``, from ``n_sets`` random subsets of ``n_points`` values."""
    rng = np.random.default_rng(seed)
    t_idx, y_idx, x_idx = np.nonzero(np.isfinite(anom))
    sets = []
    for _ in range(n_sets):
        pick = rng.choice(t_idx.size, size=min(n_points, t_idx.size), replace=False)
        p = xyz[y_idx[pick], x_idx[pick]]
        t = t_idx[pick].astype(np.float64)
        sets.append((_dist_km(p, p), t[:, None] - t[None, :],
                     anom[t_idx[pick], y_idx[pick], x_idx[pick]]))
    var = float(np.nanvar(anom))

    def nll(log_params: np.ndarray) -> float:
        s2, length, tau, n2 = np.exp(log_params)
        total = 0.0
        for d, dt, a in sets:
            k = s2 * np.exp(-d / length - np.abs(dt) / tau) + (n2 + 1e-9 * var) * np.eye(a.size)
            try:
                c = linalg.cho_factor(k, lower=True)
            except linalg.LinAlgError:
                return 1e30
            total += np.log(np.diag(c[0])).sum() + 0.5 * a @ linalg.cho_solve(c, a)
        return float(total)

    start = np.log([0.9 * var, 1500.0, 2.0, 0.1 * var])
    res = optimize.minimize(nll, start, method="Nelder-Mead",
                            options={"maxiter": 300, "xatol": 1e-2, "fatol": 1e-2})
    s2, length, tau, n2 = np.exp(res.x)
    return KrigingFit(float(s2), float(length), float(tau), float(n2))


def kriging(values: np.ndarray, lat: np.ndarray, lon: np.ndarray,
            times: np.ndarray | None = None, fit: KrigingFit | None = None,
            max_points: int = 400, window: int | None = None, block: tuple[int, int] = (8, 16),
            background: str = "cell", seed: int = 0
            ) -> tuple[np.ndarray, np.ndarray, KrigingFit]:
    """``(mean, std, fit)`` for the time steps ``times`` (default all): ``mean``/``std``
    ``(len(times), Y, X)``, observed values unchanged with std 0. ``window``: time steps on
    either side used (default ``ceil(3 tau)``, at most 6)."""
    v = check_values(values, lat, lon)
    t_all = v.shape[0]
    times = np.arange(t_all) if times is None else np.asarray(times)
    la, lo = np.meshgrid(np.asarray(lat, float), np.asarray(lon, float), indexing="ij")
    xyz = unit_xyz(la, lo)
    obs = np.isfinite(v)
    counts = obs.sum(0)
    if background not in ("cell", "global"):
        raise ValueError(f"background must be 'cell' or 'global', got {background!r}")
    bg = np.full(v.shape[1:], np.nanmean(v))
    if background == "cell":
        bg = np.where(counts > 0, np.nansum(np.where(obs, v, 0.0), 0) / np.maximum(counts, 1),
                      bg)
    anom = v - bg
    fit = fit or fit_covariance(anom, xyz, seed=seed)
    w = window if window is not None else int(min(6, np.ceil(3 * fit.tau)))
    mean = np.where(obs[times], v[times], np.nan)
    std = np.where(obs[times], 0.0, np.nan)
    y_n, x_n = v.shape[1:]
    for i, t in enumerate(times):
        lo_t, hi_t = max(0, t - w), min(t_all, t + w + 1)
        ti, yi, xi = np.nonzero(obs[lo_t:hi_t])
        if ti.size == 0:
            continue
        pts, tt = xyz[yi, xi], (ti + lo_t).astype(np.float64)
        vals = anom[ti + lo_t, yi, xi]
        for r0 in range(0, y_n, block[0]):
            for c0 in range(0, x_n, block[1]):
                miss = ~obs[t, r0:r0 + block[0], c0:c0 + block[1]]
                if not miss.any():
                    continue
                ry, rx = np.nonzero(miss)
                ry, rx = ry + r0, rx + c0
                tgt = xyz[ry, rx]
                centre = tgt.mean(0)
                centre /= np.linalg.norm(centre)
                score = fit.cov(_dist_km(centre[None], pts)[0], tt - t)
                pick = np.argsort(-score)[:max_points]
                p, pt, a = pts[pick], tt[pick], vals[pick]
                k = fit.cov(_dist_km(p, p), pt[:, None] - pt[None, :])
                k[np.diag_indices_from(k)] += fit.n2 + 1e-9 * fit.s2
                ks = fit.cov(_dist_km(p, tgt), pt[:, None] - t)
                c = linalg.cho_factor(k, lower=True)
                mean[i, ry, rx] = bg[ry, rx] + ks.T @ linalg.cho_solve(c, a)
                var = fit.s2 + fit.n2 - np.einsum("ij,ij->j", ks, linalg.cho_solve(c, ks))
                std[i, ry, rx] = np.sqrt(np.maximum(var, 1e-12 * fit.s2))
    bad = ~np.isfinite(mean)
    if bad.any():
        mean = fallback(mean, v[times])
        std[bad] = np.sqrt(fit.s2 + fit.n2)
    return mean, std, fit
