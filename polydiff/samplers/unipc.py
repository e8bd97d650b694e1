"""UniPC (Zhao et al. 2023): a multistep predictor (UniP) and a corrector (UniC) that reuses the
evaluation at the predicted point, so correction costs no extra network call.

Data-prediction form with ``hh = -h``, ``B(h) = hh`` ("bh1") or ``expm1(hh)`` ("bh2"),
``r_k = (lam_{i-k} - lam_i) / h`` and ``D1_k = (D_{i-k} - D_i) / r_k``::

    x_{i+1} = (sigma_{i+1}/sigma_i) x_i - alpha_{i+1} expm1(hh) D_i
              - alpha_{i+1} B(h) sum_k rho_k D1_k

where ``rho`` solves ``R rho = b`` with ``R[n, k] = r_k^n`` and ``b_n = (n+1)! g_{n+1}(hh) / B``,
``g_1 = expm1(hh)/hh - 1``, ``g_{n+1} = g_n / hh - 1/(n+1)!``; a system with one unknown takes
its ``h -> 0`` value ``1/2``. (``B`` cancels from exact solves, so that is where "bh1" and "bh2"
differ.) The predictor of order p uses
``D_i..D_{i-p+1}``; the corrector adds ``D1 = D(x_pred, t_{i+1}) - D_i`` at ``r = 1`` and
raises the order to ``p + 1``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .._checks import check_choice, check_count
from ..schedules import Schedule
from ..typing import Denoiser as DenoiserFn
from ._run import Run, Times

__all__ = ["unipc"]

ORDERS = (1, 2, 3)
VARIANTS = ("bh1", "bh2")


def _rhos(h: float, rks: list[float], variant: str) -> tuple[float, list[float], list[float]]:
    """``(B, rho_predictor, rho_corrector)`` for one step; ``rks`` excludes the final 1."""
    hh = -h
    big_b = hh if variant == "bh1" else math.expm1(hh)
    p = len(rks) + 1
    g, b = math.expm1(hh) / hh - 1, []
    for n in range(1, p + 1):
        b.append(g * math.factorial(n) / big_b)
        g = g / hh - 1 / math.factorial(n + 1)
    mat = np.vander(np.array([*rks, 1.0]), p, increasing=True).T  # mat[n, k] = r_k ** n
    # a single coefficient takes its h -> 0 limit 1/2 (as in UniPC): the only place where the
    # choice of B(h) matters, since B cancels from the exact solves
    rho_p = [] if p == 1 else [0.5] if p == 2 else np.linalg.solve(mat[:-1, :-1], b[:-1]).tolist()
    rho_c = [0.5] if p == 1 else np.linalg.solve(mat, b).tolist()
    return big_b, rho_p, rho_c


def unipc(denoiser: DenoiserFn, x: Tensor, ts: Times, schedule: Schedule, *, order: int = 2,
          variant: str = "bh2", **kw: Any) -> Tensor:
    """UniPC-``order`` (1, 2 or 3) with the ``variant`` ("bh1" or "bh2") of ``B(h)``.

    Order ``order + 1`` (predictor ``order``, raised by one by the corrector). NFE: 1 per step
    + 1 (the final denoising evaluates at the last predicted point, which also feeds the last
    correction); with ``final="none"`` the last correction is skipped and NFE is 1 per step.
    """
    check_choice(check_count(order, "order"), ORDERS, "order")
    check_choice(variant, VARIANTS, "variant")
    run = Run(denoiser, x, ts, schedule, **kw)
    lam, a = run.lam, run.alpha
    x = run.x
    hist = [run.denoise(x, 0)]  # D_i, D_{i-1}, ...
    for i in run.steps():
        hist = hist[:order]
        rks = [(lam[i - k] - lam[i]) / run.h[i] for k in range(1, len(hist))]
        big_b, rho_p, rho_c = _rhos(run.h[i], rks, variant)
        base = run.step(x, i, hist[0])  # the first-order (DDIM) part
        pred = _add_differences(base, hist, rks, rho_p, -a[i + 1] * big_b)
        if i == run.n - 1 and run.final == "none":
            return run.finish(pred)
        d_new = run.denoise(pred, i + 1)
        x = _add_differences(base, [*hist, d_new], [*rks, 1.0], rho_c, -a[i + 1] * big_b)
        hist = [d_new, *hist]
    return run.finish(x, hist[1], d_last=hist[0])


def _add_differences(base: Tensor, hist: list[Tensor], rks: list[float], rho: list[float],
                     scale: float) -> Tensor:
    """``base + scale sum_k rho_k (hist[k+1] - hist[0]) / r_k`` as a new tensor."""
    if not rho:
        return base
    coef = [scale * r / rk for r, rk in zip(rho, rks, strict=True)]
    out = torch.add(base, hist[0], alpha=-sum(coef))
    for c, dk in zip(coef, hist[1:], strict=True):
        out.add_(dk, alpha=c)
    return out
