"""Denoise the residual from a first guess instead of the data itself.

A conditional backbone often has a cheap, deterministic first guess ``g`` of the clean sample
(push-pull fill of a gappy field, linear blend between given video frames). Training the network
on the residual ``r = x0 - g`` starts from that guess instead of from nothing: with
``x_t = alpha x0 + sigma eps`` the network sees ``r_t = x_t - alpha g`` (a noisy residual at the
same noise level) and, for any linear prediction ``out = p x0 + q eps``
(:mod:`polydiff.parameterization`), its residual prediction ``p r + q eps`` becomes the full one
by adding ``p g``. This is exact, so every sampler and loss stays unchanged; with
``prediction="x0"`` an untrained (zero-output) network predicts the first guess.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

__all__ = ["GuessResidual"]


class GuessResidual:
    """Wrap a network call so that it denoises ``x0 - guess``.

    Args:
        prediction: the module's prediction target (name or :class:`Prediction`).
        schedule: the module's noise schedule (name); the time is read back from
            ``c_noise = 1000 t`` (the default map for every non-EDM prediction).
    """

    def __init__(self, prediction: str = "v", schedule: str = "vp_cosine"):
        from polydiff import parameterization, schedules

        self.prediction = parameterization.get(prediction)
        self.schedule = schedules.get(schedule)

    def __call__(self, net: Callable[[Tensor], Tensor], x: Tensor, c_noise: Tensor,
                 guess: Tensor) -> Tensor:
        """``net(r_t) -> residual prediction``; ``x, guess (B, C, *axes)``, ``c_noise (B,)``
        (``1000 t``) -> the prediction for ``x`` (same shape)."""
        if guess.shape != x.shape:
            raise ValueError(f"GuessResidual: guess must have the sample's shape "
                             f"{tuple(x.shape)}, got {tuple(guess.shape)}")
        sched = self.schedule
        t = (c_noise.to(torch.float64) / 1000).clamp(sched.t_min, sched.t_max)
        alpha, sigma = sched.alpha_sigma(t)
        p, _ = self.prediction.coefficients(alpha, sigma)
        view = (-1,) + (1,) * (x.ndim - 1)
        g = guess.to(x.dtype)
        out = net(x - alpha.to(x.dtype).reshape(view) * g)
        return out + p.to(x.dtype).reshape(view) * g
