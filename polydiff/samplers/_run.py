"""The machinery every method shares: one ``Run`` per sampler call, local to that call.

A ``Run`` turns the grid into per-step Python floats once (so the loop does no scalar tensor
work), evaluates the denoiser with the shape/finiteness checks and the callback, draws noise from
the caller's generator, and ends the run (final denoising or not). Methods only combine
denoised estimates with these coefficients.

Frames and symbols (``lam`` is *half* the log-SNR, as in DPM-Solver)::

    x_t = alpha x0 + sigma eps,   lam = log(alpha / sigma),   h_i = lam_{i+1} - lam_i > 0
    VE frame: x / alpha = x0 + (sigma / alpha) eps,  sigma / alpha = exp(-lam)

The first-order exponential-integrator step (DDIM, Euler in sigma/alpha, DPM-Solver++ 1) is

    x_{i+1} = (sigma_{i+1} / sigma_i) x_i + alpha_{i+1} (1 - exp(-h_i)) D,

and every deterministic method here is this step with ``D`` replaced by an affine combination of
denoised estimates (weights summing to one).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

from .._checks import check_choice
from ..schedules import Schedule
from ..typing import Denoiser as DenoiserFn
from ._expint import Scalar, _expm1
from ._options import check_conditioning
from .grids import RANGE_TOL, check_grid

__all__ = ["FINALS", "Callback", "Generators", "Run", "Times", "check_eval_times", "final_weight",
           "randn_like"]

#: how a run ends: ``"denoise"`` returns the denoised estimate at ``ts[-1]`` (one evaluation;
#: ODE methods add their multistep correction, see :meth:`Run.finish`), ``"none"`` returns
#: the (noisy) state at ``ts[-1]``.
FINALS = ("denoise", "none")


Callback = Callable[[Tensor, float, Tensor], Any]
#: decreasing times ``(n + 1,)`` from ``ts[0]`` (where ``x`` is) to ``ts[-1]``
Times = Sequence[float] | Tensor
Generators = torch.Generator | Sequence[torch.Generator] | None


def _defer_checks(device: torch.device) -> bool:
    """Whether finiteness checks wait for the end of the run: on accelerators a per-step
    check would force a host sync every step."""
    return device.type != "cpu"


def randn_like(like: Tensor, generator: Generators = None) -> Tensor:
    """Standard normal noise shaped like ``like``. ``generator`` is one ``torch.Generator``
    (``None``: the global RNG), one per sample (sample ``b`` draws only from ``generator[b]``,
    so its noise does not depend on the rest of the batch), or one per group of rows: ``G``
    generators for a batch of ``B = G m`` samples draw ``m`` rows each, in one call, as they
    would for a batch of ``m`` alone (the windows of a windowed task, batched together)."""
    if generator is None or isinstance(generator, torch.Generator):
        return torch.randn(like.shape, generator=generator, dtype=like.dtype, device=like.device)
    groups, batch = len(generator), like.shape[0]
    if not groups or batch % groups:
        raise ValueError(f"got {groups} generators for a batch of {batch}; give one, one per "
                         f"sample or one per group of rows (a divisor of {batch})")
    rows = batch // groups
    return torch.cat([torch.randn((rows, *like.shape[1:]), generator=g, dtype=like.dtype,
                                  device=like.device) for g in generator])


def check_eval_times(eval_times: Times, grid: Tensor, schedule: Schedule) -> list[float]:
    """Validate the times given to the denoiser at each grid point (one per point, inside the
    schedule's range, any order) and return them as floats."""
    ev = torch.as_tensor(eval_times, dtype=torch.float64).detach().cpu()
    if ev.shape != grid.shape:
        raise ValueError(f"eval_times must hold one time per grid point, shape "
                         f"{tuple(grid.shape)}, got {tuple(ev.shape)}")
    if not torch.isfinite(ev).all():
        raise ValueError("eval_times holds NaN/Inf")
    lo, hi = ev.min().item(), ev.max().item()
    if lo < schedule.t_min - RANGE_TOL or hi > schedule.t_max + RANGE_TOL:
        raise ValueError(f"eval_times spans [{lo:.6g}, {hi:.6g}], outside the schedule's range "
                         f"[t_min, t_max] = [{schedule.t_min:.6g}, {schedule.t_max:.6g}]")
    return ev.clamp(schedule.t_min, schedule.t_max).tolist()


def final_weight(lam_last: Scalar, lam_prev: Scalar) -> Scalar:
    """Weight ``1 + w`` of the last estimate in :meth:`Run.finish`'s extrapolation to
    ``sigma = 0``: ``1 + s_n² / (s_{n-1}² - s_n²) = -1 / expm1(-2 (lam_n - lam_{n-1}))``
    (floats, or tensors for per-sample or differentiable times)."""
    return -1.0 / _expm1(-2 * (lam_last - lam_prev))


class Run:
    """State of one sampler call. Attributes (lists of floats, one per grid point ``i``):
    ``t, alpha, sigma, lam``; per step ``i -> i + 1``: ``h, ratio`` (``sigma_{i+1}/sigma_i``),
    ``phi`` (``alpha_{i+1} (1 - exp(-h))``); ``n`` steps, ``x`` the start ``(B, ...)`` in
    solver precision.

    A method is ``run = Run(denoiser, x, ts, schedule, **kw)``, then ``for i in run.steps()``
    with :meth:`denoise` and :meth:`step` (or :meth:`ve_step`), then ``return run.finish(x)``.
    ``**cond`` is the denoiser's conditioning; a keyword named like an option of a built-in
    method raises (the method at hand did not take it, so it is not meant for the denoiser).

    ``eval_times`` (optional, one per grid point) are the times given to the denoiser in place
    of the grid's: a calibrated plan (:mod:`.calibration`) shifts them; the coefficients always
    use the grid."""

    def __init__(self, denoiser: DenoiserFn, x: Tensor, ts: Times,
                 schedule: Schedule, *, final: str = "denoise", generator: Generators = None,
                 callback: Callback | None = None, progress: bool = False,
                 info: dict | None = None, eval_times: Times | None = None, **cond: Any):
        if not isinstance(x, Tensor) or not x.is_floating_point() or x.ndim < 1:
            raise ValueError("x must be a floating tensor of shape (batch, ...)")
        self.final = check_choice(final, FINALS, "final")
        check_conditioning(cond)  # e.g. `euler(..., eta=0.5)`: eta is not euler's
        grid = check_grid(ts, schedule)
        self.n = len(grid) - 1
        alpha, sigma = schedule.alpha_sigma(grid)
        lam = 0.5 * schedule.log_snr(grid)
        self.t, self.alpha, self.sigma, self.lam = (grid.tolist(), alpha.tolist(), sigma.tolist(),
                                                    lam.tolist())
        self.h = [b - a for a, b in zip(self.lam[:-1], self.lam[1:], strict=True)]
        self.ratio = [s1 / s0 for s0, s1 in zip(self.sigma[:-1], self.sigma[1:], strict=True)]
        self.phi = [a1 * -math.expm1(-h) for a1, h in zip(self.alpha[1:], self.h, strict=True)]
        self.unit_alpha = all(a == 1.0 for a in self.alpha)
        self.schedule = schedule
        self.dtype = torch.promote_types(x.dtype, torch.float32)
        self.x = x.to(self.dtype)
        self.batch = x.shape[0]
        t_eval = self.t if eval_times is None else check_eval_times(eval_times, grid, schedule)
        self.t_in = torch.tensor(t_eval, dtype=self.dtype, device=x.device)[:, None].repeat(
            1, self.batch).unbind(0)
        self.denoiser, self.cond, self.callback = denoiser, cond, callback
        self.generator, self.progress, self.info = generator, progress, info
        self.nfe = 0
        self._defer = _defer_checks(x.device)
        self._sums: list[tuple[int, float, Tensor]] = []

    # -- network evaluations ----------------------------------------------------------------
    def denoise(self, x: Tensor, i: int, report: bool = True) -> Tensor:
        """``D(x, t_i)`` in solver precision; calls the callback when ``report``."""
        d = self._eval(x, self.t_in[i], i, self.t[i])
        if report and self.callback is not None:
            self.callback(x, self.t[i], d)
        return d

    def denoise_at(self, x: Tensor, t: float | Tensor, i: int) -> Tensor:
        """``D(x, t)`` at a time off the grid (a float, or per-sample ``(B,)``) during step i."""
        t_in = torch.as_tensor(t, dtype=self.dtype, device=x.device).expand(self.batch)
        return self._eval(x, t_in.contiguous(), i, t if isinstance(t, float) else float(t[0]))

    def _eval(self, x: Tensor, t_in: Tensor, i: int, t: float) -> Tensor:
        d = self.denoiser(x, t_in, **self.cond)
        self.nfe += 1
        if not isinstance(d, Tensor) or d.shape != x.shape:
            shape = tuple(d.shape) if isinstance(d, Tensor) else type(d).__name__
            raise ValueError(f"step {i} (t={t:.6g}): the denoiser returned {shape}, expected "
                             f"the input's shape {tuple(x.shape)}")
        if d.dtype != self.dtype:
            d = d.to(self.dtype)
        s = d.sum()  # one cheap reduction: NaN/Inf propagate into it
        if self._defer:
            self._sums.append((i, t, s))
        elif not math.isfinite(s.item()):
            self._check(d, i, t)
        return d

    @staticmethod
    def _check(d: Tensor, i: int, t: float) -> None:
        bad = int((~torch.isfinite(d)).sum())
        if bad:  # (a finite tensor can overflow its sum: then nothing is wrong)
            raise ValueError(f"step {i} (t={t:.6g}): the denoiser returned {bad} NaN/Inf "
                             f"value(s)")

    # -- steps ----------------------------------------------------------------------------------
    def steps(self) -> Iterable[int]:
        """``range(n)``, with a tqdm progress bar when asked."""
        if not self.progress:
            return range(self.n)
        from tqdm.auto import trange

        return trange(self.n, desc="sampling", leave=False)

    def step(self, x: Tensor, i: int, d: Tensor, d_prev: Tensor | None = None,
             w: float = 1.0) -> Tensor:
        """First-order exponential-integrator step ``i -> i + 1`` with the denoised estimate
        ``d``, or with ``d_prev + w (d - d_prev)`` when ``d_prev`` is given (fused)."""
        if self.unit_alpha:  # sigma_{i+1}/sigma_i = exp(-h): fused lerps
            if d_prev is not None:
                d = torch.lerp(d_prev, d, w)
            return torch.lerp(d, x, self.ratio[i])
        p = self.phi[i]
        if d_prev is None:
            return x.mul(self.ratio[i]).add_(d, alpha=p)
        return x.mul(self.ratio[i]).add_(d, alpha=p * w).add_(d_prev, alpha=p * (1.0 - w))

    def ve_step(self, x: Tensor, i: int, d: Tensor, rho: float, c: float = 0.0) -> Tensor:
        """Step ``i -> i + 1`` written in the VE frame: ``x/alpha -> rho x/alpha + (1 - rho) d
        + c z`` with fresh noise ``z`` when ``c > 0``."""
        a0, a1 = self.alpha[i], self.alpha[i + 1]
        x = x.mul(a1 * rho / a0).add_(d, alpha=a1 * (1 - rho))
        if c:
            x.add_(self.noise(x), alpha=a1 * c)
        return x

    def noise(self, like: Tensor) -> Tensor:
        """Standard normal noise shaped like ``like`` from the run's generator(s)."""
        return randn_like(like, self.generator)

    # -- end --------------------------------------------------------------------------------
    def finish(self, x: Tensor, d_prev: Tensor | None = None,
               d_last: Tensor | None = None) -> Tensor:
        """End the run. ``final="none"``: ``x`` at ``ts[-1]``. ``final="denoise"``: the
        denoised estimate at ``ts[-1]`` (one evaluation); ODE methods pass ``d_prev``, the
        estimate at ``ts[-2]`` along the same trajectory, and the result is then extrapolated
        along the trajectory to ``sigma = 0``: ``D`` is smooth in ``(sigma/alpha)²`` there, so

            x(0) = D_n + w (D_n - D_{n-1}),   w = s_n² / (s_{n-1}² - s_n²),  s = sigma/alpha,

        a second-order last step at no extra cost. It is an affine combination of denoised
        estimates, so a denoiser that pins entries (inpainting) keeps them exactly. A method that
        already evaluated the denoiser at ``ts[-1]`` passes it as ``d_last``.
        """
        if self.final == "denoise":
            d = self.denoise(x, self.n) if d_last is None else d_last
            if d_prev is not None:
                d = torch.lerp(d_prev, d, final_weight(self.lam[-1], self.lam[-2]))
            x = d
        for i, t, s in self._sums:
            if not math.isfinite(s.item()):
                raise ValueError(f"step {i} (t={t:.6g}): the denoiser returned NaN/Inf values")
        if self.info is not None:
            self.info["nfe"] = self.info.get("nfe", 0) + self.nfe
        return x
