"""Shared pieces of the classical baselines: coordinates on the sphere (the value checks
and the fallback are the science modality's,
:mod:`polydiff.modalities.science.imputation.reference`)."""

from __future__ import annotations

import numpy as np

from polydiff.modalities.science.imputation.reference import check_values, fallback

__all__ = ["EARTH_KM", "check_values", "fallback", "unit_xyz"]

EARTH_KM = 6371.0


def unit_xyz(lat: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """Points on the unit sphere ``(..., 3)`` for latitudes / longitudes in degrees."""
    la, lo = np.deg2rad(lat), np.deg2rad(lon)
    return np.stack([np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)], axis=-1)
