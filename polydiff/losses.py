"""Denoising losses: weightings over noise levels, training noise-level samplers, masks.

Every loss is a squared error in the network's own output space (``eps``, ``v``, ...) times a
per-sample weight. Weightings are defined on the x0-space error and converted with the
prediction's exact factor (see :mod:`polydiff.parameterization`), so a weighting means the same
thing whatever the network predicts:

==========  =================================================================================
uniform     weight 1 on the network's own squared error (plain eps-MSE, v-MSE, F-MSE ...)
snr         x0-weight SNR = alpha²/sigma² (the eps-MSE of DDPM for any prediction)
min_snr     x0-weight min(SNR, gamma) (Hang et al. 2023)
edm         x0-weight (s² + sd²) / (s sd)², s = sigma / alpha (Karras et al. 2022)
sigmoid     x0-weight SNR · sigmoid(bias - lambda) (Kingma & Gao 2023)
==========  =================================================================================

Element weights (``weight=``, e.g. cos(latitude) on global grids) make the per-sample error a
weighted mean over entries. Entries where ``observed`` is False are excluded: their data are
zeroed before noising and their errors are not counted, so changing them cannot change the
loss or its gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from ._checks import (
    check_broadcastable,
    check_choice,
    check_count,
    check_finite,
    check_mask,
    check_real,
)
from .denoiser import Denoiser
from .schedules import Schedule

__all__ = [
    "WEIGHTINGS",
    "NOISE_SAMPLERS",
    "loss_weight",
    "sample_t",
    "denoising_loss",
    "denoising_terms",
    "DenoisingTerms",
    "DiffusionLoss",
]

WEIGHTINGS = ("uniform", "snr", "min_snr", "edm", "sigmoid")
NOISE_SAMPLERS = ("uniform", "log_normal", "logit_normal")
# the parameters of each noise sampler (``DiffusionLoss(noise_sampler_kwargs=...)``)
_SAMPLER_PARAMS = {"uniform": (), "log_normal": ("p_mean", "p_std"),
                        "logit_normal": ("logit_mean", "logit_std")}


def loss_weight(weighting: str, denoiser: Denoiser, alpha: Tensor, sigma: Tensor,
                gamma: float = 5.0, sigmoid_bias: float = 0.0) -> Tensor:
    """Weight on the network's own squared error; shaped like ``alpha``.

    ``(alpha, sigma)`` is a noise level inside the schedule's ``[t_min, t_max]``, as
    :meth:`~polydiff.Denoiser.network_output` returns it for any ``t`` in ``[0, 1]`` (it clamps
    ``t``; so the loss at ``t`` beyond the range uses the weight at the nearest end). At the very
    ends of a VP or flow schedule, ``sigma = 0`` or ``alpha = 0``, the log-SNR is +-inf and the
    weights are not defined.
    """
    check_choice(weighting, WEIGHTINGS, "weighting")
    if weighting == "uniform":
        return torch.ones_like(alpha)
    log_snr = 2 * (torch.log(alpha) - torch.log(sigma))
    snr = torch.exp(log_snr)
    if weighting == "snr":
        w_x0 = snr
    elif weighting == "min_snr":
        w_x0 = snr.clamp(max=gamma)
    elif weighting == "edm":
        sd = denoiser.prediction.sigma_data
        s2 = torch.exp(-log_snr)
        w_x0 = (s2 + sd * sd) / (s2 * sd * sd)
    else:  # sigmoid
        w_x0 = snr * torch.sigmoid(sigmoid_bias - log_snr)
    return w_x0 / denoiser.prediction.x0_loss_factor(alpha, sigma)


def sample_t(name: str, n: int, schedule: Schedule, generator: torch.Generator | None = None,
             device: torch.device | str | None = None, p_mean: float = -1.2, p_std: float = 1.2,
             logit_mean: float = 0.0, logit_std: float = 1.0) -> Tensor:
    """Training noise levels ``(n,)`` (``n >= 1``) in ``[t_min, t_max]``.

    ``uniform``: t ~ U[t_min, t_max]; ``log_normal``: log(sigma/alpha) ~ N(p_mean, p_std²)
    (EDM); ``logit_normal``: logit of t (rescaled to the range) ~ N(logit_mean, logit_std²).
    Means must be finite, standard deviations finite and > 0.
    """
    check_choice(name, NOISE_SAMPLERS, "noise_sampler")
    n = check_count(n, "n (the number of noise levels)")
    p_mean, logit_mean = check_real(p_mean, "p_mean"), check_real(logit_mean, "logit_mean")
    p_std = check_real(p_std, "p_std", positive=True)
    logit_std = check_real(logit_std, "logit_std", positive=True)
    lo, hi = schedule.t_min, schedule.t_max
    if name == "uniform":
        u = torch.rand(n, generator=generator, device=device)
        return lo + (hi - lo) * u
    z = torch.randn(n, generator=generator, device=device)
    if name == "log_normal":
        lam = -2 * (p_mean + p_std * z)
        return schedule.t_of_log_snr(lam).clamp(lo, hi)
    return lo + (hi - lo) * torch.sigmoid(logit_mean + logit_std * z)


class DenoisingTerms(NamedTuple):
    """Per-sample terms of one denoising evaluation, each ``(B,)``: ``loss`` (weighted, in the
    network's output space) and ``mse_x0`` (unweighted squared error of ``x0_hat``), both means
    over the counted entries (observed, times the element weights)."""

    loss: Tensor
    mse_x0: Tensor


def _entry_weights(x0: Tensor, observed: Tensor | None, weight: Tensor | None) -> Tensor | None:
    """Weights of the entries of ``x0`` in the per-sample mean (``None``: a plain mean)."""
    m = None if observed is None else observed.to(x0.dtype)
    if weight is not None:
        if not isinstance(weight, Tensor) or not weight.is_floating_point():
            got = weight.dtype if isinstance(weight, Tensor) else type(weight).__name__
            raise ValueError(f"weight must be a floating tensor of element weights, got {got}")
        weight = check_broadcastable(weight, x0, "weight")
        check_finite(weight, "weight")
        if (weight < 0).any():
            raise ValueError("weight must be >= 0 everywhere (element weights)")
        m = weight.to(x0.dtype) if m is None else m * weight.to(x0.dtype)
    return m


def denoising_terms(denoiser: Denoiser, x0: Tensor, t: Tensor, eps: Tensor,
                    weighting: str = "uniform", observed: Tensor | None = None,
                    gamma: float = 5.0, sigmoid_bias: float = 0.0, weight: Tensor | None = None,
                    **cond) -> DenoisingTerms:
    """Per-sample weighted denoising loss and x0 error (:class:`DenoisingTerms`).

    x0, eps: ``(B, C, *axes)``; t: ``(B,)``; observed: bool, broadcastable to x0 (True =
    counted); weight: element weights >= 0 broadcastable to x0 (e.g. cos(latitude)). Errors
    are averaged over the entries of each sample with weights ``observed * weight``.
    """
    if observed is not None:
        observed = check_mask(observed, x0)
        x0 = torch.where(observed, x0, torch.zeros((), dtype=x0.dtype, device=x0.device))
    check_finite(x0, "x0" if observed is None else "x0 at observed entries")
    m = _entry_weights(x0, observed, weight)
    x_t = denoiser.schedule.add_noise(x0, t, eps)
    out, alpha, sigma = denoiser.network_output(x_t, t, **cond)
    x0w = x0.to(out.dtype)
    target = denoiser.prediction.target(x0w, eps.to(out.dtype), alpha, sigma)
    x0_hat, _ = denoiser.prediction.to_x0_eps(out, x_t.to(out.dtype), alpha, sigma)
    dims = tuple(range(1, x0.ndim))

    def mean(se: Tensor) -> Tensor:
        if m is None:
            return se.mean(dim=dims)
        mw = m.to(se.dtype)
        return (se * mw).sum(dim=dims) / mw.sum(dim=dims).clamp(min=1e-12)

    w = loss_weight(weighting, denoiser, alpha, sigma, gamma, sigmoid_bias)
    return DenoisingTerms(w.reshape(-1) * mean((out - target) ** 2), mean((x0_hat - x0w) ** 2))


def denoising_loss(denoiser: Denoiser, x0: Tensor, t: Tensor, eps: Tensor,
                   weighting: str = "uniform", observed: Tensor | None = None,
                   gamma: float = 5.0, sigmoid_bias: float = 0.0, weight: Tensor | None = None,
                   **cond) -> Tensor:
    """Per-sample weighted denoising loss, shape ``(B,)`` (:func:`denoising_terms`'s
    ``loss``)."""
    return denoising_terms(denoiser, x0, t, eps, weighting, observed, gamma, sigmoid_bias,
                           weight, **cond).loss


class DiffusionLoss:
    """Configured training loss: draws ``t`` and ``eps``, returns the batch-mean loss.

    Args:
        weighting: one of :data:`WEIGHTINGS`.
        noise_sampler: one of :data:`NOISE_SAMPLERS`, or a callable ``(n, schedule, generator,
            device) -> t``.
        gamma: min-SNR clip (finite, > 0); sigmoid_bias: the sigmoid weighting's bias (finite).
        noise_sampler_kwargs: the named sampler's parameters for :func:`sample_t`
            (``p_mean``/``p_std`` of ``log_normal``, ``logit_mean``/``logit_std`` of
            ``logit_normal``); a parameter the sampler does not take raises.

    A ``t`` given to the call may be anywhere in ``[0, 1]``: beyond ``[t_min, t_max]`` the
    network, target and weight are those of the nearest end (``x_t`` is noised at ``t``), see
    :meth:`~polydiff.Denoiser.network_output`.
    """

    def __init__(self, weighting: str = "uniform",
                 noise_sampler: str | Callable[..., Tensor] = "uniform", gamma: float = 5.0,
                 sigmoid_bias: float = 0.0, noise_sampler_kwargs: dict | None = None):
        self.weighting = check_choice(weighting, WEIGHTINGS, "weighting")
        if isinstance(noise_sampler, str):
            check_choice(noise_sampler, NOISE_SAMPLERS, "noise_sampler")
        elif not callable(noise_sampler):
            raise ValueError(f"noise_sampler must be one of {list(NOISE_SAMPLERS)} or a callable "
                             f"(n, schedule, generator, device) -> t, got {noise_sampler!r}")
        self.noise_sampler = noise_sampler
        self.gamma = check_real(gamma, "gamma (the min-SNR clip)", positive=True)
        self.sigmoid_bias = check_real(sigmoid_bias, "sigmoid_bias")
        self.noise_sampler_kwargs = dict(noise_sampler_kwargs or {})
        named = isinstance(noise_sampler, str)
        takes = _SAMPLER_PARAMS[noise_sampler] if named else ()
        for key, value in self.noise_sampler_kwargs.items():
            if key not in takes:
                what = f"noise_sampler {noise_sampler!r}" if named else "a callable noise_sampler"
                raise ValueError(f"noise_sampler_kwargs: {what} takes no parameter {key!r}; "
                                 f"its parameters are {list(takes)}")
            check_real(value, f"noise_sampler_kwargs[{key!r}]", positive=key.endswith("_std"))

    def draw_t(self, n: int, schedule: Schedule, generator: torch.Generator | None = None,
               device: torch.device | str | None = None) -> Tensor:
        if callable(self.noise_sampler):
            return self.noise_sampler(n, schedule, generator, device)
        return sample_t(self.noise_sampler, n, schedule, generator, device,
                        **self.noise_sampler_kwargs)

    def __call__(self, denoiser: Denoiser, x0: Tensor, observed: Tensor | None = None,
                 t: Tensor | None = None, eps: Tensor | None = None,
                 generator: torch.Generator | None = None, weight: Tensor | None = None,
                 **cond) -> Tensor:
        """Batch-mean loss of ``x0 (B, C, *axes)``; ``t`` and ``eps`` are drawn (from
        ``generator``) unless given; ``observed`` and ``weight`` as in :func:`denoising_terms`."""
        if t is None:
            t = self.draw_t(x0.shape[0], denoiser.schedule, generator, x0.device)
        if eps is None:
            eps = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        per_sample = denoising_loss(denoiser, x0, t, eps, self.weighting, observed, self.gamma,
                                    self.sigmoid_bias, weight, **cond)
        return per_sample.mean()

