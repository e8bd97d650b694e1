"""Rebuild the science modality's bundled fields from the Debian package ``ferret-datasets``.

    apt-get install -y --no-install-recommends ferret-datasets
    .venv/bin/python scripts/make_science_assets.py [--src /usr/share/ferret-vis/data]

Writes ``modalities/science/assets/navy_winds_5deg.nc`` (UWND, VWND: 132 months x 36 x 72,
the US Navy FNOC monthly winds averaged from 2.5 deg to 5 deg in 2 x 2 blocks; the grid rows
-90 ... 87.5 are used, so the 90 N row is left out) and ``coads_2deg.nc`` (SST, AIRT: the 12
months of the COADS climatology at 2 deg as they are, with their real land / no-data gaps as
NaN). Values are packed as CF int16 (``scale_factor`` 0.01 in the variable's units) with zlib
compression; the files record their origin and licence in their global attributes.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import xarray as xr

ASSETS = Path(__file__).resolve().parents[1] / "modalities" / "science" / "assets"
LICENCE = ("NOAA/PMEL Ferret licence (public domain; see modalities/science/assets/"
           "README.md)")


def _packed(ds: xr.Dataset) -> dict:
    """netCDF4 encoding: int16 with 0.01 resolution, -32768 for NaN, zlib."""
    return {v: {"dtype": "int16", "scale_factor": 0.01, "add_offset": 0.0,
                "_FillValue": np.int16(-32768), "zlib": True, "complevel": 9}
            for v in ds.data_vars}


def navy_winds(src: Path) -> xr.Dataset:
    """UWND, VWND (TIME, lat 36, lon 72) in m/s: 2 x 2 block means of the 2.5 deg grid."""
    ds = xr.open_dataset(src / "monthly_navy_winds.cdf", decode_times=False).load()
    ds = ds.isel(FNOCY=slice(0, 72))  # -90 ... 87.5: an even number of rows
    out = ds.coarsen(FNOCY=2, FNOCX=2).mean()
    out = out.rename({"FNOCY": "lat", "FNOCX": "lon", "TIME": "time"})
    out["lat"].attrs = {"units": "degrees_north", "standard_name": "latitude",
                        "long_name": "latitude (5 deg block centre)"}
    out["lon"].attrs = {"units": "degrees_east", "standard_name": "longitude",
                        "long_name": "longitude (5 deg block centre)"}
    out["time"].attrs = dict(ds["TIME"].attrs)
    for v in ("UWND", "VWND"):
        out[v].attrs = {**ds[v].attrs, "units": "m s-1",
                        "cell_methods": "lat: lon: mean (2 x 2 blocks of the 2.5 deg grid)"}
    out.attrs = {"title": "US Navy FNOC monthly mean winds 1982-1992, 5 deg",
                 "source": "ferret-datasets: /usr/share/ferret-vis/data/monthly_navy_winds.cdf",
                 "license": LICENCE, "history": "scripts/make_science_assets.py (polydiff)",
                 "Conventions": "CF-1.8"}
    return out


def coads(src: Path) -> xr.Dataset:
    """SST, AIRT (TIME 12, lat 90, lon 180) in deg C, land and unobserved cells NaN."""
    ds = xr.open_dataset(src / "coads_climatology.cdf", decode_times=False)
    out = ds[["SST", "AIRT"]].load().rename({"COADSY": "lat", "COADSX": "lon", "TIME": "time"})
    out["lat"].attrs = {"units": "degrees_north", "standard_name": "latitude"}
    out["lon"].attrs = {"units": "degrees_east", "standard_name": "longitude"}
    out["time"].attrs = dict(ds["TIME"].attrs)
    for v, name in (("SST", "sea_surface_temperature"), ("AIRT", "air_temperature")):
        out[v].attrs = {**ds[v].attrs, "units": "degC", "standard_name": name}
    out.attrs = {"title": "COADS monthly climatology (SST, air temperature), 2 deg",
                 "source": "ferret-datasets: /usr/share/ferret-vis/data/coads_climatology.cdf",
                 "license": LICENCE, "history": "scripts/make_science_assets.py (polydiff)",
                 "Conventions": "CF-1.8"}
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--src", type=Path, default=Path("/usr/share/ferret-vis/data"))
    p.add_argument("--out", type=Path, default=ASSETS)
    a = p.parse_args(argv)
    if not (a.src / "monthly_navy_winds.cdf").is_file():
        raise SystemExit(f"{a.src} has no monthly_navy_winds.cdf: apt-get install -y "
                         f"--no-install-recommends ferret-datasets")
    a.out.mkdir(parents=True, exist_ok=True)
    for name, ds in (("navy_winds_5deg.nc", navy_winds(a.src)), ("coads_2deg.nc", coads(a.src))):
        path = a.out / name
        ds.encoding = {}
        ds.to_netcdf(path, format="NETCDF4", engine="netcdf4", encoding=_packed(ds))
        print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB): "
              + ", ".join(f"{v} {tuple(ds[v].shape)}" for v in ds.data_vars))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
