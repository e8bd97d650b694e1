"""Guidance as denoiser wrappers: each takes a denoiser ``D(x_t, t, **cond) -> x0_hat`` and
returns another, so it composes with every sampler and with the other wrappers::

    den = guidance.inpaint(guidance.cfg(den, 3.0), known, observed)
    x0 = samplers.sample(den, noise, sched, class_labels=labels)

The wrappers hold no mutable state (safe to share across threads) and import only torch.

- :func:`cfg`: classifier-free guidance ``D_u + scale (D_c - D_u)``, with the rescale of
  Lin et al. (2023); both passes run as one batched call when possible.
- :func:`inpaint`: replacement in x0-space: observed entries of the estimate are the known
  values, so every sampler returns them exactly.
- :func:`dps`: diffusion posterior sampling (Chung et al. 2023) for any differentiable operator.

RePaint-style resampling, which helps inpainting harmonise, is an option of
:func:`polydiff.samplers.sample` (``resample=(jump_length, repeats)``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from ._checks import append_dims, check_mask, check_real
from .schedules import Schedule
from .typing import Denoiser as DenoiserFn

__all__ = ["cfg", "dps", "inpaint"]


def _per_sample_std(v: Tensor) -> Tensor:
    return append_dims(v.flatten(1).std(dim=1), v.ndim)


def _batchable(x: Tensor, cond: dict, uncond: dict) -> bool:
    """Both passes fit one call: every differing value is a tensor with the batch dim."""
    b = x.shape[0]
    for k, v in uncond.items():
        c = cond.get(k)
        if not (isinstance(v, Tensor) and isinstance(c, Tensor) and c.ndim >= 1
                and c.shape[0] == b):
            return False
        try:
            torch.broadcast_shapes(v.shape, c.shape)
        except RuntimeError:
            return False
    return True


def _cat(v: Any, override: Any, b: int) -> Any:
    """The batched value of one conditioning entry: ``[cond; uncond]`` along the batch."""
    if override is not None:
        return torch.cat([v, override.to(v.dtype).expand_as(v)])
    if isinstance(v, Tensor) and v.ndim >= 1 and v.shape[0] == b:
        return torch.cat([v, v])
    return v  # shared by both halves (a scalar, a string, ...)


def cfg(denoiser: DenoiserFn, scale: float, *, rescale: float = 0.0,
        uncond: dict[str, Any] | None = None) -> DenoiserFn:
    """Classifier-free guidance: ``D = D_u + scale (D_c - D_u)`` on the x0 estimates (the same
    as guiding eps, since both are affine in the estimate at fixed ``x_t``).

    Args:
        denoiser: the conditional denoiser.
        scale: guidance scale, a finite number (1: conditional only, 0: unconditional only).
        rescale: ``phi`` of Lin et al. (2023): blend ``phi`` of the guided estimate rescaled to
            the per-sample std of ``D_c`` with ``1 - phi`` of it (0 = off).
        uncond: the unconditional pass's conditioning. ``None`` (default) drops every
            conditioning kwarg; a dict overrides entries (``{"labels": null_labels}``; a value
            ``None`` is passed as ``None``). When every overridden entry is a tensor with the
            batch dim, both passes run as one call on a doubled batch.
    """
    scale = check_real(scale, "guidance scale")
    rescale = check_real(rescale, "guidance rescale", at_least=0.0, at_most=1.0)

    def guided(x: Tensor, t: Tensor, **cond: Any) -> Tensor:
        if scale == 1.0 or (uncond is None and not cond):
            return denoiser(x, t, **cond)
        if uncond is None:
            d_u = denoiser(x, t)
            d_c = denoiser(x, t, **cond) if scale != 0.0 else d_u
        elif _batchable(x, cond, uncond):
            b = x.shape[0]
            both = {k: _cat(v, uncond.get(k), b) for k, v in cond.items()}
            d_c, d_u = denoiser(torch.cat([x, x]), torch.cat([t, t]), **both).chunk(2)
        else:
            d_u = denoiser(x, t, **{**cond, **uncond})
            d_c = denoiser(x, t, **cond)
        out = torch.lerp(d_u, d_c, scale)
        if rescale:
            factor = _per_sample_std(d_c) / _per_sample_std(out).clamp(min=1e-12)
            out = out * (rescale * factor + (1.0 - rescale))
        return out

    return guided


def inpaint(denoiser: DenoiserFn, known: Tensor, observed: Tensor) -> DenoiserFn:
    """Replacement in x0-space: ``D(x, t)`` with observed entries set to ``known``.

    Args:
        denoiser: the denoiser to wrap.
        known: the known values, broadcastable to the samples ``(B, C, *axes)`` (NaN allowed
            where not observed).
        observed: bool mask (``True`` = known/kept), broadcastable to ``known`` and to the
            samples.

    Since every sampler ends on (an affine combination of) denoised estimates, the observed
    entries of the result equal ``known`` exactly.
    """
    known = torch.as_tensor(known)
    if not torch.isfinite(known[check_mask(observed, known)]).all():
        raise ValueError("known holds NaN/Inf at observed entries")
    known = torch.where(observed, known, torch.zeros((), dtype=known.dtype))  # no NaN anywhere

    def inpainted(x: Tensor, t: Tensor, **cond: Any) -> Tensor:
        d = denoiser(x, t, **cond)
        m = check_mask(observed.to(d.device), d)
        try:
            return torch.where(m, known.to(d.device, d.dtype), d)
        except RuntimeError:
            raise ValueError(f"known of shape {tuple(known.shape)} does not broadcast to the "
                             f"samples {tuple(d.shape)}") from None

    return inpainted


def dps(denoiser: DenoiserFn, operator: Callable[[Tensor], Tensor], y: Tensor, step: float,
        schedule: Schedule) -> DenoiserFn:
    """Diffusion posterior sampling (Chung et al. 2023) for measurements ``y ~ A(x0)``.

    Adds ``-step * grad_{x_t} ||y - A(D(x_t))||`` (per sample) to the score, i.e. returns

        D(x_t) - step * (sigma_t² / alpha_t) * grad_{x_t} ||y - A(D(x_t))||.

    ``operator`` is any differentiable map ``(B, ...) -> y``'s shape; ``step`` a finite number
    ``>= 0``. Gradients flow through the denoiser even when sampling runs under
    ``torch.no_grad()`` (not ``inference_mode``). Beyond the schedule's ``[t_min, t_max]`` the
    coefficient is that of the nearest end (``sigma²/alpha`` is infinite at ``alpha = 0``), as
    for :class:`polydiff.Denoiser`.
    """
    step = check_real(step, "dps step", at_least=0.0)

    def guided(x: Tensor, t: Tensor, **cond: Any) -> Tensor:
        with torch.enable_grad():
            xg = x.detach().requires_grad_(True)
            d = denoiser(xg, t, **cond)
            resid = (y.to(d.device, d.dtype) - operator(d)).flatten(1)
            (grad,) = torch.autograd.grad(resid.norm(dim=1).sum(), xg)
        t_in = schedule.clamp(torch.as_tensor(t, dtype=torch.float64))
        alpha, sigma = schedule.alpha_sigma(t_in)
        coef = append_dims((step * sigma * sigma / alpha).to(d.device, d.dtype), x.ndim)
        return (d - coef * grad).detach()

    return guided
