"""A gridded field read from a file: its values ``(C, T, Y, X)`` (numpy, or dask when lazy),
grid, units and CF attributes; the bundled files (``bundled:NAME``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from polydiff.plugin import resolve_bundled

from .files import open_fields
from .grid import find_axes, is_periodic

__all__ = ["ASSETS", "Field", "bundled_path", "load_field"]

ASSETS = Path(__file__).resolve().parent.parent / "assets"


def bundled_path(path: str | Path) -> Path:
    """``"bundled:coads_2deg.nc"`` -> the bundled netCDF file; any other path unchanged
    (:func:`polydiff.assets.resolve_bundled`)."""
    return resolve_bundled(path, ASSETS, "field", suffix=".nc")


class Field:
    """A selected field as an array ``(C, T, Y, X)`` (numpy, or dask when lazy) with its grid.

    Attributes: ``variables``, ``units`` (per variable), ``attrs`` (CF attributes per
    variable), ``axes`` (:class:`~polydiff.modalities.science.data.grid.GridAxes`), ``lat``,
    ``lon``, ``time`` (coordinate values; ``time`` is ``None`` without a time axis),
    ``periodic`` (longitudes wrap), ``values``."""

    def __init__(self, ds, where: str, in_memory_mb: float = 512.0):
        self.axes = find_axes(ds, where)
        self.variables = [str(v) for v in ds.data_vars]
        self.units = {v: str(ds[v].attrs.get("units", "")) for v in self.variables}
        self.attrs = {v: _plain_attrs(ds[v].attrs) for v in self.variables}
        self.lat = np.asarray(ds[self.axes.lat].values, dtype=np.float64)
        self.lon = np.asarray(ds[self.axes.lon].values, dtype=np.float64)
        self.time = None if self.axes.time is None else ds[self.axes.time].values
        self.periodic = is_periodic(self.lon)
        arr = ds.to_array("variable")
        if self.axes.time is None:
            arr = arr.expand_dims("__time__", axis=1)
        data = arr.data
        if arr.nbytes <= in_memory_mb * 2**20:
            data = np.asarray(arr.values, dtype=np.float32)
        self.values = data
        self.where = where

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(T, Y, X)``."""
        return tuple(int(v) for v in self.values.shape[1:])

    def finite_counts(self) -> np.ndarray:
        """Observed (finite) values per variable ``(C,)``, over the whole field."""
        counts = np.isfinite(self.values).sum(axis=(1, 2, 3))
        return np.asarray(counts.compute() if hasattr(counts, "compute") else counts)

    def valid(self) -> np.ndarray:
        """``(Y, X)`` bool: cells with an observed value of some variable at some time (sea
        rather than land, for ocean fields)."""
        seen = np.isfinite(self.values).any(axis=(0, 1))
        return np.asarray(seen.compute() if hasattr(seen, "compute") else seen)

    def check_observed(self) -> None:
        """A ``ValueError`` naming the variables without a single finite value."""
        empty = [v for v, n in zip(self.variables, self.finite_counts(), strict=True) if n == 0]
        if empty:
            raise ValueError(f"{self.where}: variable(s) {empty} hold no finite value (all "
                             f"NaN); there is nothing to learn from or to condition on")


def _plain_attrs(attrs: dict) -> dict[str, Any]:
    """JSON-able attributes (strings and numbers; arrays as lists)."""
    out: dict[str, Any] = {}
    for k, v in attrs.items():
        if isinstance(v, (str, int, float, bool)):
            out[str(k)] = v
        elif isinstance(v, np.generic):
            out[str(k)] = v.item()
        elif isinstance(v, np.ndarray) and v.size <= 16:
            out[str(k)] = v.tolist()
    return out


def load_field(path: str | Path, variables: Sequence[str] | None = None,
               select: dict | None = None, chunks: Any = "auto",
               in_memory_mb: float = 512.0) -> Field:
    """:class:`Field` of ``path`` (``"bundled:NAME"`` for a bundled file), checked to hold
    observed values."""
    path = bundled_path(path)
    field = Field(open_fields(path, variables, select, chunks), str(path), in_memory_mb)
    field.check_observed()
    return field
