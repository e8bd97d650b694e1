"""``Denoiser``: network + schedule + prediction type -> ``D(x_t, t, **cond) = x0_hat``."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from . import parameterization
from ._checks import append_dims, check_choice
from .conditioning import C_NOISE_MAPS, c_noise
from .parameterization import Prediction
from .schedules import Schedule
from .typing import Network

__all__ = ["Denoiser", "broadcast_t"]

INPUT_SCALES = ("none", "unit_variance")


def broadcast_t(t: Tensor | float, x: Tensor) -> Tensor:
    """``t`` as a ``(B,)`` tensor for ``x`` of shape ``(B, ...)``; scalars are broadcast."""
    t = torch.as_tensor(t, device=x.device)
    if not t.is_floating_point():
        t = t.float()
    if t.ndim == 0:
        return t.expand(x.shape[0])
    if t.shape != (x.shape[0],):
        raise ValueError(f"t must be a scalar or of shape ({x.shape[0]},), got {tuple(t.shape)}")
    return t


class Denoiser(nn.Module):
    """Wraps ``net(x_in, c_noise, **cond) -> out`` into the denoiser every sampler takes
    (a :class:`polydiff.typing.Denoiser`: ``D(x_t (B, C, *axes), t (B,) or scalar, **cond)``).

    Args:
        net: any module ``net(x_in (B, C, *axes), c_noise (B,), **cond) -> (B, C, *axes)``
            (:class:`polydiff.typing.Network`).
        schedule: the forward process the network was trained with.
        prediction: ``"eps" | "x0" | "v" | "flow" | "score" | "edm"`` or a ``Prediction``.
        c_noise: noise-level map fed to ``net`` (``"1000t" | "t" | "log_snr" | "edm"``);
            default ``"edm"`` for EDM prediction, else ``"1000t"``.
        sigma_data: data standard deviation (EDM preconditioning, unit-variance input scaling).
        input_scale: ``"none"`` (net sees ``x_t``) or ``"unit_variance"`` (net sees
            ``x_t / sqrt(sigma² + alpha² sigma_data²)``); default ``"unit_variance"`` for EDM.

    The solver arithmetic runs in at least float32, whatever dtype the network computes in.
    """

    def __init__(self, net: Network, schedule: Schedule, prediction: str | Prediction = "eps",
                 c_noise: str | None = None, sigma_data: float = 0.5,
                 input_scale: str | None = None):
        super().__init__()
        self.net = net
        self.schedule = schedule
        self.prediction = parameterization.get(prediction, sigma_data)
        edm = self.prediction.name == "edm"
        self.c_noise = check_choice(c_noise or ("edm" if edm else "1000t"), C_NOISE_MAPS,
                                    "c_noise")
        self.input_scale = check_choice(input_scale or ("unit_variance" if edm else "none"),
                                        INPUT_SCALES, "input_scale")

    def network_output(self, x_t: Tensor, t: Tensor | float,
                       **cond) -> tuple[Tensor, Tensor, Tensor]:
        """Raw network output and the broadcast ``(alpha, sigma)``, all in solver precision."""
        t = broadcast_t(t, x_t)
        work = torch.promote_types(x_t.dtype, torch.float32)
        alpha, sigma = self.schedule.alpha_sigma(t.to(work))
        x_in = x_t.to(work)
        if self.input_scale == "unit_variance":
            x_in = x_in * append_dims(self.prediction.c_in(alpha, sigma), x_t.ndim)
        noise_in = c_noise(self.c_noise, t.to(work), alpha, sigma)
        out = self.net(x_in, noise_in, **cond)
        if out.shape != x_t.shape:
            raise ValueError(
                f"the network returned shape {tuple(out.shape)}, expected the input's "
                f"{tuple(x_t.shape)}"
            )
        return out.to(work), append_dims(alpha, x_t.ndim), append_dims(sigma, x_t.ndim)

    def predict(self, x_t: Tensor, t: Tensor | float, **cond) -> tuple[Tensor, Tensor]:
        """``(x0_hat, eps_hat)`` in solver precision (float32 or float64)."""
        out, alpha, sigma = self.network_output(x_t, t, **cond)
        return self.prediction.to_x0_eps(out, x_t.to(out.dtype), alpha, sigma)

    def forward(self, x_t: Tensor, t: Tensor | float, return_eps: bool = False, **cond):
        """``x0_hat`` (and ``eps_hat`` when ``return_eps``), shaped like ``x_t``."""
        x0, eps = self.predict(x_t, t, **cond)
        return (x0, eps) if return_eps else x0
