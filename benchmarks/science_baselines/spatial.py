"""Map-by-map interpolation: scipy's ``RBFInterpolator`` (thin-plate spline), on the
science modality's :func:`~polydiff.modalities.science.imputation.reference.map_by_map`, and its
``griddata``."""

from __future__ import annotations

import numpy as np
from scipy import interpolate

from polydiff.modalities.science.imputation.reference import griddata, map_by_map

__all__ = ["griddata", "rbf"]


def rbf(values: np.ndarray, lat: np.ndarray, lon: np.ndarray, neighbors: int = 64,
        kernel: str = "thin_plate_spline", smoothing: float = 0.0) -> np.ndarray:
    """Radial basis function interpolation of each map in (lon, lat) degrees with the
    ``neighbors`` nearest observed points per target (scipy ``RBFInterpolator``); on global
    grids the points are repeated across the date line as in :func:`griddata`."""

    def fill(points, observed, targets):
        fit = interpolate.RBFInterpolator(points, observed, neighbors=min(neighbors,
                                          observed.size), kernel=kernel, smoothing=smoothing)
        return fit(targets)

    return map_by_map(values, lat, lon, fill)
