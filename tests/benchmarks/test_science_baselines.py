"""The classical baselines of the science benchmarks (``benchmarks/science_baselines``):
observed values kept, smooth fields recovered, kriging's predictive distribution calibrated
on a field drawn from its own covariance."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT / "tests" / "modalities" / "science"))
import science_baselines as baselines  # noqa: E402  (benchmark code, on its own path)
from test_reference import LAT, LON, _gappy, _smooth  # noqa: E402  (the same smooth fields)

from polydiff.interpolate import first_guess  # noqa: E402


@pytest.mark.parametrize("method", ["griddata_linear", "griddata_cubic", "rbf",
                                    "temporal_linear", "temporal_oi", "dineof", "kriging",
                                    "local_oi"])
def test_every_baseline_keeps_observed_values_and_fills_smooth_fields(method):
    truth = _smooth()
    gappy = _gappy(truth, 0.4)
    if method.startswith("griddata"):
        filled = baselines.griddata(gappy, LAT, LON, method.split("_")[1])
    elif method == "dineof":
        filled, rank = baselines.dineof(gappy, LAT, LON)
        assert 1 <= rank <= 5
    elif method == "kriging":
        fit = baselines.KrigingFit(s2=4.0, length_km=3000.0, tau=3.0, n2=0.01)
        filled, std, _ = baselines.kriging(gappy, LAT, LON, fit=fit)
        assert (std[np.isfinite(gappy)] == 0).all() and (std[np.isnan(gappy)] > 0).all()
    elif method == "local_oi":  # (variables, time, lat, lon): one variable here
        filled = baselines.local_oi(gappy[None], LAT, LON, radius=1)[0]
    else:
        filled = getattr(baselines, method)(gappy, LAT, LON)
    obs = np.isfinite(gappy)
    np.testing.assert_array_equal(filled[obs], gappy[obs])
    assert np.isfinite(filled).all()
    err = np.sqrt(np.mean((filled - truth)[~obs] ** 2))
    mean_only = np.sqrt(np.mean((np.nanmean(gappy) - truth)[~obs] ** 2))
    assert err < 0.3 * mean_only, (method, err, mean_only)


def test_kriging_intervals_cover_a_field_from_its_own_covariance():
    rng = np.random.default_rng(3)
    fit = baselines.KrigingFit(s2=1.0, length_km=2500.0, tau=2.0, n2=0.01)
    la, lo = np.meshgrid(LAT, LON, indexing="ij")
    from science_baselines._common import unit_xyz
    from science_baselines.kriging import _dist_km

    xyz = unit_xyz(la, lo).reshape(-1, 3)
    t = np.repeat(np.arange(3.0), xyz.shape[0])
    p = np.tile(xyz, (3, 1))
    cov = fit.cov(_dist_km(p, p), t[:, None] - t[None, :]) + fit.n2 * np.eye(t.size)
    chol = np.linalg.cholesky(cov)
    z = []
    for draw in range(3):
        field = (chol @ rng.standard_normal(t.size)).reshape(3, 13, 24)
        gappy = _gappy(field, 0.5, seed=draw)
        mean, std, _ = baselines.kriging(gappy, LAT, LON, fit=fit, max_points=200,
                                         background="global")
        hidden = np.isnan(gappy)
        z.append(np.abs(mean - field)[hidden] / std[hidden])
    assert 0.85 < np.mean(np.concatenate(z) <= 1.645) < 0.95  # the 90 % interval
    # and maximum likelihood finds the covariance back from the gappy field
    found = baselines.fit_covariance(gappy - np.nanmean(gappy), unit_xyz(la, lo),
                                     n_points=200, n_sets=1)
    assert 0.4 < found.length_km / fit.length_km < 2.5 and 0.3 < found.tau / fit.tau < 3
    assert 0.4 < found.s2 / fit.s2 < 2.5


def test_baselines_refuse_bad_shapes_and_all_nan():
    with pytest.raises(ValueError, match=r"values must be \(time, lat, lon\)"):
        baselines.griddata(np.zeros((2, 13)), LAT, LON)
    with pytest.raises(ValueError, match="all NaN"):
        baselines.temporal_linear(np.full((2, 13, 24), np.nan), LAT, LON)
    with pytest.raises(ValueError, match="'linear' or 'cubic'"):
        baselines.griddata(_smooth(1), LAT, LON, "quintic")
    with pytest.raises(ValueError, match=r"values must be \(variable, time, lat, lon\)"):
        baselines.local_oi(_smooth(2), LAT, LON)
    with pytest.raises(ValueError, match="some variable holds no finite value"):
        baselines.local_oi(np.stack([_smooth(2), np.full((2, 13, 24), np.nan)]), LAT, LON)


def test_temporal_oi_with_the_seasonal_cycle_beats_linear_interpolation_for_lost_months():
    """A field with an annual cycle and AR(1) anomalies (phi 0.5), whole months lost: the
    seasonal background and the anomalies' lag correlation beat interpolating the values."""
    from polydiff.modalities.science.statistics.background import annual_phase

    g = np.random.default_rng(0)
    t = 60
    dates = np.array([np.datetime64("1990-01-15", "D") + np.timedelta64(int(30.44 * i), "D")
                      for i in range(t)], dtype="datetime64[ns]")
    years = annual_phase(dates)
    la = np.deg2rad(LAT)[None, :, None]
    cycle = 6 * np.cos(2 * np.pi * years)[:, None, None] * np.cos(la)
    anom = np.zeros((t, 13, 24))
    for i in range(1, t):
        anom[i] = 0.5 * anom[i - 1] + g.standard_normal((13, 24))
    truth = 10 * np.cos(la) + cycle + anom
    lost = g.random(t) < 0.25
    gappy = np.where(lost[:, None, None], np.nan, truth)
    oi = baselines.temporal_oi(gappy, LAT, LON, years)
    linear = baselines.temporal_linear(gappy, LAT, LON)
    np.testing.assert_array_equal(oi[~lost], truth[~lost])

    def rmse(x):
        return np.sqrt(np.mean((x - truth)[lost] ** 2))

    assert rmse(oi) < 0.8 * rmse(linear), (rmse(oi), rmse(linear))
    assert rmse(oi) < rmse(baselines.temporal_oi(gappy, LAT, LON))  # the time mean only


def test_local_oi_beats_the_thin_plate_spline_on_a_field_with_its_own_structure():
    """Cells whose anomalies move with their neighbours in a fixed, place-dependent way (the
    covariance a stationary kernel cannot know): OI with the field's own covariance fills
    them better than the biharmonic guess alone."""
    rng = np.random.default_rng(0)
    t = 60
    la = np.deg2rad(LAT)[None, :, None]
    modes = [np.cos(k * np.deg2rad(LON))[None, None, :] * np.cos(la) ** k for k in (1, 5, 9)]
    amp = rng.normal(size=(3, t, 1, 1))
    truth = sum(a * m for a, m in zip(amp, modes, strict=True))[None]  # (1, T, 13, 24)
    gappy = truth.copy()
    gappy[:, rng.random(truth.shape[1:]) < 0.5] = np.nan
    months = np.arange(4)
    oi = baselines.local_oi(gappy, LAT, LON, months, radius=2)
    bg = np.nanmean(gappy, axis=1, keepdims=True)
    a = torch.from_numpy(np.nan_to_num(gappy[0, months] - bg[0]))[:, None].float()
    known = torch.from_numpy(np.isfinite(gappy[0, months]))[:, None]
    spline = first_guess(a, known, (False, True), method="biharmonic")[:, 0].numpy() + bg[0]
    hid = ~np.isfinite(gappy[0, months])
    err_oi = np.sqrt(np.mean((oi[0] - truth[0, months])[hid] ** 2))
    err_spline = np.sqrt(np.mean((spline - truth[0, months])[hid] ** 2))
    assert err_oi < 0.7 * err_spline, (err_oi, err_spline)
    np.testing.assert_array_equal(oi[0][~hid], gappy[0, months][~hid])
