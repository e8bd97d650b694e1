"""Which known values to hide for calibrating an ``impute`` ensemble's spread.

:func:`held_out`: the known values to hide, ``(C, T, Y, X)`` bool: where another time step
has its gaps, thinned to whole pieces. Filled like the real gaps, they give a
:class:`polydiff.conformal.Calibration` (per held-out entry the range of spread factors whose
widened central interval holds its truth; pooled over pieces of a record filled separately):
:func:`~polydiff.modalities.science.imputation.impute.calibrate` makes one,
``impute(calibrate=True)`` makes one and applies it, ``impute(spread_factor=k)`` applies a
factor made elsewhere.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["held_out"]


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
