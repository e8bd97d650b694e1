"""The bundled fields: real NOAA data, small, with their origin and licence recorded."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

ASSETS = Path(__file__).resolve().parents[3] / "modalities" / "science" / "assets"


def test_bundled_fields_are_small_real_and_licensed():
    files = sorted(ASSETS.glob("*.nc"))
    assert [f.name for f in files] == ["coads_2deg.nc", "navy_winds_5deg.nc"]
    assert sum(f.stat().st_size for f in files) < 3e6
    readme = (ASSETS / "README.md").read_text()
    assert "public domain" in readme.lower() and "make_science_assets.py" in readme
    with xr.open_dataset(ASSETS / "navy_winds_5deg.nc", decode_times=False) as ds:
        assert dict(ds.sizes) == {"time": 132, "lat": 36, "lon": 72}
        assert "Ferret" in ds.attrs["license"] and ds.attrs["source"].startswith("ferret")
        assert not ds["UWND"].isnull().any()
        np.testing.assert_allclose(np.diff(ds["lon"].values), 5.0)
    with xr.open_dataset(ASSETS / "coads_2deg.nc", decode_times=False) as ds:
        assert dict(ds.sizes) == {"time": 12, "lat": 90, "lon": 180}
        land = float(ds["SST"].isnull().mean())
        assert 0.3 < land < 0.6  # the real land / no-observation mask
        assert ds["SST"].attrs["units"] == "degC"
