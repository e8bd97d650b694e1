"""Calibrating an ensemble's spread on held-out known values (split conformal prediction).

A diffusion ensemble trained briefly is often under-dispersed: its central 90 % interval
covers far fewer than 90 % of the truths. When some known values can be hidden and filled
like the real gaps, their errors tell how much wider the intervals must be:

- :func:`covering_factors`: per entry, the range of factors by which the ensemble's
  deviations from its mean can be stretched with its central ``level`` interval holding the
  truth;
- :func:`spread_factor`: the smallest factor whose stretched intervals cover the conformal
  share ``ceil((n + 1) level) / n`` of ``n`` held-out entries, hence at least ``level`` of
  exchangeable new ones; :func:`conformal_factor` does the counting on the covering ranges,
  which concatenate to pool the held-out entries of several ensembles into one factor;
- :func:`inflate`: ``mean + factor * (member - mean)`` (the mean, and so RMSE, unchanged);
- :class:`Calibration`: the covering ranges of held-out entries (of one ensemble, or of
  several pooled), weighted or not, and the conformal factor they give.

Shapes: ensembles ``(M, ...)`` with ``M >= 2`` members, targets ``(...)``; any units.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

__all__ = ["Calibration", "conformal_factor", "covering_factors", "inflate", "spread_factor"]


def _check(ensemble: Tensor, target: Tensor, level: float) -> None:
    if ensemble.ndim < 1 or ensemble.shape[0] < 2:
        raise ValueError(f"ensemble must be (M, ...) with M >= 2 members, got shape "
                         f"{tuple(ensemble.shape)}")
    if tuple(ensemble.shape[1:]) != tuple(target.shape):
        raise ValueError(f"ensemble members {tuple(ensemble.shape[1:])} and target "
                         f"{tuple(target.shape)} must have the same shape")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")


def covering_factors(ensemble: Tensor, target: Tensor, level: float = 0.9
                     ) -> tuple[Tensor, Tensor]:
    """``(k_lo, k_hi)``, each ``(...)``: ``target`` lies inside the central ``level`` interval
    (``torch.quantile`` of the members, linear) of ``inflate(ensemble, k)`` exactly for
    ``k_lo <= k <= k_hi`` (``k_lo > k_hi`` where no ``k >= 0`` covers it; ``k_hi = inf``
    where every larger ``k`` does). The inflated quantiles are ``mean + k (q - mean)``, so
    each interval end gives one linear condition on ``k``."""
    _check(ensemble, target, level)
    x = ensemble.to(torch.promote_types(ensemble.dtype, torch.float32))
    mean = x.mean(0)
    q = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=x.dtype, device=x.device)
    lo, hi = torch.quantile(x, q, dim=0)
    d = target.to(x.dtype) - mean
    k_lo, k_hi = torch.zeros_like(d), torch.full_like(d, math.inf)
    # mean + k a <= mean + d (a = lo - mean) and mean + k b >= mean + d (b = hi - mean),
    # i.e. k c <= e with (c, e) = (a, d) and (-b, -d)
    for c, e in ((lo - mean, d), (mean - hi, -d)):
        ratio = e / torch.where(c == 0, torch.ones_like(c), c)
        k_hi = torch.where(c > 0, torch.minimum(k_hi, ratio), k_hi)
        k_lo = torch.where(c < 0, torch.maximum(k_lo, ratio), k_lo)
        never = (c == 0) & (e < 0)
        k_hi = torch.where(never, torch.full_like(k_hi, -math.inf), k_hi)
    return k_lo, k_hi


def spread_factor(ensemble: Tensor, target: Tensor, where: Tensor | None = None,
                  level: float = 0.9, weight: Tensor | None = None) -> float:
    """The factor for :func:`inflate` from held-out entries (``where``: bool, True = scored;
    default all): the smallest ``k >= 0`` whose inflated central ``level`` intervals cover
    ``ceil((n + 1) level)`` of the ``n`` scored entries (split conformal: at least ``level``
    of new exchangeable entries), from :func:`covering_factors`; with ``weight``
    (broadcastable to ``target``, >= 0, e.g. cell areas) that share of the scored weight
    (:func:`conformal_factor`)."""
    k_lo, k_hi = covering_factors(ensemble, target, level)
    w = None
    if weight is not None:
        w = torch.as_tensor(weight, dtype=torch.float64)
        try:
            w = torch.broadcast_to(w, k_lo.shape)
        except RuntimeError:
            raise ValueError(f"weight {tuple(w.shape)} must broadcast to the target "
                             f"{tuple(target.shape)}") from None
    if where is not None:
        if tuple(where.shape) != tuple(target.shape) or where.dtype != torch.bool:
            raise ValueError(f"where must be a bool tensor shaped like the target "
                             f"{tuple(target.shape)}, got {where.dtype} "
                             f"{tuple(where.shape)}")
        k_lo, k_hi = k_lo[where], k_hi[where]
        w = None if w is None else w[where]
    return conformal_factor(k_lo.flatten(), k_hi.flatten(), level,
                            None if w is None else w.flatten())


def conformal_factor(k_lo: Tensor, k_hi: Tensor, level: float = 0.9,
                     weight: Tensor | None = None) -> float:
    """The smallest ``k >= 0`` inside ``ceil((n + 1) level)`` of ``n`` covering ranges
    ``[k_lo, k_hi]`` (``(n,)`` each, from :func:`covering_factors`; ranges of several
    ensembles concatenate, which pools their held-out entries into one factor). With
    ``weight`` ``(n,)`` (>= 0, not all 0): the ranges holding ``k`` must carry at least
    ``min(1, (n + 1) level / n)`` of the total weight (the same rule when all weights are
    equal), so an area-weighted coverage is what gets calibrated."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    if k_lo.ndim != 1 or tuple(k_lo.shape) != tuple(k_hi.shape):
        raise ValueError(f"k_lo and k_hi must be (n,) each, got {tuple(k_lo.shape)} and "
                         f"{tuple(k_hi.shape)}")
    k_lo, k_hi = k_lo.double(), k_hi.double()
    n = k_lo.numel()
    if n == 0:
        raise ValueError("spread_factor needs at least one held-out entry to score")
    if weight is None:
        w = torch.ones(n, dtype=torch.float64)
    else:
        w = torch.as_tensor(weight, dtype=torch.float64)
        if tuple(w.shape) != (n,) or not bool(torch.isfinite(w).all()) or bool((w < 0).any()) \
                or not float(w.sum()) > 0:
            raise ValueError(f"weight must be (n,) = ({n},), finite, >= 0 and not all 0, got "
                             f"shape {tuple(w.shape)}")
    total = float(w.sum())
    need = min(n, math.ceil((n + 1) * level)) if weight is None else \
        min(1.0, (n + 1) * level / n) * total
    # the covered weight only rises at some k_lo: try those, smallest first; at k it is the
    # weight of ranges starting at or below k less that of ranges ending below k
    ok = k_lo <= k_hi
    starts, order = torch.sort(k_lo[ok])
    up = torch.cumsum(w[ok][order], 0)
    ends, order = torch.sort(k_hi[ok])
    down = torch.cat([torch.zeros(1, dtype=torch.float64), torch.cumsum(w[ok][order], 0)])
    covered = (up[torch.searchsorted(starts, starts, right=True) - 1]
               - down[torch.searchsorted(ends, starts, right=False)])
    hit = torch.nonzero(covered >= need * (1 - 1e-12))
    if hit.numel() == 0:
        raise ValueError(f"no spread factor makes the ensemble's central {level:.0%} intervals "
                         f"cover {need:g} of the {n} held-out entries"
                         f"{'' if weight is None else ' (weighted)'} (members without spread?)")
    # a relative 1e-6 more, so the entry on the boundary stays inside after rounding
    return float(starts[hit[0, 0]]) * (1 + 1e-6)


def inflate(ensemble: Tensor, factor: float) -> Tensor:
    """``mean + factor * (ensemble - mean)`` over the member axis 0 (``factor >= 0``; finite)."""
    if not (math.isfinite(factor) and factor >= 0):
        raise ValueError(f"factor must be finite and >= 0, got {factor}")
    mean = ensemble.mean(0, keepdim=True)
    return mean + factor * (ensemble - mean)


@dataclass(frozen=True)
class Calibration:
    """Held-out entries of one or more fields: ``k_lo``, ``k_hi`` ``(n,)`` float64; entry
    ``i``'s truth lies inside the ensemble's central ``level`` interval widened by ``k``
    (:func:`inflate`) exactly for ``k_lo[i] <= k <= k_hi[i]``;
    ``weight`` ``(n,)``: what each entry counts for (the science ``impute``: its cell's area,
    cos(latitude), so that the intervals cover ``level`` of the gaps' area)."""

    k_lo: np.ndarray
    k_hi: np.ndarray
    level: float = 0.9
    weight: np.ndarray | None = None

    @classmethod
    def score(cls, ensemble: np.ndarray, truth: np.ndarray, where: np.ndarray,
              level: float = 0.9, weight: np.ndarray | None = None) -> Calibration:
        """From an ensemble ``(M, ...)`` filling the held-out entries ``where`` (bool, shaped
        like ``truth``; ``truth`` may be NaN elsewhere); ``weight`` broadcasts to ``truth``
        (default: every entry counts the same)."""
        k_lo, k_hi = covering_factors(torch.from_numpy(ensemble.astype(np.float64)),
                                      torch.from_numpy(np.nan_to_num(truth).astype(np.float64)),
                                      level)
        held = np.asarray(where, dtype=bool)
        w = None if weight is None else np.broadcast_to(weight, truth.shape)[held]
        return cls(k_lo.numpy()[held], k_hi.numpy()[held], level,
                   None if w is None else w.astype(np.float64))

    @property
    def entries(self) -> int:
        """How many held-out entries the factor rests on."""
        return int(self.k_lo.size)

    @property
    def factor(self) -> float:
        """The smallest factor whose widened intervals cover ``ceil((n + 1) level)`` of the
        ``n`` entries, or that share of their weight
        (:func:`conformal_factor`)."""
        return conformal_factor(torch.from_numpy(self.k_lo), torch.from_numpy(self.k_hi),
                                self.level,
                                None if self.weight is None else torch.from_numpy(self.weight))

    @classmethod
    def pool(cls, parts: Sequence[Calibration]) -> Calibration:
        """The entries of ``parts`` (all scored at one ``level``, all weighted or none)
        together."""
        parts = list(parts)
        if not parts or not all(isinstance(p, Calibration) for p in parts):
            raise ValueError(f"Calibration.pool needs one or more Calibration objects, got "
                             f"{[type(p).__name__ for p in parts]}")
        levels = sorted({p.level for p in parts})
        if len(levels) > 1:
            raise ValueError(f"Calibration.pool: the parts were scored at the levels {levels}; "
                             f"pool calibrations of one level")
        weighted = {p.weight is not None for p in parts}
        if len(weighted) > 1:
            raise ValueError("Calibration.pool: some parts are weighted and some are not; "
                             "pool calibrations made the same way")
        return cls(np.concatenate([p.k_lo for p in parts]),
                   np.concatenate([p.k_hi for p in parts]), levels[0],
                   np.concatenate([p.weight for p in parts]) if True in weighted else None)
