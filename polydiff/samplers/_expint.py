"""Exact weights of the exponential integral, in pure Python floats.

In the VE frame the probability-flow ODE in ``lam = log(alpha/sigma)`` is ``dx/dlam = D - x``,
whose solution over a step ``h`` is

    x(lam + h) = exp(-h) x(lam) + int_0^h exp(u - h) D(lam + u) du.

Replacing ``D`` by the polynomial through denoised estimates at offsets ``u_k`` gives weights
``c_k`` with ``int ~= sum_k c_k D_k``; :func:`weights` computes them from the moments
``I_j = int_0^h exp(u - h) u^j du``. In the noise-prediction frame the integral is
``int_0^h exp(-u) eps(lam + u) du``, which is the same integral after ``u -> h - u``
(:func:`noise_weights`).

Everything here works on Python floats (the samplers' loops) and on 0-d tensors (calibration
differentiates through ``h`` and the nodes).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = ["moments", "noise_weights", "weights"]

Scalar = float | Tensor


def _expm1(h: Scalar) -> Scalar:
    return torch.expm1(h) if isinstance(h, Tensor) else math.expm1(h)


def moments(h: Scalar, n: int) -> list[Scalar]:
    """``[I_0, ..., I_{n-1}]`` with ``I_j = int_0^h exp(u - h) u^j du`` (accurate for small h)."""
    if h < 1.0:  # I_j = j! h^(j+1) sum_k (-h)^k / (j+k+1)!, no cancellation
        out = []
        for j in range(n):
            term, total, k = 1.0 / math.factorial(j + 1), 0.0, 0
            while abs(term) > 1e-18 * abs(total) or k < 2:
                total += term
                k += 1
                term *= -h / (j + k + 1)
            out.append(math.factorial(j) * h ** (j + 1) * total)
        return out
    out = [-_expm1(-h)]
    for j in range(1, n):  # integration by parts: I_j = h^j - j I_{j-1}
        out.append(h**j - j * out[-1])
    return out


def weights(h: Scalar, nodes: Sequence[Scalar]) -> list[Scalar]:
    """Weights ``c_k`` of the estimates at offsets ``nodes`` (in lam, relative to the step's
    start) for the exponential integral over ``[0, h]`` of their interpolating polynomial."""
    n = len(nodes)
    mom = moments(h, n)
    out = []
    for k, uk in enumerate(nodes):
        # Lagrange basis polynomial l_k(u) = prod_{j != k} (u - u_j) / (u_k - u_j)
        coef, denom = [1.0], 1.0
        for j, uj in enumerate(nodes):
            if j == k:
                continue
            coef = [a - uj * b for a, b in zip([0.0, *coef], [*coef, 0.0], strict=True)]
            denom *= uk - uj
        out.append(sum(c * m for c, m in zip(coef, mom, strict=True)) / denom)
    return out


def noise_weights(h: Scalar, nodes: Sequence[Scalar]) -> list[Scalar]:
    """Weights ``c_k`` with ``int_0^h exp(-u) P(u) du = sum_k c_k P(u_k)`` for the polynomial
    ``P`` through values at offsets ``nodes``: the same integral as :func:`weights` with the
    nodes mirrored to ``h - u_k``."""
    return weights(h, [h - u for u in nodes])
