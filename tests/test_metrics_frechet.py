"""polydiff.metrics' Fréchet distance: the numbers the audio and video modalities computed
with their own copies, a closed form, and its invariants."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polydiff.metrics import feature_stats, frechet_distance, frechet_distance_of


def _old_video(a: torch.Tensor, b: torch.Tensor) -> float:
    """modalities/video/metrics.py's frechet_distance(a, b) before the core one (numpy)."""
    a, b = a.double().numpy(), b.double().numpy()
    mu = a.mean(0) - b.mean(0)
    sa, sb = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    ev, vec = np.linalg.eigh(sa)
    root_a = (vec * np.sqrt(ev.clip(0))) @ vec.T
    inner = np.linalg.eigvalsh(root_a @ sb @ root_a).clip(0)
    return float(mu @ mu + np.trace(sa) + np.trace(sb) - 2 * np.sqrt(inner).sum())


def _old_audio(mu1, cov1, mu2, cov2) -> torch.Tensor:
    """modalities/audio/metrics.py's frechet_distance(mu1, cov1, mu2, cov2) (torch)."""
    mu1, mu2, cov1, cov2 = (v.double() for v in (mu1, mu2, cov1, cov2))
    w1, v1 = torch.linalg.eigh(cov1)
    root1 = (v1 * w1.clamp(min=0).sqrt()) @ v1.T
    middle = root1 @ cov2 @ root1
    cross = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    dist = (mu1 - mu2).pow(2).sum() + torch.trace(cov1) + torch.trace(cov2) - 2 * cross
    return dist.clamp(min=0.0)


def _features(seed: int, n: int, m: int, d: int, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, d, generator=g, dtype=dtype)
    mix = torch.randn(d, d, generator=g, dtype=dtype)
    b = torch.randn(m, d, generator=g, dtype=dtype) @ mix + torch.rand(d, generator=g,
                                                                       dtype=dtype)
    return a, b


@given(seed=st.integers(0, 10_000), n=st.integers(2, 60), m=st.integers(2, 60),
       d=st.integers(1, 8))
@settings(max_examples=40, deadline=None)
def test_the_same_numbers_as_the_modalities_copies(seed, n, m, d):
    a, b = _features(seed, n, m, d)
    got = frechet_distance_of(a, b)
    assert got.dtype == torch.float64 and got.shape == ()
    # full-rank covariances agree to rounding; singular ones (N <= D) to the square root of
    # rounding (sqrt of eigenvalues ~1e-15 that are 0 in exact arithmetic)
    tol = dict(rel=1e-10, abs=1e-12) if min(n, m) > d else dict(rel=0, abs=1e-5)
    assert float(got) == pytest.approx(_old_video(a, b), **tol)
    stats = (*feature_stats(a), *feature_stats(b))
    assert torch.equal(frechet_distance(*stats), _old_audio(*stats))


def test_feature_stats_are_numpy_mean_and_cov():
    a, _ = _features(0, 30, 2, 4, torch.float64)
    mu, cov = feature_stats(a)
    np.testing.assert_allclose(mu.numpy(), a.numpy().mean(0), rtol=1e-12)
    np.testing.assert_allclose(cov.numpy(), np.cov(a.numpy(), rowvar=False), rtol=1e-12)
    mu1, cov1 = feature_stats(a[:, :1])
    assert mu1.shape == (1,) and cov1.shape == (1, 1)


def test_closed_form_for_commuting_covariances():
    mu1, mu2 = torch.tensor([0.0, 1.0]), torch.tensor([3.0, -1.0])
    s1, s2 = torch.tensor([1.0, 4.0]), torch.tensor([9.0, 0.25])
    want = (mu1 - mu2).pow(2).sum() + (s1.sqrt() - s2.sqrt()).pow(2).sum()
    got = frechet_distance(mu1, torch.diag(s1), mu2, torch.diag(s2))
    assert float(got) == pytest.approx(float(want), rel=1e-12)
    a, _ = _features(3, 40, 2, 5)
    assert 0.0 <= float(frechet_distance_of(a, a)) < 1e-9


@given(seed=st.integers(0, 10_000), d=st.integers(1, 6))
@settings(max_examples=20, deadline=None)
def test_symmetric_and_non_negative(seed, d):
    a, b = _features(seed, 20, 25, d, torch.float64)
    ab, ba = frechet_distance_of(a, b), frechet_distance_of(b, a)
    assert float(ab) >= 0.0
    assert float(ab) == pytest.approx(float(ba), rel=1e-8, abs=1e-10)


def test_bad_shapes_are_named():
    a = torch.zeros(5, 3)
    with pytest.raises(ValueError, match=r"features_a and features_b must be tensors \(N, D\) "
                                         r"and \(M, D\) with N, M >= 2, got \(5, 3\) and \(5, 2\)"):
        frechet_distance_of(a, a[:, :2])
    with pytest.raises(ValueError, match=r"got \(1, 3\) and \(5, 3\)"):
        frechet_distance_of(a[:1], a)
    with pytest.raises(ValueError, match=r"features must be a tensor \(N, D\) with N >= 2, got "
                                         r"\(3,\)"):
        feature_stats(torch.zeros(3))
    with pytest.raises(ValueError, match=r"mu2, cov2 must have shapes \(D,\) and \(D, D\), got "
                                         r"\(3,\) and \(3, 2\)"):
        frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(3), torch.zeros(3, 2))
    with pytest.raises(ValueError, match="mu1 and mu2 must have one dimension D"):
        frechet_distance(torch.zeros(3), torch.eye(3), torch.zeros(2), torch.eye(2))
