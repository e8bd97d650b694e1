"""Adaptive-step probability-flow ODE solver with error control, per sample.

An embedded exponential-integrator pair in ``lam = log(alpha/sigma)`` (in the spirit of
DPM-Solver-23, Lu et al. 2022, on the data prediction): from ``D_0`` at the step's start, stages
at ``h/3`` (first order) and ``2h/3`` (second order) give ``D_1, D_2``; the exponential integral
of the parabola through ``(0, D_0), (h/3, D_1), (2h/3, D_2)`` is the third-order solution, that
of the line through ``D_0, D_1`` the embedded second-order one. Their difference, measured as
``RMS(err / (atol + rtol max(|x_old|, |x_new|)))`` in the schedule's frame, accepts or rejects
the step and sets the next ``h``. Every sample has its own step size (the denoiser gets
per-sample times), so a sample never depends on the batch it is drawn in.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._checks import append_dims, check_count, check_real
from ..schedules import Schedule
from ..typing import Denoiser as DenoiserFn
from ._run import Run, Times, final_weight

__all__ = ["adaptive"]


def _moments(h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``I_0, I_1, I_2`` of :mod:`._expint` for a tensor of step sizes ``h > 0``."""
    i0 = -torch.expm1(-h)
    i1 = h - i0
    return i0, i1, h * h - 2 * i1


def adaptive(denoiser: DenoiserFn, x: Tensor, ts: Times, schedule: Schedule, *,
             rtol: float = 1e-3, atol: float = 1e-3, h_init: float = 0.1, safety: float = 0.9,
             max_nfe: int = 10_000, **kw: Any) -> Tensor:
    """Integrate the probability-flow ODE from ``ts[0]`` to ``ts[-1]`` (the times in between are
    ignored) to the tolerances ``rtol``/``atol``, then denoise at ``ts[-1]``.

    NFE: 3 per accepted step (2 stages + the next step's start; the last start is the final
    denoising), 2 per rejected one. The total is added to ``info["nfe"]`` (pass ``info={}``),
    with ``info["accepted"]`` and ``info["rejected"]`` (per-sample mean). The callback gets
    per-sample times ``(B,)``.
    """
    rtol = check_real(rtol, "rtol", positive=True)
    atol = check_real(atol, "atol", at_least=0.0)
    h_init = check_real(h_init, "h_init", positive=True)
    safety = check_real(safety, "safety", positive=True, at_most=1.0)
    max_nfe = check_count(max_nfe, "max_nfe")
    if kw.get("eval_times") is not None:
        raise ValueError("adaptive chooses its own times: eval_times is not supported")
    run = Run(denoiser, x, ts, schedule, **kw)
    lam_end = run.lam[-1]
    f64 = dict(dtype=torch.float64, device=x.device)
    lam = torch.full((run.batch,), run.lam[0], **f64)
    h = torch.full((run.batch,), float(h_init), **f64)
    n_acc = torch.zeros(run.batch, **f64)
    n_rej = torch.zeros(run.batch, **f64)
    dims = x.ndim

    def at(lam_b: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """times, alpha and sigma/alpha at per-sample ``lam``, as ``(B,)`` float64"""
        t = schedule.t_of_log_snr(2 * lam_b).clamp(schedule.t_min, schedule.t_max)
        t = torch.where(lam_b >= lam_end, run.t[-1], t)
        return t, schedule.alpha_sigma(t)[0], torch.exp(-lam_b)

    def col(v: Tensor) -> Tensor:
        return append_dims(v.to(run.dtype), dims)

    x = run.x
    t0, a0, _ = at(lam)
    d0 = run.denoise_at(x, t0, 0)
    d_prev = lam_prev = None
    k = 0  # attempted steps (for error messages)
    while bool((lam < lam_end).any()):
        k += 1
        if run.nfe > max_nfe:
            raise RuntimeError(f"adaptive: more than max_nfe={max_nfe} evaluations; loosen "
                               f"rtol/atol (remaining lam: {(lam_end - lam).max().item():.3g})")
        active = lam < lam_end
        h = torch.where(active, torch.minimum(h, lam_end - lam), torch.ones_like(h))
        hs = torch.where(active, h, torch.zeros_like(h))
        u1, u2 = hs / 3, 2 * hs / 3
        xv = x / col(a0)  # VE frame
        t1, a1, _ = at(lam + u1)
        i0 = _moments(u1)[0]
        x1 = (xv * col(torch.exp(-u1)) + col(i0) * d0) * col(a1)
        d1 = run.denoise_at(x1, t1, k)
        t2, a2, _ = at(lam + u2)
        j0, j1, _ = _moments(u2)
        g1 = torch.where(active, 1 / (h / 3), torch.zeros_like(h))  # 1/u1, 0 when inactive
        x2 = (xv * col(torch.exp(-u2)) + col(j0) * d0 + col(j1 * g1) * (d1 - d0)) * col(a2)
        d2 = run.denoise_at(x2, t2, k)
        # parabola D0 + b1 u + b2 u^2 through the stages, on the full step
        k0, k1, k2 = _moments(hs)
        uu1, uu2 = h / 3, 2 * h / 3
        det = uu1 * uu2 * (uu2 - uu1)
        c11, c12 = uu2 * uu2 / det, -uu1 * uu1 / det  # b1 = c11 dD1 + c12 dD2
        c21, c22 = -uu2 / det, uu1 / det  # b2 = c21 dD1 + c22 dD2
        w1 = torch.where(active, k1 * c11 + k2 * c21, torch.zeros_like(h))
        w2 = torch.where(active, k1 * c12 + k2 * c22, torch.zeros_like(h))
        t_new, a_new, _ = at(lam + hs)
        base = xv * col(torch.exp(-hs)) + col(k0) * d0
        x_new = (base + col(w1) * (d1 - d0) + col(w2) * (d2 - d0)) * col(a_new)
        err = (col(w1 - k1 * g1) * (d1 - d0) + col(w2) * (d2 - d0)) * col(a_new)
        scale = atol + rtol * torch.maximum(x.abs(), x_new.abs())
        err = (err / scale).square().flatten(1).mean(1).sqrt().to(torch.float64)
        accept = active & (err <= 1.0)
        factor = (safety * err.clamp(min=1e-10) ** (-1 / 3)).clamp(0.2, 5.0)
        factor = torch.where(accept, factor, factor.clamp(max=0.9))
        if bool(accept.any()):
            mask = append_dims(accept, dims)
            x = torch.where(mask, x_new, x)
            d_prev = d0 if d_prev is None else torch.where(mask, d0, d_prev)
            lam_prev = lam.clone() if lam_prev is None else torch.where(accept, lam, lam_prev)
            lam = torch.where(accept, torch.where(lam + hs >= lam_end - 1e-12, lam_end,
                                                  lam + hs), lam)
            t0, a0, _ = at(lam)
            d0 = torch.where(mask, run.denoise_at(x, t0, k), d0)
            if run.callback is not None:
                run.callback(x, t0, d0)
        n_acc += accept.to(torch.float64)
        n_rej += (active & ~accept).to(torch.float64)
        h = torch.where(active, h * factor, h)
    if run.info is not None:
        run.info["accepted"] = run.info.get("accepted", 0.0) + n_acc.mean().item()
        run.info["rejected"] = run.info.get("rejected", 0.0) + n_rej.mean().item()
    if run.final == "none":
        return run.finish(x)
    if d_prev is not None:  # second-order extrapolation to sigma = 0, as in Run.finish
        d0 = torch.lerp(d_prev, d0, col(final_weight(lam_end, lam_prev)))
    return run.finish(x, d_last=d0)
