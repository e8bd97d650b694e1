"""DPM-Solver++ multistep methods (Lu et al. 2022b): exponential integrators in
``lam = log(alpha/sigma)`` on the data prediction, reusing past denoised estimates.

    x_{i+1} = (sigma_{i+1}/sigma_i) x_i + alpha_{i+1} int_0^h exp(u - h) D(lam_i + u) du

2M replaces ``D`` by a line through the last two estimates (with Lu et al.'s ``1/(2r)``
weights), 3M by the parabola through the last three, integrated *exactly*
(:mod:`._expint`). Widely used 3M implementations weight the second difference by half of its
Taylor value, which leaves them second order; this one is third order (see the tests).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from ..schedules import Schedule
from . import _expint
from ._run import DenoiserFn, Run, Times

__all__ = ["dpmpp_2m", "dpmpp_2m_sde", "dpmpp_3m"]


def dpmpp_2m(denoiser: DenoiserFn, x: Tensor, ts: Times, schedule: Schedule, **kw: Any) -> Tensor:
    """DPM-Solver++(2M): ``D_eff = D_i + (D_i - D_{i-1}) h_i / (2 h_{i-1})``; the first step is
    first order. Order 2. NFE: 1 per step + 1 (final denoising)."""
    run = Run(denoiser, x, ts, schedule, **kw)
    x, h, d_prev = run.x, run.h, None
    for i in run.steps():
        d = run.denoise(x, i)
        w = 1.0 if d_prev is None else 1.0 + 0.5 * h[i] / h[i - 1]
        x, d_prev = run.step(x, i, d, d_prev, w), d
    return run.finish(x, d_prev)


def dpmpp_3m(denoiser: DenoiserFn, x: Tensor, ts: Times, schedule: Schedule, **kw: Any) -> Tensor:
    """DPM-Solver++(3M): the exponential integral of the parabola through ``D_i, D_{i-1},
    D_{i-2}`` (lower order for the first two steps). Order 3. NFE: 1 per step + 1."""
    run = Run(denoiser, x, ts, schedule, **kw)
    lam, a = run.lam, run.alpha
    x, hist = run.x, []
    for i in run.steps():
        hist = [run.denoise(x, i), *hist[:2]]
        c = _expint.weights(run.h[i], [lam[i - k] - lam[i] for k in range(len(hist))])
        x = x.mul(run.ratio[i])
        for ck, dk in zip(c, hist, strict=True):
            x.add_(dk, alpha=a[i + 1] * ck)
    return run.finish(x, hist[0] if hist else None)


def dpmpp_2m_sde(denoiser: DenoiserFn, x: Tensor, ts: Times, schedule: Schedule, *,
                 eta: float = 1.0, **kw: Any) -> Tensor:
    """SDE-DPM-Solver++(2M) ("midpoint" form). ``eta = 1`` follows the reverse SDE, ``eta = 0``
    is :func:`dpmpp_2m`'s ODE with the ``1/(2r)`` weights:

        x/alpha -> rho x/alpha + (1 - rho) D_eff + s_{i+1} sqrt(1 - exp(-2 eta h)) z,
        rho = exp(-(1 + eta) h),  D_eff = D_i + (D_i - D_{i-1}) h_i / (2 h_{i-1}).

    Stochastic (``generator``). NFE: 1 per step + 1 (final denoising).
    """
    if eta < 0:
        raise ValueError(f"eta must be >= 0, got {eta}")
    run = Run(denoiser, x, ts, schedule, **kw)
    x, h, d_prev = run.x, run.h, None
    for i in run.steps():
        d = run.denoise(x, i)
        d_eff = d if d_prev is None else torch.lerp(d_prev, d, 1 + 0.5 * h[i] / h[i - 1])
        c = math.exp(-run.lam[i + 1]) * math.sqrt(-math.expm1(-2 * eta * h[i]))
        x, d_prev = run.ve_step(x, i, d_eff, math.exp(-(1 + eta) * h[i]), c), d
    return run.finish(x)
