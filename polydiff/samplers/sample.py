"""``sample()``: noise -> data with any method, grid and schedule, plus RePaint resampling."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .._checks import check_finite
from ..schedules import Schedule
from ..typing import Denoiser as DenoiserFn
from ..typing import SamplerMethod
from . import registry
from ._run import Callback, Generators, check_eval_times, randn_like
from .grids import GridLike, make_grid

__all__ = ["renoise", "sample"]


def renoise(x: Tensor, t_from: float, t_to: float, schedule: Schedule,
            generator: Generators = None) -> Tensor:
    """Draw ``x_{t_to} ~ q(x_{t_to} | x_{t_from})`` for ``t_to > t_from`` (forward process):
    ``(alpha_to/alpha_from) x + sqrt(sigma_to² - (alpha_to/alpha_from)² sigma_from²) z``."""
    if not t_to > t_from:
        raise ValueError(f"renoise goes up in time: need t_to > t_from, got {t_to}, {t_from}")
    alpha, sigma = schedule.alpha_sigma(torch.tensor([t_from, t_to], dtype=torch.float64))
    (a0, a1), (s0, s1) = alpha.tolist(), sigma.tolist()
    k = a1 / a0
    std = max(s1 * s1 - k * k * s0 * s0, 0.0) ** 0.5
    return x.mul(k).add_(randn_like(x, generator), alpha=std)


def sample(denoiser: DenoiserFn, noise: Tensor, schedule: Schedule, steps: int | None = None,
           method: str | SamplerMethod = registry.DEFAULT_METHOD, grid: GridLike = "log_snr", *,
           generator: Generators = None, progress: bool = False,
           callback: Callback | None = None, resample: tuple[int, int] | None = None,
           info: dict | None = None, **kwargs: Any) -> Tensor:
    """Draw samples: integrate from noise at the grid's first time down to data.

    Args:
        denoiser: any callable ``D(x_t, t, **cond) -> x0_hat`` with ``t`` of shape ``(B,)``.
        noise: standard normal, shape ``(B, ...)`` of the data; it is scaled here to
            ``sigma(ts[0])`` (``t_max`` for named grids).
        schedule: the forward process (:mod:`polydiff.schedules`).
        steps: number of grid intervals (default 10; for a user grid, ``len(grid) - 1``).
        method: one of :func:`methods` (see ``docs/samplers.md`` for their order and NFE), or
            a user function ``fn(denoiser, x, ts, schedule, *, <options>, **kw)`` like the
            built-ins (:class:`polydiff.typing.SamplerMethod`).
        grid: ``"log_snr" | "karras" | "uniform" | "quadratic"``, a callable
            ``(schedule, steps) -> times``, or the decreasing times themselves.
        generator: ``torch.Generator`` (or one per sample) for the stochastic methods.
        progress: show a tqdm progress bar.
        callback: called as ``callback(x, t, denoised)`` after each step's first evaluation.
        resample: ``(jump_length, repeats)``: RePaint-style resampling (Lugmayr et al. 2022):
            each block of ``jump_length`` intervals is run ``repeats`` times, re-noising back
            to the block's start in between (about ``repeats`` times the NFE).
        info: a dict; ``info["nfe"]`` receives the number of denoiser calls.
        **kwargs: options of the method, i.e. its keyword-only parameters (e.g. ``eta=``,
            ``order=``, ``variant=``, ``rtol=``) and ``final=``, ``eval_times=`` (the times given
            to the denoiser at each grid point, as a calibrated
            :class:`~polydiff.samplers.calibration.Plan` sets them); everything else is passed
            to the denoiser as conditioning, except a keyword that is an option of another
            built-in method only (``eta=`` with ``"euler"``): that raises ``ValueError``.

    Returns:
        The samples, shape of ``noise``, dtype ``promote(noise.dtype, float32)``.
    """
    entry = registry.info(method)
    opts, cond = registry.split_options(entry, kwargs)
    ts = make_grid(schedule, steps, grid)
    if not isinstance(noise, Tensor) or not noise.is_floating_point() or noise.ndim < 1:
        raise ValueError("noise must be a floating tensor of shape (batch, ...)")
    check_finite(noise, "noise")
    dtype = torch.promote_types(noise.dtype, torch.float32)
    sigma0 = schedule.alpha_sigma(ts[:1])[1].item()
    x = noise.to(dtype) * sigma0
    # counted here, so that a method that does not use `Run` reports its NFE too
    counted, calls = _counting(denoiser)
    nfe0 = 0 if info is None else info.get("nfe", 0)
    common = dict(generator=generator, callback=callback, info=info, **opts, **cond)
    with torch.no_grad():
        if resample is None:
            x = entry.fn(counted, x, ts, schedule, progress=progress, **common)
        else:
            x = _resample(entry.fn, counted, x, ts, schedule, resample, progress, common)
    if not isinstance(x, Tensor) or x.shape != noise.shape:
        got = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"method {entry.name} returned {got}, expected a tensor shaped like "
                         f"the noise {tuple(noise.shape)}")
    if info is not None:
        info["nfe"] = nfe0 + calls[0]
    return x


def _counting(denoiser: DenoiserFn) -> tuple[DenoiserFn, list[int]]:
    """``denoiser`` wrapped to count its calls in the returned one-element list."""
    calls = [0]

    def counted(x_t: Tensor, t: Tensor, **cond: Any) -> Tensor:
        calls[0] += 1
        return denoiser(x_t, t, **cond)

    return counted, calls


def _resample(fn: SamplerMethod, denoiser: DenoiserFn, x: Tensor, ts: Tensor,
              schedule: Schedule, resample: tuple[int, int], progress: bool,
              common: dict) -> Tensor:
    """RePaint: run ``fn`` on each block of ``jump`` intervals ``repeats`` times, re-noising
    to the block's start in between; only the very last run ends with ``final``."""
    jump, repeats = resample
    if not (isinstance(jump, int) and isinstance(repeats, int) and jump >= 1 and repeats >= 1):
        raise ValueError(f"resample must be (jump_length >= 1, repeats >= 1), got {resample}")
    final = common.pop("final", "denoise")
    eval_times = common.pop("eval_times", None)
    if eval_times is not None:  # validate whole: the blocks below see only slices
        eval_times = torch.tensor(check_eval_times(eval_times, ts, schedule), dtype=torch.float64)
    n = len(ts) - 1
    starts = list(range(0, n, jump))
    if progress:
        from tqdm.auto import tqdm

        starts = tqdm(starts, desc="sampling (resample)", leave=False)
    for k in starts:
        k2 = min(k + jump, n)
        part = {} if eval_times is None else {"eval_times": eval_times[k:k2 + 1]}
        for rep in range(repeats):
            last = k2 == n and rep == repeats - 1
            x = fn(denoiser, x, ts[k:k2 + 1], schedule, final=final if last else "none",
                   **common, **part)
            if rep < repeats - 1:
                x = renoise(x, ts[k2].item(), ts[k].item(), schedule, common["generator"])
    return x
