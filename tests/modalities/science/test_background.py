"""The background (time mean of the filled maps): its closed forms, storage with the model,
anomaly samples in FieldData, and impute / the netCDF writer and reader putting it back."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from conftest import make_field
from hypothesis import given, settings
from hypothesis import strategies as st

from polydiff import Denoiser, schedules
from polydiff.modalities.science import impute
from polydiff.modalities.science.background import (
    background_offset,
    decode_background,
    encode_background,
    stored_background,
    time_mean_background,
    whole_grid_background,
)
from polydiff.modalities.science.data import FieldData
from polydiff.modalities.science.fill import first_guess
from polydiff.modalities.science.io import read_netcdf
from polydiff.modalities.science.model import FieldModel
from polydiff.modalities.science.unet import FieldUNet
from polydiff.normalize import Normalizer

shapes = st.tuples(st.integers(1, 2), st.integers(2, 4), st.integers(3, 6), st.integers(3, 6))


@settings(max_examples=10, deadline=None)
@given(shape=shapes, seed=st.integers(0, 1000), periodic=st.booleans())
def test_without_gaps_it_is_the_time_mean(shape, seed, periodic):
    v = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    np.testing.assert_allclose(time_mean_background(v, periodic, block=3), v.mean(1),
                               rtol=1e-5, atol=1e-5)


@settings(max_examples=10, deadline=None)
@given(shape=shapes, seed=st.integers(0, 1000), where=st.integers(0, 4))
def test_a_missing_time_step_counts_for_nothing(shape, seed, where):
    g = np.random.default_rng(seed)
    v = g.normal(size=shape).astype(np.float32)
    v[g.random(shape) < 0.3] = np.nan
    v[:, 0, 0, 0] = 1.0  # every variable observed somewhere
    gone = np.full(shape[:1] + (1,) + shape[2:], np.nan, np.float32)
    more = np.concatenate([v[:, :where], gone, v[:, where:]], axis=1)
    np.testing.assert_allclose(time_mean_background(more, True),
                               time_mean_background(v, True), rtol=1e-5, atol=1e-5)


def test_maps_count_by_their_observed_share():
    """A full map of 1 and a half-observed map of 4 (a constant fills as itself)."""
    v = np.ones((1, 2, 4, 6), np.float32)
    v[:, 1] = 4.0
    v[:, 1, :2] = np.nan
    for passes in (1, 2, 3):
        np.testing.assert_allclose(time_mean_background(v, True, passes=passes),
                                   (1 * 1 + 0.5 * 4) / 1.5, rtol=1e-6)
    with pytest.raises(ValueError, match="passes must be >= 1, got 0"):
        time_mean_background(v, True, passes=0)


@settings(max_examples=10, deadline=None)
@given(shape=st.tuples(st.integers(1, 3), st.integers(1, 5), st.integers(1, 7)),
       seed=st.integers(0, 1000))
def test_encoding_round_trips_exactly(shape, seed):
    bg = np.random.default_rng(seed).normal(size=shape).astype(np.float32)
    entry = encode_background(bg)
    assert entry["shape"] == list(shape) and isinstance(entry["base64"], str)
    np.testing.assert_array_equal(decode_background(entry), bg)


def test_stored_background_checks_the_grid():
    lat, lon = np.linspace(-80, 80, 4), np.arange(6) * 60.0
    bg = np.arange(48, dtype=np.float32).reshape(2, 4, 6)
    meta = {"background": encode_background(bg), "grid": {"lat": lat.tolist(),
                                                          "lon": lon.tolist()}}
    np.testing.assert_array_equal(stored_background(meta, lat, lon, "data"), bg)
    assert stored_background({"background": None}, lat, lon, "data") is None
    with pytest.raises(ValueError, match=r"data: its grid is 3 x 6 \(lat x lon\), but the model "
                                         r"learns anomalies .* training grid, 4 x 6"):
        stored_background(meta, lat[:3], lon, "data")
    with pytest.raises(ValueError, match="at other coordinates"):
        stored_background(meta, lat + 1, lon, "data")
    padded = whole_grid_background(meta, 8, 6)
    assert padded.shape == (2, 8, 6) and (padded[:, 4:] == 0).all()
    np.testing.assert_array_equal(padded[:, :4], bg)
    assert whole_grid_background(meta, 4, 4) is None  # a patch


@pytest.mark.parametrize("time_window", [None, 2])
def test_field_data_samples_are_anomalies_from_the_recorded_background(field_nc, time_window):
    data = FieldData(str(field_nc), patch=[8, 8], time_window=time_window, min_observed=0,
                     background=True)
    data.setup()
    bg = data.background_values
    raw = xr.open_dataset(field_nc)
    want = time_mean_background(np.stack([raw[v].values for v in ("SST", "AIRT")]), True)
    np.testing.assert_allclose(bg, want, rtol=1e-6)
    plain = FieldData(str(field_nc), patch=[8, 8], time_window=time_window, min_observed=0)
    plain.setup()
    for i in (0, len(data.train_set) - 1):
        t0, y0, x0 = data.train_set.positions[i]
        patch = data.train_set._static(bg, y0, x0)
        np.testing.assert_allclose(data.train_set[i]["x"].numpy() + patch,
                                   plain.train_set[i]["x"].numpy(), rtol=1e-6, atol=1e-5)
    np.testing.assert_array_equal(decode_background(data.metadata()["background"]), bg)
    assert plain.metadata()["background"] is None
    lazy = FieldData(str(field_nc), patch=[8, 8], time_window=time_window, min_observed=0,
                     background=True, in_memory_mb=0, chunks={"time": 2})
    lazy.setup()
    assert not isinstance(lazy.field.values, np.ndarray)  # dask, read block by block
    np.testing.assert_allclose(lazy.background_values, bg, rtol=1e-6, atol=1e-6)


def test_field_data_background_needs_several_time_steps(tmp_path):
    path = tmp_path / "one.nc"
    make_field(n_time=1).to_netcdf(path, engine="scipy")
    with pytest.raises(ValueError, match="background=True needs several time steps .* has 1"):
        FieldData(str(path), background=True, min_observed=0).setup()


def _fresh_guess_model(path):
    """An untrained residual x0 model on the whole grid: it predicts its first guess."""
    data = FieldData(str(path), min_observed=0, background=True)
    net = FieldUNet(variables=2, conditional=True, residual=True, prediction="x0",
                    fill_method="biharmonic", base_channels=8, channel_mult=(1, 2),
                    attention_heads=2)
    den = Denoiser(net, schedules.VPCosine(), "x0").eval()
    return FieldModel(den, den.schedule, list(data.sample_shape), data.data_info(), True,
                      "fresh"), data


def test_impute_fills_anomalies_and_adds_the_background_back(tmp_path):
    path = tmp_path / "train.nc"
    make_field(n_time=4, n_lat=12, n_lon=16, gaps=0.3).to_netcdf(path, engine="scipy")
    model, data = _fresh_guess_model(path)
    ds = make_field(n_time=2, n_lat=12, n_lon=16, gaps=0.4, seed=3)
    out = impute(ds, model, n_samples=2, steps=2, domain="all", progress=False)
    assert out.attrs["polydiff_background"] == "time mean of the training field"
    # expected: background + the network's first guess of the anomalies (model units; the
    # guess commutes with the per-variable affine normaliser)
    bg = data.background_values[:, None]
    values = np.stack([ds[v].values for v in ("SST", "AIRT")]) - bg  # (C, T, Y, X)
    norm = model.normalizer
    z = norm.normalize(torch.from_numpy(values.transpose(1, 0, 2, 3).copy()))
    known = torch.isfinite(z)
    guess = first_guess(torch.nan_to_num(z), known, model.net.periodic,
                        levels=model.net.levels, method="biharmonic")
    want = norm.denormalize(guess).numpy().transpose(1, 0, 2, 3) + bg
    for c, v in enumerate(("SST", "AIRT")):
        obs = np.isfinite(ds[v].values)
        np.testing.assert_array_equal(out[v].values[obs], ds[v].values[obs])
        np.testing.assert_allclose(out[v].values[~obs], want[c][~obs], rtol=0, atol=1e-3)
    ens = impute(ds, model, n_samples=2, steps=2, domain="all", progress=False,
                 mean="ensemble")
    for v in ("SST", "AIRT"):  # the fresh model's members are its guess too
        np.testing.assert_allclose(ens[v].values, out[v].values, rtol=0, atol=1e-3)
    # calibration fills held-out known values as anomalies too: a model with some spread
    with torch.no_grad():
        g = torch.Generator().manual_seed(0)
        for p in model.net.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    cal = impute(ds, model, n_samples=4, steps=2, domain="all", progress=False,
                 calibrate=True)
    for v in ("SST", "AIRT"):
        obs = np.isfinite(ds[v].values)
        np.testing.assert_array_equal(cal[v].values[obs], ds[v].values[obs])
        assert np.isfinite(cal[v].values).all() and (cal[f"{v}_std"].values[~obs] > 0).all()
    assert isinstance(cal.attrs["polydiff_spread_factor"], float)
    with pytest.raises(ValueError, match="data: its grid is 10 x 16"):
        impute(make_field(n_time=2, n_lat=10, n_lon=16), model, n_samples=2, steps=1,
               progress=False)


def test_data_units_add_and_model_units_remove_the_background(tmp_path):
    """Whole-grid samples: ``polydiff sample --known`` reads data units and takes the
    background off in ``model_units``; ``write_samples`` (netCDF, PNG, ``samples.pt``) puts
    it back on in ``data_units``, gap cells included. Patches stay anomalies, labelled."""
    from polydiff.training.outputs import data_units, model_units, write_samples

    path = tmp_path / "train.nc"
    make_field(n_time=4, n_lat=10, n_lon=16).to_netcdf(path, engine="scipy")
    data = FieldData(str(path), min_observed=0, background=True, multiple=4)
    info = data.data_info()
    bg = np.pad(data.background_values, [(0, 0), (0, 2), (0, 0)])  # (C, 12, 16)
    one = make_field(n_time=1, n_lat=10, n_lon=16, seed=4)
    one.to_netcdf(tmp_path / "one.nc", engine="scipy")
    known, observed = read_netcdf(tmp_path / "one.nc", None, data.sample_shape, info["meta"])
    assert known.shape == (1, 2, 12, 16)
    raw = np.stack([one[v].values[0] for v in ("SST", "AIRT")])
    seen = np.isfinite(raw)
    np.testing.assert_array_equal(known[0, :, :10].numpy()[seen], raw[seen])  # data units
    z = model_units(torch.where(observed, known, 0.0), info)
    norm = Normalizer.from_dict(info["normalizer"])
    np.testing.assert_allclose(z[0].numpy(), norm.normalize(
        torch.where(observed, known, 0.0) - torch.from_numpy(bg)[None])[0].numpy(),
        rtol=1e-5, atol=1e-5)
    z = torch.where(observed, z, torch.zeros(()))  # gaps: the model's 0 = the mean anomaly
    x = data_units(z, info)
    np.testing.assert_allclose(x[0, :, :10].numpy()[seen], raw[seen], rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(x[0].numpy()[~observed[0].numpy()], (norm.denormalize(
        torch.zeros(1, 2, 12, 16))[0].numpy() + bg)[~observed[0].numpy()], rtol=1e-5,
        atol=1e-4)
    written = write_samples(z, tmp_path / "s", info)
    with xr.open_dataset(written) as ds:
        back = np.stack([ds[v].values[0] for v in ("SST", "AIRT")])
        np.testing.assert_allclose(back, x[0, :, :10].numpy(), rtol=1e-6, atol=1e-5)
        assert "polydiff_values" not in ds.attrs
    space_time = FieldData(str(path), min_observed=0, background=True, time_window=2)
    off = background_offset(space_time.metadata(), (3, 2, 2, 12, 16))
    assert off.shape == (1, 2, 1, 12, 16)
    np.testing.assert_array_equal(off[0, :, 0].numpy(), bg)
    patches = FieldData(str(path), patch=[8, 8], min_observed=0, background=True)
    pinfo = patches.data_info()
    assert background_offset(pinfo["meta"], (1, 2, 8, 8)) is None
    written = write_samples(torch.zeros(1, 2, 8, 8), tmp_path / "p", pinfo)
    with xr.open_dataset(written) as ds:
        assert "anomalies" in ds.attrs["polydiff_values"]
        want = Normalizer.from_dict(pinfo["normalizer"]).denormalize(
            torch.zeros(1, 2, 8, 8))[0, 0].numpy()
        np.testing.assert_allclose(ds["SST"].values[0], want, rtol=1e-6)
    with pytest.raises(ValueError, match="use polydiff impute"):  # a whole map, patch model
        read_netcdf(tmp_path / "one.nc", None, patches.sample_shape, pinfo["meta"])
    small = tmp_path / "small.nc"
    make_field(n_time=1, n_lat=8, n_lon=8).to_netcdf(small, engine="scipy")
    with pytest.raises(ValueError, match="its grid is 8 x 8 .* the model learns anomalies"):
        read_netcdf(small, None, patches.sample_shape, pinfo["meta"])
