import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from polydiff import analytic, schedules


@st.composite
def mixtures(draw):
    k = draw(st.integers(1, 4))
    n_axes = draw(st.integers(1, 3))
    event = tuple(draw(st.integers(1, 3)) for _ in range(n_axes))
    g = torch.Generator().manual_seed(draw(st.integers(0, 9999)))
    means = 2 * torch.randn((k, *event), generator=g, dtype=torch.float64)
    var = 0.1 + torch.rand((k, *event), generator=g, dtype=torch.float64)
    w = 0.2 + torch.rand(k, generator=g, dtype=torch.float64)
    return analytic.GaussianMixture(means, var, w), g


@given(mix=mixtures(), u=st.floats(0.05, 0.95))
def test_denoiser_agrees_with_tweedie(mix, u):
    gm, g = mix
    sched = schedules.VPCosine()
    t = torch.tensor(u, dtype=torch.float64)
    a, s = sched.alpha_sigma(t)
    x_t = a * gm.sample(6, g) + s * torch.randn((6, *gm.event_shape), generator=g,
                                                dtype=torch.float64)
    tweedie = (x_t + s * s * gm.score(x_t, a, s)) / a
    assert torch.allclose(gm.denoise(x_t, a, s), tweedie, atol=1e-9)


@given(mix=mixtures())
def test_score_is_gradient_of_log_prob(mix):
    gm, g = mix
    x = torch.randn((3, *gm.event_shape), generator=g, dtype=torch.float64, requires_grad=True)
    a, s = 0.8, 0.6
    (grad,) = torch.autograd.grad(gm.log_prob(x, a, s).sum(), x)
    assert torch.allclose(gm.score(x.detach(), a, s), grad, atol=1e-9)


def test_denoiser_agrees_with_monte_carlo():
    """E[x0 | x_t = q] by self-normalised importance weights over prior draws."""
    g = torch.Generator().manual_seed(0)
    gm = analytic.GaussianMixture(torch.tensor([[-2.0, 0.0], [2.0, 1.0]]),
                                  torch.tensor([[0.3, 0.5], [0.2, 0.4]]), torch.tensor([1.0, 2.0]))
    a, s = 0.7, 0.7
    x0 = gm.sample(200_000, g)
    queries = torch.tensor([[0.5, 0.3], [-1.0, 0.0], [1.5, 1.0]], dtype=torch.float64)
    exact = gm.denoise(queries, a, s)
    for q, e in zip(queries, exact, strict=True):
        logw = -((q - a * x0) ** 2).sum(1) / (2 * s * s)
        w = torch.softmax(logw, 0)
        mc = (w[:, None] * x0).sum(0)
        ess = 1 / (w * w).sum()
        spread = ((w[:, None] * (x0 - mc) ** 2).sum(0)).sqrt()
        assert ess > 1000
        assert ((mc - e).abs() < 5 * spread / ess.sqrt()).all()


def test_log_prob_of_single_gaussian_is_exact():
    gm = analytic.GaussianMixture(torch.zeros(1, 2), 1.0)
    x = torch.tensor([[1.0, 2.0]], dtype=torch.float64)
    # N(0, a² + s²) with a = 0.6, s = 0.8 is the standard normal
    assert gm.log_prob(x, 0.6, 0.8).item() == pytest.approx(-0.5 * 5 - math.log(2 * math.pi))


def test_sampling_matches_weights_and_bad_input():
    gm = analytic.GaussianMixture(torch.tensor([[-10.0], [10.0]]), 0.01, torch.tensor([1.0, 3.0]))
    x = gm.sample(4000, torch.Generator().manual_seed(0))
    assert (gm.component_of(x) == 1).float().mean().item() == pytest.approx(0.75, abs=0.03)
    with pytest.raises(ValueError, match="variances"):
        analytic.GaussianMixture(torch.zeros(2, 3), -1.0)
    with pytest.raises(ValueError, match="weights"):
        analytic.GaussianMixture(torch.zeros(2, 3), 1.0, torch.ones(3))
    with pytest.raises(ValueError, match="shape"):
        gm.denoise(torch.zeros(4, 2), 1.0, 0.5)
