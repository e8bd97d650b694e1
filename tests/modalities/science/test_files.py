"""Opening fields: engines from the file's bytes, lazy loading, and one clear sentence for every
kind of bad input."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import make_field

from polydiff.modalities.science.data.files import engine_for, open_fields, select_variables
from polydiff.modalities.science.data.grid import find_axes, is_periodic


@pytest.mark.filterwarnings("ignore:Consolidated metadata")
def test_engine_is_chosen_from_the_bytes_not_the_name(tmp_path):
    ds = make_field()
    ds.to_netcdf(tmp_path / "a.bin", engine="scipy")
    ds.to_netcdf(tmp_path / "b.dat", engine="netcdf4")
    assert engine_for(tmp_path / "a.bin") == "scipy"
    assert engine_for(tmp_path / "b.dat") == "netcdf4"
    ds.to_zarr(tmp_path / "c.zarr")
    assert engine_for(tmp_path / "c.zarr") == "zarr"
    for name in ("a.bin", "b.dat", "c.zarr"):
        got = open_fields(tmp_path / name, ["SST"])
        assert got["SST"].chunks is not None  # lazy (dask)
        np.testing.assert_array_equal(got["SST"].values, ds["SST"].values)


def test_not_netcdf_and_missing_files_are_named(tmp_path):
    (tmp_path / "notes.nc").write_text("hello")
    with pytest.raises(ValueError, match=r"notes.nc is not a netCDF or zarr store: it starts "
                                         r"with 68 65 6c 6c 6f"):
        open_fields(tmp_path / "notes.nc")
    (tmp_path / "empty.nc").write_bytes(b"")
    with pytest.raises(ValueError, match="nothing \\(an empty file\\)"):
        open_fields(tmp_path / "empty.nc")
    with pytest.raises(ValueError, match="does not exist"):
        open_fields(tmp_path / "absent.nc")
    (tmp_path / "folder").mkdir()
    with pytest.raises(ValueError, match="directory without zarr metadata"):
        open_fields(tmp_path / "folder")
    (tmp_path / "cut.nc").write_bytes(b"CDF\x01\x00\x00")
    with pytest.raises(ValueError, match="cut.nc could not be read as scipy"):
        open_fields(tmp_path / "cut.nc")


def test_unknown_variables_list_the_present_ones(field_nc):
    with pytest.raises(ValueError, match=r"has no variable\(s\) \['SSH'\]; present: "
                                         r"\['SST', 'AIRT'\]"):
        open_fields(field_nc, ["SST", "SSH"])


def test_grids_without_lat_lon_say_what_was_found(tmp_path):
    ds = make_field(lat_name="row", lon_name="col")
    ds["row"].attrs, ds["col"].attrs = {"units": "1"}, {"units": "1"}
    ds.to_netcdf(tmp_path / "rc.nc", engine="scipy")
    with pytest.raises(ValueError, match=r"no recognisable latitude and longitude coordinate: "
                                         r"found dimensions \['time', 'row', 'col'\] and "
                                         r"coordinates col \(units '1'\), row \(units '1'\), time "
                                         r"\(units 'days since"):
        open_fields(tmp_path / "rc.nc", ["SST"])


def test_axes_by_cf_units_or_names_and_layout():
    ds = make_field(lat_name="COADSY", lon_name="COADSX")  # Ferret: found by units
    axes = find_axes(ds)
    assert (axes.lat, axes.lon, axes.time) == ("COADSY", "COADSX", "time")
    flipped = ds.transpose("COADSX", "time", "COADSY")
    out = select_variables(flipped, ["SST"])
    assert out["SST"].dims == ("time", "COADSY", "COADSX")
    four = ds.expand_dims(depth=[0.0, 10.0])
    with pytest.raises(ValueError, match=r"extra dimension\(s\) \{'depth': 2\}.*select="
                                         r"\{'depth': 0\}"):
        select_variables(four, ["SST"])
    assert select_variables(four, ["SST"], {"depth": 1})["SST"].dims == (
        "time", "COADSY", "COADSX")
    with pytest.raises(ValueError, match=r"select names dimension\(s\) \['level'\]"):
        select_variables(four, ["SST"], {"level": 1})


def test_undecodable_time_is_kept_as_numbers(tmp_path):
    ds = make_field()
    ds["time"].attrs = {"units": "hour since 0000-01-01 00:00:00"}  # Ferret climatologies
    ds.to_netcdf(tmp_path / "clim.nc", engine="scipy")
    got = open_fields(tmp_path / "clim.nc", ["SST"])
    assert got["time"].attrs["units"].startswith("hour since 0000")
    np.testing.assert_array_equal(got["time"].values, ds["time"].values)


def test_periodicity():
    assert is_periodic(np.arange(72) * 5.0 + 21.25)
    assert is_periodic(np.arange(144) * 2.5 + 20.0)  # Ferret's 20 ... 377.5
    assert not is_periodic(np.arange(40) * 2.0)
