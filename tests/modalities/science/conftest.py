"""Small synthetic fields on real-looking grids, written as netCDF-3, netCDF-4 and zarr."""

from __future__ import annotations

import numpy as np
import pytest
import xarray as xr


def make_field(n_time: int = 6, n_lat: int = 10, n_lon: int = 16, gaps: float = 0.2,
               seed: int = 0, lat_name: str = "lat", lon_name: str = "lon",
               units: str = "degC") -> xr.Dataset:
    """A smooth global field (two variables) with NaN gaps: ``(time, lat, lon)``."""
    g = np.random.default_rng(seed)
    lat = np.linspace(-80, 80, n_lat)
    lon = np.arange(n_lon) * 360.0 / n_lon
    t = np.arange(n_time, dtype=np.float64)
    la, lo = np.deg2rad(lat)[None, :, None], np.deg2rad(lon)[None, None, :]
    base = 20 * np.cos(la) + 3 * np.sin(2 * lo + 0.3 * t[:, None, None])
    sst = (base + 0.1 * g.standard_normal(base.shape)).astype(np.float32)
    air = (base - 2 + 0.1 * g.standard_normal(base.shape)).astype(np.float32)
    sst[g.random(sst.shape) < gaps] = np.nan
    air[g.random(air.shape) < gaps] = np.nan
    dims = ("time", lat_name, lon_name)
    return xr.Dataset(
        {"SST": (dims, sst, {"units": units, "long_name": "sea surface temperature"}),
         "AIRT": (dims, air, {"units": units, "long_name": "air temperature"})},
        coords={"time": ("time", t, {"units": "days since 2000-01-01", "calendar": "noleap"}),
                lat_name: (lat_name, lat, {"units": "degrees_north"}),
                lon_name: (lon_name, lon, {"units": "degrees_east"})},
        attrs={"title": "synthetic test field"})


@pytest.fixture
def field_nc(tmp_path):
    """A netCDF-3 file of :func:`make_field`."""
    path = tmp_path / "field.nc"
    make_field().to_netcdf(path, engine="scipy")
    return path
