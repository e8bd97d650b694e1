"""Opening gridded fields: netCDF-3, netCDF-4 / HDF5 and zarr, engine chosen from the file.

``open_fields(path, variables)`` returns a lazy ``xr.Dataset`` (dask chunks, nothing read yet)
holding the selected variables laid out ``([time,] lat, lon)``. Everything that can be wrong
with the input is said in one sentence naming the file: not a netCDF/zarr store, an unknown
variable (the present ones listed), no recognisable latitude/longitude, extra dimensions, a
variable with no finite value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .grid import find_axes

__all__ = ["engine_for", "open_fields", "select_variables"]

_NETCDF3 = (b"CDF\x01", b"CDF\x02", b"CDF\x05")
_HDF5 = b"\x89HDF\r\n\x1a\n"
_ZARR_MARKERS = (".zgroup", ".zarray", "zarr.json", ".zmetadata")


def engine_for(path: str | Path) -> str:
    """The xarray engine for ``path``: ``"scipy"`` (netCDF-3), ``"netcdf4"`` (netCDF-4 /
    HDF5) or ``"zarr"`` (a zarr directory), read from the file's first bytes, not its name."""
    path = Path(path)
    if not path.exists():
        raise ValueError(f"{path} does not exist; expected a netCDF file or a zarr directory")
    if path.is_dir():
        if any((path / m).exists() for m in _ZARR_MARKERS):
            return "zarr"
        raise ValueError(f"{path} is a directory without zarr metadata ({', '.join(_ZARR_MARKERS)}"
                         f"); expected a netCDF file or a zarr store")
    with open(path, "rb") as f:
        head = f.read(8)
    if head[:4] in _NETCDF3:
        return "scipy"
    if head == _HDF5:
        return "netcdf4"
    shown = head[:8].hex(" ") if head else "nothing (an empty file)"
    raise ValueError(f"{path} is not a netCDF or zarr store: it starts with {shown}; expected "
                     f"netCDF-3 ('CDF'), netCDF-4/HDF5 or a zarr directory")


class _TimeDecodeError(ValueError):
    """xarray could not decode the time axis (the file is read again with numeric times)."""


def _open(path: Path, engine: str, chunks: Any, decode_times: bool):
    import xarray as xr

    if engine == "zarr":
        try:
            import zarr  # noqa: F401
        except ImportError:
            raise ValueError(f"{path} is a zarr store; reading it needs the zarr package "
                             f"(pip install zarr)") from None
    try:
        return xr.open_dataset(path, engine=engine, chunks=chunks, decode_times=decode_times)
    except (OSError, TypeError, ValueError) as err:
        if decode_times and "decode time" in str(err):
            raise _TimeDecodeError(str(err)) from None
        msg = " ".join(str(err).split())
        raise ValueError(f"{path} could not be read as {engine} ({type(err).__name__}: "
                         f"{msg})") from None


def open_fields(path: str | Path, variables: Sequence[str] | None = None,
                select: Mapping[str, Any] | None = None, chunks: Any = "auto",
                decode_times: bool = True):
    """The variables ``variables`` of ``path`` (default: every variable on a lat/lon grid) as a
    lazy ``xr.Dataset`` laid out ``([time,] lat, lon)``.

    ``select`` picks indices of other dimensions first (``{"depth": 0}``, by position);
    ``chunks`` goes to ``xr.open_dataset`` (dask; ``None`` reads eagerly). Times that CF
    calendars cannot decode (Ferret's ``hour since 0000-01-01`` climatologies) are kept as
    numbers, with their original attributes.
    """
    path = Path(path)
    engine = engine_for(path)
    try:
        ds = _open(path, engine, chunks, decode_times)
    except _TimeDecodeError:
        ds = _open(path, engine, chunks, False)
    return select_variables(ds, variables, select, where=str(path))


def select_variables(ds, variables: Sequence[str] | None = None,
                     select: Mapping[str, Any] | None = None, where: str = "the dataset"):
    """``ds`` reduced to ``variables`` (checked), ``select`` applied (``isel``), laid out
    ``([time,] lat, lon)``; works on an ``xr.Dataset`` or one ``xr.DataArray``."""
    import xarray as xr

    if isinstance(ds, xr.DataArray):
        ds = ds.to_dataset(name=ds.name if ds.name is not None else "field")
    if select:
        unknown = sorted(str(k) for k in select if k not in ds.dims)
        if unknown:
            raise ValueError(f"{where}: select names dimension(s) {unknown}, but the dimensions "
                             f"are {[str(d) for d in ds.dims]}")
        ds = ds.isel(dict(select))
    present = [str(v) for v in ds.data_vars]
    if variables is None:
        variables = [v for v in present if _on_grid(ds[v])]
        if not variables:
            find_axes(ds, where)  # says what was found
            raise ValueError(f"{where}: no variable lies on the latitude/longitude grid; "
                             f"variables: {present}")
    else:
        variables = [variables] if isinstance(variables, str) else list(variables)
        unknown = [v for v in variables if v not in ds.data_vars]
        if unknown or not variables:
            raise ValueError(f"{where} has no variable(s) {unknown}; present: {present}")
    axes = find_axes(ds[variables], where)
    for v in variables:
        extra = [d for d in ds[v].dims if d not in axes.dims]
        if extra:
            sizes = {str(d): int(ds.sizes[d]) for d in extra}
            raise ValueError(f"{where}: variable {v} has extra dimension(s) {sizes} besides "
                             f"{[str(d) for d in axes.dims]}; pick one index with select="
                             f"{{'{extra[0]}': 0}}")
        if tuple(ds[v].dims) != axes.dims:
            ds[v] = ds[v].transpose(*axes.dims)
    out = ds[variables]
    out.attrs = dict(ds.attrs)
    return out


def _on_grid(da) -> bool:
    try:
        find_axes(da)
    except ValueError:
        return False
    return True

