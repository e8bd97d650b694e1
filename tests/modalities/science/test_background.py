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
from polydiff.inference import Model
from polydiff.interpolate import first_guess
from polydiff.modalities.science import impute
from polydiff.modalities.science.data import FieldData
from polydiff.modalities.science.data.windows import rows_cols
from polydiff.modalities.science.io.netcdf import read_netcdf
from polydiff.modalities.science.statistics.background import (
    SEASONAL_HARMONICS,
    annual_phase,
    background_at,
    background_maps,
    background_offset,
    decode_background,
    encode_background,
    fit_background,
    harmonic_basis,
    stored_background,
    time_mean_background,
    whole_grid_background,
)
from polydiff.modalities.science.statistics.lag import MAX_LAG
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
    with pytest.raises(ValueError, match="background='mean' needs several time steps .* has 1"):
        FieldData(str(path), background=True, min_observed=0).setup()


def _fresh_guess_model(path):
    """An untrained residual x0 model on the whole grid: it predicts its first guess."""
    data = FieldData(str(path), min_observed=0, background=True)
    net = FieldUNet(variables=2, conditional=True, residual=True,
                    fill_method="biharmonic", base_channels=8, channel_mult=(1, 2),
                    attention_heads=2)
    den = Denoiser(net, schedules.VPCosine(), "x0").eval()
    return Model.from_info(den, data.data_info(), conditional=True, source="fresh"), data


def _check_guess_filled(out, ds, model, bg: np.ndarray) -> None:
    """``out`` of a fresh model = observed values exactly, and in the gaps the background ``bg
    (C, T or 1, Y, X)`` + the network's first guess of the anomalies (model units; the guess
    commutes with the per-variable affine normaliser)."""
    values = np.stack([ds[v].values for v in ("SST", "AIRT")]) - bg  # (C, T, Y, X)
    norm = model.spec.normalizer
    z = norm.normalize(torch.from_numpy(values.transpose(1, 0, 2, 3).copy()))
    known = torch.isfinite(z)
    guess = first_guess(torch.nan_to_num(z), known, model.net.periodic,
                        levels=model.net.levels, method="biharmonic")
    want = norm.denormalize(guess).numpy().transpose(1, 0, 2, 3) + bg
    for c, v in enumerate(("SST", "AIRT")):
        obs = np.isfinite(ds[v].values)
        np.testing.assert_array_equal(out[v].values[obs], ds[v].values[obs])
        np.testing.assert_allclose(out[v].values[~obs], want[c][~obs], rtol=0, atol=1e-3)


def test_impute_fills_anomalies_and_adds_the_background_back(tmp_path):
    path = tmp_path / "train.nc"
    make_field(n_time=4, n_lat=12, n_lon=16, gaps=0.3).to_netcdf(path, engine="scipy")
    model, data = _fresh_guess_model(path)
    ds = make_field(n_time=2, n_lat=12, n_lon=16, gaps=0.4, seed=3)
    out = impute(ds, model, n_samples=2, steps=2, domain="all", progress=False)
    assert out.attrs["polydiff_background"] == "time mean of the training field"
    _check_guess_filled(out, ds, model, data.background_values[:, None])
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


# -- the seasonal background ---------------------------------------------------------------------
def _dates(n: int, start: str = "1990-01-15") -> np.ndarray:
    return np.array([np.datetime64(start, "D") + np.timedelta64(int(30.4375 * i), "D")
                     for i in range(n)], dtype="datetime64[ns]")


def test_annual_phase_counts_years_by_the_dates_calendar():
    import cftime

    years = annual_phase(np.array(["2001-01-01", "2001-07-02T12", "2004-12-31"],
                                  dtype="datetime64[ns]"))
    np.testing.assert_allclose(years, [2001.0, 2001 + 182.5 / 365, 2004 + 365 / 366])
    noleap = [cftime.DatetimeNoLeap(2000, 3, 1), cftime.Datetime360Day(2000, 7, 1)]
    np.testing.assert_allclose(annual_phase(np.array(noleap[:1])), [2000 + 59 / 365])
    np.testing.assert_allclose(annual_phase(np.array(noleap[1:])), [2000 + 180 / 360])
    with pytest.raises(ValueError, match=r"the field: a seasonal background needs times that "
                                         r"are dates .* found float64 values such as 3\.0"):
        annual_phase(np.array([3.0, 4.0]))
    with pytest.raises(ValueError, match="has no time axis"):
        annual_phase(None)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000), months=st.integers(14, 30), periodic=st.booleans())
def test_without_gaps_the_seasonal_fit_recovers_a_mean_and_annual_harmonics(seed, months,
                                                                             periodic):
    g = np.random.default_rng(seed)
    years = annual_phase(_dates(months))
    coefs = g.standard_normal((2, 1 + 2 * SEASONAL_HARMONICS, 3, 5)).astype(np.float32)
    values = background_maps(coefs, years)  # (C, T, Y, X), complete
    fitted = fit_background(values, periodic, years)
    assert fitted.shape == coefs.shape
    np.testing.assert_allclose(fitted, coefs, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(background_at(fitted, harmonic_basis(years, 2)),
                               background_maps(fitted, years))
    mean = fit_background(values, periodic)  # no dates: the time mean, as before
    np.testing.assert_allclose(mean, time_mean_background(values, periodic))
    assert background_maps(mean).shape == (2, 1, 3, 5)


def test_the_seasonal_fit_needs_dates_over_the_year():
    values = np.random.default_rng(0).standard_normal((1, 3, 4, 4)).astype(np.float32)
    close = annual_phase(_dates(3))  # three months: five coefficients cannot be fitted
    with pytest.raises(ValueError, match=r"channel 0 leave 3\d\d days of the year uncovered "
                                         r"in a row; .* no gap over 73 days .* use "
                                         r"background='mean'"):
        fit_background(values, True, close)
    daily = annual_phase(np.arange(np.datetime64("2001-01-01"), np.datetime64("2001-05-01"))
                         .astype("datetime64[ns]"))  # 120 days: a third of the year
    with pytest.raises(ValueError, match="uncovered in a row"):
        fit_background(np.zeros((1, 120, 2, 2), np.float32), True, daily)
    with pytest.raises(ValueError, match=r"need the harmonic basis \(T, P=5\)"):
        background_at(np.zeros((1, 5, 2, 2)), None)
    with pytest.raises(ValueError, match="1 of 2 are missing"):
        annual_phase(np.array(["2001-01-01", "NaT"], dtype="datetime64[ns]"))
    with pytest.raises(ValueError, match="needs the times"):
        background_maps(np.zeros((1, 5, 2, 2)))


def _seasonal_file(path, n_time=30, gaps=0.2, seed=0):
    """:func:`make_field` with monthly dates and a strong annual cycle."""
    ds = make_field(n_time=n_time, n_lat=12, n_lon=16, gaps=gaps, seed=seed)
    dates = _dates(n_time)
    cycle = 5 * np.cos(2 * np.pi * annual_phase(dates))[:, None, None]
    ds = ds.assign_coords(time=dates)
    for v in ("SST", "AIRT"):
        ds[v].values[:] = ds[v].values + cycle
    ds.to_netcdf(path, engine="scipy")
    return ds


@pytest.mark.parametrize("time_window", [None, 3])
def test_field_data_seasonal_samples_are_anomalies_at_their_dates(tmp_path, time_window):
    path = tmp_path / "seasonal.nc"
    _seasonal_file(path)
    data = FieldData(str(path), patch=[8, 8], time_window=time_window, min_observed=0,
                     background="seasonal")
    data.setup()
    coefs = data.background_values
    assert coefs.shape == (2, 5, 12, 16)
    raw = xr.open_dataset(path)
    years = annual_phase(raw["time"].values)
    values = np.stack([raw[v].values for v in ("SST", "AIRT")])
    np.testing.assert_allclose(coefs, fit_background(values, True, years), rtol=1e-6)
    plain = FieldData(str(path), patch=[8, 8], time_window=time_window, min_observed=0)
    plain.setup()
    maps = background_maps(coefs, years)  # (C, T, Y, X)
    checked = 0
    for i in range(0, len(data.train_set), 7):
        t0, y0, x0 = data.train_set.positions[i]
        want = plain.train_set[i]["x"].numpy()
        rows, cols, inside = rows_cols(data.train_set.windows, y0, x0)
        wt = time_window or 1
        bg = maps[:, t0:t0 + wt][:, :, rows][:, :, :, cols] * inside
        got = data.train_set[i]["x"].numpy() + (bg if time_window else bg[:, 0])
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-4)
        checked += 1
    assert checked >= 2
    meta = data.metadata()
    np.testing.assert_array_equal(decode_background(meta["background"]), coefs)
    assert "lag_correlation" not in meta  # a fitted buffer of the network, not a description
    rho = data.statistics()["lag_correlation"]
    assert rho.shape == (2, MAX_LAG + 1) and (rho[:, 0] == 1).all()
    assert abs(data.train_set[0]["x"].nanmean()) < 1.0  # the annual cycle (5 degC) is gone
    with pytest.raises(ValueError, match=r"background must be False, True or one of \['mean', "
                                         r"'seasonal'\], got 'monthly'"):
        FieldData(str(path), background="monthly")


def test_a_field_without_dates_refuses_the_seasonal_background(field_nc, tmp_path):
    path = tmp_path / "numbers.nc"
    make_field(n_time=4).assign_coords(time=("time", np.arange(4.0))).to_netcdf(
        path, engine="scipy")
    with pytest.raises(ValueError, match=r"numbers.nc: a seasonal background needs times that "
                                         r"are dates"):
        FieldData(str(path), background="seasonal", min_observed=0).setup()


def test_impute_adds_the_seasonal_background_back_at_the_datas_dates(tmp_path):
    path = tmp_path / "train.nc"
    _seasonal_file(path)
    data = FieldData(str(path), min_observed=0, background="seasonal")
    net = FieldUNet(variables=2, conditional=True, residual=True,
                    fill_method="biharmonic", base_channels=8, channel_mult=(1, 2),
                    attention_heads=2)
    den = Denoiser(net, schedules.VPCosine(), "x0").eval()
    model = Model.from_info(den, data.data_info(), conditional=True, source="fresh")
    ds = _seasonal_file(tmp_path / "other.nc", n_time=3, gaps=0.4, seed=5).isel(
        time=slice(0, 3))
    ds = ds.assign_coords(time=_dates(3, "1996-06-15"))  # other dates: other background
    out = impute(ds, model, n_samples=2, steps=2, domain="all", progress=False)
    assert out.attrs["polydiff_background"].startswith("seasonal cycle of the training field")
    _check_guess_filled(out, ds, model,
                        background_maps(data.background_values, annual_phase(ds["time"].values)))
    one = impute(ds.isel(time=1), model, n_samples=2, steps=2, domain="all", progress=False)
    np.testing.assert_allclose(one["SST"].values, out["SST"].values[1], rtol=0, atol=1e-3)
    with pytest.raises(ValueError, match="data: a seasonal background needs a time axis of "
                                         "dates; it has no time axis"):
        impute(ds.isel(time=1).drop_vars("time"), model, n_samples=2, steps=1, progress=False)
    with pytest.raises(ValueError, match="data: a seasonal background needs times that are "
                                         "dates"):
        impute(ds.assign_coords(time=("time", np.arange(3.0))), model, n_samples=2,
               steps=1, progress=False)
    assert background_offset(data.metadata(), (1, 2, 12, 16)) is None  # samples: no dates
    with pytest.raises(ValueError, match="seasonal background, which needs the dates .* "
                                         "polydiff impute"):
        read_netcdf(path, None, data.sample_shape, data.data_info()["meta"])
    written = model_samples_file(tmp_path, data)
    with xr.open_dataset(written) as f:
        assert "no dates" in f.attrs["polydiff_values"]


def model_samples_file(tmp_path, data):
    """Whole-grid samples of a seasonal model written as netCDF: they stay anomalies."""
    from polydiff.training.outputs import write_samples

    return write_samples(torch.zeros(1, 2, 12, 16), tmp_path / "s", data.data_info())
