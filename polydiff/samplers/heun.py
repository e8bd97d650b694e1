"""Heun's method in ``s = sigma/alpha`` (Karras et al. 2022, Algorithm 1) and EDM's stochastic
sampler (Algorithm 2: "churn" noise, then a Heun step).

With the Euler predictor ``x'`` and ``D' = D(x', t_{i+1})``, Heun's average of the two slopes is
the first-order step with the denoised estimate (``r = s_{i+1}/s_i = exp(-h)``)

    D_eff = D_i + (D' - D_i) / (2 r),

so it shares the exponential-integrator update with every other method.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .._checks import check_real
from ..schedules import Schedule
from ..typing import Denoiser as DenoiserFn
from ._run import Run, Times

__all__ = ["edm", "heun"]


def heun(denoiser: DenoiserFn, x: Tensor, ts: Times, schedule: Schedule, **kw: Any) -> Tensor:
    """Heun (trapezoidal predictor-corrector) on the probability-flow ODE in ``sigma/alpha``.

    Order 2. NFE: 2 per step + 1 (final denoising).
    """
    run = Run(denoiser, x, ts, schedule, **kw)
    x, d = run.x, None
    for i in run.steps():
        d = run.denoise(x, i)
        d2 = run.denoise(run.step(x, i, d), i + 1, report=False)
        x = run.step(x, i, d2, d, 0.5 * math.exp(run.h[i]))
    return run.finish(x, d)


def edm(denoiser: DenoiserFn, x: Tensor, ts: Times, schedule: Schedule, *, s_churn: float = 40.0,
        s_tmin: float = 0.05, s_tmax: float = 50.0, s_noise: float = 1.0, **kw: Any) -> Tensor:
    """EDM's stochastic sampler: at each step with ``s_tmin <= s_i <= s_tmax`` raise the noise
    level to ``s_hat = s_i (1 + gamma)``, ``gamma = min(s_churn / steps, sqrt(2) - 1)``, by adding
    fresh noise, then take a Heun step from ``s_hat`` to ``s_{i+1}`` (``s = sigma/alpha``;
    ``s_hat`` is capped at the schedule's ``t_max``). ``s_churn = 0`` is :func:`heun`.
    ``s_churn, s_noise >= 0`` are finite; ``s_tmin, s_tmax`` may be ``inf`` (no bound).

    NFE: 2 per step + 1 (final denoising). Stochastic (``generator``).
    """
    s_churn = check_real(s_churn, "s_churn", at_least=0.0)
    s_noise = check_real(s_noise, "s_noise", at_least=0.0)
    s_tmin = check_real(s_tmin, "s_tmin", finite=False)
    s_tmax = check_real(s_tmax, "s_tmax", finite=False)
    run = Run(denoiser, x, ts, schedule, **kw)
    gamma = min(s_churn / run.n, math.sqrt(2) - 1)
    lam_top = 0.5 * schedule.log_snr(torch.tensor(schedule.t_max, dtype=torch.float64)).item()
    plan = []  # per step: (t_hat, alpha_hat, sigma_hat, noise std in the VE frame) or None
    for i in range(run.n):
        s = math.exp(-run.lam[i])
        if gamma == 0 or not s_tmin <= s <= s_tmax:
            plan.append(None)
            continue
        lam_hat = max(run.lam[i] - math.log1p(gamma), lam_top)
        if lam_hat >= run.lam[i]:
            plan.append(None)
            continue
        t_hat = schedule.t_of_log_snr(torch.tensor(2 * lam_hat, dtype=torch.float64))
        t_hat = t_hat.clamp(run.t[i], schedule.t_max)
        a_hat, sg_hat = (v.item() for v in schedule.alpha_sigma(t_hat))
        lam_hat = math.log(a_hat / sg_hat)
        plan.append((t_hat.item(), a_hat, sg_hat,
                     s_noise * math.sqrt(math.exp(-2 * lam_hat) - s * s)))
    x, d = run.x, None
    a, sg = run.alpha, run.sigma
    for i in run.steps():
        p = plan[i]
        if p is None:
            d = run.denoise(x, i)
            a0, s0 = a[i], sg[i]
        else:
            t_hat, a0, s0, std = p
            x = x.mul(a0 / a[i]).add_(run.noise(x), alpha=a0 * std)
            d = run.denoise_at(x, t_hat, i)
            if run.callback is not None:
                run.callback(x, t_hat, d)
        r = (sg[i + 1] * a0) / (s0 * a[i + 1])  # s_{i+1} / s_hat
        ratio, phi = sg[i + 1] / s0, a[i + 1] * (1 - r)
        d2 = run.denoise(x.mul(ratio).add_(d, alpha=phi), i + 1, report=False)
        x = x.mul(ratio).add_(torch.lerp(d, d2, 0.5 / r), alpha=phi)
    return run.finish(x)
