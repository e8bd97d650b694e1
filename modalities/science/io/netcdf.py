"""netCDF in and out: the modality's writer and reader, and the checks that a file fits a model.

- :func:`write_netcdf` (writer ``"netcdf"``): samples ``(B, C, [T,] lat, lon)`` in data units
  (for a model trained on anomalies, ``data_units`` has added its background to whole-grid
  samples; patches stay anomalies and the file says so) -> ``PATH.nc`` with one variable
  per channel (name, units and CF attributes of the training data), dimension ``sample``
  first, the training grid's coordinates where they apply.
- :func:`read_netcdf` (reader ``"netcdf"``): a gappy file -> ``known (1, C, ...)`` (data
  units; ``model_units`` takes a background off) and ``observed`` (NaN = missing) for
  ``polydiff sample --known``.
- :func:`check_units`: a file's variables and units against those a model was trained on.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ..statistics.background import background_offset

__all__ = ["check_units", "grid_coords", "read_netcdf", "write_netcdf"]


def check_units(units: Mapping[str, str], meta: Mapping[str, Any], where: str) -> None:
    """A ``ValueError`` when the variables or units of a file (``units``: name -> units)
    differ from the model's (``meta["variables"]``, ``meta["units"]``)."""
    want = list(meta.get("variables") or [])
    missing = [v for v in want if v not in units]
    if missing:
        raise ValueError(f"{where} has no variable(s) {missing} that the model was trained on "
                         f"(trained on {want}; the file has {sorted(units)})")
    trained = meta.get("units") or {}
    bad = [f"{v}: {units[v]!r} (trained on {trained[v]!r})" for v in want
           if v in trained and _norm_units(units[v]) != _norm_units(trained[v])]
    if bad:
        raise ValueError(f"{where}: units differ from the model's: {'; '.join(bad)}; convert "
                         f"the file to the training units first")


def _norm_units(u: str) -> str:
    return " ".join(str(u).replace("_", " ").lower().split())


def grid_coords(meta: Mapping[str, Any], n_lat: int, n_lon: int
                ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """The training grid's latitudes and longitudes when a sample spans the whole grid
    (``n_lat`` rows, possibly padded; ``n_lon`` columns), else ``(None, None)``."""
    grid = meta.get("grid") or {}
    lat, lon = grid.get("lat"), grid.get("lon")
    if lat is None or lon is None or n_lon != len(lon) or n_lat < len(lat):
        return None, None
    return np.asarray(lat, dtype=np.float64), np.asarray(lon, dtype=np.float64)


def write_netcdf(x: Tensor, path: Path, meta: Mapping[str, Any]) -> Path:
    """Samples ``x (B, C, [T,] lat, lon)`` (data units) -> ``PATH.nc``; returns the path.

    Whole-grid samples get the training grid's coordinates (padding rows cut off); patches
    get index coordinates ``y``/``x``."""
    import xarray as xr

    path = Path(path).with_suffix(".nc")
    arr = x.detach().float().cpu().numpy()
    names = list(meta.get("variables") or [f"var{i}" for i in range(arr.shape[1])])
    if len(names) != arr.shape[1]:
        raise ValueError(f"write_netcdf: {arr.shape[1]} channels but the metadata names "
                         f"{len(names)} variables {names}")
    grid = meta.get("grid") or {}
    time_axis = arr.ndim == 5
    lat, lon = grid_coords(meta, arr.shape[-2], arr.shape[-1])
    # a model trained on anomalies: data_units added its background to whole-grid samples;
    # patches (their place on the grid unknown) stay anomalies, and the file says so
    anomalies = bool(meta.get("background")) and background_offset(meta, arr.shape) is None
    lat_name, lon_name = grid.get("lat_name", "lat"), grid.get("lon_name", "lon")
    coords: dict[str, Any] = {"sample": np.arange(arr.shape[0])}
    if lat is not None:
        arr = arr[..., :len(lat), :]
        coords[lat_name] = (lat_name, lat, {"units": "degrees_north",
                                            "standard_name": "latitude"})
        coords[lon_name] = (lon_name, lon, {"units": "degrees_east",
                                            "standard_name": "longitude"})
    else:
        lat_name, lon_name = "y", "x"
    dims = ["sample"] + (["time"] if time_axis else []) + [lat_name, lon_name]
    attrs = meta.get("attrs") or {}
    ds = xr.Dataset({v: (dims, arr[:, i], dict(attrs.get(v, {})))
                     for i, v in enumerate(names)}, coords=coords)
    ds.attrs = {"title": "polydiff samples", "source": str(meta.get("source", "")),
                "history": "written by polydiff (science modality writer)"}
    if anomalies:
        why = ("these samples have no dates, where the seasonal background is defined"
               if len(meta["background"]["shape"]) == 4 else
               "these samples are patches, whose place on the grid is unknown")
        ds.attrs["polydiff_values"] = (f"anomalies from the training field's background: "
                                       f"{why}, so the background was not added")
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.to_netcdf(path)
    return path


def read_netcdf(path: Path, mask: Path | None, sample_shape: Sequence[int],
                meta: Mapping[str, Any]) -> tuple[Tensor, Tensor]:
    """A gappy file on the model's window -> ``known (1, C, *axes)``, ``observed`` (bool).

    The file must hold the model's variables in its units on a grid of the sample's size (a
    whole-grid model pads rows with missing values); ``mask`` (optional) is a netCDF file whose
    first variable is non-zero where values are known. For files of any size use
    ``polydiff impute``, which tiles."""
    from ..data.field import Field
    from ..data.files import open_fields
    from ..statistics.background import stored_background

    want = list(meta.get("variables") or [])
    ds = open_fields(path, None)
    check_units({str(v): str(ds[v].attrs.get("units", "")) for v in ds.data_vars}, meta,
                str(path))
    field = Field(ds[want], str(path))
    values = np.asarray(field.values, dtype=np.float32)  # (C, T, Y, X)
    bg = stored_background(meta, field.lat, field.lon, str(path))  # anomaly models: their grid
    if bg is not None and bg.ndim == 4:
        raise ValueError(f"{path}: the model learns anomalies from a seasonal background, "
                         f"which needs the dates of the values; fill it with polydiff impute")
    if mask is not None:
        mds = open_fields(mask, None)
        m = np.asarray(mds[next(iter(mds.data_vars))].values)
        if m.shape != values.shape[2:] and m.shape != values.shape[1:]:
            raise ValueError(f"mask {mask} has shape {m.shape}; expected the field's grid "
                             f"{values.shape[1:]} or {values.shape[2:]}")
        values = np.where(np.broadcast_to(np.nan_to_num(m) != 0, values.shape), values, np.nan)
    shape = tuple(sample_shape)
    time_axis = len(shape) == 4
    if not time_axis:
        if values.shape[1] != 1:
            raise ValueError(f"{path} has {values.shape[1]} time steps, but the model fills one "
                             f"map {shape}; use polydiff impute for many time steps")
        values = values[:, 0]
    grid = values.shape[1:]
    pad = [s - g for s, g in zip(shape[1:], grid, strict=True)]
    if min(pad) < 0 or any(p for p in pad[:-2]) or pad[-1]:
        raise ValueError(f"{path} holds a grid of {list(grid)}, but the model takes samples of "
                         f"{list(shape[1:])}; use polydiff impute, which tiles any grid")
    if pad[-2]:
        widths = [(0, 0)] * (values.ndim - 2) + [(0, pad[-2]), (0, 0)]
        values = np.pad(values, widths, constant_values=np.nan)
    known = torch.from_numpy(np.ascontiguousarray(values))[None]
    observed = torch.isfinite(known)
    if not observed.any():
        raise ValueError(f"{path}: the variables {want} hold no finite value (all NaN)")
    return torch.where(observed, known, 0.0), observed
