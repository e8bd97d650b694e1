"""``impute``: observed values exactly kept, tiling with overlap blending, the output dataset
(mean, std, quantiles, samples, CF attributes, provenance), guidance variants, bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import xarray as xr
from conftest import make_field, tiny_model
from hypothesis import given, settings
from hypothesis import strategies as st

from polydiff import Denoiser, schedules
from polydiff.inference import Model
from polydiff.modalities.science import impute
from polydiff.modalities.science.data import FieldData
from polydiff.modalities.science.imputation.impute import field_model
from polydiff.modalities.science.unet import FieldUNet


@settings(max_examples=6)
@given(seed=st.integers(0, 1000), gaps=st.floats(0.05, 0.95), conditional=st.booleans(),
       dtype=st.sampled_from(["float32", "float64"]))
def test_observed_values_are_returned_exactly(gappy, seed, gaps, conditional, dtype):
    ds = make_field(n_time=2, n_lat=10, n_lon=16, gaps=gaps, seed=seed).astype(dtype)
    ds["SST"][0, 0, 0] = ds["AIRT"][0, 0, 0] = 1.5  # something observed per variable
    model = tiny_model(gappy, conditional=conditional)
    seen = []
    model.net.register_forward_pre_hook(
        lambda m, args, kwargs: seen.append(all(torch.isfinite(v).all() for v in
                                                (*args, *kwargs.values())
                                                if isinstance(v, torch.Tensor))),
        with_kwargs=True)
    out = impute(ds, model, n_samples=2, steps=1, seed=seed, domain="all", progress=False,
                 return_samples=True)
    assert seen and all(seen)  # NaN never reached the network
    for v in ("SST", "AIRT"):
        obs = np.isfinite(ds[v].values)
        assert out[v].dtype == ds[v].dtype
        np.testing.assert_array_equal(out[v].values[obs], ds[v].values[obs])
        np.testing.assert_array_equal(out[f"{v}_samples"].values[:, obs],
                                      np.broadcast_to(ds[v].values[obs], (2, obs.sum())))
        np.testing.assert_array_equal(out[f"{v}_quantiles"].values[:, obs],
                                      np.broadcast_to(ds[v].values[obs], (3, obs.sum())))
        assert (out[f"{v}_std"].values[obs] == 0).all()
        assert np.isfinite(out[v].values).all()  # every gap filled
        np.testing.assert_array_equal(out[f"{v}_imputed"].values, (~obs).astype(np.int8))


def test_output_keeps_coordinates_attributes_and_adds_provenance(gappy):
    ds = xr.open_dataset(gappy)
    ds.attrs["history"] = "made by a test"
    out = impute(ds, tiny_model(gappy), n_samples=3, steps=2, progress=False,
                 quantiles=(0.1, 0.9))
    for name in ("time", "lat", "lon"):
        np.testing.assert_array_equal(out[name].values, ds[name].values)
        assert out[name].attrs == ds[name].attrs
    assert out["time"].encoding.get("units") == ds["time"].encoding.get("units")
    assert out["SST"].attrs["units"] == "degC"
    assert out["SST"].attrs["long_name"] == "sea surface temperature"
    assert "SST_std" in out["SST"].attrs["ancillary_variables"]
    assert out["SST_quantiles"].dims == ("quantile", "time", "lat", "lon")
    np.testing.assert_allclose(out["quantile"].values, [0.1, 0.9])
    assert "SST_samples" not in out
    assert out.attrs["title"] == "synthetic test field"
    assert out.attrs["history"].startswith("made by a test\n")
    assert "gaps filled by polydiff" in out.attrs["history"]
    assert out.attrs["polydiff_n_samples"] == 3 and out.attrs["polydiff_guidance"] == "inpaint"
    gap = ~np.isfinite(ds["SST"].values)
    assert (out["SST_std"].values[gap] > 0).all()
    q = out["SST_quantiles"].values
    assert (q[0] <= q[1]).all()
    path = gappy.parent / "restored.nc"
    out.to_netcdf(path)  # a valid netCDF file
    with xr.open_dataset(path) as back:
        np.testing.assert_array_equal(back["SST"].values, out["SST"].values)


def test_grids_larger_than_the_window_are_tiled(gappy):
    ds = xr.open_dataset(gappy)
    out = impute(ds, tiny_model(gappy), n_samples=2, steps=1, progress=False)
    assert out.attrs["polydiff_windows"] > 3 * 4  # 10 x 16 by windows of 8 x 8, 3 steps
    assert out.attrs["polydiff_overlap"] == "[0, 2, 2]"


def test_time_windows_validity_and_guidance_variants(gappy):
    ds = xr.open_dataset(gappy)
    model = tiny_model(gappy, conditional=False, time_window=2, validity=True)
    for guidance, extra in (("repaint", {"resample": (1, 2)}), ("dps", {"dps_step": 0.5}),
                            ("inpaint", {})):
        out = impute(ds, model, n_samples=2, steps=2, guidance=guidance, progress=False,
                     **extra)
        obs = np.isfinite(ds["AIRT"].values)
        np.testing.assert_array_equal(out["AIRT"].values[obs], ds["AIRT"].values[obs])
        assert np.isfinite(out["AIRT"].values).all()


def test_land_stays_missing_with_the_auto_domain(gappy):
    ds = xr.open_dataset(gappy).load()
    ds["SST"][:, 2, 3] = np.nan  # never observed: land
    ds["AIRT"][:, 2, 3] = np.nan
    out = impute(ds, tiny_model(gappy), n_samples=2, steps=1, progress=False)
    assert np.isnan(out["SST"].values[:, 2, 3]).all()
    assert (out["SST_imputed"].values[:, 2, 3] == 0).all()
    full = impute(ds, tiny_model(gappy), n_samples=2, steps=1, progress=False, domain="all")
    assert np.isfinite(full["SST"].values[:, 2, 3]).all()


def test_bad_input_is_named(gappy, tmp_path):
    ds = xr.open_dataset(gappy)
    model = tiny_model(gappy)
    with pytest.raises(ValueError, match=r"data has no variable\(s\) \['AIRT'\]; present: "
                                         r"\['SST'\]"):
        impute(ds[["SST"]], model, progress=False)
    kelvin = ds.copy()
    kelvin["SST"].attrs["units"] = "K"
    with pytest.raises(ValueError, match=r"units differ from the model's: SST: 'K' \(trained "
                                         r"on 'degC'\)"):
        impute(kelvin, model, progress=False)
    empty = ds.copy(deep=True)
    empty["AIRT"][:] = np.nan
    with pytest.raises(ValueError, match=r"\['AIRT'\] hold no finite value \(all NaN\)"):
        impute(empty, model, progress=False)
    with pytest.raises(ValueError, match="the model fills windows of 2 time steps, but the data "
                                         "has 1"):
        impute(ds.isel(time=[0]), tiny_model(gappy, time_window=2), progress=False)
    with pytest.raises(ValueError, match="unknown guidance 'magic'"):
        impute(ds, model, guidance="magic", progress=False)
    with pytest.raises(ValueError, match=r"quantiles must lie in \(0, 1\)"):
        impute(ds, model, quantiles=(0.5, 1.0), progress=False)
    other = Model.from_info(model.denoiser, {**model.spec.to_info(), "modality": "image"},
                            conditional=True, source="img.ckpt")
    with pytest.raises(ValueError, match="img.ckpt is an image model, not a science model"):
        field_model(other)
    with pytest.raises(ValueError, match=".*absent.ckpt does not exist"):
        impute(ds, tmp_path / "absent.ckpt", progress=False)
    with pytest.raises(ValueError, match="data must be an xr.DataArray or xr.Dataset"):
        impute(ds["SST"].values, model, progress=False)


def test_calibration_widens_an_overconfident_ensemble_to_the_held_out_coverage(gappy):
    """A random network's ensemble is far too narrow for the truth; calibrated, its 90%
    intervals cover about 90% of the area of known values hidden like the gaps (the same
    mean)."""
    from polydiff import metrics
    from polydiff.modalities.science.imputation.calibration import held_out

    ds = make_field(n_time=4, n_lat=10, n_lon=16, gaps=0.3, seed=3)
    model = tiny_model(gappy, conditional=True)
    kw = dict(n_samples=6, steps=2, seed=0, domain="all", progress=False, return_samples=True)
    plain = impute(ds, model, **kw)
    cal = impute(ds, model, calibrate=True, **kw)
    factor = cal.attrs["polydiff_spread_factor"]
    assert plain.attrs["polydiff_spread_factor"] == "none (not calibrated)"
    assert factor > 1
    for v in ("SST", "AIRT"):
        np.testing.assert_allclose(cal[v].values, plain[v].values, rtol=1e-5, atol=1e-4)
        gaps = ~np.isfinite(ds[v].values)
        np.testing.assert_allclose(cal[f"{v}_std"].values[gaps],
                                   factor * plain[f"{v}_std"].values[gaps], rtol=1e-3)
    # the factor makes the held-out values covered: refill them as calibrate did and score
    raw = np.stack([ds[v].values for v in ("SST", "AIRT")])
    held = held_out(np.isfinite(raw), np.ones(raw.shape[2:], bool), seed=0)
    hidden = ds.copy(deep=True)
    for i, v in enumerate(("SST", "AIRT")):
        hidden[v].values[held[i]] = np.nan
    trial = impute(hidden, model, **kw)
    ens = torch.from_numpy(np.stack([trial[f"{v}_samples"].values for v in ("SST", "AIRT")],
                                    1).astype(np.float64))  # as calibrate scores it
    truth = torch.from_numpy(raw)
    where = torch.from_numpy(held)
    area = metrics.latitude_weight(torch.from_numpy(ds["lat"].values), ndim=4, lat_axis=2)
    before = metrics.interval_coverage(ens, truth, 0.9, where, weight=area).item()
    from polydiff.conformal import inflate
    from polydiff.modalities.science import calibrate

    exact = calibrate(ds, model, **{k: v for k, v in kw.items() if k != "return_samples"})
    assert round(exact.factor, 4) == factor  # the attribute is rounded to 4 decimals
    after = metrics.interval_coverage(inflate(ens, exact.factor), truth, 0.9, where,
                                      weight=area).item()
    assert before < 0.5 and 0.9 <= after < 0.95  # of the held-out values' area


def test_calibration_bad_input_is_named(gappy, cli_error, tmp_path):
    ds = xr.open_dataset(gappy)
    model = tiny_model(gappy)
    with pytest.raises(ValueError, match="calibrate=True needs n_samples >= 2"):
        impute(ds, model, n_samples=1, calibrate=True, progress=False)
    full = make_field(n_time=1, gaps=0.0)
    full["SST"].values[0, 0, 0] = np.nan  # a gap whose shifted copy ...
    full["SST"].values[0, 0, 4] = np.nan  # ... falls on another gap: nothing to hold out
    full["SST"].values[0, 0, 8] = np.nan
    full["SST"].values[0, 0, 12] = np.nan
    full["AIRT"].values[:] = full["SST"].values
    with pytest.raises(ValueError, match="calibrate=True needs known values where the gaps"):
        impute(full, tiny_model(gappy), n_samples=2, calibrate=True, domain="all", progress=False)


def test_posterior_mean_recentres_the_members(gappy):
    ds = make_field(n_time=2, n_lat=10, n_lon=16, gaps=0.3, seed=4)
    model = tiny_model(gappy, conditional=True)
    kw = dict(n_samples=3, steps=2, seed=1, domain="all", progress=False, return_samples=True)
    ens = impute(ds, model, mean="ensemble", **kw)
    post = impute(ds, model, mean="posterior", **kw)
    assert post.attrs["polydiff_mean"] == "posterior" and ens.attrs["polydiff_mean"] == "ensemble"
    auto = impute(ds, model, **kw)  # the default for a conditional model
    assert auto.attrs["polydiff_mean"] == "posterior"
    np.testing.assert_array_equal(auto["SST"].values, post["SST"].values)
    for v in ("SST", "AIRT"):
        obs = np.isfinite(ds[v].values)
        np.testing.assert_array_equal(post[v].values[obs], ds[v].values[obs])
        assert np.isfinite(post[v].values).all()
        assert not np.allclose(post[v].values[~obs], ens[v].values[~obs])  # another centre
        np.testing.assert_allclose(post[f"{v}_std"].values, ens[f"{v}_std"].values, rtol=1e-4,
                                   atol=1e-5)  # the same spread about it
        np.testing.assert_allclose(post[f"{v}_samples"].values.mean(0), post[v].values,
                                   rtol=1e-5, atol=1e-4)


def test_untrained_residual_model_posterior_mean_is_its_first_guess(gappy):
    """x0-prediction on the residual from the first guess: a fresh network adds nothing, so
    the posterior mean does not depend on the draws and equals every sampled member."""
    data = FieldData(str(gappy), patch=[8, 8], min_observed=0)
    net = FieldUNet(variables=2, conditional=True, residual=True,
                    base_channels=8, channel_mult=(1, 2), attention_heads=2)
    den = Denoiser(net, schedules.VPCosine(), "x0").eval()
    model = Model.from_info(den, data.data_info(), conditional=True, source="fresh")
    ds = make_field(n_time=2, n_lat=10, n_lon=16, gaps=0.3, seed=5)
    kw = dict(n_samples=2, steps=2, domain="all", progress=False)
    a = impute(ds, model, mean="posterior", seed=0, **kw)
    b = impute(ds, model, mean="posterior", seed=7, **kw)
    c = impute(ds, model, mean="ensemble", seed=0, **kw)
    for v in ("SST", "AIRT"):
        np.testing.assert_allclose(a[v].values, b[v].values, rtol=0, atol=1e-5)
        np.testing.assert_allclose(a[v].values, c[v].values, rtol=0, atol=1e-4)


def test_posterior_mean_bad_input_is_named(gappy):
    ds = xr.open_dataset(gappy)
    with pytest.raises(ValueError, match=r"mean must be one of \['ensemble', 'posterior', "
                                         r"'auto'\], got 'median'"):
        impute(ds, tiny_model(gappy), mean="median", progress=False)
    with pytest.raises(ValueError, match="mean='posterior' needs a conditional imputation model"):
        impute(ds, tiny_model(gappy, conditional=False), mean="posterior", progress=False)


def test_a_patch_larger_than_a_regional_grid_is_cut_to_it(tmp_path):
    """A model trained on 8 x 16 patches fills a 10 x 9 regional grid (not periodic) with
    8 x 10 windows (the grid rounded up to the network's multiple of 2), not with windows of
    16 longitudes that are mostly padding, and says so in the output."""
    ds = make_field(n_time=2, n_lat=10, n_lon=16, gaps=0.3, seed=2)
    path = tmp_path / "field.nc"
    ds.to_netcdf(path, engine="scipy")
    model = tiny_model(path, conditional=True, patch=(8, 16))
    regional = ds.isel(lon=slice(0, 9))  # 9 longitudes: a regional grid
    out = impute(regional, model, n_samples=2, steps=2, progress=False, domain="all")
    assert out.attrs["polydiff_window"] == "[1, 8, 10]"
    assert out.attrs["polydiff_window_cut"] == ("the model's 8 x 16 patch cut to 8 x 10 (the "
                                                "grid has 10 x 9 cells)")
    for v in ("SST", "AIRT"):
        seen = np.isfinite(regional[v].values)
        np.testing.assert_array_equal(out[v].values[seen], regional[v].values[seen])
        assert np.isfinite(out[v].values).all()
    full = impute(ds, model, n_samples=2, steps=2, progress=False)
    assert full.attrs["polydiff_window_cut"] == "no"
