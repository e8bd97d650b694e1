"""Forward noising processes ``x_t = alpha(t) x0 + sigma(t) eps`` for ``t in [0, 1]``.

``t = 0`` is data, ``t = 1`` is noise. Every schedule gives ``alpha_sigma(t)``, the log
signal-to-noise ratio ``log_snr(t) = log(alpha² / sigma²)`` (strictly decreasing in t) and its
exact inverse ``t_of_log_snr``, plus the range ``[t_min, t_max]`` on which the log-SNR is finite
and samplers may step.

All of them are exact on the closed range ``[0, 1]``: at an end where ``sigma`` or ``alpha``
vanishes (``t = 0`` of the VP and flow schedules, ``t = 1`` of ``VPCosine`` and ``Flow``) the
log-SNR is its limit ``+inf`` or ``-inf``, and ``t_of_log_snr(+-inf)`` is the matching limit of
the inverse. What *uses* the log-SNR (a network's noise input, conversions between predictions,
loss weights) is finite only inside ``[t_min, t_max]``: :meth:`Schedule.clamp` maps ``t`` there,
as :class:`polydiff.Denoiser` does. NaN input raises, naming the argument.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ._checks import append_dims, as_float_tensor, check_choice, check_finite, check_no_nan

__all__ = [
    "Schedule",
    "VPLinear",
    "VPCosine",
    "VPDiscrete",
    "VE",
    "EDM",
    "Flow",
    "get",
    "names",
]


def _log_expm1(x: Tensor) -> Tensor:
    """log(exp(x) - 1) for x > 0, stable for small and large x."""
    return torch.where(x > 20, x + torch.log1p(-torch.exp(-x.clamp(min=20))),
                       torch.log(torch.expm1(x.clamp(max=20))))


class Schedule:
    """Base class: subclasses define ``alpha_sigma``, ``log_snr`` and ``t_of_log_snr``."""

    name: str = "schedule"

    def __init__(self, t_min: float, t_max: float):
        if not 0.0 <= t_min < t_max <= 1.0:
            raise ValueError(f"need 0 <= t_min < t_max <= 1, got t_min={t_min}, t_max={t_max}")
        self.t_min = float(t_min)
        self.t_max = float(t_max)

    # -- validation -----------------------------------------------------------------------
    @staticmethod
    def _t(t: Tensor | float) -> Tensor:
        t = as_float_tensor(t, "t")
        if t.numel() and not bool(((t >= 0) & (t <= 1)).all()):  # (one host sync; NaN fails)
            check_finite(t, "t")
            raise ValueError(
                f"t must lie in [0, 1] (0 = data, 1 = noise), got values in "
                f"[{t.min().item():.6g}, {t.max().item():.6g}]"
            )
        return t

    # -- interface --------------------------------------------------------------------------
    def alpha_sigma(self, t: Tensor | float) -> tuple[Tensor, Tensor]:
        """Signal and noise scales at ``t``; both shaped like ``t``."""
        return self._alpha_sigma(self._t(t))

    def log_snr(self, t: Tensor | float) -> Tensor:
        """``lambda(t) = log(alpha² / sigma²)``, strictly decreasing; shaped like ``t``."""
        return self._log_snr(self._t(t))

    def t_of_log_snr(self, lam: Tensor | float) -> Tensor:
        """Exact inverse of :meth:`log_snr`. Values outside the schedule's reach map outside
        ``[0, 1]``; callers that need a valid time clamp to ``[t_min, t_max]``. ``+-inf`` are
        allowed (the limits of the inverse: ``+inf`` is ``t = 0`` where ``sigma(0) = 0``);
        NaN raises."""
        lam = as_float_tensor(lam, "lam")
        check_no_nan(lam, "lam (a log-SNR)")
        return self._t_of_log_snr(lam)

    def clamp(self, t: Tensor | float) -> Tensor:
        """``t`` (checked as in :meth:`alpha_sigma`) clamped to ``[t_min, t_max]``: the noise
        levels a network is trained on and samplers step on, where the log-SNR is finite.
        Unchanged inside the closed range, bit for bit and in its gradient (``torch.clamp``
        alone has gradient 0 at ``t_min`` and ``t_max`` themselves)."""
        t = self._t(t)
        inside = (t >= self.t_min) & (t <= self.t_max)
        return torch.where(inside, t, t.clamp(self.t_min, self.t_max))

    def add_noise(self, x0: Tensor, t: Tensor | float, eps: Tensor) -> Tensor:
        """``alpha(t) x0 + sigma(t) eps``; ``t`` is a scalar or of shape ``(B,)``."""
        if x0.shape != eps.shape:
            raise ValueError(f"x0 {tuple(x0.shape)} and eps {tuple(eps.shape)} must match")
        check_finite(x0, "x0")
        t = as_float_tensor(t, "t", like=x0).to(x0.device)
        if t.ndim == 1 and t.shape[0] != x0.shape[0]:
            raise ValueError(f"t of shape {tuple(t.shape)} does not match batch {x0.shape[0]}")
        alpha, sigma = self.alpha_sigma(t)
        alpha, sigma = append_dims(alpha, x0.ndim), append_dims(sigma, x0.ndim)
        return alpha.to(x0.dtype) * x0 + sigma.to(x0.dtype) * eps

    def ve_sigma(self, t: Tensor | float) -> Tensor:
        """The variance-exploding noise level ``sigma / alpha = exp(-lambda / 2)``."""
        return torch.exp(-0.5 * self.log_snr(t))

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self._config().items())
        return f"{type(self).__name__}({fields})"

    def _config(self) -> dict:
        return {"t_min": self.t_min, "t_max": self.t_max}

    def config(self) -> dict:
        """JSON-serialisable description; ``get(**config)`` rebuilds the schedule."""
        return {"name": self.name, **self._config()}

    # -- to implement -----------------------------------------------------------------------
    def _alpha_sigma(self, t: Tensor) -> tuple[Tensor, Tensor]:
        raise NotImplementedError

    def _log_snr(self, t: Tensor) -> Tensor:
        alpha, sigma = self._alpha_sigma(t)
        return 2.0 * (torch.log(alpha) - torch.log(sigma))

    def _t_of_log_snr(self, lam: Tensor) -> Tensor:
        raise NotImplementedError


class VPLinear(Schedule):
    """Variance-preserving SDE with linear beta(t) = beta_min + t (beta_max - beta_min).

    alpha² = exp(-B(t)), B(t) = beta_min t + (beta_max - beta_min) t² / 2; sigma² = 1 - alpha².
    """

    name = "vp_linear"

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0,
                 t_min: float = 1e-3, t_max: float = 1.0):
        if not 0 < beta_min <= beta_max:
            raise ValueError(f"need 0 < beta_min <= beta_max, got {beta_min}, {beta_max}")
        super().__init__(t_min, t_max)
        self.beta_min, self.beta_max = float(beta_min), float(beta_max)

    def _config(self) -> dict:
        return {"beta_min": self.beta_min, "beta_max": self.beta_max, **super()._config()}

    def _integral(self, t: Tensor) -> Tensor:
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t

    def _alpha_sigma(self, t: Tensor) -> tuple[Tensor, Tensor]:
        b = self._integral(t)
        return torch.exp(-0.5 * b), torch.sqrt(-torch.expm1(-b))

    def _log_snr(self, t: Tensor) -> Tensor:
        return -_log_expm1(self._integral(t))

    def _t_of_log_snr(self, lam: Tensor) -> Tensor:
        b = F.softplus(-lam)  # B(t) = log(1 + exp(-lambda))
        d = self.beta_max - self.beta_min
        t = 2 * b / (self.beta_min + torch.sqrt(self.beta_min**2 + 2 * d * b))
        return torch.where(torch.isinf(b), b, t)  # lambda = -inf: B = inf, so t = inf (not NaN)


class VPCosine(Schedule):
    """Cosine schedule (Nichol & Dhariwal): alpha = cos(phi(t)) / cos(phi(0)),
    phi(t) = (pi/2)(t + s)/(1 + s), sigma = sqrt(1 - alpha²)."""

    name = "vp_cosine"

    def __init__(self, s: float = 0.008, t_min: float = 1e-4, t_max: float = 0.9946):
        if s < 0:
            raise ValueError(f"s must be >= 0, got {s}")
        super().__init__(t_min, t_max)
        self.s = float(s)
        self._phi0 = 0.5 * math.pi * self.s / (1 + self.s)

    def _config(self) -> dict:
        return {"s": self.s, **super()._config()}

    def _phi(self, t: Tensor) -> Tensor:
        return 0.5 * math.pi * (t + self.s) / (1 + self.s)

    def _alpha_sigma(self, t: Tensor) -> tuple[Tensor, Tensor]:
        phi, phi0 = self._phi(t), self._phi0
        alpha = torch.cos(phi) / math.cos(phi0)
        # 1 - alpha² = sin(phi + phi0) sin(phi - phi0) / cos²(phi0), free of cancellation
        sigma2 = torch.sin(phi + phi0) * torch.sin(phi - phi0) / math.cos(phi0) ** 2
        return alpha.clamp(min=0), torch.sqrt(sigma2.clamp(min=0))

    def _t_of_log_snr(self, lam: Tensor) -> Tensor:
        alpha = torch.sqrt(torch.sigmoid(lam))
        sigma2 = torch.sigmoid(-lam)
        c0, s0 = math.cos(self._phi0), math.sin(self._phi0)
        phi = torch.atan2(torch.sqrt(s0 * s0 + sigma2 * c0 * c0), alpha * c0)
        return phi * (1 + self.s) * 2 / math.pi - self.s


def _interp(x: Tensor, xp: Tensor, fp: Tensor) -> Tensor:
    """Piecewise-linear interpolation with increasing ``xp``; linear extrapolation outside."""
    idx = torch.searchsorted(xp, x.contiguous()).clamp(1, len(xp) - 1)
    x0, x1, f0, f1 = xp[idx - 1], xp[idx], fp[idx - 1], fp[idx]
    return f0 + (x - x0) * (f1 - f0) / (x1 - x0)


class VPDiscrete(Schedule):
    """A discrete DDPM schedule given by ``betas`` (length N), made continuous.

    Step ``i`` (0-based) sits at ``t = (i + 1) / N`` with ``alpha² = prod_{j<=i} (1 - beta_j)``;
    ``log alpha`` is piecewise linear in t between steps (and 0 at t = 0), so ``t_of_log_snr``
    is its exact inverse. ``index_of_t`` maps back to the (fractional) training timestep index.
    """

    name = "vp_discrete"

    def __init__(self, betas: Tensor | list[float], t_min: float | None = None,
                 t_max: float = 1.0):
        betas = torch.as_tensor(betas, dtype=torch.float64)
        if betas.ndim != 1 or len(betas) < 2:
            raise ValueError(f"betas must be 1-D with >= 2 entries, got shape {tuple(betas.shape)}")
        check_finite(betas, "betas")
        if betas.min() <= 0 or betas.max() >= 1:
            raise ValueError(
                f"betas must lie in (0, 1), got values in [{betas.min():.3g}, {betas.max():.3g}]"
            )
        if (betas[1:] < betas[:-1]).any():
            raise ValueError("betas must be non-decreasing (monotone noise schedule)")
        n = len(betas)
        super().__init__(1.0 / n if t_min is None else t_min, t_max)
        self.betas = betas
        self.num_steps = n
        log_alpha = 0.5 * torch.cumsum(torch.log1p(-betas), 0)
        self._t_tab = torch.cat([torch.zeros(1, dtype=torch.float64),
                                 torch.arange(1, n + 1, dtype=torch.float64) / n])
        self._la_tab = torch.cat([torch.zeros(1, dtype=torch.float64), log_alpha])

    @classmethod
    def ddpm_linear(cls, num_steps: int = 1000, beta_start: float = 1e-4,
                    beta_end: float = 0.02) -> VPDiscrete:
        """DDPM's linear betas (Ho et al. 2020)."""
        return cls(torch.linspace(beta_start, beta_end, num_steps, dtype=torch.float64))

    @classmethod
    def scaled_linear(cls, num_steps: int = 1000, beta_start: float = 0.00085,
                      beta_end: float = 0.012) -> VPDiscrete:
        """Stable Diffusion's betas: linear in sqrt(beta)."""
        b = torch.linspace(beta_start**0.5, beta_end**0.5, num_steps, dtype=torch.float64)
        return cls(b * b)

    def _config(self) -> dict:
        return {"betas": self.betas.tolist(), **super()._config()}

    def _log_alpha(self, t: Tensor) -> Tensor:
        la = _interp(t.double(), self._t_tab.to(t.device), self._la_tab.to(t.device))
        return la.to(t.dtype)

    def _alpha_sigma(self, t: Tensor) -> tuple[Tensor, Tensor]:
        la = self._log_alpha(t)
        return torch.exp(la), torch.sqrt(-torch.expm1(2 * la)).abs()  # (sigma(0) = +0, not -0)

    def _log_snr(self, t: Tensor) -> Tensor:
        la = self._log_alpha(t)
        return 2 * la - torch.log(-torch.expm1(2 * la))

    def _t_of_log_snr(self, lam: Tensor) -> Tensor:
        la = -0.5 * F.softplus(-lam.double())  # log alpha = 0.5 log sigmoid(lambda)
        xp, fp = self._la_tab.flip(0).to(lam.device), self._t_tab.flip(0).to(lam.device)
        return _interp(la, xp, fp).to(lam.dtype)

    def index_of_t(self, t: Tensor) -> Tensor:
        """Fractional training timestep index ``N t - 1`` (diffusers' ``timestep``)."""
        return self.num_steps * t - 1

    def t_of_index(self, index: Tensor | int) -> Tensor:
        """Continuous time of training timestep ``index`` (0-based)."""
        return (torch.as_tensor(index, dtype=torch.float64) + 1) / self.num_steps


class VE(Schedule):
    """Variance-exploding: alpha = 1, sigma = sigma_min (sigma_max / sigma_min)^t."""

    name = "ve"

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0,
                 t_min: float = 0.0, t_max: float = 1.0):
        if not 0 < sigma_min < sigma_max:
            raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
        super().__init__(t_min, t_max)
        self.sigma_min, self.sigma_max = float(sigma_min), float(sigma_max)
        self._log_ratio = math.log(self.sigma_max / self.sigma_min)

    def _config(self) -> dict:
        return {"sigma_min": self.sigma_min, "sigma_max": self.sigma_max, **super()._config()}

    def _alpha_sigma(self, t: Tensor) -> tuple[Tensor, Tensor]:
        return torch.ones_like(t), self.sigma_min * torch.exp(t * self._log_ratio)

    def _log_snr(self, t: Tensor) -> Tensor:
        return -2.0 * (math.log(self.sigma_min) + t * self._log_ratio)

    def _t_of_log_snr(self, lam: Tensor) -> Tensor:
        return (-0.5 * lam - math.log(self.sigma_min)) / self._log_ratio


class EDM(Schedule):
    """Karras et al. (2022): alpha = 1 and sigma(t) = (smin^(1/rho) + t (smax^(1/rho) -
    smin^(1/rho)))^rho, so a uniform t-grid is EDM's rho-grid."""

    name = "edm"

    def __init__(self, sigma_min: float = 0.002, sigma_max: float = 80.0, rho: float = 7.0,
                 t_min: float = 0.0, t_max: float = 1.0):
        if not 0 < sigma_min < sigma_max:
            raise ValueError(f"need 0 < sigma_min < sigma_max, got {sigma_min}, {sigma_max}")
        if rho <= 0:
            raise ValueError(f"rho must be > 0, got {rho}")
        super().__init__(t_min, t_max)
        self.sigma_min, self.sigma_max, self.rho = float(sigma_min), float(sigma_max), float(rho)
        self._a = self.sigma_min ** (1 / self.rho)
        self._b = self.sigma_max ** (1 / self.rho) - self._a

    def _config(self) -> dict:
        return {"sigma_min": self.sigma_min, "sigma_max": self.sigma_max, "rho": self.rho,
                **super()._config()}

    def _alpha_sigma(self, t: Tensor) -> tuple[Tensor, Tensor]:
        return torch.ones_like(t), (self._a + t * self._b) ** self.rho

    def _log_snr(self, t: Tensor) -> Tensor:
        return -2.0 * self.rho * torch.log(self._a + t * self._b)

    def _t_of_log_snr(self, lam: Tensor) -> Tensor:
        return (torch.exp(-0.5 * lam / self.rho) - self._a) / self._b


class Flow(Schedule):
    """Rectified flow / flow matching: alpha = 1 - t, sigma = t (lambda = -2 logit t)."""

    name = "flow"

    def __init__(self, t_min: float = 1e-4, t_max: float = 1 - 1e-4):
        super().__init__(t_min, t_max)

    def _alpha_sigma(self, t: Tensor) -> tuple[Tensor, Tensor]:
        return 1 - t, t

    def _log_snr(self, t: Tensor) -> Tensor:
        return -2.0 * torch.logit(t)

    def _t_of_log_snr(self, lam: Tensor) -> Tensor:
        return torch.sigmoid(-0.5 * lam)


_REGISTRY: dict[str, Callable[..., Schedule]] = {
    cls.name: cls for cls in (VPLinear, VPCosine, VPDiscrete, VE, EDM, Flow)
}
_REGISTRY["ddpm_linear"] = VPDiscrete.ddpm_linear
_REGISTRY["scaled_linear"] = VPDiscrete.scaled_linear


def names() -> list[str]:
    """Names accepted by :func:`get`."""
    return sorted(_REGISTRY)


def get(name: str, **kwargs) -> Schedule:
    """Build a schedule by name, e.g. ``get("vp_cosine")`` or ``get("edm", sigma_max=80)``."""
    check_choice(name, _REGISTRY, "schedule")
    return _REGISTRY[name](**kwargs)
