"""DPM-Solver++ multistep methods (Lu et al. 2022b): exponential integrators in
``lam = log(alpha/sigma)`` on the data prediction, reusing past denoised estimates.

    x_{i+1} = (sigma_{i+1}/sigma_i) x_i + alpha_{i+1} int_0^h exp(u - h) D(lam_i + u) du

2M replaces ``D`` by a line through the last two estimates (with Lu et al.'s ``1/(2r)``
weights), 3M by the parabola through the last three, integrated *exactly*
(:mod:`._expint`). Widely used 3M implementations weight the second difference by half of its
Taylor value, which leaves them second order; this one is third order (see the tests).

DPM-Solver-2M/3M (``dpm_2m``, ``dpm_3m``) integrate the same way in the *noise* frame: the
polynomial goes through past noise predictions ``eps = (x - alpha D)/sigma``. At few steps the
noise frame is often the more accurate (the noise prediction varies slowly at high noise).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from .._checks import check_real
from ..schedules import Schedule
from ..typing import Denoiser as DenoiserFn
from . import _expint
from ._expint import Scalar
from ._run import Run, Times

__all__ = ["MULTISTEP", "dpm_2m", "dpm_3m", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_3m",
           "multistep_coefficients", "noise_prediction"]


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
    return _multistep(Run(denoiser, x, ts, schedule, **kw), 3, "data")


def dpm_2m(denoiser: DenoiserFn, x: Tensor, ts: Times, schedule: Schedule, **kw: Any) -> Tensor:
    """Multistep DPM-Solver in noise prediction (Lu et al. 2022a; DEIS's exponential integrator
    in ``lam``): the exact exponential integral of the line through ``eps_i, eps_{i-1}``.
    Order 2. NFE: 1 per step + 1."""
    return _multistep(Run(denoiser, x, ts, schedule, **kw), 2, "noise")


def dpm_3m(denoiser: DenoiserFn, x: Tensor, ts: Times, schedule: Schedule, **kw: Any) -> Tensor:
    """:func:`dpm_2m` with the parabola through the last three noise predictions. Order 3.
    NFE: 1 per step + 1. Usually the most accurate method at 8-20 NFE on Karras grids."""
    return _multistep(Run(denoiser, x, ts, schedule, **kw), 3, "noise")


#: the multistep exponential integrators: method -> (order, frame)
MULTISTEP = {"dpmpp_3m": (3, "data"), "dpm_2m": (2, "noise"), "dpm_3m": (3, "noise")}


def multistep_coefficients(alpha: Sequence[Scalar], sigma: Sequence[Scalar],
                           lam: Sequence[Scalar], i: int, order: int,
                           frame: str) -> tuple[Scalar, list[Scalar]]:
    """``(A, [B_0, B_1, ...])`` of step ``i -> i + 1``: ``x_{i+1} = A x_i + sum_k B_k Y_{i-k}``,
    with ``Y`` the denoised estimates (``frame="data"``) or the noise predictions
    ``(x - alpha D) / sigma`` (``frame="noise"``), using ``min(order, i + 1)`` of them.

    Data frame:  ``x_{i+1}/sigma_{i+1} = x_i/sigma_i + int exp(lam) D dlam``;
    noise frame: ``x_{i+1}/alpha_{i+1} = x_i/alpha_i - int exp(-lam) eps dlam``; the integrand's
    estimate is the polynomial in ``lam`` through the last estimates, integrated exactly.
    Floats (the samplers) or 0-d tensors (calibration, which differentiates through them).
    """
    h = lam[i + 1] - lam[i]
    nodes = [lam[i - k] - lam[i] for k in range(min(order, i + 1))]
    if frame == "data":
        return sigma[i + 1] / sigma[i], [alpha[i + 1] * c for c in _expint.weights(h, nodes)]
    scale = -alpha[i + 1] * sigma[i] / alpha[i]
    return alpha[i + 1] / alpha[i], [scale * c for c in _expint.noise_weights(h, nodes)]


def noise_prediction(x: Tensor, d: Tensor, alpha: Scalar, sigma: Scalar) -> Tensor:
    """``eps = (x - alpha D) / sigma`` (a new tensor)."""
    if isinstance(alpha, Tensor):
        return (x - alpha * d) / sigma
    return torch.sub(x, d, alpha=alpha).div_(sigma)


def _multistep(run: Run, order: int, frame: str) -> Tensor:
    x, hist, d = run.x, [], None
    for i in run.steps():
        d = run.denoise(x, i)
        y = d if frame == "data" else noise_prediction(x, d, run.alpha[i], run.sigma[i])
        hist = [y, *hist[:order - 1]]
        a, b = multistep_coefficients(run.alpha, run.sigma, run.lam, i, order, frame)
        x = x.mul(a)
        for bk, yk in zip(b, hist, strict=True):
            x.add_(yk, alpha=bk)
    return run.finish(x, d)


def dpmpp_2m_sde(denoiser: DenoiserFn, x: Tensor, ts: Times, schedule: Schedule, *,
                 eta: float = 1.0, **kw: Any) -> Tensor:
    """SDE-DPM-Solver++(2M) ("midpoint" form). ``eta = 1`` follows the reverse SDE, ``eta = 0``
    is :func:`dpmpp_2m`'s ODE with the ``1/(2r)`` weights:

        x/alpha -> rho x/alpha + (1 - rho) D_eff + s_{i+1} sqrt(1 - exp(-2 eta h)) z,
        rho = exp(-(1 + eta) h),  D_eff = D_i + (D_i - D_{i-1}) h_i / (2 h_{i-1}).

    Stochastic (``generator``). NFE: 1 per step + 1 (final denoising).
    """
    eta = check_real(eta, "eta", at_least=0.0)
    run = Run(denoiser, x, ts, schedule, **kw)
    x, h, d_prev = run.x, run.h, None
    for i in run.steps():
        d = run.denoise(x, i)
        d_eff = d if d_prev is None else torch.lerp(d_prev, d, 1 + 0.5 * h[i] / h[i - 1])
        c = math.exp(-run.lam[i + 1]) * math.sqrt(-math.expm1(-2 * eta * h[i]))
        x, d_prev = run.ve_step(x, i, d_eff, math.exp(-(1 + eta) * h[i]), c), d
    return run.finish(x)
