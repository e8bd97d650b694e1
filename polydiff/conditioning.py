"""Noise-level conditioning: c_noise maps, noise-level embeddings and FiLM.

A network sees the noise level as ``c_noise``: a tensor of shape ``(B,)`` computed from
``(t, alpha, sigma)`` by one of the maps below, then embedded to a vector of shape ``(B, dim)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from ._checks import check_choice, check_count, check_real

__all__ = [
    "C_NOISE_MAPS",
    "c_noise",
    "sinusoidal_embedding",
    "SinusoidalEmbedding",
    "FourierEmbedding",
    "NoiseEmbedding",
    "film",
]


def _c_noise_t1000(t: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    return 1000.0 * t


def _c_noise_log_snr(t: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    return 2.0 * (torch.log(alpha) - torch.log(sigma))


def _c_noise_edm(t: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    # EDM: log(sigma~) / 4 with sigma~ = sigma / alpha the variance-exploding noise level.
    return 0.25 * (torch.log(sigma) - torch.log(alpha))


def _c_noise_t(t: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    return t


C_NOISE_MAPS: dict[str, Callable[[Tensor, Tensor, Tensor], Tensor]] = {
    "1000t": _c_noise_t1000,
    "t": _c_noise_t,
    "log_snr": _c_noise_log_snr,
    "edm": _c_noise_edm,
}


def c_noise(name: str, t: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
    """The network's noise-level input, shape like ``t``.

    ``"1000t"``: 1000·t (DDPM-style), ``"t"``: t, ``"log_snr"``: log(alpha²/sigma²),
    ``"edm"``: log(sigma/alpha)/4. The last two are +-inf where ``sigma`` or ``alpha`` is 0 (the
    ends of VP and flow schedules): :class:`polydiff.Denoiser` only asks for them inside the
    schedule's ``[t_min, t_max]``.
    """
    return C_NOISE_MAPS[check_choice(name, C_NOISE_MAPS, "c_noise map")](t, alpha, sigma)


def _half(dim: int, where: str) -> int:
    """Half of a feature ``dim``, which must be an even integer >= 2."""
    if check_count(dim, f"{where}: dim", 2) % 2:
        raise ValueError(f"{where}: dim must be even and >= 2, got {dim}")
    return dim // 2


def sinusoidal_embedding(x: Tensor, dim: int, max_period: float = 10_000.0) -> Tensor:
    """Transformer-style sinusoidal features of a scalar per sample.

    x: ``(B,)``; returns ``(B, dim)`` = [cos(x·f_k), sin(x·f_k)] with geometrically spaced f_k.
    """
    if x.ndim != 1:
        raise ValueError(f"sinusoidal_embedding: x must have shape (B,), got {tuple(x.shape)}")
    half = _half(dim, "sinusoidal_embedding")
    freqs = torch.exp(
        -math.log(max_period) * torch.arange(half, device=x.device, dtype=torch.float32) / half
    )
    args = x.float()[:, None] * freqs[None]
    return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class SinusoidalEmbedding(nn.Module):
    """Module form of :func:`sinusoidal_embedding`: ``(B,) -> (B, dim)``."""

    def __init__(self, dim: int, max_period: float = 10_000.0):
        super().__init__()
        _half(dim, "SinusoidalEmbedding")
        self.dim = dim
        self.max_period = check_real(max_period, "SinusoidalEmbedding: max_period", positive=True)

    def forward(self, x: Tensor) -> Tensor:
        return sinusoidal_embedding(x, self.dim, self.max_period)


class FourierEmbedding(nn.Module):
    """Random Fourier features with fixed Gaussian frequencies: ``(B,) -> (B, dim)``.

    Frequencies ~ N(0, scale²); suited to continuous c_noise such as log-SNR or EDM's log-sigma.
    """

    def __init__(self, dim: int, scale: float = 16.0, seed: int = 0):
        super().__init__()
        half = _half(dim, "FourierEmbedding")
        scale = check_real(scale, "FourierEmbedding: scale", positive=True)
        g = torch.Generator().manual_seed(seed)
        self.register_buffer("freqs", torch.randn(half, generator=g) * scale)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 1:
            raise ValueError(f"FourierEmbedding: x must have shape (B,), got {tuple(x.shape)}")
        args = 2 * math.pi * x.float()[:, None] * self.freqs[None]
        return torch.cat([torch.cos(args), torch.sin(args)], dim=-1)


class NoiseEmbedding(nn.Module):
    """c_noise ``(B,)`` -> features ``(B, out_dim)``: sinusoidal or Fourier, then a 2-layer MLP."""

    KINDS = ("sinusoidal", "fourier")

    def __init__(self, out_dim: int, kind: str = "sinusoidal", base_dim: int | None = None,
                 fourier_scale: float = 16.0):
        super().__init__()
        out_dim = check_count(out_dim, "NoiseEmbedding: out_dim")
        base_dim = base_dim or max(2, (out_dim // 4) * 2)
        check_choice(kind, self.KINDS, "noise embedding kind")
        self.features: nn.Module = (SinusoidalEmbedding(base_dim) if kind == "sinusoidal" else
                                    FourierEmbedding(base_dim, scale=fourier_scale))
        self.mlp = nn.Sequential(nn.Linear(base_dim, out_dim), nn.SiLU(),
                                 nn.Linear(out_dim, out_dim))

    def forward(self, c_noise: Tensor) -> Tensor:
        return self.mlp(self.features(c_noise).to(self.mlp[0].weight.dtype))


def film(h: Tensor, scale_shift: Tensor) -> Tensor:
    """Feature-wise affine modulation ``h * (1 + scale) + shift``.

    h: ``(B, C, *axes)``; scale_shift: ``(B, 2C)`` (scale first), broadcast over every axis.
    """
    if scale_shift.ndim != 2 or scale_shift.shape[1] != 2 * h.shape[1]:
        raise ValueError(f"film: scale_shift must have shape (B, {2 * h.shape[1]}), "
                         f"got {tuple(scale_shift.shape)}")
    scale, shift = scale_shift.chunk(2, dim=1)
    view = (*scale.shape, *([1] * (h.ndim - 2)))
    return h * (1 + scale.reshape(view)) + shift.reshape(view)
