"""DINEOF: gap filling by an iteratively refined truncated SVD (Beckers & Rixen 2003)."""

from __future__ import annotations

import numpy as np

from ._common import check_values, fallback

__all__ = ["dineof"]


def _reconstruct(a: np.ndarray, missing: np.ndarray, rank: int, tol: float,
                 max_iter: int) -> np.ndarray:
    """Refill ``missing`` entries of ``a (T, N)`` with its rank-``rank`` reconstruction until
    they change by less than ``tol`` (relative); returns the filled matrix. The SVD is taken
    through the small ``T x T`` Gram matrix."""
    x = a.copy()
    for _ in range(max_iter):
        gram = x @ x.T
        w, u = np.linalg.eigh(gram)
        uk = u[:, np.argsort(w)[::-1][:rank]]
        recon = uk @ (uk.T @ x)
        change = np.sqrt(np.mean((recon[missing] - x[missing]) ** 2))
        x[missing] = recon[missing]
        if change <= tol * (np.sqrt(np.mean(x ** 2)) + 1e-12):
            break
    return x


def dineof(values: np.ndarray, lat: np.ndarray, lon: np.ndarray, max_rank: int = 20,
           cv_fraction: float = 0.03, tol: float = 1e-3, max_iter: int = 100,
           seed: int = 0) -> tuple[np.ndarray, int]:
    """``(filled, rank)``: the anomalies from each cell's mean are filled by truncated SVD;
    the rank (1 ... ``max_rank``) minimises the error on a random ``cv_fraction`` of the
    observed values held out, and the final fill uses every observed value. Cells never
    observed get the map's mean."""
    v = check_values(values, lat, lon)
    t, *grid = v.shape
    flat = v.reshape(t, -1)
    seen = np.isfinite(flat).any(0)
    x = flat[:, seen]
    obs = np.isfinite(x)
    mean = np.nanmean(x, axis=0)
    a = np.where(obs, x - mean, 0.0)
    rng = np.random.default_rng(seed)
    cv = obs & (rng.random(obs.shape) < cv_fraction)
    best, best_err, worse = 1, np.inf, 0
    for rank in range(1, min(max_rank, t - 1) + 1):
        filled = _reconstruct(np.where(cv, 0.0, a), ~obs | cv, rank, tol, max_iter)
        err = np.sqrt(np.mean((filled[cv] - a[cv]) ** 2)) if cv.any() else 0.0
        if err < best_err:
            best, best_err, worse = rank, err, 0
        else:
            worse += 1
            if worse >= 3:
                break
    final = _reconstruct(a, ~obs, best, tol, max_iter) + mean
    out = np.full_like(flat, np.nan)
    out[:, seen] = np.where(obs, x, final)
    return fallback(out.reshape(v.shape), v), best
