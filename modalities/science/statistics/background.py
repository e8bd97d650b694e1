"""The background of a field: the per-cell time mean of its gap-filled maps, or its seasonal
cycle.

A model trained with ``FieldData(background=True)`` learns the anomaly ``x - background``
instead of ``x`` (the usual first step of optimal interpolation and DINEOF): the recurrent
part of the field (coasts, jets, orographic winds) is then known in every gap, and what is
left to fill is smoother. The background is ``(C, lat, lon)`` in data units, computed from the
observed values only: every map is filled with the biharmonic first guess
(:func:`~polydiff.interpolate.first_guess`, periodic in longitude on global
grids) and the filled maps are averaged, each weighted by its share of observed cells, so a
whole missing time step counts for nothing and a sparse map for little; a second pass fills
the anomalies from that mean instead of the values. It is stored with the
model (``meta["background"]``, float32 as base64) and added back by ``impute`` and, for
whole-grid samples, by ``data_units`` (:func:`background_offset`, the modality's data
offset); it ties the model to its training grid.

The seasonal background (``FieldData(background="seasonal")``) is, per cell, the weighted
least-squares fit of a mean and :data:`SEASONAL_HARMONICS` annual harmonics,
``b(t) = m + sum_k a_k cos(2 pi k y(t)) + b_k sin(2 pi k y(t))`` with ``y`` the time in
years (:func:`annual_phase`), to the same filled maps: the usual climatology of gap-filling,
robust where a calendar month has few observations (a mean per calendar month has none in
31 % of the cells of the navy winds with 90 % of the points hidden). It is stored as its
coefficients ``(C, 1 + 2K, Y, X)``; :func:`background_maps` evaluates either kind at given
times. The anomalies from it are smaller and better predicted (measured in
docs/science.md).
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .filled import fill_maps

__all__ = ["BACKGROUNDS", "SEASONAL_HARMONICS", "annual_phase", "background_at",
           "background_maps",
           "background_offset", "decode_background", "encode_background", "fit_background",
           "fit_background_basis",
           "harmonic_basis", "stored_background", "time_mean_background",
           "whole_grid_background"]

#: the kinds of background: the per-cell time mean, or the mean and the annual cycle
BACKGROUNDS = ("mean", "seasonal")
#: annual harmonics of the seasonal background (the choice is measured in docs/science.md)
SEASONAL_HARMONICS = 2


def annual_phase(time: Any, where: str = "the field") -> np.ndarray:
    """``(T,)`` float64: the times ``time`` (numpy ``datetime64`` or cftime dates, as xarray
    decodes them) in years, whose fractional part is the share of the year gone (by the
    dates' own calendar); a ``ValueError`` for times that are not dates."""
    import xarray as xr

    if time is None:
        raise ValueError(f"{where}: a seasonal background needs a time axis of dates; it has no "
                         f"time axis")
    arr = np.asarray(time)
    try:
        dt = xr.DataArray(arr.reshape(-1), dims="t").dt
    except (TypeError, AttributeError):
        first = arr.flat[0] if arr.size else None
        first = first.item() if isinstance(first, np.generic) else first
        shown = arr.dtype if arr.dtype != object else type(first).__name__
        raise ValueError(f"{where}: a seasonal background needs times that are dates "
                         f"(datetime64 or cftime), found {shown} values such as {first!r}; "
                         f"decode the time axis or use background='mean'") from None
    year = dt.year.values.astype(np.float64)
    if not np.isfinite(year).all():
        raise ValueError(f"{where}: a seasonal background needs a date at every time step; "
                         f"{int((~np.isfinite(year)).sum())} of {year.size} are missing (NaT)")
    day, days = dt.dayofyear.values, dt.days_in_year.values
    hours = dt.hour.values + dt.minute.values / 60.0
    return year + (day - 1 + hours / 24.0) / days


def harmonic_basis(years: np.ndarray | None, harmonics: int) -> np.ndarray:
    """``(T, 1 + 2 harmonics)``: ``1, cos(2 pi y), sin(2 pi y), cos(4 pi y), ...`` at the
    times ``years (T,)`` (``(1, 1)`` = the mean alone when ``harmonics == 0`` and no times)."""
    if harmonics == 0 and years is None:
        return np.ones((1, 1))
    y = np.asarray(years, dtype=np.float64)
    cols = [np.ones_like(y)]
    for k in range(1, harmonics + 1):
        cols += [np.cos(2 * np.pi * k * y), np.sin(2 * np.pi * k * y)]
    return np.stack(cols, axis=1)


def background_maps(background: np.ndarray, years: np.ndarray | None = None) -> np.ndarray:
    """The background at the times ``years (T,)`` as ``(C, T, Y, X)`` float32: a time mean
    ``(C, Y, X)`` is the same at every time (``(C, 1, Y, X)``, broadcastable); seasonal
    coefficients ``(C, 1 + 2K, Y, X)`` need ``years``."""
    bg = np.asarray(background, dtype=np.float32)
    if bg.ndim == 3:
        return bg[:, None]
    if years is None:
        raise ValueError("a seasonal background needs the times (years) to evaluate it at")
    return background_at(bg, harmonic_basis(years, (bg.shape[1] - 1) // 2))


def background_at(background: np.ndarray, basis: np.ndarray | None) -> np.ndarray:
    """:func:`background_maps` from the :func:`harmonic_basis` ``(T, P)`` of the times:
    ``(C, T, Y, X)`` float32 for coefficients ``(C, P, Y, X)``, ``(C, 1, Y, X)`` for a time
    mean ``(C, Y, X)`` (``basis`` unused)."""
    bg = np.asarray(background, dtype=np.float32)
    if bg.ndim == 3:
        return bg[:, None]
    if basis is None or np.ndim(basis) != 2 or np.shape(basis)[1] != bg.shape[1]:
        raise ValueError(f"background: seasonal coefficients {tuple(bg.shape)} (C, P, Y, X) "
                         f"need the harmonic basis (T, P={bg.shape[1]}) of the times, got "
                         f"{None if basis is None else np.shape(basis)}")
    return np.einsum("tp,cpyx->ctyx", np.asarray(basis, dtype=np.float32), bg)


def time_mean_background(values: Any, periodic: bool, passes: int = 2, block: int = 16,
                         method: str = "biharmonic") -> np.ndarray:
    """``(C, Y, X)`` float32: the observed-share-weighted mean over time of the maps of
    ``values (C, T, Y, X)`` (numpy or dask, NaN = missing), each filled with
    :func:`first_guess` (``method``); each of the ``passes - 1`` further passes fills the
    anomalies from the previous background instead (the passes are measured in
    docs/science.md). Reads ``block`` time steps at a time."""
    return fit_background(values, periodic, None, passes, block, method)


def fit_background(values: Any, periodic: bool, years: np.ndarray | None = None,
                   passes: int = 2, block: int = 16, method: str = "biharmonic",
                   harmonics: int = SEASONAL_HARMONICS) -> np.ndarray:
    """The background of ``values (C, T, Y, X)``: without ``years``, the time mean ``(C, Y,
    X)`` (:func:`time_mean_background`); with ``years (T,)`` (:func:`annual_phase`), the
    seasonal coefficients ``(C, 1 + 2 harmonics, Y, X)`` float32, per cell the least-squares
    fit of :func:`harmonic_basis` to the filled maps, each weighted by its share of observed
    cells (as the time mean is); passes as for the time mean."""
    if passes < 1:
        raise ValueError(f"background: passes must be >= 1, got {passes}")
    c, t, y, x = values.shape
    basis = harmonic_basis(years, 0 if years is None else harmonics)
    if years is not None and len(basis) != t:
        raise ValueError(f"background: years holds {len(basis)} times for values of {t} time "
                         f"steps; expected one per time step")
    p = basis.shape[1]
    if years is not None:
        _check_year_coverage(values, years, harmonics, block)
    coefs = np.zeros((c, p, y, x), dtype=np.float32)
    for _ in range(passes):
        normal = np.zeros((c, p, p), dtype=np.float64)  # sum_t w_t b_t b_t^T per variable
        rhs = np.zeros((c, p, y, x), dtype=np.float64)  # sum_t w_t b_t filled_t
        for t0 in range(0, t, block):
            b = basis[t0:t0 + block] if years is not None else basis
            bg = background_at(coefs, b)
            part = np.asarray(values[:, t0:t0 + block], dtype=np.float32) - bg
            part = part.transpose(1, 0, 2, 3)  # (t, C, Y, X)
            share = np.isfinite(part).mean(axis=(2, 3))  # (t, C)
            filled = fill_maps(part, periodic, method) + bg.transpose(1, 0, 2, 3)
            bt = np.broadcast_to(b, (part.shape[0], p))
            normal += np.einsum("tc,tp,tq->cpq", share, bt, bt)
            rhs += np.einsum("tc,tp,tcyx->cpyx", share, bt, filled.astype(np.float64))
        empty = np.flatnonzero(normal[:, 0, 0] == 0).tolist()
        if empty:
            raise ValueError(f"background: variable(s) at channel(s) {empty} of values "
                             f"{tuple(values.shape)} have no observed value in any time step; "
                             f"expected some finite value per variable")
        coefs = np.linalg.solve(normal[:, None, None], rhs.transpose(0, 2, 3, 1)[..., None]
                                )[..., 0].transpose(0, 3, 1, 2).astype(np.float32)
    return coefs[:, 0] if years is None else coefs


def fit_background_basis(values: Any, periodic: bool, years: np.ndarray | None = None
                         ) -> tuple[np.ndarray, np.ndarray | None]:
    """``(background, basis)``: :func:`fit_background` of ``values`` and, with ``years``, the
    :func:`harmonic_basis` ``(T, P)`` of its time steps that :func:`background_at` evaluates
    it with (``None`` for the time mean)."""
    coefs = fit_background(values, periodic, years)
    return coefs, None if years is None else harmonic_basis(years, (coefs.shape[1] - 1) // 2)


def _check_year_coverage(values: Any, years: np.ndarray, harmonics: int, block: int) -> None:
    """A ``ValueError`` unless the time steps with observed values cover the year closely
    enough for ``harmonics`` annual harmonics: no gap in the time of year between them
    longer than ``1 / (2 harmonics + 1)`` of a year (73 days for 2; a record of whole years
    of monthly or daily data passes, a few consecutive months do not)."""
    seen = np.concatenate([np.isfinite(np.asarray(values[:, t0:t0 + block])).any(axis=(2, 3))
                           for t0 in range(0, values.shape[1], block)], axis=1)  # (C, T)
    limit = 1.0 / (2 * harmonics + 1)
    for c, steps in enumerate(seen):
        phase = np.sort(np.mod(np.asarray(years, dtype=np.float64)[steps], 1.0))
        if phase.size == 0:
            continue  # no observed value at all: the caller says so per variable
        widest = float(np.diff(np.concatenate([phase, phase[:1] + 1.0])).max())
        if widest > limit:
            raise ValueError(f"background: the time steps with observed values of channel {c} "
                             f"leave {widest * 365.25:.0f} days of the year uncovered in a row; "
                             f"a mean and {harmonics} annual harmonics need no gap over "
                             f"{limit * 365.25:.0f} days (whole years of data); use "
                             f"background='mean'")


#: stored dtypes of :func:`encode_background`
_DTYPES = {"float32": "<f4", "float16": "<f2"}


def encode_background(bg: np.ndarray, dtype: str = "float32") -> dict[str, Any]:
    """JSON-able form of an array such as a ``(C, Y, X)`` background (``dtype`` float32 or
    float16, little-endian, base64)."""
    arr = np.ascontiguousarray(bg, dtype=_DTYPES[dtype])
    return {"shape": list(arr.shape), "dtype": dtype,
            "base64": base64.b64encode(arr.tobytes()).decode("ascii")}


def decode_background(entry: Mapping[str, Any]) -> np.ndarray:
    """The float32 array of :func:`encode_background`'s dict."""
    shape = [int(s) for s in entry["shape"]]
    dtype = str(entry.get("dtype", "float32"))
    if dtype not in _DTYPES:
        raise ValueError(f"meta: stored array dtype {dtype!r}; expected one of {list(_DTYPES)}")
    arr = np.frombuffer(base64.b64decode(entry["base64"]), dtype=_DTYPES[dtype])
    if arr.size != int(np.prod(shape)):
        raise ValueError(f"meta: {arr.size} stored values, but the recorded "
                         f"shape {shape} needs {int(np.prod(shape))}")
    return arr.reshape(shape).astype(np.float32)


def _recorded(meta: Mapping[str, Any]) -> np.ndarray | None:
    """The background recorded in ``meta`` (``None`` for a model without one)."""
    entry = meta.get("background")
    return decode_background(entry) if entry else None


def stored_background(meta: Mapping[str, Any], lat: np.ndarray, lon: np.ndarray,
                      where: str) -> np.ndarray | None:
    """The model's background for data (named ``where`` in messages) on the grid ``lat``,
    ``lon`` (a time mean ``(C, Y, X)`` or seasonal coefficients ``(C, P, Y, X)``, see
    :func:`background_maps`), or ``None`` for a model trained without one; a ``ValueError``
    when the data is on another grid."""
    bg = _recorded(meta)
    if bg is None:
        return None
    grid = meta.get("grid") or {}
    want_lat, want_lon = grid.get("lat"), grid.get("lon")
    same = bg.shape[-2:] == (len(lat), len(lon))
    if same and want_lat is not None and want_lon is not None:
        same = (np.allclose(want_lat, lat, atol=1e-6) and np.allclose(want_lon, lon, atol=1e-6))
    if not same:
        other = "" if bg.shape[-2:] != (len(lat), len(lon)) else (
            f" at other coordinates (lat {lat[0]:g} .. {lat[-1]:g}, lon {lon[0]:g} .. "
            f"{lon[-1]:g}; the model's lat {want_lat[0]:g} .. {want_lat[-1]:g}, lon "
            f"{want_lon[0]:g} .. {want_lon[-1]:g})")
        raise ValueError(f"{where}: its grid is {len(lat)} x {len(lon)} (lat x lon){other}, but "
                         f"the model learns anomalies from the background of its training "
                         f"grid, {bg.shape[-2]} x {bg.shape[-1]}; fill data on the "
                         f"training grid, or train without background=True")
    return bg


def whole_grid_background(meta: Mapping[str, Any], n_lat: int, n_lon: int
                          ) -> np.ndarray | None:
    """The background ``(C, n_lat, n_lon)`` for samples of a whole-grid model (the recorded
    ``window`` covers the grid; padding rows and columns 0), ``None`` without one or for a
    model of patches of the grid, whose place is unknown, or with a seasonal background (the
    samples' times are unknown)."""
    bg = _recorded(meta)
    if bg is None or bg.ndim != 3:
        return None
    y, x = bg.shape[1:]
    window = meta.get("window")
    if n_lat < y or n_lon < x or (window is not None and [n_lat, n_lon] != list(window[1:])):
        return None
    return np.pad(bg, [(0, 0), (0, n_lat - y), (0, n_lon - x)])


def background_offset(meta: Mapping[str, Any], shape: tuple[int, ...]) -> torch.Tensor | None:
    """The science modality's data offset (:attr:`polydiff.modality.Modality.data_offset`):
    the background for whole-grid samples ``shape = (B, C, [T,] lat, lon)`` of a model
    trained on anomalies, broadcastable to them; ``None`` without a background, for patches
    (whose place on the grid is unknown) and for a seasonal background (the samples' times
    are unknown)."""
    if len(shape) not in (4, 5):
        return None
    bg = whole_grid_background(meta, shape[-2], shape[-1])
    if bg is None or bg.shape[0] != shape[1]:
        return None
    bg = torch.from_numpy(bg)[None]
    return bg[:, :, None] if len(shape) == 5 else bg
