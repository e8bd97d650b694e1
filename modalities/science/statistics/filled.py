"""The field's maps filled by the first guess: what its statistics (background, covariance)
are fitted on."""

from __future__ import annotations

import numpy as np
import torch

from polydiff.plugin import first_guess

__all__ = ["fill_maps"]


def fill_maps(maps: np.ndarray, periodic: bool, method: str = "biharmonic") -> np.ndarray:
    """:func:`polydiff.interpolate.first_guess` of NumPy maps ``(B, C, lat, lon)`` with NaN
    where missing (longitude periodic or not): float32, known values unchanged."""
    part = np.asarray(maps, dtype=np.float32)
    known = np.isfinite(part)
    return first_guess(torch.from_numpy(np.nan_to_num(part)), torch.from_numpy(known),
                       (False, bool(periodic)), method=method).numpy()
