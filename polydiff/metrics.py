"""Modality-neutral scores for deterministic and ensemble predictions.

Every function scores only the entries where the target is finite and ``where`` (optional bool,
broadcastable to the target) is True, e.g. the held-out gaps of an imputation. Ensembles have the
member axis first: ``(M, *target_shape)``. All return Python-friendly 0-d tensors.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ._checks import check_mask

__all__ = ["rmse", "mae", "crps_ensemble", "spread_skill", "interval_coverage"]


def _selection(target: Tensor, where: Tensor | None) -> Tensor:
    """The scored entries: bool, shaped like ``target``."""
    keep = torch.isfinite(target)
    if where is not None:
        keep = keep & check_mask(where, target, "where")
    if not keep.any():
        raise ValueError("no entries to score: the target is all NaN or `where` selects nothing")
    return keep


def _check_ensemble(ensemble: Tensor, target: Tensor) -> None:
    if tuple(ensemble.shape[1:]) != tuple(target.shape):
        raise ValueError(f"ensemble must have shape (M, *{tuple(target.shape)}), "
                         f"got {tuple(ensemble.shape)}")


def rmse(pred: Tensor, target: Tensor, where: Tensor | None = None) -> Tensor:
    """Root-mean-square error over the scored entries."""
    keep = _selection(target, where)
    return ((pred[keep] - target[keep]) ** 2).mean().sqrt()


def mae(pred: Tensor, target: Tensor, where: Tensor | None = None) -> Tensor:
    """Mean absolute error over the scored entries."""
    keep = _selection(target, where)
    return (pred[keep] - target[keep]).abs().mean()


def crps_ensemble(ensemble: Tensor, target: Tensor, where: Tensor | None = None,
                  fair: bool = True) -> Tensor:
    """Continuous ranked probability score of an ensemble ``(M, ...)``, averaged over entries.

    ``CRPS = E|X - y| - E|X - X'| / 2``; the fair estimator divides the spread term by
    ``M (M - 1)`` instead of ``M²`` (unbiased for the underlying distribution)."""
    _check_ensemble(ensemble, target)
    m = ensemble.shape[0]
    if fair and m < 2:
        raise ValueError("the fair CRPS needs an ensemble of at least 2 members")
    keep = _selection(target, where)
    x = ensemble[:, keep]  # (M, N)
    y = target[keep]
    skill = (x - y).abs().mean(0)
    xs, _ = torch.sort(x, dim=0)
    rank = torch.arange(m, dtype=x.dtype, device=x.device)[:, None]
    pair_sum = ((2 * rank - m + 1) * xs).sum(0)  # sum_{i<j} |x_i - x_j|
    spread = pair_sum / (m * (m - 1) if fair else m * m)
    return (skill - spread).mean()


def spread_skill(ensemble: Tensor, target: Tensor,
                 where: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """``(spread, skill, ratio)``: sqrt of mean ensemble variance, RMSE of the ensemble mean,
    and ``sqrt((M + 1)/M) spread / skill`` (1 for a calibrated ensemble)."""
    _check_ensemble(ensemble, target)
    m = ensemble.shape[0]
    if m < 2:
        raise ValueError("spread needs an ensemble of at least 2 members")
    keep = _selection(target, where)
    x = ensemble[:, keep]
    spread = x.var(0, unbiased=True).mean().sqrt()
    skill = ((x.mean(0) - target[keep]) ** 2).mean().sqrt()
    return spread, skill, ((m + 1) / m) ** 0.5 * spread / skill


def interval_coverage(ensemble: Tensor, target: Tensor, level: float = 0.9,
                      where: Tensor | None = None) -> Tensor:
    """Fraction of scored targets inside the ensemble's central ``level`` interval."""
    _check_ensemble(ensemble, target)
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    keep = _selection(target, where)
    x = ensemble[:, keep]
    q = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=x.dtype, device=x.device)
    lo, hi = torch.quantile(x, q, dim=0)
    y = target[keep]
    return ((y >= lo) & (y <= hi)).to(x.dtype).mean()
