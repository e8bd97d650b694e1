"""Stochastic methods reproduce the mean and variance of a 1-D Gaussian within statistical error
(plus a small allowance for the discretisation bias at the chosen number of steps)."""

from __future__ import annotations

import math

import pytest
import torch

from polydiff import analytic, samplers, schedules

MEAN, STD, N = 0.7, 0.3, 40_000
GAUSS = analytic.GaussianMixture(torch.tensor([[MEAN]], dtype=torch.float64),
                                 torch.tensor([STD**2], dtype=torch.float64))
SE_MEAN, SE_VAR = STD / math.sqrt(N), STD**2 * math.sqrt(2 / N)

CASES = [  # method, options, steps
    ("ddpm", {}, 800),
    ("ddim", {"eta": 0.5}, 400),
    ("dpmpp_2m_sde", {}, 100),
    ("dpmpp_2m_sde", {"eta": 0.5}, 100),
    ("euler_maruyama", {}, 500),
    ("edm", {}, 100),
    ("edm", {"s_churn": 80, "s_tmin": 0.0, "s_tmax": 1e9}, 100),
    ("euler", {}, 200),  # deterministic flows map the noise onto the data as well
    ("dpmpp_2m", {}, 30),
]


@pytest.mark.parametrize("sched", [schedules.VPCosine(), schedules.EDM()], ids=lambda s: s.name)
@pytest.mark.parametrize(("method", "opts", "steps"), CASES,
                         ids=[f"{m}{o or ''}" for m, o, _ in CASES])
def test_gaussian_mean_and_variance(method, opts, steps, sched) -> None:
    noise = torch.randn(N, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x = samplers.sample(GAUSS.denoiser(sched), noise, sched, steps, method,
                        generator=torch.Generator().manual_seed(1), **opts)
    mean, var = x.mean().item(), x.var().item()
    assert abs(mean - MEAN) < 5 * SE_MEAN + 0.002, (mean, MEAN)
    assert abs(var - STD**2) < 5 * SE_VAR + 0.02 * STD**2, (var, STD**2)


def test_too_few_steps_is_detectably_biased() -> None:
    """The tolerance above can fail: DDPM with 10 steps underestimates the variance."""
    sched = schedules.VPCosine()
    noise = torch.randn(N, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    x = samplers.sample(GAUSS.denoiser(sched), noise, sched, 10, "ddpm",
                        generator=torch.Generator().manual_seed(1))
    assert x.var().item() < STD**2 - (5 * SE_VAR + 0.02 * STD**2)
