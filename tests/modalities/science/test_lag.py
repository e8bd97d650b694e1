"""Optimal interpolation in time: the closed form of the estimate, the lag correlation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polydiff.modalities.science.lag import lag_correlation, temporal_oi


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
        if before.size and after.size:
            p, n = t - before[-1], after[0] - t
            m = np.array([[1.0, r(p + n)], [r(p + n), 1.0]])
            w = np.linalg.solve(m, [r(p), r(n)])
            out[t] = w[0] * a[before[-1]] + w[1] * a[after[0]]
        elif before.size:
            out[t] = r(t - before[-1]) * a[before[-1]]
        elif after.size:
            out[t] = r(after[0] - t) * a[after[0]]
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
