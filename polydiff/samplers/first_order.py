"""First-order methods: one evaluation per step, all of the form (VE frame, ``s = sigma/alpha``)

    x_{i+1} / alpha_{i+1} = rho x_i / alpha_i + (1 - rho) D(x_i, t_i) + c z,    z ~ N(0, I)

with ``(rho, c)`` the only thing that differs (``h = lam_{i+1} - lam_i``):

==================  =====================================  =========================================
method              rho                                    c
==================  =====================================  =========================================
euler / ddim(0)     exp(-h)                                0
ddim(eta)           exp(-h) sqrt(1 - eta² (1 - exp(-2h)))  eta s_{i+1} sqrt(1 - exp(-2h))
ddpm                exp(-2h)                               s_{i+1} sqrt(1 - exp(-2h))
euler_maruyama      exp(-2h)                               s_i sqrt(1 - exp(-2h))
==================  =====================================  =========================================

Euler in ``sigma/alpha`` on the probability-flow ODE is exactly DDIM with ``eta = 0``
(Karras et al. 2022); DDIM with ``eta = 1`` is DDPM's ancestral step.
"""

from __future__ import annotations

import math
from typing import Any

from torch import Tensor

from .._checks import check_real
from ..schedules import Schedule
from ..typing import Denoiser as DenoiserFn
from ._run import Run, Times

__all__ = ["ddim", "ddpm", "euler", "euler_maruyama"]


def _ancestral(run: Run, rho_c: list[tuple[float, float]]) -> Tensor:
    """Run the ``(rho, c)`` step above along the grid; ends with ``run.finish``."""
    x = run.x
    for i in run.steps():
        x = run.ve_step(x, i, run.denoise(x, i), *rho_c[i])
    return run.finish(x)


def euler(denoiser: DenoiserFn, x: Tensor, ts: Times, schedule: Schedule, **kw: Any) -> Tensor:
    """Euler on the probability-flow ODE ``d(x/alpha)/ds = (x/alpha - D)/s``, ``s = sigma/alpha``.

    Order 1. NFE: 1 per step, plus 1 for the final denoising (see ``final``). ``x`` is the
    sample at ``ts[0]``, shape ``(B, ...)``; returns the sample, same shape.
    """
    run = Run(denoiser, x, ts, schedule, **kw)
    x, d_prev = run.x, None
    for i in run.steps():
        d = run.denoise(x, i)
        x, d_prev = run.step(x, i, d), d
    return run.finish(x, d_prev)


def ddim(denoiser: DenoiserFn, x: Tensor, ts: Times, schedule: Schedule, *, eta: float = 0.0,
         **kw: Any) -> Tensor:
    """DDIM (Song et al. 2021) with stochasticity ``eta`` in ``[0, 1]``; ``eta = 0`` is the
    deterministic ODE method (= :func:`euler`), ``eta = 1`` is :func:`ddpm`.

    Order 1. NFE: 1 per step + 1 (final denoising).
    """
    eta = check_real(eta, "eta", at_least=0.0, at_most=1.0)
    if eta == 0.0:
        return euler(denoiser, x, ts, schedule, **kw)
    run = Run(denoiser, x, ts, schedule, **kw)
    coeffs = []
    for i, h in enumerate(run.h):
        q = -math.expm1(-2 * h)  # 1 - exp(-2h)
        coeffs.append((math.exp(-h) * math.sqrt(1 - eta * eta * q),
                       eta * math.exp(-run.lam[i + 1]) * math.sqrt(q)))
    return _ancestral(run, coeffs)


def ddpm(denoiser: DenoiserFn, x: Tensor, ts: Times, schedule: Schedule, **kw: Any) -> Tensor:
    """DDPM ancestral sampling (Ho et al. 2020): draw ``x_{i+1}`` from the Gaussian posterior
    ``q(x_{i+1} | x_i, x0 = D(x_i))`` on any grid. Stochastic (``generator``).

    NFE: 1 per step + 1 (final denoising).
    """
    return ddim(denoiser, x, ts, schedule, eta=1.0, **kw)


def euler_maruyama(denoiser: DenoiserFn, x: Tensor, ts: Times, schedule: Schedule,
                   **kw: Any) -> Tensor:
    """Euler-Maruyama on the reverse SDE in the VE frame with variance time ``tau = s²``:
    ``x/alpha += (tau_i - tau_{i+1}) score + sqrt(tau_i - tau_{i+1}) z`` with the score at
    ``t_i`` (Song et al. 2021). Weak order 1; needs many steps (it over-injects noise on
    coarse grids). NFE: 1 per step + 1 (final denoising).
    """
    run = Run(denoiser, x, ts, schedule, **kw)
    coeffs = [(math.exp(-2 * h), math.exp(-run.lam[i]) * math.sqrt(-math.expm1(-2 * h)))
              for i, h in enumerate(run.h)]
    return _ancestral(run, coeffs)
