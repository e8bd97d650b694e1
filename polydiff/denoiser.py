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

__all__ = ["Denoiser", "broadcast_t", "network_dtype"]

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


def network_dtype(net: Network, default: torch.dtype) -> torch.dtype:
    """The dtype ``net`` computes in: that of its first floating parameter, else of its first
    floating buffer, else ``default`` (a parameterless network)."""
    for group in ("parameters", "buffers"):
        for p in getattr(net, group, tuple)():
            if p.is_floating_point():
                return p.dtype
    return default


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

    **Precision.** The network runs in its own dtype (that of its first floating parameter or
    buffer; a parameterless network gets ``x_t``'s dtype), so float64 noise works with a float32
    network and a bf16 network gets bf16 input (autocast is left to the caller, as usual). It
    gets ``c_noise`` in ``promote(its dtype, float32)``, so that a low-precision network still
    sees the noise level exactly (polydiff's embeddings cast their features to their weights).
    The solver arithmetic and the result are in ``promote(x_t dtype, float32)``.

    **A first guess** (networks with ``residual = True`` and a ``first_guess(**cond)`` method:
    a cheap deterministic estimate ``g`` of the clean sample from the conditioning, e.g. a
    blend of the given video frames or an interpolation of a gappy field): the network
    denoises the residual ``x0 - g``. It sees ``r_t = x_t - alpha g`` (the noisy residual at the
    same noise level) and gets ``guess=g``; its output ``out_r`` becomes ``out_r + p(alpha,
    sigma) g`` for the prediction ``out = p x0 + q eps``, which is exact for every linear
    prediction, so samplers and losses are unchanged (with ``prediction="x0"`` a zero network
    returns the guess). The Denoiser applies it with its own schedule and prediction, so a
    network never needs to be told them.

    **The ends** ``t < t_min`` and ``t > t_max`` (where a VP or flow schedule's log-SNR runs to
    +-inf): the network is only evaluated at noise levels it is trained on, ``t`` clamped to
    ``[t_min, t_max]`` (:meth:`~polydiff.schedules.Schedule.clamp`). Its output is turned into
    ``(x0_hat, eps_hat)`` with the exact ``alpha(t), sigma(t)`` where the prediction stays
    regular up to that end of ``[0, 1]`` (the limit: eps, v, flow, edm at ``sigma(0) = 0``, where
    ``x0_hat -> x_t``; x0, v, flow, edm at ``alpha(1) = 0``), and with those of the clamped ``t``
    where it does not (x0 and score at ``sigma = 0``, eps and score at ``alpha = 0``: the 2x2
    system is singular there, see :mod:`polydiff.parameterization`). So a denoiser is finite on
    all of ``[0, 1]`` and unchanged inside ``[t_min, t_max]`` (see docs/core.md for the table).
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
        # whether the conversion has a limit at t = 0 and at t = 1: regular there in float32
        # and in float64 (round-off can leave a true zero nonzero in one of them: VPCosine's
        # alpha(1) = cos(pi/2) is 6e-17 in float64, its sigma(0) is 5e-6 in float32)
        ends = torch.tensor([0.0, 1.0], dtype=torch.float64)
        regular = [self.prediction.regular(*schedule.alpha_sigma(ends.to(dtype)))
                   for dtype in (torch.float32, torch.float64)]
        self._exact_ends: tuple[bool, bool] = tuple((regular[0] & regular[1]).tolist())

    def network_output(self, x_t: Tensor, t: Tensor | float,
                       **cond) -> tuple[Tensor, Tensor, Tensor]:
        """Raw network output and the broadcast ``(alpha, sigma)`` of the noise level it was
        evaluated at, all in solver precision: ``t`` clamped to ``[t_min, t_max]``, so all three
        are finite for any ``t`` in ``[0, 1]`` (losses use them as they are)."""
        work = torch.promote_types(x_t.dtype, torch.float32)
        t = self.schedule.clamp(broadcast_t(t, x_t).to(work))
        alpha, sigma = self.schedule.alpha_sigma(t)
        net_dtype = network_dtype(self.net, x_t.dtype)
        x_in = x_t.to(work)
        guess = residual = None
        if getattr(self.net, "residual", False):  # denoise x0 - first guess (class docstring)
            rdtype = torch.promote_types(work, net_dtype)
            guess = self.net.first_guess(**cond).to(rdtype)
            if guess.shape != x_t.shape:
                raise ValueError(f"the network's first guess has shape {tuple(guess.shape)}, "
                                 f"expected the input's {tuple(x_t.shape)}")
            alpha_r, sigma_r = (append_dims(v, x_t.ndim)
                                for v in self.schedule.alpha_sigma(t.to(rdtype)))
            x_in = x_t.to(rdtype) - alpha_r * guess
            residual = self.prediction.coefficients(alpha_r, sigma_r)[0] * guess
        if self.input_scale == "unit_variance":
            x_in = x_in * append_dims(self.prediction.c_in(alpha, sigma), x_t.ndim).to(
                x_in.dtype)
        noise_in = c_noise(self.c_noise, t, alpha, sigma)
        extra = {} if guess is None else {"guess": guess.to(net_dtype)}
        out = self.net(x_in.to(net_dtype),
                       noise_in.to(torch.promote_types(net_dtype, torch.float32)), **cond,
                       **extra)
        if out.shape != x_t.shape:
            raise ValueError(
                f"the network returned shape {tuple(out.shape)}, expected the input's "
                f"{tuple(x_t.shape)}"
            )
        if residual is not None:
            out = out.to(residual.dtype) + residual
        return out.to(work), append_dims(alpha, x_t.ndim), append_dims(sigma, x_t.ndim)

    def predict(self, x_t: Tensor, t: Tensor | float, **cond) -> tuple[Tensor, Tensor]:
        """``(x0_hat, eps_hat)`` in solver precision (float32 or float64); beyond
        ``[t_min, t_max]`` the limit or the clamp described in the class docstring."""
        out, alpha, sigma = self.network_output(x_t, t, **cond)
        t = broadcast_t(t, x_t).to(out.dtype)
        exact = torch.ones_like(t, dtype=torch.bool)  # where the exact alpha(t), sigma(t) apply
        at_zero, at_one = self._exact_ends
        if not at_zero:
            exact &= t >= self.schedule.t_min
        if not at_one:
            exact &= t <= self.schedule.t_max
        exact = append_dims(exact, x_t.ndim)
        alpha_t, sigma_t = (append_dims(v, x_t.ndim) for v in self.schedule.alpha_sigma(t))
        alpha, sigma = torch.where(exact, alpha_t, alpha), torch.where(exact, sigma_t, sigma)
        return self.prediction.to_x0_eps(out, x_t.to(out.dtype), alpha, sigma)

    def forward(self, x_t: Tensor, t: Tensor | float, return_eps: bool = False, **cond):
        """``x0_hat`` (and ``eps_hat`` when ``return_eps``), shaped like ``x_t``."""
        x0, eps = self.predict(x_t, t, **cond)
        return (x0, eps) if return_eps else x0
