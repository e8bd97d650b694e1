"""FieldData (patches, time windows, NaN = missing, weights, coordinates, lazy = eager), the
netCDF writer/reader and the PNG maps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from conftest import make_field

from polydiff.modalities.science.data import FieldData, bundled_path, load_field
from polydiff.modalities.science.io.maps import write_maps, write_png
from polydiff.modalities.science.io.netcdf import check_units, read_netcdf, write_netcdf


def test_patches_keep_nan_as_missing_with_weights_and_coordinates(field_nc):
    data = FieldData(str(field_nc), patch=[8, 8], validity=True, batch_size=4, min_observed=0)
    data.setup()
    item = data.train_set[0]
    assert item["x"].shape == (2, 8, 8) and item["cond"].shape == (1, 8, 8)
    assert item["weight"].shape == (1, 8, 8)
    lat = np.linspace(-80, 80, 10)
    t0, y0, x0 = data.train_set.positions[0]
    np.testing.assert_allclose(item["vector"].numpy(),
                               [lat[y0], lat[y0 + 7], x0 * 22.5, (x0 + 7) * 22.5], rtol=1e-6)
    np.testing.assert_allclose(item["weight"][0, :, 0].numpy(),
                               np.cos(np.deg2rad(lat[y0:y0 + 8])), rtol=1e-6)
    assert torch.isnan(item["x"]).any()
    batch = next(iter(data.train_dataloader()))
    assert torch.isfinite(batch["x"]).all()
    assert (~batch["observed"]).any()
    assert torch.equal(batch["x"][~batch["observed"]], torch.zeros((~batch["observed"]).sum()))
    assert data.sample_shape == (2, 8, 8)
    info = data.data_info()
    assert info["modality"] == "science" and info["writer"] == "netcdf"
    meta = info["meta"]
    assert meta["variables"] == ["SST", "AIRT"] and meta["units"]["SST"] == "degC"
    assert meta["grid"]["periodic"] is True and len(meta["grid"]["lon"]) == 16
    # the normaliser is per variable and fitted on observed values only
    assert info["normalizer"]["shift"][0] != info["normalizer"]["shift"][1]


def test_time_windows_validation_split_by_time_and_padding(field_nc):
    data = FieldData(str(field_nc), time_window=3, stride=[1, 4, 4], val_fraction=0.3,
                     multiple=4, min_observed=0)
    data.setup()
    assert data.sample_shape == (2, 3, 12, 16)  # 10 rows padded to 12
    item = data.train_set[0]["x"]
    assert torch.isnan(item[:, :, 10:]).all()  # padding rows are missing
    train_t = {p[0] for p in data.train_set.positions}
    val_t = {p[0] for p in data.val_set.positions}
    assert train_t and val_t and not train_t & val_t


def test_lazy_windows_equal_the_loaded_ones(field_nc):
    eager = FieldData(str(field_nc), patch=[8, 8], min_observed=0)
    lazy = FieldData(str(field_nc), patch=[8, 8], min_observed=0, in_memory_mb=0)
    eager.setup()
    lazy.setup()
    assert isinstance(eager.field.values, np.ndarray)
    assert not isinstance(lazy.field.values, np.ndarray)  # a dask array
    for i in (0, 3, len(eager.train_set) - 1):
        torch.testing.assert_close(eager.train_set[i]["x"], lazy.train_set[i]["x"],
                                   equal_nan=True)


def test_all_nan_and_empty_windows_are_refused(tmp_path):
    ds = make_field()
    ds["AIRT"][:] = np.nan
    ds.to_netcdf(tmp_path / "nan.nc", engine="scipy")
    with pytest.raises(ValueError, match=r"variable\(s\) \['AIRT'\] hold no finite value"):
        FieldData(str(tmp_path / "nan.nc")).setup()
    FieldData(str(tmp_path / "nan.nc"), variables=["SST"]).setup()  # the other one is fine
    with pytest.raises(ValueError, match="no window of size"):
        FieldData(str(tmp_path / "nan.nc"), variables=["SST"], min_observed=0.95).setup()
    with pytest.raises(ValueError, match="no bundled field 'x.nc'; bundled: "):
        bundled_path("bundled:x.nc")


def test_bundled_coads_keeps_its_land_mask():
    field = load_field("bundled:coads_2deg.nc", ["SST"])
    valid = field.valid()
    assert valid.shape == (90, 180) and 0.4 < valid.mean() < 0.8
    assert field.periodic and field.units["SST"] == "degC"


def test_writer_and_reader_round_trip(field_nc, tmp_path):
    data = FieldData(str(field_nc), multiple=4, min_observed=0)
    data.setup()
    meta = data.metadata()
    x = data.train_set[0]["x"][None].repeat(2, 1, 1, 1)  # (2, C, 12, 16) with NaN
    path = write_netcdf(torch.nan_to_num(x, nan=-1.0), tmp_path / "s", meta)
    with xr.open_dataset(path) as ds:
        assert ds["SST"].dims == ("sample", "lat", "lon") and ds.sizes["lat"] == 10
        assert ds["SST"].attrs["units"] == "degC"
        np.testing.assert_allclose(ds["lat"].values, np.linspace(-80, 80, 10))
    one = make_field(n_time=1)
    one.to_netcdf(tmp_path / "one.nc", engine="scipy")
    known, observed = read_netcdf(tmp_path / "one.nc", None, data.sample_shape, meta)
    assert known.shape == (1, 2, 12, 16) and not observed[..., 10:, :].any()
    expect = torch.from_numpy(one["SST"].values[0])
    torch.testing.assert_close(known[0, 0, :10][observed[0, 0, :10]],
                               expect[torch.isfinite(expect)])
    with pytest.raises(ValueError, match="use polydiff impute"):
        read_netcdf(field_nc, None, data.sample_shape, meta)
    png = write_png(x, tmp_path / "maps", meta)
    assert png.suffix == ".png" and png.stat().st_size > 1000


def test_units_and_variables_must_match_the_model():
    meta = {"variables": ["SST"], "units": {"SST": "degC"}}
    check_units({"SST": "degC", "X": "m"}, meta, "f.nc")
    with pytest.raises(ValueError, match=r"f.nc: units differ from the model's: SST: 'K' "
                                         r"\(trained on 'degC'\)"):
        check_units({"SST": "K"}, meta, "f.nc")
    with pytest.raises(ValueError, match=r"f.nc has no variable\(s\) \['SST'\] that the model "
                                         r"was trained on .*the file has \['sst'\]"):
        check_units({"sst": "degC"}, meta, "f.nc")


def test_maps_draw_nan_as_grey(tmp_path):
    field = np.arange(12.0).reshape(3, 4)
    field[1, 1] = np.nan
    path = write_maps([("a", field, "viridis", None), ("b", -field, "RdBu_r", (-5, 5))],
                      tmp_path / "m.png", np.array([-10.0, 0.0, 10.0]), np.arange(4.0) * 90)
    assert path.stat().st_size > 1000
