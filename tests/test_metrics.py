import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from polydiff import metrics


def test_rmse_mae_ignore_nan_and_unselected():
    target = torch.tensor([1.0, float("nan"), 3.0, 5.0])
    pred = torch.tensor([2.0, 100.0, 3.0, 1.0])
    assert metrics.rmse(pred, target).item() == pytest.approx(((1 + 0 + 16) / 3) ** 0.5)
    where = torch.tensor([True, True, True, False])
    assert metrics.mae(pred, target, where).item() == pytest.approx(0.5)
    with pytest.raises(ValueError, match="no entries"):
        metrics.rmse(pred, target, torch.zeros(4, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"where must be a bool tensor.*float32"):
        metrics.rmse(pred, target, torch.ones(4))
    with pytest.raises(ValueError, match=r"where of shape \(3,\) does not broadcast"):
        metrics.mae(pred, target, torch.ones(3, dtype=torch.bool))


@given(m=st.integers(2, 6), n=st.integers(1, 5), seed=st.integers(0, 999))
def test_crps_sorted_formula_matches_pairwise_definition(m, n, seed):
    g = torch.Generator().manual_seed(seed)
    ens = torch.randn(m, n, generator=g, dtype=torch.float64)
    y = torch.randn(n, generator=g, dtype=torch.float64)
    pair = (ens[:, None] - ens[None]).abs().sum((0, 1))
    for fair, denom in [(True, m * (m - 1)), (False, m * m)]:
        expected = ((ens - y).abs().mean(0) - pair / (2 * denom)).mean()
        assert metrics.crps_ensemble(ens, y, fair=fair).item() == pytest.approx(expected.item())


def test_calibrated_ensemble_scores():
    g = torch.Generator().manual_seed(0)
    truth = torch.randn(20000, generator=g)
    ens = torch.randn(10, 20000, generator=g)  # same distribution as the truth
    _, _, ratio = metrics.spread_skill(ens, truth)
    assert ratio.item() == pytest.approx(1.0, abs=0.03)
    big = torch.randn(200, 5000, generator=g)
    cov = metrics.interval_coverage(big, truth[:5000], level=0.9)
    assert cov.item() == pytest.approx(0.9, abs=0.02)
    # CRPS of N(0,1) forecast for N(0,1) truth is 1/sqrt(pi)
    assert metrics.crps_ensemble(ens, truth).item() == pytest.approx(1 / 3.14159265**0.5, abs=0.02)
    overconfident = 0.2 * ens
    assert metrics.spread_skill(overconfident, truth)[2] < 0.5
    assert metrics.interval_coverage(overconfident, truth) < 0.5


def test_ensemble_shape_errors():
    with pytest.raises(ValueError, match="ensemble must have shape"):
        metrics.crps_ensemble(torch.zeros(3, 4), torch.zeros(5))
    with pytest.raises(ValueError, match="level"):
        metrics.interval_coverage(torch.zeros(3, 4), torch.zeros(4), level=1.5)


# -- weights, closed forms, rank histogram --------------------------------------------------
@given(n=st.integers(1, 6), seed=st.integers(0, 999))
def test_crps_of_one_member_is_the_absolute_error(n, seed):
    g = torch.Generator().manual_seed(seed)
    member = torch.randn(1, n, generator=g, dtype=torch.float64)
    y = torch.randn(n, generator=g, dtype=torch.float64)
    crps = metrics.crps_ensemble(member, y, fair=False)
    assert crps.item() == pytest.approx(metrics.mae(member[0], y).item())
    assert metrics.crps_gaussian(member[0], torch.zeros(n, dtype=torch.float64),
                                 y).item() == pytest.approx(crps.item())


@given(seed=st.integers(0, 999), n=st.integers(2, 8))
def test_weights_are_a_weighted_mean_and_uniform_weights_change_nothing(seed, n):
    g = torch.Generator().manual_seed(seed)
    pred, target = torch.randn(2, n, generator=g, dtype=torch.float64)
    w = torch.rand(n, generator=g, dtype=torch.float64) + 0.1
    assert metrics.mae(pred, target, weight=w).item() == pytest.approx(
        ((pred - target).abs() * w).sum().item() / w.sum().item())
    assert metrics.rmse(pred, target, weight=w).item() == pytest.approx(
        (((pred - target) ** 2 * w).sum() / w.sum()).sqrt().item())
    ens = torch.randn(4, n, generator=g, dtype=torch.float64)
    ones = torch.full((n,), 3.0, dtype=torch.float64)
    for fn in (metrics.crps_ensemble, metrics.interval_coverage):
        assert fn(ens, target, weight=ones).item() == pytest.approx(fn(ens, target).item())
    for a, b in zip(metrics.spread_skill(ens, target, weight=ones),
                    metrics.spread_skill(ens, target), strict=True):
        assert a.item() == pytest.approx(b.item())


def test_latitude_weights_discount_the_poles():
    lat = torch.tensor([-90.0, 0.0, 60.0])
    w = metrics.latitude_weight(lat, ndim=3, lat_axis=1)
    assert w.shape == (1, 3, 1)
    torch.testing.assert_close(w.flatten(), torch.tensor([0.0, 1.0, 0.5], dtype=torch.float64),
                               atol=1e-12, rtol=0)
    target = torch.zeros(2, 3, 4)
    pred = torch.zeros(2, 3, 4)
    pred[:, 0] = 100.0  # error only at the pole: no weight
    assert metrics.rmse(pred, target, weight=w).item() < 1e-5  # cos(90 deg) ~ 6e-17
    with pytest.raises(ValueError, match="weight must be finite and >= 0"):
        metrics.mae(pred, target, weight=-w)
    with pytest.raises(ValueError, match="weight is 0 at every scored entry"):
        metrics.mae(pred[:, :1], target[:, :1], weight=torch.zeros(1, 1, 1))


def test_gaussian_crps_matches_the_ensemble_estimate():
    g = torch.Generator().manual_seed(1)
    mu, sd = torch.tensor([0.0, 1.0, -2.0]), torch.tensor([1.0, 0.5, 2.0])
    y = torch.tensor([0.3, 2.0, -2.5])
    ens = mu + sd * torch.randn(20000, 3, generator=g)
    closed = metrics.crps_gaussian(mu, sd, y)
    assert closed.item() == pytest.approx(metrics.crps_ensemble(ens, y).item(), rel=0.02)
    # y = mean, sd = 1: CRPS = 2 phi(0) - 1/sqrt(pi) = (sqrt(2) - 1) / sqrt(pi)
    one = metrics.crps_gaussian(torch.zeros(1), torch.ones(1), torch.zeros(1))
    assert one.item() == pytest.approx((2 ** 0.5 - 1) / 3.14159265 ** 0.5, rel=1e-6)
    with pytest.raises(ValueError, match="std must be >= 0"):
        metrics.crps_gaussian(mu, -sd, y)


def test_rank_histogram_flat_when_calibrated_u_shaped_when_overconfident():
    g = torch.Generator().manual_seed(0)
    truth = torch.randn(40000, generator=g)
    ens = torch.randn(9, 40000, generator=g)
    flat = metrics.rank_histogram(ens, truth, generator=g)
    assert flat.shape == (10,) and flat.sum().item() == pytest.approx(1.0)
    torch.testing.assert_close(flat, torch.full((10,), 0.1, dtype=torch.float64), atol=0.01,
                               rtol=0)
    narrow = metrics.rank_histogram(0.3 * ens, truth, generator=g)
    assert narrow[0] > 0.25 and narrow[-1] > 0.25 and narrow[4] < 0.05
    # ties (e.g. observed entries, where every member equals the truth) spread evenly
    tied = metrics.rank_histogram(torch.zeros(3, 8000), torch.zeros(8000), generator=g,
                                  normalize=False)
    assert tied.sum().item() == 8000 and (tied > 1800).all()
    nan_target = torch.tensor([float("nan"), 0.5])
    counts = metrics.rank_histogram(torch.tensor([[0.0, 0.0], [1.0, 1.0]]), nan_target,
                                    normalize=False)
    assert counts.tolist() == [0.0, 1.0, 0.0]
