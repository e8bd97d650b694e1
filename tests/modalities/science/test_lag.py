"""Optimal interpolation in time: the closed form of the estimate, the lag correlation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polydiff.modalities.science.guesses import temporal_oi
from polydiff.modalities.science.statistics.lag import lag_correlation


def _by_hand(a: np.ndarray, known: np.ndarray, rho: np.ndarray) -> np.ndarray:
    """The estimate of one series ``a (T,)`` entry by entry."""
    def r(lag):
        return rho[lag] if lag < len(rho) else 0.0

    out = a.copy()
    idx = np.flatnonzero(known)
    for t in range(len(a)):
        if known[t]:
            continue
        before, after = idx[idx < t], idx[idx > t]
        p = t - before[-1] if before.size else None
        n = after[0] - t if after.size else None
        full = np.array([[1.0, r(p or 0), r(n or 0)], [r(p or 0), 1.0, r((p or 0) + (n or 0))],
                         [r(n or 0), r((p or 0) + (n or 0)), 1.0]])
        if p and n and p + n < len(rho) and np.linalg.det(full) > 1e-6:
            m = np.array([[1.0, r(p + n)], [r(p + n), 1.0]])
            w = np.linalg.solve(m, [r(p), r(n)])
            out[t] = w[0] * a[before[-1]] + w[1] * a[after[0]]
        elif p and (not n or p <= n):
            out[t] = r(p) * a[before[-1]]
        elif n:
            out[t] = r(n) * a[after[0]]
        else:
            out[t] = 0.0
    return out


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), t=st.integers(1, 9), lags=st.integers(1, 6),
       share=st.floats(0.0, 1.0))
def test_temporal_oi_is_the_gaussian_conditional_mean_of_the_nearest_steps(seed, t, lags,
                                                                           share):
    g = np.random.default_rng(seed)
    a = g.standard_normal((2, 2, t, 3))  # (B, C, T, X)
    known = g.random(a.shape) < share
    rho = np.concatenate([np.ones((2, 1)), 0.9 * np.cumprod(g.uniform(0.3, 0.95, (2, lags)),
                                                            axis=1)], axis=1)
    got = temporal_oi(torch.from_numpy(a), torch.from_numpy(known), torch.from_numpy(rho))
    want = np.empty_like(a)
    for b in range(2):
        for c in range(2):
            for x in range(3):
                want[b, c, :, x] = _by_hand(a[b, c, :, x], known[b, c, :, x], rho[c])
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-9)
    assert (got.numpy()[known] == a[known]).all()  # known entries exactly


def test_temporal_oi_stays_within_its_neighbours_across_a_gap_longer_than_the_lags():
    """A persistent series (rho = 0.97^L up to L = 24) with 25 steps missing between two known
    ones: the two-sided weights would need rho(26), which reads 0 (not a covariance with
    rho_p, rho_n near 1: weights summing to 1.4); the nearer side alone stays within them."""
    rho = torch.from_numpy(0.97 ** np.arange(25))[None]
    a = torch.zeros(1, 1, 27, dtype=torch.float64)
    a[..., 0] = a[..., -1] = 1.0
    known = torch.zeros_like(a, dtype=torch.bool)
    known[..., 0] = known[..., -1] = True
    got = temporal_oi(a, known, rho.double())[0, 0]
    assert float(got.max()) <= 1.0 and float(got.min()) > 0.4
    torch.testing.assert_close(got[1:14], 0.97 ** torch.arange(1, 14, dtype=torch.float64))


def test_temporal_oi_refuses_mismatched_shapes():
    a = torch.zeros(1, 2, 4, 3)
    with pytest.raises(ValueError, match=r"rho must be \(C=2, lags\)"):
        temporal_oi(a, a > 0, torch.ones(3, 4))
    with pytest.raises(ValueError, match="same .* shape"):
        temporal_oi(a, torch.zeros(1, 2, 4, 2, dtype=torch.bool), torch.ones(2, 4))


def test_lag_correlation_of_an_ar1_field_with_gaps():
    g = np.random.default_rng(0)
    phi, t = 0.6, 600
    x = np.zeros((1, t, 4, 4))
    for i in range(1, t):
        x[:, i] = phi * x[:, i - 1] + np.sqrt(1 - phi ** 2) * g.standard_normal((1, 4, 4))
    x[g.random(x.shape) < 0.3] = np.nan
    rho = lag_correlation(x, np.zeros((1, 4, 4)), max_lag=3)
    np.testing.assert_allclose(rho[0], phi ** np.arange(4), atol=0.05)
    one = lag_correlation(x[:, :1], np.zeros((1, 4, 4)), max_lag=3)  # no pair at any lag
    np.testing.assert_array_equal(one[0], [1, 0, 0, 0])
