"""Calibrated plans: time grids (and denoiser times) learned for one model at a fixed NFE.

At 5-10 network evaluations no fixed grid suits every model. :func:`calibrate` learns, for a
multistep method (``dpm_2m``, ``dpm_3m``, ``dpmpp_3m``) and a number of steps, where to put the
grid points and which time to give the denoiser at each of them, by differentiating the
sampler's result on calibration noise against a many-step reference ("teacher") solution of the
same probability-flow ODE. This is the idea of LD3 (Tong et al. 2024, "Learning to Discretize
Denoising Diffusion ODEs") with the exact exponential-integrator coefficients of
:mod:`.dpmpp`.

Parameters (all in the half log-SNR ``lam``): the interior grid points, as positive increments
between the fixed ends ``lam(t_max)`` and ``lam(t_min)`` (a softmax keeps them ordered), and a
shift ``delta_i`` of the time given to the denoiser at each point (``lam_i + delta_i``, clamped
to the schedule's range). The sampler's coefficients always use the grid.

Cost, once per model and NFE: ``teacher_steps + 1`` evaluations per calibration sample for the
reference, then ``iters`` forward and backward passes of the sampler (``steps + 1``
evaluations each) on the calibration batch. The denoiser must be differentiable in ``x`` and in
``t``. Use noise that is *not* the noise you will sample from, and check the plan on held-out
noise (``Plan.sample``); ``Plan.to_dict`` / ``Plan.from_dict`` store it as JSON.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .._checks import check_choice, check_count, check_finite, check_real
from ..schedules import Schedule
from ..typing import Denoiser as DenoiserFn
from ._run import final_weight
from .dpmpp import MULTISTEP, multistep_coefficients, noise_prediction
from .grids import GridLike, make_grid
from .sample import sample

__all__ = ["Plan", "calibrate", "methods"]


def methods() -> list[str]:
    """The methods :func:`calibrate` supports."""
    return sorted(MULTISTEP)


@dataclass(frozen=True)
class Plan:
    """A calibrated sampling plan: ``method`` on grid ``times`` ``(steps + 1,)``, giving the
    denoiser ``eval_times`` ``(steps + 1,)`` (float64, decreasing times from ``t_max`` to
    ``t_min``). ``rmse_start``/``rmse`` are the calibration RMSE to the teacher before and after
    calibration (per entry)."""

    method: str
    times: Tensor
    eval_times: Tensor
    rmse_start: float
    rmse: float

    @property
    def steps(self) -> int:
        return len(self.times) - 1

    def sample(self, denoiser: DenoiserFn, noise: Tensor, schedule: Schedule,
               **kwargs: Any) -> Tensor:
        """:func:`~polydiff.samplers.sample` with this plan's method, grid and denoiser times
        (NFE ``steps + 1``)."""
        return sample(denoiser, noise, schedule, method=self.method, grid=self.times,
                      eval_times=self.eval_times, **kwargs)

    def to_dict(self) -> dict:
        """JSON-ready description (floats only)."""
        return {"method": self.method, "times": self.times.tolist(),
                "eval_times": self.eval_times.tolist(), "rmse_start": self.rmse_start,
                "rmse": self.rmse}

    @classmethod
    def from_dict(cls, d: dict) -> Plan:
        check_choice(d.get("method"), MULTISTEP, "method")
        return cls(d["method"], torch.tensor(d["times"], dtype=torch.float64),
                   torch.tensor(d["eval_times"], dtype=torch.float64),
                   float(d["rmse_start"]), float(d["rmse"]))


def calibrate(denoiser: DenoiserFn, schedule: Schedule, noise: Tensor, steps: int,
              method: str = "dpm_3m", *, init: GridLike = "karras", iters: int = 300,
              lr: float = 0.05, shift: bool = True, batch_size: int | None = None,
              check_every: int = 25, seed: int = 0, teacher_steps: int = 200,
              targets: Tensor | None = None, progress: bool = False, **cond: Any) -> Plan:
    """Learn a :class:`Plan` for ``method`` with ``steps`` steps (NFE ``steps + 1``).

    Args:
        denoiser: ``D(x_t, t, **cond)``, differentiable in ``x_t`` and ``t``.
        schedule: the forward process.
        noise: calibration noise ``(N, ...)`` (standard normal), kept apart from the noise you
            will sample from; a few thousand draws (fewer over-fit, see docs/samplers.md).
        steps: grid intervals (>= 2).
        method: one of :func:`methods`.
        init: the starting grid (a name or times, as in :func:`~polydiff.samplers.make_grid`).
        iters: Adam iterations.
        lr: Adam's learning rate (the parameters are log-increments and shifts in ``lam``).
        shift: also learn the denoiser's times (else they stay on the grid).
        batch_size: draws per iteration (default all ``N``: full-batch). With minibatches the
            loss on all ``N`` is computed (without gradients, in chunks) every ``check_every``
            iterations and at the end; either way the plan with the lowest loss on all ``N``
            is returned.
        seed: seed of the minibatch order.
        teacher_steps: steps of the reference solution (``dpmpp_3m`` on a log-SNR grid);
            ignored when ``targets`` (the exact results for ``noise``) are given.
        progress: show a progress bar.
        **cond: conditioning passed to the denoiser; tensors whose first dimension is ``N``
            are taken as batch-aligned and sliced with the noise.
    """
    check_choice(method, MULTISTEP, "method")
    steps = check_count(steps, "steps (for calibration)", 2)
    iters = check_count(iters, "iters")
    lr = check_real(lr, "lr", positive=True)
    teacher_steps = check_count(teacher_steps, "teacher_steps")
    if not isinstance(noise, Tensor) or not noise.is_floating_point() or noise.ndim < 1:
        raise ValueError("noise must be a floating tensor of shape (batch, ...)")
    check_finite(noise, "noise")
    n = noise.shape[0]
    batch_size = n if batch_size is None else batch_size
    if not (isinstance(batch_size, int) and 1 <= batch_size <= n):
        raise ValueError(f"batch_size must be an integer in [1, {n}] (the calibration draws), "
                         f"got {batch_size!r}")
    if not (isinstance(check_every, int) and check_every >= 1):
        raise ValueError(f"check_every must be an integer >= 1, got {check_every!r}")
    dtype = torch.promote_types(noise.dtype, torch.float32)
    if targets is None:
        targets = sample(denoiser, noise, schedule, teacher_steps, "dpmpp_3m", "log_snr", **cond)
    elif targets.shape != noise.shape:
        raise ValueError(f"targets must have the noise's shape {tuple(noise.shape)}, got "
                         f"{tuple(targets.shape)}")
    check_finite(targets, "targets")
    noise, targets = noise.to(dtype), targets.to(dtype)
    order, frame = MULTISTEP[method]

    ends = torch.tensor([schedule.t_max, schedule.t_min], dtype=torch.float64)
    lam_lo, lam_hi = (0.5 * schedule.log_snr(ends)).tolist()
    lam0 = 0.5 * schedule.log_snr(make_grid(schedule, steps, init))
    inc = torch.diff(lam0).log()
    logits = (inc[:-1] - inc[-1]).clone().requires_grad_(True)  # the last increment is fixed
    delta = torch.zeros(steps + 1, dtype=torch.float64, requires_grad=shift)
    opt = torch.optim.Adam([logits, delta] if shift else [logits], lr=lr)

    def plan_times() -> tuple[Tensor, Tensor]:
        w = torch.cat([logits, logits.new_zeros(1)]).exp()
        lam = lam_lo + (lam_hi - lam_lo) * torch.cat([w.new_zeros(1), torch.cumsum(w, 0) / w.sum()])
        t = schedule.t_of_log_snr(2 * lam).clamp(schedule.t_min, schedule.t_max)
        t = torch.cat([t.new_full((1,), schedule.t_max), t[1:-1],
                       t.new_full((1,), schedule.t_min)])  # exact ends
        if not shift:
            return t, t
        lam_eval = (lam + delta).clamp(lam_lo, lam_hi)
        return t, schedule.t_of_log_snr(2 * lam_eval).clamp(schedule.t_min, schedule.t_max)

    def loss_on(idx: Tensor | slice, t: Tensor, t_eval: Tensor) -> Tensor:
        part = {k: v[idx] if isinstance(v, Tensor) and v.ndim and v.shape[0] == n else v
                for k, v in cond.items()}
        x = _solve(denoiser, noise[idx], schedule, t, t_eval, order, frame, part)
        return (x - targets[idx]).square().mean()

    def full_loss(t: Tensor, t_eval: Tensor) -> float:
        with torch.no_grad():
            total = sum(loss_on(slice(i, i + batch_size), t, t_eval).item()
                        * min(batch_size, n - i) for i in range(0, n, batch_size))
        return total / n

    gen = torch.Generator().manual_seed(seed)
    order_idx, pos = torch.randperm(n, generator=gen), 0
    it = range(iters + 1)
    if progress:
        from tqdm.auto import trange

        it = trange(iters + 1, desc="calibrating", leave=False)
    best, first = None, None
    for k in it:
        t, t_eval = plan_times()
        if batch_size == n:
            loss = loss_on(slice(None), t, t_eval)
            value = loss.item()
        else:
            if pos + batch_size > n:
                order_idx, pos = torch.randperm(n, generator=gen), 0
            loss = loss_on(order_idx[pos:pos + batch_size], t, t_eval)
            pos += batch_size
            check = k % check_every == 0 or k == iters
            value = full_loss(t.detach(), t_eval.detach()) if check else None
        if not math.isfinite(loss.item()):
            raise ValueError(f"calibration iteration {k}: the sampler's result is not finite; "
                             f"lower lr (now {lr})")
        if value is not None:
            first = value if first is None else first
            if best is None or value < best[0]:
                best = (value, t.detach().clone(), t_eval.detach().clone())
        if k == iters:
            break
        opt.zero_grad()
        loss.backward()
        opt.step()
    value, t, t_eval = best
    return Plan(method, t.to(torch.float64), t_eval.to(torch.float64), math.sqrt(first),
                math.sqrt(value))


def _solve(denoiser: DenoiserFn, noise: Tensor, schedule: Schedule, t: Tensor, t_eval: Tensor,
           order: int, frame: str, cond: dict) -> Tensor:
    """The multistep method of :mod:`.dpmpp` with tensor coefficients, differentiable in the
    times; ends like ``Run.finish`` (final denoising extrapolated to ``sigma = 0``)."""
    alpha, sigma = schedule.alpha_sigma(t)
    lam = torch.log(alpha / sigma)
    a, s, lm = alpha.unbind(0), sigma.unbind(0), lam.unbind(0)
    batch, n = noise.shape[0], len(t) - 1
    x = noise * s[0].to(noise.dtype)
    hist, d = [], None
    for i in range(n):
        d = denoiser(x, t_eval[i].to(noise.dtype).expand(batch), **cond)
        y = d if frame == "data" else noise_prediction(x, d, a[i], s[i])
        hist = [y, *hist[:order - 1]]
        big_a, big_b = multistep_coefficients(a, s, lm, i, order, frame)
        x = big_a * x + sum(bk * yk for bk, yk in zip(big_b, hist, strict=True))
    d_last = denoiser(x, t_eval[n].to(noise.dtype).expand(batch), **cond)
    return torch.lerp(d, d_last, final_weight(lm[n], lm[n - 1]).to(noise.dtype))
