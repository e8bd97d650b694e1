"""Synthetic gaps for experiments on complete fields: which entries of ``(T, Y, X)`` to hide.

- :func:`random_gaps`: independent points (missing stations, sparse sampling);
- :func:`cloud_gaps`: smooth blobs (clouds over satellite SST): white noise smoothed by a
  Gaussian of ``scale`` cells (wrapping around the globe along longitude) and thresholded so
  that ``fraction`` of every map is hidden;
- :func:`step_gaps`: whole time steps (lost passes or months).

All return a bool array, True = hidden, from a ``numpy.random.Generator``.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["cloud_gaps", "random_gaps", "step_gaps"]


def _check(fraction: float) -> None:
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction must lie in (0, 1), got {fraction}")


def random_gaps(shape: tuple[int, int, int], fraction: float,
                rng: np.random.Generator) -> np.ndarray:
    """Each entry hidden with probability ``fraction``."""
    _check(fraction)
    return rng.random(shape) < fraction


def cloud_gaps(shape: tuple[int, int, int], fraction: float, rng: np.random.Generator,
               scale: float = 3.0, periodic: bool = True) -> np.ndarray:
    """Cloud-like blobs covering ``fraction`` of each map (to within one cell)."""
    _check(fraction)
    out = np.zeros(shape, dtype=bool)
    modes = ("nearest", "wrap" if periodic else "nearest")
    for t in range(shape[0]):
        field = ndimage.gaussian_filter(rng.standard_normal(shape[1:]), scale, mode=modes)
        out[t] = field > np.quantile(field, 1.0 - fraction)
    return out


def step_gaps(shape: tuple[int, int, int], fraction: float,
              rng: np.random.Generator) -> np.ndarray:
    """Whole time steps hidden: ``round(fraction * T)`` of them (at least one), never the
    first or the last."""
    _check(fraction)
    t = shape[0]
    if t < 3:
        raise ValueError(f"step gaps need at least 3 time steps, got {t}")
    k = max(1, round(fraction * t))
    steps = rng.choice(np.arange(1, t - 1), size=min(k, t - 2), replace=False)
    out = np.zeros(shape, dtype=bool)
    out[steps] = True
    return out
