"""Recognising the axes of a gridded field: latitude, longitude and an optional time axis.

Coordinates are recognised by their CF metadata first (``standard_name``, ``units``, ``axis``),
then by common names (``lat``, ``latitude``, ``lon``, ...). Ferret's files name their axes
``COADSY`` / ``FNOCX`` with ``units = degrees_north / degrees_east``; those are found by units.
A field is laid out ``([time,] lat, lon)``; any other dimension must be selected away first.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass

import numpy as np

__all__ = ["GridAxes", "find_axes", "is_periodic"]

_LAT_UNITS = {"degrees_north", "degree_north", "degree_n", "degrees_n", "degreen", "degreesn"}
_LON_UNITS = {"degrees_east", "degree_east", "degree_e", "degrees_e", "degreee", "degreese"}
_LAT_NAMES = {"lat", "latitude", "nav_lat", "y_lat", "rlat"}
_LON_NAMES = {"lon", "long", "longitude", "nav_lon", "x_lon", "rlon"}
_TIME_NAMES = {"time", "t", "month", "date"}
_NAMES = {"lat": _LAT_NAMES, "lon": _LON_NAMES, "time": _TIME_NAMES}


@dataclass(frozen=True)
class GridAxes:
    """Names of the recognised dimensions of a field (``time`` is ``None`` for 2-D fields)."""

    lat: Hashable
    lon: Hashable
    time: Hashable | None = None

    @property
    def dims(self) -> tuple[Hashable, ...]:
        """The layout of a field: ``(time, lat, lon)`` or ``(lat, lon)``."""
        return ((self.time,) if self.time is not None else ()) + (self.lat, self.lon)


def _attr(var, key: str) -> str:
    return str(var.attrs.get(key, "")).strip().lower()


def _is(var, name: Hashable, kind: str) -> bool:
    units, std, axis = _attr(var, "units"), _attr(var, "standard_name"), _attr(var, "axis")
    lname = str(name).lower()
    if kind == "lat":
        return std == "latitude" or units in _LAT_UNITS or lname in _LAT_NAMES or (
            axis == "y" and "degree" in units)
    if kind == "lon":
        return std == "longitude" or units in _LON_UNITS or lname in _LON_NAMES or (
            axis == "x" and "degree" in units)
    return (std == "time" or axis == "t" or " since " in units or lname in _TIME_NAMES
            or np.issubdtype(var.dtype, np.datetime64))


def _units(var) -> str:
    return str(var.attrs.get("units", var.encoding.get("units", "none")))


def _describe(obj) -> str:
    coords = [f"{k} (units {_units(obj[k])!r})" for k in obj.coords]
    return (f"dimensions {list(obj.dims)}" + (f" and coordinates {', '.join(coords)}"
                                              if coords else " and no coordinates"))


def find_axes(obj, where: str = "the field") -> GridAxes:
    """The latitude, longitude and (optional) time dimensions of an ``xr.DataArray`` or
    ``xr.Dataset``; a ``ValueError`` names what was found when lat/lon are not recognisable.

    A dimension counts when it has a 1-D coordinate of its own name with CF latitude /
    longitude / time metadata (or, failing that, a common name)."""
    found: dict[str, Hashable] = {}
    for dim in obj.dims:
        var = obj.coords.get(dim)
        for kind in ("lat", "lon", "time"):
            ok = (_is(var, dim, kind) if var is not None
                  else str(dim).lower() in _NAMES[kind])
            if ok and kind not in found:
                found[kind] = dim
                break
    missing = [k for k in ("lat", "lon") if k not in found]
    if missing:
        names = " and ".join({"lat": "latitude", "lon": "longitude"}[k] for k in missing)
        raise ValueError(f"{where} has no recognisable {names} coordinate: found "
                         f"{_describe(obj)}; expected CF attributes (standard_name latitude / "
                         f"longitude, units degrees_north / degrees_east) or names lat / lon")
    return GridAxes(found["lat"], found["lon"], found.get("time"))


def is_periodic(lon: np.ndarray, tol: float = 1e-3) -> bool:
    """Whether regularly spaced longitudes ``(n,)`` (degrees) wrap around the globe: the
    spacing times ``n`` is 360 degrees."""
    lon = np.asarray(lon, dtype=np.float64)
    if lon.ndim != 1 or lon.size < 3:
        return False
    step = np.diff(lon)
    if not np.allclose(step, step[0], rtol=1e-4, atol=1e-6):
        return False
    return bool(abs(abs(step[0]) * lon.size - 360.0) < tol * 360.0)
