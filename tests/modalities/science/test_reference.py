"""The demo's classical reference: scipy's griddata map by map, bridged across the date
line (the smooth fields here are also the baselines' test fields)."""

from __future__ import annotations

import numpy as np
from test_interpolate_fill import LAT, LON, _smooth  # the smooth fields on the globe

from polydiff.modalities.science.imputation import reference


def _gappy(field: np.ndarray, frac: float, seed: int = 0) -> np.ndarray:
    out = field.copy()
    out[np.random.default_rng(seed).random(field.shape) < frac] = np.nan
    return out


def test_griddata_bridges_the_date_line():
    truth = _smooth(1)
    gappy = truth.copy()
    gappy[:, :, :2] = np.nan  # the columns at 0 and 15 degrees east
    filled = reference.griddata(gappy, LAT, LON, "linear")
    assert np.abs(filled - truth)[:, :, :2].max() < 0.5
