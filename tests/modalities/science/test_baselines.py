"""The classical baselines and the first guess: observed values kept, smooth fields recovered,
kriging's predictive distribution calibrated on a field drawn from its own covariance."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polydiff.interpolate import linear_along
from polydiff.modalities.science import baselines
from polydiff.modalities.science.fill import first_guess, push_pull, relax

LAT = np.linspace(-60, 60, 13)
LON = np.arange(24) * 15.0


def _smooth(n_time: int = 6, seed: int = 0) -> np.ndarray:
    """A smooth field on the globe that moves in time: ``(T, 13, 24)``."""
    la, lo = np.deg2rad(LAT)[None, :, None], np.deg2rad(LON)[None, None, :]
    t = np.arange(n_time)[:, None, None]
    return 10 * np.cos(la) + 2 * np.sin(lo + 0.3 * t) * np.cos(2 * la) + 0.1 * seed


def _gappy(field: np.ndarray, frac: float, seed: int = 0) -> np.ndarray:
    out = field.copy()
    out[np.random.default_rng(seed).random(field.shape) < frac] = np.nan
    return out


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


def test_griddata_bridges_the_date_line():
    truth = _smooth(1)
    gappy = truth.copy()
    gappy[:, :, :2] = np.nan  # the columns at 0 and 15 degrees east
    filled = baselines.griddata(gappy, LAT, LON, "linear")
    assert np.abs(filled - truth)[:, :, :2].max() < 0.5


def test_kriging_intervals_cover_a_field_from_its_own_covariance():
    rng = np.random.default_rng(3)
    fit = baselines.KrigingFit(s2=1.0, length_km=2500.0, tau=2.0, n2=0.01)
    la, lo = np.meshgrid(LAT, LON, indexing="ij")
    from polydiff.modalities.science.baselines._common import unit_xyz
    from polydiff.modalities.science.baselines.kriging import _dist_km

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
    from polydiff.modalities.science.background import annual_phase

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


@settings(max_examples=10)
@given(seed=st.integers(0, 1000), frac=st.floats(0.0, 0.95), dims=st.integers(1, 3))
def test_first_guess_keeps_known_values_and_stays_within_their_range(seed, frac, dims):
    g = torch.Generator().manual_seed(seed)
    shape = (2, 2, *[5, 6, 7][:dims])
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    mask = torch.rand(shape, generator=g) >= frac
    mask.view(4, -1)[:, 0] = True  # one known value per sample and channel
    out = first_guess(torch.where(mask, x, 0.0), mask, periodic=dims == 2)
    assert torch.equal(out[mask], x[mask])
    for b in range(2):
        for c in range(2):
            known = x[b, c][mask[b, c]]
            assert known.min() - 1e-9 <= out[b, c].min() and out[b, c].max() <= known.max() + 1e-9


def test_relaxation_is_exact_for_linear_ramps_and_wraps_periodic_axes():
    ramp = torch.linspace(0, 1, 9, dtype=torch.float64)[None, None, :, None].expand(1, 1, 9, 4)
    mask = torch.zeros_like(ramp, dtype=torch.bool)
    mask[:, :, [0, -1]] = True
    out = relax(push_pull(ramp * mask, mask), ramp, mask, iterations=400)
    torch.testing.assert_close(out, ramp, atol=1e-4, rtol=0)
    ring = torch.zeros(1, 1, 1, 8, dtype=torch.float64)
    ring[..., 0] = 1.0
    known = torch.zeros_like(ring, dtype=torch.bool)
    known[..., 0] = True
    known[..., 4] = True
    wrapped = relax(ring, ring, known, iterations=200, periodic=(False, True))
    torch.testing.assert_close(wrapped[..., 7], wrapped[..., 1])  # symmetric about column 0


def _bending_reference(x: np.ndarray, known: np.ndarray, wrap: tuple[bool, bool]) -> np.ndarray:
    """The exact minimum of sum (L u)^2 over the unknown entries of a 2-D ``x`` (dense least
    squares with L built explicitly as a matrix), for checking the conjugate gradients."""
    from scipy.linalg import lstsq

    h, w = x.shape
    n = h * w
    lap = np.zeros((n, n))
    for i in range(h):
        for j in range(w):
            k = i * w + j
            for (di, dj), wr in (((1, 0), wrap[0]), ((-1, 0), wrap[0]), ((0, 1), wrap[1]),
                                 ((0, -1), wrap[1])):
                a, b = i + di, j + dj
                if wr:
                    a, b = a % h, b % w
                else:
                    a, b = min(max(a, 0), h - 1), min(max(b, 0), w - 1)
                lap[k, a * w + b] += 0.25
            lap[k, k] -= 1.0
    free = ~known.ravel()
    base = np.where(known, x, 0.0).ravel()
    sol, *_ = lstsq(lap[:, free], -lap @ base)
    out = base.copy()
    out[free] = sol
    return out.reshape(h, w)


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 1000), frac=st.floats(0.2, 0.7), periodic=st.booleans())
def test_biharmonic_reaches_the_exact_bending_minimum(seed, frac, periodic):
    from polydiff.modalities.science.fill import biharmonic

    g = np.random.default_rng(seed)
    x = g.standard_normal((2, 6, 8))
    known = g.random((2, 6, 8)) >= frac
    known[:, 0, 0] = known[:, -1, -1] = True
    t = torch.from_numpy(x)[None]
    m = torch.from_numpy(known)[None]
    start = first_guess(torch.where(m, t, 0.0), m, (False, periodic))
    out = biharmonic(start, t, m, iterations=200, periodic=(False, periodic))[0].numpy()
    for c in range(2):
        ref = _bending_reference(x[c], known[c], (False, periodic))
        np.testing.assert_allclose(out[c], ref, atol=1e-6)
    assert np.array_equal(out[known], x[known])


def test_biharmonic_is_closer_than_harmonic_for_a_smooth_field_and_commutes_with_rolls():
    """A smooth field with 60 % of its points hidden: the thin-plate guess is closer than
    Laplace's; on a periodic axis any roll commutes with it (each sample on its own)."""
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 16, dtype=torch.float64),
                            torch.arange(32, dtype=torch.float64) * (2 * np.pi / 32),
                            indexing="ij")
    field = (torch.sin(xx) * (1 + yy) + 0.5 * torch.cos(2 * xx + 3 * yy))[None, None]
    known = torch.rand(field.shape, generator=torch.Generator().manual_seed(0)) > 0.6
    values = torch.where(known, field, 0.0)
    err = {m: (first_guess(values, known, (False, True), method=m) - field)[~known].square()
           .mean().sqrt().item() for m in ("harmonic", "biharmonic")}
    assert err["biharmonic"] < 0.5 * err["harmonic"]
    batch = torch.cat([values, values.roll(5, -1)])
    mask = torch.cat([known, known.roll(5, -1)])
    out = first_guess(batch, mask, (False, True), levels=0, method="biharmonic")
    torch.testing.assert_close(out[1:], out[:1].roll(5, -1), atol=1e-6, rtol=0)


def test_temporal_guess_is_linear_in_time_and_harmonic_where_no_step_is_known():
    """A whole missing step between known ones: their distance-weighted blend; the last step
    missing: the one before held; a cell never known: the harmonic guess of its neighbours."""
    g = torch.Generator().manual_seed(3)
    x = torch.randn(1, 2, 5, 6, 8, generator=g, dtype=torch.float64)
    known = torch.ones_like(x, dtype=torch.bool)
    known[:, :, 1:3] = False  # steps 1 and 2 between steps 0 and 3
    known[:, :, 4] = False  # the last step
    known[:, :, :, 2, 3] = False  # one cell never known (land)
    out = first_guess(torch.where(known, x, 0.0), known, (False, False, True),
                      method="temporal")
    assert torch.equal(out[known], x[known])
    sea = torch.ones(6, 8, dtype=torch.bool)
    sea[2, 3] = False
    first, last = x[:, :, 0], x[:, :, 3]
    torch.testing.assert_close(out[:, :, 1][..., sea], ((2 * first + last) / 3)[..., sea])
    torch.testing.assert_close(out[:, :, 2][..., sea], ((first + 2 * last) / 3)[..., sea])
    torch.testing.assert_close(out[:, :, 4][..., sea], last[..., sea])
    harmonic = first_guess(torch.where(known, x, 0.0), known, (False, False, True))
    torch.testing.assert_close(out[..., 2, 3], harmonic[..., 2, 3])
    # no cell without a known step: linear in time everywhere
    known[:, :, 0, 2, 3] = True
    out = first_guess(torch.where(known, x, 0.0), known, (False, False, True),
                      method="temporal")
    torch.testing.assert_close(out, linear_along(torch.where(known, x, 0.0), known, dim=2))


def test_first_guess_bad_method_is_named():
    with pytest.raises(ValueError, match=r"method must be one of \['harmonic', 'biharmonic', "
                                         r"'temporal'\], got 'spline'"):
        first_guess(torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4), method="spline")
    with pytest.raises(ValueError, match=r"'temporal' needs a time axis: values \(B, C, time, "
                                         r"lat, lon\), got shape \(1, 1, 4, 4\)"):
        first_guess(torch.zeros(1, 1, 4, 4), torch.ones(1, 1, 4, 4), method="temporal")
