"""Calibrating an ``impute`` ensemble's spread on known values hidden like the gaps.

- :func:`held_out`: the known values to hide, ``(C, T, Y, X)`` bool: where another time step
  has its gaps, thinned to whole pieces;
- :class:`Calibration`: what filling them taught, per held-out entry the range of spread
  factors whose widened central ``level`` interval holds its truth
  (:func:`polydiff.conformal.covering_factors`); its :attr:`~Calibration.factor` is the split
  conformal factor, and :meth:`Calibration.pool` joins the entries of several fields (pieces
  of one record filled by separate ``impute`` calls) into one, steadier factor.

:func:`~polydiff.modalities.science.gapfill.calibrate` makes a :class:`Calibration`;
``impute(calibrate=True)`` makes one and applies it, ``impute(spread_factor=k)`` applies a
factor made elsewhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from polydiff.plugin import conformal_factor, covering_factors

__all__ = ["Calibration", "held_out"]


@dataclass(frozen=True)
class Calibration:
    """Held-out entries of one or more fields: ``k_lo``, ``k_hi`` ``(n,)`` float64; entry
    ``i``'s truth lies inside the ensemble's central ``level`` interval widened by ``k``
    (:func:`polydiff.conformal.inflate`) exactly for ``k_lo[i] <= k <= k_hi[i]``;
    ``weight`` ``(n,)``: what each entry counts for (``impute``: its cell's area,
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
        (:func:`polydiff.conformal.conformal_factor`)."""
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


def _time_neighbours(missing: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per entry of ``missing (C, T, Y, X)``: how many of its time neighbours (t - 1, t + 1)
    are missing, and how many it has (2, or 1 at the ends)."""
    gone = np.zeros(missing.shape, dtype=np.int8)
    gone[:, 1:] += missing[:, :-1]
    gone[:, :-1] += missing[:, 1:]
    have = np.full(missing.shape, 2, dtype=np.int8)
    have[:, [0, -1]] -= 1
    return gone, have


def _gap_pattern(observed: np.ndarray, inside: np.ndarray, max_lag: int = 12) -> np.ndarray:
    """Known values where another time step has its gaps: the gaps ``lag`` steps later
    (cyclically), with ``lag`` the smallest shift whose hidden values have missing time
    neighbours about as often as the real gaps (so values next to a missing month are not
    taken for a whole missing month); with one time step, the gaps moved by a quarter of the
    longitudes (wrapped)."""
    domain = inside[None, None]
    missing = ~observed & domain
    t = observed.shape[1]
    if t == 1:
        return np.roll(missing, max(1, observed.shape[3] // 4), axis=3) & observed & domain
    if not missing.any():
        return np.zeros_like(observed)
    gone, have = _time_neighbours(missing)

    def share_missing(where: np.ndarray) -> float:
        return float(gone[where].sum()) / float(have[where].sum())

    real = share_missing(missing)
    best, best_gap = None, np.inf
    for lag in range(1, min(t - 1, max_lag) + 1):
        moved = np.roll(missing, -lag, axis=1) & observed & domain
        if not moved.any():
            continue
        gap = abs(share_missing(moved) - real)
        if gap < best_gap - 0.02:  # a later lag only when clearly closer
            best, best_gap = moved, gap
    return best if best is not None else np.zeros_like(observed)


def held_out(observed: np.ndarray, inside: np.ndarray, share: float | None = 0.1,
             seed: int = 0) -> np.ndarray:
    """``(C, T, Y, X)`` bool: known values to hide for calibrating the spread, shaped like
    the real gaps and only inside the domain: :func:`_gap_pattern` (the gaps of another time
    step, or of the map moved in longitude), thinned to a random subset of its pieces
    (connected within a map, all variables together) holding at most ``share`` of the known
    values (at least one piece; ``None``: all), so the values left stay about as dense as in
    the real task."""
    pattern = _gap_pattern(observed, inside)
    if share is None or not pattern.any():
        return pattern
    if not 0.0 < share <= 1.0:
        raise ValueError(f"share must lie in (0, 1], got {share}")
    within_map = np.zeros((3, 3, 3), dtype=bool)
    within_map[1] = ndimage.generate_binary_structure(2, 1)
    labels, n = ndimage.label(pattern.any(0), structure=within_map)
    sizes = np.bincount(labels.ravel(), weights=pattern.sum(0).ravel(), minlength=n + 1)[1:]
    order = np.random.default_rng(seed).permutation(n)
    budget = share * (observed & inside[None, None]).sum()
    keep = order[: max(1, int(np.searchsorted(np.cumsum(sizes[order]), budget, "right")))]
    chosen = np.zeros(n + 1, dtype=bool)
    chosen[keep + 1] = True
    return pattern & chosen[labels][None]
