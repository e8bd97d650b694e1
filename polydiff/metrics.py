"""Modality-neutral scores for deterministic and ensemble predictions.

Every function scores only the entries where the target is finite and ``where`` (optional bool,
broadcastable to the target) is True, e.g. the held-out gaps of an imputation; NaN targets are
skipped, NaN predictions at scored entries propagate (a broken prediction is not hidden).
Ensembles have the member axis first: ``(M, *target_shape)``. ``weight`` (optional, >= 0,
broadcastable to the target) makes every mean a weighted mean, e.g. area weighting of global
grids with :func:`latitude_weight` (``cos(latitude)``). All return 0-d tensors, except
:func:`rank_histogram`.

Distribution distances: :func:`frechet_distance` between two Gaussians ``(mu, cov)`` and
:func:`frechet_distance_of` between Gaussians fitted (:func:`feature_stats`) to two sets of
features ``(N, D)``, as FID / FVD / FAD do with a network's embeddings; float64 throughout.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

from ._checks import check_broadcastable, check_mask

__all__ = ["crps_ensemble", "crps_gaussian", "feature_stats", "frechet_distance",
           "frechet_distance_of", "interval_coverage", "latitude_weight", "mae",
           "rank_histogram", "rmse", "spread_skill"]


def _selection(target: Tensor, where: Tensor | None) -> Tensor:
    """The scored entries: bool, shaped like ``target``."""
    keep = torch.isfinite(target)
    if where is not None:
        keep = keep & check_mask(where, target, "where")
    if not keep.any():
        raise ValueError("no entries to score: the target is all NaN or `where` selects nothing")
    return keep


def _weights(weight: Tensor | None, target: Tensor, keep: Tensor) -> Tensor | None:
    """The weights of the scored entries ``(N,)``, or ``None`` (equal weights)."""
    if weight is None:
        return None
    weight = torch.as_tensor(weight)
    if not weight.is_floating_point():
        raise ValueError(f"weight must be a floating tensor, got {weight.dtype}")
    w = check_broadcastable(weight, target, "weight")[keep]
    if not torch.isfinite(w).all() or (w < 0).any():
        raise ValueError("weight must be finite and >= 0 at the scored entries")
    if w.sum() <= 0:
        raise ValueError("weight is 0 at every scored entry")
    return w.to(target.dtype if target.is_floating_point() else torch.float32)


def _mean(values: Tensor, w: Tensor | None) -> Tensor:
    """Mean over the last axis of ``values (..., N)``, weighted by ``w (N,)``."""
    if w is None:
        return values.mean(-1)
    return (values * w).sum(-1) / w.sum()


def _check_ensemble(ensemble: Tensor, target: Tensor) -> None:
    if tuple(ensemble.shape[1:]) != tuple(target.shape):
        raise ValueError(f"ensemble must have shape (M, *{tuple(target.shape)}), "
                         f"got {tuple(ensemble.shape)}")


def latitude_weight(lat_degrees: Tensor, ndim: int = 2, lat_axis: int = -2) -> Tensor:
    """``cos(latitude)`` (clipped at 0) shaped to broadcast against data with ``ndim`` axes whose
    latitude axis is ``lat_axis``, e.g. ``(n_lat, 1)`` for ``(lat, lon)`` maps."""
    if isinstance(lat_degrees, Tensor):
        lat = lat_degrees.to(torch.float64).reshape(-1)
    else:  # a copy: coordinates read from a file are often a read-only array
        lat = torch.tensor(np.asarray(lat_degrees, dtype=np.float64)).reshape(-1)
    w = torch.cos(lat * (math.pi / 180)).clamp(min=0.0)
    axis = lat_axis % ndim
    return w.reshape([-1 if i == axis else 1 for i in range(ndim)])


def rmse(pred: Tensor, target: Tensor, where: Tensor | None = None,
         weight: Tensor | None = None) -> Tensor:
    """Root-mean-square error over the scored entries."""
    keep = _selection(target, where)
    return _mean((pred[keep] - target[keep]) ** 2, _weights(weight, target, keep)).sqrt()


def mae(pred: Tensor, target: Tensor, where: Tensor | None = None,
        weight: Tensor | None = None) -> Tensor:
    """Mean absolute error over the scored entries."""
    keep = _selection(target, where)
    return _mean((pred[keep] - target[keep]).abs(), _weights(weight, target, keep))


def crps_ensemble(ensemble: Tensor, target: Tensor, where: Tensor | None = None,
                  fair: bool = True, weight: Tensor | None = None) -> Tensor:
    """Continuous ranked probability score of an ensemble ``(M, ...)``, averaged over entries.

    ``CRPS = E|X - y| - E|X - X'| / 2``; the fair estimator divides the spread term by
    ``M (M - 1)`` instead of ``M²`` (unbiased for the underlying distribution). With one member
    and ``fair=False`` it is the absolute error."""
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
    return _mean(skill - spread, _weights(weight, target, keep))


def crps_gaussian(mean: Tensor, std: Tensor, target: Tensor, where: Tensor | None = None,
                  weight: Tensor | None = None) -> Tensor:
    """CRPS of normal predictive distributions ``N(mean, std²)`` (closed form, Gneiting et al.
    2005): ``std * (z (2 Phi(z) - 1) + 2 phi(z) - 1/sqrt(pi))``, ``z = (y - mean) / std``;
    ``std = 0`` gives the absolute error."""
    keep = _selection(target, where)
    mu = check_broadcastable(torch.as_tensor(mean), target, "mean")[keep]
    sd = check_broadcastable(torch.as_tensor(std), target, "std")[keep].to(mu.dtype)
    if (sd < 0).any():
        raise ValueError("std must be >= 0")
    y = target[keep].to(mu.dtype)
    safe = torch.where(sd > 0, sd, torch.ones_like(sd))
    z = (y - mu) / safe
    normal = torch.distributions.Normal(torch.zeros((), dtype=mu.dtype),
                                        torch.ones((), dtype=mu.dtype))
    pdf, cdf = normal.log_prob(z).exp(), normal.cdf(z)
    score = safe * (z * (2 * cdf - 1) + 2 * pdf - 1 / math.sqrt(math.pi))
    score = torch.where(sd > 0, score, (y - mu).abs())
    return _mean(score, _weights(weight, target, keep))


def spread_skill(ensemble: Tensor, target: Tensor, where: Tensor | None = None,
                 weight: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """``(spread, skill, ratio)``: sqrt of mean ensemble variance, RMSE of the ensemble mean,
    and ``sqrt((M + 1)/M) spread / skill`` (1 for a calibrated ensemble)."""
    _check_ensemble(ensemble, target)
    m = ensemble.shape[0]
    if m < 2:
        raise ValueError("spread needs an ensemble of at least 2 members")
    keep = _selection(target, where)
    w = _weights(weight, target, keep)
    x = ensemble[:, keep]
    spread = _mean(x.var(0, unbiased=True), w).sqrt()
    skill = _mean((x.mean(0) - target[keep]) ** 2, w).sqrt()
    return spread, skill, ((m + 1) / m) ** 0.5 * spread / skill


def interval_coverage(ensemble: Tensor, target: Tensor, level: float = 0.9,
                      where: Tensor | None = None, weight: Tensor | None = None) -> Tensor:
    """Fraction of scored targets inside the ensemble's central ``level`` interval."""
    _check_ensemble(ensemble, target)
    if not 0 < level < 1:
        raise ValueError(f"level must lie in (0, 1), got {level}")
    keep = _selection(target, where)
    x = ensemble[:, keep]
    q = torch.tensor([(1 - level) / 2, (1 + level) / 2], dtype=x.dtype, device=x.device)
    lo, hi = torch.quantile(x, q, dim=0)
    y = target[keep]
    return _mean(((y >= lo) & (y <= hi)).to(x.dtype), _weights(weight, target, keep))


def rank_histogram(ensemble: Tensor, target: Tensor, where: Tensor | None = None,
                   weight: Tensor | None = None, normalize: bool = True,
                   generator: torch.Generator | None = None) -> Tensor:
    """Talagrand rank histogram ``(M + 1,)``: how often the target falls below 0, 1, ..., M
    of the members (ties between target and members broken at random with ``generator``).
    Flat (each ``1 / (M + 1)`` when ``normalize``) for a calibrated ensemble; U-shaped when it
    is under-dispersed. Counts are weighted by ``weight``."""
    _check_ensemble(ensemble, target)
    keep = _selection(target, where)
    x, y = ensemble[:, keep], target[keep]
    below = (x < y).sum(0)
    ties = (x == y).sum(0)
    u = torch.rand(y.shape, generator=generator, dtype=torch.float64).to(y.device)
    rank = below + torch.floor(u * (ties + 1).to(torch.float64)).to(below.dtype)
    w = _weights(weight, target, keep)
    counts = torch.zeros(ensemble.shape[0] + 1, dtype=torch.float64, device=y.device)
    counts.scatter_add_(0, rank.long(), torch.ones_like(rank, dtype=torch.float64)
                        if w is None else w.to(torch.float64))
    return counts / counts.sum() if normalize else counts


def feature_stats(features: Tensor) -> tuple[Tensor, Tensor]:
    """Mean ``(D,)`` and covariance ``(D, D)`` (unbiased, ``N - 1``) of ``features (N, D)``,
    ``N >= 2``, in float64."""
    if not isinstance(features, Tensor) or features.ndim != 2 or features.shape[0] < 2:
        shape = tuple(features.shape) if isinstance(features, Tensor) else type(features).__name__
        raise ValueError(f"features must be a tensor (N, D) with N >= 2, got {shape}")
    x = features.double()
    d = x.shape[1]
    return x.mean(0), torch.cov(x.T).reshape(d, d)


def _gaussian(mu: Tensor, cov: Tensor, which: str) -> tuple[Tensor, Tensor]:
    if mu.ndim != 1 or cov.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"mu{which}, cov{which} must have shapes (D,) and (D, D), got "
                         f"{tuple(mu.shape)} and {tuple(cov.shape)}")
    return mu.double(), cov.double()


def frechet_distance(mu1: Tensor, cov1: Tensor, mu2: Tensor, cov2: Tensor) -> Tensor:
    """Fréchet (2-Wasserstein²) distance between ``N(mu1, cov1)`` and ``N(mu2, cov2)``
    (means ``(D,)``, covariances ``(D, D)``), a 0-d float64 tensor:
    ``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1^1/2 S2 S1^1/2)^1/2)``.

    The trace of the root is ``sum sqrt(eig(S1^1/2 S2 S1^1/2))`` (symmetric
    eigen-decompositions: the eigenvalues of ``S1 S2``, no general matrix square root); tiny
    negative eigenvalues and a tiny negative total from rounding are clipped to 0."""
    mu1, cov1 = _gaussian(torch.as_tensor(mu1), torch.as_tensor(cov1), "1")
    mu2, cov2 = _gaussian(torch.as_tensor(mu2), torch.as_tensor(cov2), "2")
    if mu1.shape != mu2.shape:
        raise ValueError(f"mu1 and mu2 must have one dimension D, got {tuple(mu1.shape)} and "
                         f"{tuple(mu2.shape)}")
    w1, v1 = torch.linalg.eigh(cov1)
    root1 = (v1 * w1.clamp(min=0).sqrt()) @ v1.T
    middle = root1 @ cov2 @ root1
    cross = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    dist = (mu1 - mu2).pow(2).sum() + torch.trace(cov1) + torch.trace(cov2) - 2 * cross
    return dist.clamp(min=0.0)  # rounding can leave -1e-6 relative to the traces


def frechet_distance_of(features_a: Tensor, features_b: Tensor) -> Tensor:
    """:func:`frechet_distance` between Gaussians fitted (:func:`feature_stats`) to
    ``features_a (N, D)`` and ``features_b (M, D)``, ``N, M >= 2``: a 0-d float64 tensor."""
    shapes = [tuple(f.shape) if isinstance(f, Tensor) else None for f in (features_a, features_b)]
    if None in shapes or len(shapes[0]) != 2 or len(shapes[1]) != 2 \
            or shapes[0][1] != shapes[1][1] or min(shapes[0][0], shapes[1][0]) < 2:
        raise ValueError(f"frechet_distance_of: features_a and features_b must be tensors "
                         f"(N, D) and (M, D) with N, M >= 2, got {shapes[0]} and {shapes[1]}")
    return frechet_distance(*feature_stats(features_a), *feature_stats(features_b))
