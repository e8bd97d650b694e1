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
