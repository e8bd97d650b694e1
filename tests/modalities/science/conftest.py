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


def tiny_model(path, conditional=True, time_window=None, patch=(8, 8), validity=False, seed=0):
    """A small untrained science model (random weights) with the data description of
    ``path``."""
    import torch

    from polydiff import Denoiser, schedules
    from polydiff.inference import Model
    from polydiff.modalities.science.data import FieldData
    from polydiff.modalities.science.unet import FieldUNet

    data = FieldData(str(path), patch=list(patch), time_window=time_window, min_observed=0,
                     validity=validity)
    info = data.data_info()
    torch.manual_seed(seed)  # the initial weights: the same whatever ran before
    net = FieldUNet(variables=2, conditional=conditional, time_axis=time_window is not None,
                    validity=validity, base_channels=8, channel_mult=(1, 2), attention_heads=2)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    den = Denoiser(net, schedules.VPCosine(), "v").eval()
    return Model.from_info(den, info, sample_shape=data.sample_shape, conditional=conditional,
                           source="tiny")


@pytest.fixture(scope="module")
def gappy(tmp_path_factory):
    path = tmp_path_factory.mktemp("impute") / "gappy.nc"
    make_field(n_time=3, n_lat=10, n_lon=16, gaps=0.3).to_netcdf(path, engine="scipy")
    return path
