"""Exact denoiser, density and score of a Gaussian mixture under any schedule.

For data ``x0 ~ sum_k w_k N(mu_k, diag(v_k))`` and ``x_t = alpha x0 + sigma eps`` the noisy
marginal is ``sum_k w_k N(alpha mu_k, diag(alpha² v_k + sigma²))``, and

    E[x0 | x_t] = sum_k r_k(x_t) [mu_k + alpha v_k / (alpha² v_k + sigma²) (x_t - alpha mu_k)],

with posterior responsibilities ``r_k``. These are the oracles of polydiff's sampler tests and
benchmarks, and a way for users to check their own samplers. All arithmetic is float64.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from ._checks import check_finite
from .denoiser import broadcast_t
from .schedules import Schedule
from .typing import Denoiser as DenoiserFn

__all__ = ["GaussianMixture"]


class GaussianMixture:
    """Mixture of diagonal Gaussians over tensors of shape ``event_shape``.

    Args:
        means: ``(K, *event_shape)``.
        variances: ``(K, *event_shape)``, ``(K,)`` or a scalar; all > 0.
        weights: ``(K,)`` positive (normalised here); uniform by default.
    """

    def __init__(self, means: Tensor, variances: Tensor | float = 1.0,
                 weights: Tensor | None = None):
        means = torch.as_tensor(means, dtype=torch.float64)
        if means.ndim < 2:
            raise ValueError(f"means must have shape (K, *event_shape), got {tuple(means.shape)}")
        k = means.shape[0]
        var = torch.as_tensor(variances, dtype=torch.float64)
        if var.ndim == 1 and var.shape[0] == k:
            var = var.reshape(k, *([1] * (means.ndim - 1)))
        try:
            var = var.expand_as(means).clone()
        except RuntimeError:
            raise ValueError(f"variances of shape {tuple(var.shape)} do not broadcast to means "
                             f"{tuple(means.shape)}") from None
        if not (var > 0).all():
            raise ValueError("variances must be > 0")
        w = torch.ones(k, dtype=torch.float64) if weights is None else torch.as_tensor(
            weights, dtype=torch.float64)
        if w.shape != (k,) or not (w > 0).all():
            raise ValueError(f"weights must be {k} positive numbers, got shape {tuple(w.shape)}")
        check_finite(means, "means")
        self.means, self.variances, self.weights = means, var, w / w.sum()
        self.event_shape = tuple(means.shape[1:])

    @property
    def num_components(self) -> int:
        return self.means.shape[0]

    @property
    def dim(self) -> int:
        return math.prod(self.event_shape)

    def _flat(self, x: Tensor) -> Tensor:
        if tuple(x.shape[1:]) != self.event_shape:
            raise ValueError(f"x must have shape (N, *{self.event_shape}), got {tuple(x.shape)}")
        return x.to(torch.float64).reshape(x.shape[0], -1)

    @staticmethod
    def _scales(alpha, sigma, x: Tensor) -> tuple[Tensor, Tensor]:
        a = torch.as_tensor(alpha, dtype=torch.float64, device=x.device).reshape(-1, 1, 1)
        s = torch.as_tensor(sigma, dtype=torch.float64, device=x.device).reshape(-1, 1, 1)
        return a, s

    def _posterior(self, x_t: Tensor, alpha, sigma):
        """Responsibilities ``(N, K)``, marginal log-density ``(N,)`` and per-component terms."""
        x = self._flat(x_t)[:, None, :]  # (N, 1, D)
        mu = self.means.reshape(1, self.num_components, -1).to(x.device)
        v = self.variances.reshape(1, self.num_components, -1).to(x.device)
        a, s = self._scales(alpha, sigma, x)
        var_t = a * a * v + s * s  # (N|1, K, D)
        diff = x - a * mu
        log_comp = -0.5 * ((diff * diff / var_t) + torch.log(2 * math.pi * var_t)).sum(-1)
        log_joint = log_comp + torch.log(self.weights.to(x.device))[None]
        log_p = torch.logsumexp(log_joint, dim=1)
        resp = torch.exp(log_joint - log_p[:, None])
        return resp, log_p, diff, var_t, mu, v, a

    def log_prob(self, x_t: Tensor, alpha=1.0, sigma=0.0) -> Tensor:
        """Log-density of the noisy marginal at ``x_t`` ``(N, *event)``; returns ``(N,)``."""
        return self._posterior(x_t, alpha, sigma)[1]

    def score(self, x_t: Tensor, alpha=1.0, sigma=0.0) -> Tensor:
        """``grad_x log p_t(x_t)``, shaped like ``x_t`` (float64)."""
        resp, _, diff, var_t, *_ = self._posterior(x_t, alpha, sigma)
        s = -(resp[..., None] * diff / var_t).sum(1)
        return s.reshape(x_t.shape)

    def denoise(self, x_t: Tensor, alpha, sigma) -> Tensor:
        """Exact ``E[x0 | x_t]`` for scalar or per-sample ``(N,)`` alpha and sigma (float64)."""
        resp, _, diff, var_t, mu, v, a = self._posterior(x_t, alpha, sigma)
        means = mu + a * v / var_t * diff
        return (resp[..., None] * means).sum(1).reshape(x_t.shape)

    def denoiser(self, schedule: Schedule) -> DenoiserFn:
        """A polydiff denoiser ``D(x_t, t) -> x0_hat`` for this mixture under ``schedule``.

        Output has ``x_t``'s dtype. ``calls`` on the returned function counts evaluations."""

        def denoise(x_t: Tensor, t: Tensor | float, **_: object) -> Tensor:
            denoise.calls += 1
            t = broadcast_t(t, x_t).to(torch.float64)
            alpha, sigma = schedule.alpha_sigma(t)
            return self.denoise(x_t, alpha, sigma).to(x_t.dtype)

        denoise.calls = 0
        return denoise

    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` exact draws, shape ``(n, *event_shape)`` (float64)."""
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn((n, *self.event_shape), generator=generator, dtype=torch.float64)
        return self.means[k] + self.variances[k].sqrt() * eps

    def component_of(self, x: Tensor) -> Tensor:
        """Most responsible component of each clean sample ``x`` ``(N, *event)``; ``(N,)``."""
        return self._posterior(x, 1.0, 0.0)[0].argmax(1)
