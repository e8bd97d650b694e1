"""What a network predicts, and exact conversions to ``(x0_hat, eps_hat)``.

With ``x_t = alpha x0 + sigma eps``, every supported prediction is *linear* in ``(x0, eps)``:

    out = p(alpha, sigma) x0 + q(alpha, sigma) eps

so one mechanism serves all of them; only the coefficients differ:

=========  ===============================  ==============================================
name       target                           (p, q)
=========  ===============================  ==============================================
eps        eps                              (0, 1)
x0         x0                               (1, 0)
v          alpha eps - sigma x0             (-sigma, alpha)
flow       eps - x0 (rectified-flow u)      (-1, 1)
score      grad log p(x_t) = -eps / sigma   (0, -1/sigma)
edm        F of Karras et al. (2022)        (sigma / (sd N), -sd alpha / N),
                                            N = sqrt(sigma² + alpha² sd²), sd = sigma_data
=========  ===============================  ==============================================

Solving the 2×2 system ``[[alpha, sigma], [p, q]] [x0, eps] = [x_t, out]`` gives both estimates.
An error in ``out`` equals ``-(det / sigma)`` times the induced error in ``x0`` (``det = alpha q -
sigma p``), so a loss in the network's own space is the x0-space loss times ``(det / sigma)²``.

**The ends.** Everything here is a function of ``(alpha, sigma)``, exact wherever the system is
*regular* (:meth:`Prediction.regular`: ``p, q`` finite and ``det != 0``), which holds for every
prediction inside a schedule's ``[t_min, t_max]``. At the ends of the VP and flow schedules one
of them vanishes, and then

- ``sigma = 0`` (``t = 0``): eps, v, flow and edm stay regular and give the limits
  (``x0_hat = x_t / alpha``); x0 (``det = -sigma = 0``) and score (``q = -1/sigma``) are singular;
- ``alpha = 0`` (``t = 1`` of VPCosine, Flow): x0, v, flow and edm stay regular; eps and score
  (``det = 0``) are singular;
- ``x0_loss_factor`` has no finite value at ``sigma = 0`` (x0's is 1, but 0/0 numerically).

A singular case has no finite value, so these functions are not meant to be called there:
:class:`polydiff.Denoiser` evaluates them at ``t`` clamped to ``[t_min, t_max]`` instead.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from ._checks import check_choice, check_real

__all__ = ["Prediction", "get", "names"]

Coeffs = Callable[[Tensor, Tensor, float], tuple[Tensor, Tensor]]


def _edm_norm(alpha: Tensor, sigma: Tensor, sd: float) -> Tensor:
    return torch.sqrt(sigma * sigma + alpha * alpha * sd * sd)


_COEFFS: dict[str, Coeffs] = {
    "eps": lambda a, s, sd: (torch.zeros_like(a), torch.ones_like(a)),
    "x0": lambda a, s, sd: (torch.ones_like(a), torch.zeros_like(a)),
    "v": lambda a, s, sd: (-s, a),
    "flow": lambda a, s, sd: (-torch.ones_like(a), torch.ones_like(a)),
    "score": lambda a, s, sd: (torch.zeros_like(a), -1 / s),
    "edm": lambda a, s, sd: (s / (sd * _edm_norm(a, s, sd)), -sd * a / _edm_norm(a, s, sd)),
}


class Prediction:
    """A network output type. ``alpha``/``sigma`` broadcast against the data tensors.

    ``sigma_data`` (the data's standard deviation) is used by ``edm`` and by the unit-variance
    input scaling :meth:`c_in`.
    """

    def __init__(self, name: str, sigma_data: float = 0.5):
        self.name = check_choice(name, _COEFFS, "prediction")
        self.sigma_data = check_real(sigma_data, "sigma_data", positive=True)
        self._coeffs = _COEFFS[name]

    def coefficients(self, alpha: Tensor, sigma: Tensor) -> tuple[Tensor, Tensor]:
        """``(p, q)`` with ``out = p x0 + q eps``."""
        return self._coeffs(alpha, sigma, self.sigma_data)

    def regular(self, alpha: Tensor, sigma: Tensor) -> Tensor:
        """Whether ``out`` determines ``(x0, eps)`` at ``(alpha, sigma)`` (bool, shaped like the
        broadcast of both): the coefficients are finite and ``det = alpha q - sigma p != 0``.
        Then :meth:`target` and :meth:`to_x0_eps` are finite, and at the end of a schedule
        they are the limits of their values inside it."""
        p, q = self.coefficients(alpha, sigma)
        det = alpha * q - sigma * p
        return torch.isfinite(p) & torch.isfinite(q) & torch.isfinite(det) & (det != 0)

    def target(self, x0: Tensor, eps: Tensor, alpha: Tensor, sigma: Tensor) -> Tensor:
        """The ideal network output for clean data ``x0`` noised with ``eps``."""
        p, q = self.coefficients(alpha, sigma)
        return p * x0 + q * eps

    def to_x0_eps(self, out: Tensor, x_t: Tensor, alpha: Tensor,
                  sigma: Tensor) -> tuple[Tensor, Tensor]:
        """Invert ``out`` given ``x_t``: returns ``(x0_hat, eps_hat)``."""
        p, q = self.coefficients(alpha, sigma)
        det = alpha * q - sigma * p
        return (q * x_t - sigma * out) / det, (alpha * out - p * x_t) / det

    def x0_loss_factor(self, alpha: Tensor, sigma: Tensor) -> Tensor:
        """``|out - target|² = factor · |x0_hat - x0|²`` at fixed ``x_t``: ``(det / sigma)²``."""
        p, q = self.coefficients(alpha, sigma)
        return ((alpha * q - sigma * p) / sigma) ** 2

    def c_in(self, alpha: Tensor, sigma: Tensor) -> Tensor:
        """Input scale giving ``x_t`` unit variance when data has std ``sigma_data``."""
        return 1 / _edm_norm(alpha, sigma, self.sigma_data)

    def __repr__(self) -> str:
        return f"Prediction({self.name!r}, sigma_data={self.sigma_data})"


def names() -> list[str]:
    """Names accepted by :class:`Prediction`."""
    return sorted(_COEFFS)


def get(name: str | Prediction, sigma_data: float = 0.5) -> Prediction:
    """A :class:`Prediction` from its name (instances pass through)."""
    return name if isinstance(name, Prediction) else Prediction(name, sigma_data)
