"""The background of a field: the per-cell time mean of its gap-filled maps.

A model trained with ``FieldData(background=True)`` learns the anomaly ``x - background``
instead of ``x`` (the usual first step of optimal interpolation and DINEOF): the recurrent
part of the field (coasts, jets, orographic winds) is then known in every gap, and what is
left to fill is smoother. The background is ``(C, lat, lon)`` in data units, computed from the
observed values only: every map is filled with the biharmonic first guess
(:func:`~polydiff.modalities.science.fill.first_guess`, periodic in longitude on global
grids) and the filled maps are averaged, each weighted by its share of observed cells, so a
whole missing time step counts for nothing and a sparse map for little; a second pass fills
the anomalies from that mean instead of the values. It is stored with the
model (``meta["background"]``, float32 as base64) and added back by ``impute`` and, for
whole-grid samples, by ``data_units`` (:func:`background_offset`, the modality's data
offset); it ties the model to its training grid.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from .fill import fill_maps

__all__ = ["background_offset", "decode_background", "encode_background",
           "stored_background", "time_mean_background", "whole_grid_background"]


def time_mean_background(values: Any, periodic: bool, passes: int = 2, block: int = 16,
                         method: str = "biharmonic") -> np.ndarray:
    """``(C, Y, X)`` float32: the observed-share-weighted mean over time of the maps of
    ``values (C, T, Y, X)`` (numpy or dask, NaN = missing), each filled with
    :func:`first_guess` (``method``); each of the ``passes - 1`` further passes fills the
    anomalies from the previous background instead (measured on the navy winds,
    ``benchmarks/impute_background.py``: the second pass lowers the RMSE of the background +
    biharmonic guess by 1-2.5 %, a third and fourth by 0-2 % more). Reads ``block`` time
    steps at a time."""
    if passes < 1:
        raise ValueError(f"background: passes must be >= 1, got {passes}")
    c, t, y, x = values.shape
    bg = np.zeros((c, y, x), dtype=np.float32)
    for _ in range(passes):
        total = np.zeros((c, y, x), dtype=np.float64)
        weight = np.zeros((c, 1, 1), dtype=np.float64)
        for t0 in range(0, t, block):
            part = np.asarray(values[:, t0:t0 + block], dtype=np.float32) - bg[:, None]
            part = part.transpose(1, 0, 2, 3)  # (t, C, Y, X)
            share = np.isfinite(part).mean(axis=(2, 3))  # (t, C)
            filled = fill_maps(part, periodic, method) + bg[None]
            total += np.einsum("tc,tcyx->cyx", share, filled.astype(np.float64))
            weight[:, 0, 0] += share.sum(axis=0)
        if not (weight > 0).all():
            empty = np.flatnonzero(weight[:, 0, 0] == 0).tolist()
            raise ValueError(f"background: variable(s) at channel(s) {empty} of values "
                             f"{tuple(values.shape)} have no observed value in any time step; "
                             f"expected some finite value per variable")
        bg = (total / weight).astype(np.float32)
    return bg


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
    """The model's background ``(C, Y, X)`` for data (named ``where`` in messages) on the grid
    ``lat``, ``lon``, or ``None`` for a model trained without one; a ``ValueError`` when the
    data is on another grid."""
    bg = _recorded(meta)
    if bg is None:
        return None
    grid = meta.get("grid") or {}
    want_lat, want_lon = grid.get("lat"), grid.get("lon")
    same = bg.shape[1:] == (len(lat), len(lon))
    if same and want_lat is not None and want_lon is not None:
        same = (np.allclose(want_lat, lat, atol=1e-6) and np.allclose(want_lon, lon, atol=1e-6))
    if not same:
        other = "" if bg.shape[1:] != (len(lat), len(lon)) else (
            f" at other coordinates (lat {lat[0]:g} .. {lat[-1]:g}, lon {lon[0]:g} .. "
            f"{lon[-1]:g}; the model's lat {want_lat[0]:g} .. {want_lat[-1]:g}, lon "
            f"{want_lon[0]:g} .. {want_lon[-1]:g})")
        raise ValueError(f"{where}: its grid is {len(lat)} x {len(lon)} (lat x lon){other}, but "
                         f"the model learns anomalies from the background (time mean) of its "
                         f"training grid, {bg.shape[1]} x {bg.shape[2]}; fill data on the "
                         f"training grid, or train without background=True")
    return bg


def whole_grid_background(meta: Mapping[str, Any], n_lat: int, n_lon: int
                          ) -> np.ndarray | None:
    """The background ``(C, n_lat, n_lon)`` for samples of a whole-grid model (the recorded
    ``window`` covers the grid; padding rows and columns 0), ``None`` without one or for a
    model of patches of the grid, whose place is unknown."""
    bg = _recorded(meta)
    if bg is None:
        return None
    y, x = bg.shape[1:]
    window = meta.get("window")
    if n_lat < y or n_lon < x or (window is not None and [n_lat, n_lon] != list(window[1:])):
        return None
    return np.pad(bg, [(0, 0), (0, n_lat - y), (0, n_lon - x)])


def background_offset(meta: Mapping[str, Any], shape: tuple[int, ...]) -> torch.Tensor | None:
    """The science modality's data offset (:attr:`polydiff.modality.Modality.data_offset`):
    the background for whole-grid samples ``shape = (B, C, [T,] lat, lon)`` of a model
    trained on anomalies, broadcastable to them; ``None`` without a background or for
    patches (whose place on the grid is unknown)."""
    if len(shape) not in (4, 5):
        return None
    bg = whole_grid_background(meta, shape[-2], shape[-1])
    if bg is None or bg.shape[0] != shape[1]:
        return None
    bg = torch.from_numpy(bg)[None]
    return bg[:, :, None] if len(shape) == 5 else bg
