import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polydiff import conformal, metrics


def test_covering_factors_closed_form():
    # members -1, 0, 1 (mean 0); the central 50% interval is [-0.5, 0.5]
    ens = torch.tensor([[-1.0, -1.0, -1.0, -1.0], [0.0, 0.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]])
    y = torch.tensor([0.25, -1.0, 2.0, 0.0])
    lo, hi = conformal.covering_factors(ens, y, level=0.5)
    assert lo.tolist() == pytest.approx([0.5, 2.0, 4.0, 0.0])
    assert torch.isinf(hi).all()


def test_covering_factors_no_spread_and_mean_outside_the_interval():
    lo, hi = conformal.covering_factors(torch.ones(4, 2), torch.tensor([1.0, 3.0]))
    assert lo[0].item() == 0.0 and math.isinf(hi[0].item())
    assert lo[1].item() > hi[1].item()  # never covered
    # members 0, 0, 1, 2, 12: mean 3 above the central 50% interval [0, 2]; y = 1 is inside
    # [3 - 3k, 3 - k] for 2/3 <= k <= 2 only
    ens = torch.tensor([[0.0], [0.0], [1.0], [2.0], [12.0]])
    lo, hi = conformal.covering_factors(ens, torch.tensor([1.0]), level=0.5)
    assert lo.item() == pytest.approx(2 / 3) and hi.item() == pytest.approx(2.0)


@settings(max_examples=25, deadline=None)
@given(m=st.integers(2, 8), n=st.integers(5, 60), scale=st.floats(0.05, 3.0),
       level=st.sampled_from([0.5, 0.8, 0.9]), seed=st.integers(0, 9999))
def test_inflated_intervals_cover_the_calibration_entries(m, n, scale, level, seed):
    g = torch.Generator().manual_seed(seed)
    truth = torch.randn(n, generator=g, dtype=torch.float64)
    ens = truth + torch.randn(n, generator=g, dtype=torch.float64) + \
        scale * torch.randn(m, n, generator=g, dtype=torch.float64)
    k = conformal.spread_factor(ens, truth, level=level)
    cover = metrics.interval_coverage(conformal.inflate(ens, k), truth, level).item()
    assert cover >= level - 1e-9  # ceil((n + 1) level) / n >= level of the entries
    # the smallest such factor: a slightly smaller one covers fewer entries
    if k > 0:
        less = metrics.interval_coverage(conformal.inflate(ens, k * (1 - 1e-5)), truth,
                                         level).item()
        assert less < cover


@settings(max_examples=25, deadline=None)
@given(m=st.integers(2, 6), n=st.integers(5, 50), level=st.sampled_from([0.5, 0.8, 0.9]),
       scale=st.floats(0.1, 100.0), seed=st.integers(0, 9999))
def test_weighted_factor_covers_that_share_of_the_weight(m, n, level, scale, seed):
    """With weights: the widened intervals hold at least ``level`` of the calibration
    entries' weight, and no smaller factor does as much; equal weights give the unweighted
    factor, and scaling every weight changes nothing."""
    g = torch.Generator().manual_seed(seed)
    truth = torch.randn(n, generator=g, dtype=torch.float64)
    ens = truth + torch.randn(n, generator=g, dtype=torch.float64) + \
        0.3 * torch.randn(m, n, generator=g, dtype=torch.float64)
    w = torch.rand(n, generator=g, dtype=torch.float64) + 0.01
    k = conformal.spread_factor(ens, truth, level=level, weight=w)
    cover = metrics.interval_coverage(conformal.inflate(ens, k), truth, level, weight=w).item()
    assert cover >= level - 1e-9
    if k > 0:
        less = metrics.interval_coverage(conformal.inflate(ens, k * (1 - 1e-5)), truth, level,
                                         weight=w).item()
        assert less < min(1.0, (n + 1) * level / n) - 1e-12
    assert conformal.spread_factor(ens, truth, level=level, weight=scale * w) == \
        pytest.approx(k, rel=1e-9)
    assert conformal.spread_factor(ens, truth, level=level, weight=torch.full((n,), scale)) \
        == conformal.spread_factor(ens, truth, level=level)


@settings(max_examples=20, deadline=None)
@given(c=st.floats(0.1, 10.0), seed=st.integers(0, 9999))
def test_spread_factor_scales_inversely_with_the_spread(c, seed):
    g = torch.Generator().manual_seed(seed)
    truth = torch.randn(30, generator=g, dtype=torch.float64)
    mean = truth + torch.randn(30, generator=g, dtype=torch.float64)
    dev = torch.randn(6, 30, generator=g, dtype=torch.float64)
    dev = dev - dev.mean(0)  # the ensemble mean stays ``mean`` for every scale
    k1 = conformal.spread_factor(mean + dev, truth)
    kc = conformal.spread_factor(mean + c * dev, truth)
    assert kc == pytest.approx(k1 / c, rel=1e-9)


def test_calibrated_ensemble_needs_no_inflation_and_held_out_coverage_holds():
    # members and truth from the same distribution: the 5-95 % quantiles of 16 members cover
    # only about 13.5 / 17 of new draws (order statistics), so the factor is a little above 1;
    # fitted on one half, it gives about the nominal coverage on the other half
    g = torch.Generator().manual_seed(0)
    n, m = 4000, 16
    center = torch.randn(n, generator=g)
    ens = center + torch.randn(m, n, generator=g)
    truth = center + torch.randn(n, generator=g)
    fit = torch.arange(n) < n // 2
    k = conformal.spread_factor(ens, truth, where=fit)
    assert 1.05 < k < 1.5
    cover = metrics.interval_coverage(conformal.inflate(ens, k), truth, 0.9, where=~fit).item()
    assert 0.87 < cover < 0.93


def test_inflate_keeps_the_mean():
    ens = torch.randn(5, 7, generator=torch.Generator().manual_seed(1))
    out = conformal.inflate(ens, 2.5)
    assert torch.allclose(out.mean(0), ens.mean(0), atol=1e-6)
    assert torch.allclose(out.std(0), 2.5 * ens.std(0), atol=1e-5)


@pytest.mark.parametrize("call, pattern", [
    (lambda: conformal.spread_factor(torch.zeros(1, 3), torch.zeros(3)), "M >= 2"),
    (lambda: conformal.spread_factor(torch.zeros(2, 3), torch.zeros(4)), "same shape"),
    (lambda: conformal.spread_factor(torch.zeros(2, 3), torch.zeros(3), level=1.0),
     r"level must lie in \(0, 1\), got 1.0"),
    (lambda: conformal.spread_factor(torch.zeros(2, 3), torch.zeros(3),
                                     where=torch.zeros(3, dtype=torch.bool)),
     "at least one held-out entry"),
    (lambda: conformal.spread_factor(torch.zeros(2, 3), torch.zeros(3), where=torch.ones(3)),
     "where must be a bool tensor"),
    (lambda: conformal.inflate(torch.zeros(2, 3), float("nan")), "finite and >= 0"),
    (lambda: conformal.conformal_factor(torch.zeros(2, 3), torch.zeros(2, 3)),
     r"k_lo and k_hi must be \(n,\) each, got \(2, 3\) and \(2, 3\)"),
    (lambda: conformal.conformal_factor(torch.zeros(3), torch.zeros(4)),
     r"got \(3,\) and \(4,\)"),
    (lambda: conformal.conformal_factor(torch.zeros(3), torch.ones(3), level=0.0),
     r"level must lie in \(0, 1\), got 0.0"),
    (lambda: conformal.conformal_factor(torch.zeros(3), torch.ones(3), weight=torch.zeros(3)),
     r"weight must be \(n,\) = \(3,\), finite, >= 0 and not all 0, got shape \(3,\)"),
    (lambda: conformal.conformal_factor(torch.zeros(3), torch.ones(3), weight=torch.ones(2)),
     r"got shape \(2,\)"),
    (lambda: conformal.spread_factor(torch.zeros(2, 3), torch.zeros(3), weight=torch.ones(4)),
     r"weight \(4,\) must broadcast to the target \(3,\)"),
])
def test_bad_input_is_one_clear_error(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()
