"""Time grids: ``steps + 1`` strictly decreasing times from ``t_max`` to ``t_min``.

Every grid is built in float64 on the CPU and validated by :func:`check_grid`:

==============  ==========================================================================
``uniform``     uniform in ``t`` (diffusers' "linspace" spacing on a discrete schedule)
``log_snr``     uniform in the log-SNR ``lambda(t)`` (DPM-Solver's "logSNR" grid)
``karras``      uniform in ``(sigma/alpha)^(1/rho)`` (Karras et al. 2022; ``rho = 7``)
``quadratic``   ``t_min + (t_max - t_min) u²`` for uniform ``u`` (dense near the data)
==============  ==========================================================================

A user grid (any 1-D sequence or tensor of times) is validated the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from .._checks import check_choice, check_count, check_real
from ..schedules import Schedule

__all__ = ["GridLike", "check_grid", "karras", "log_snr", "make_grid", "names", "quadratic",
           "uniform"]

GridLike = str | Sequence[float] | Tensor | Callable[[Schedule, int], Tensor]

#: absolute slack when checking that user times lie in ``[t_min, t_max]`` (float32 round-off)
RANGE_TOL = 1e-6


def _check_steps(steps: int) -> int:
    return check_count(steps, "steps")


def _from_log_snr(schedule: Schedule, lam: Tensor) -> Tensor:
    t = schedule.t_of_log_snr(lam).clamp(schedule.t_min, schedule.t_max)
    t[0], t[-1] = schedule.t_max, schedule.t_min  # exact endpoints
    return t


def uniform(schedule: Schedule, steps: int) -> Tensor:
    """Uniform in ``t``: ``(steps + 1,)`` float64."""
    steps = _check_steps(steps)
    return torch.linspace(schedule.t_max, schedule.t_min, steps + 1, dtype=torch.float64)


def log_snr(schedule: Schedule, steps: int) -> Tensor:
    """Uniform in the log-SNR: ``(steps + 1,)`` float64."""
    steps = _check_steps(steps)
    ends = torch.tensor([schedule.t_max, schedule.t_min], dtype=torch.float64)
    lo, hi = schedule.log_snr(ends).tolist()
    return _from_log_snr(schedule, torch.linspace(lo, hi, steps + 1, dtype=torch.float64))


def karras(schedule: Schedule, steps: int, rho: float = 7.0) -> Tensor:
    """Uniform in ``(sigma/alpha)^(1/rho)`` (Karras et al. 2022): ``(steps + 1,)`` float64."""
    steps = _check_steps(steps)
    rho = check_real(rho, "rho", positive=True)
    ends = torch.tensor([schedule.t_max, schedule.t_min], dtype=torch.float64)
    lo, hi = schedule.log_snr(ends).tolist()
    # sigma/alpha = exp(-lambda/2), so sigma^(1/rho) = exp(-lambda / (2 rho))
    a, b = math.exp(-lo / (2 * rho)), math.exp(-hi / (2 * rho))
    u = torch.linspace(a, b, steps + 1, dtype=torch.float64)
    return _from_log_snr(schedule, -2 * rho * torch.log(u))


def quadratic(schedule: Schedule, steps: int) -> Tensor:
    """``t_min + (t_max - t_min) u²`` for ``u`` uniform from 1 to 0: ``(steps + 1,)`` float64."""
    steps = _check_steps(steps)
    u = torch.linspace(1.0, 0.0, steps + 1, dtype=torch.float64)
    return schedule.t_min + (schedule.t_max - schedule.t_min) * u * u


_GRIDS: dict[str, Callable[[Schedule, int], Tensor]] = {
    "uniform": uniform, "log_snr": log_snr, "karras": karras, "quadratic": quadratic,
}


def names() -> list[str]:
    """Names of the built-in grids."""
    return sorted(_GRIDS)


def check_grid(ts: Sequence[float] | Tensor, schedule: Schedule) -> Tensor:
    """Validate a time grid and return it as a float64 CPU tensor ``(n,)``.

    It must be 1-D with at least 2 finite times, strictly decreasing, and inside the schedule's
    ``[t_min, t_max]`` (up to ``RANGE_TOL``; such slack is clamped away).
    """
    if isinstance(ts, Tensor):
        ts = ts.detach().to("cpu", torch.float64)
    else:  # straight to float64: a list of floats must not pass through float32
        ts = torch.tensor(ts, dtype=torch.float64)
    if ts.ndim != 1 or ts.numel() < 2:
        raise ValueError(f"a time grid must be 1-D with >= 2 times, got shape {tuple(ts.shape)}")
    if not torch.isfinite(ts).all():
        raise ValueError("the time grid holds NaN/Inf")
    diff = ts[1:] - ts[:-1]
    if not (diff < 0).all():
        i = int(torch.nonzero(diff >= 0)[0])
        raise ValueError(f"the time grid must be strictly decreasing (t = 1 noise, t = 0 data), "
                         f"but t[{i}] = {ts[i].item():.6g} <= t[{i + 1}] = {ts[i + 1].item():.6g}")
    lo, hi = ts.min().item(), ts.max().item()
    if lo < schedule.t_min - RANGE_TOL or hi > schedule.t_max + RANGE_TOL:
        raise ValueError(f"the time grid spans [{lo:.6g}, {hi:.6g}], outside the schedule's range "
                         f"[t_min, t_max] = [{schedule.t_min:.6g}, {schedule.t_max:.6g}]")
    ts = ts.clamp(schedule.t_min, schedule.t_max)
    if not (ts[1:] < ts[:-1]).all():
        raise ValueError("the time grid is not strictly decreasing once clamped to the range")
    return ts


def make_grid(schedule: Schedule, steps: int | None = None,
              grid: GridLike = "log_snr") -> Tensor:
    """The validated grid ``(steps + 1,)`` float64 for a grid name, a callable
    ``grid(schedule, steps)``, or user times (then ``steps`` is ``None`` or ``len(grid) - 1``)."""
    if isinstance(grid, str):
        check_choice(grid, _GRIDS, "grid")
        ts = _GRIDS[grid](schedule, _check_steps(10 if steps is None else steps))
    elif callable(grid):
        ts = grid(schedule, _check_steps(10 if steps is None else steps))
    else:
        ts = grid
        n = len(ts) - 1
        if steps is not None and steps != n:
            raise ValueError(f"steps={steps} but the given grid has {n} intervals")
    return check_grid(ts, schedule)
