"""Spread calibration: which known values are held out (shaped like the gaps, whole pieces,
within a budget), their covering ranges and factor, pooling, and ``calibrate`` /
``impute(spread_factor=...)`` against ``impute(calibrate=True)``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_field, tiny_model
from hypothesis import given, settings
from hypothesis import strategies as st

from polydiff import conformal
from polydiff.modalities.science import Calibration, calibrate, impute
from polydiff.modalities.science.imputation.calibration import held_out


@settings(max_examples=10, deadline=None)
@given(t=st.integers(1, 4), seed=st.integers(0, 999))
def test_held_out_values_are_known_and_shaped_like_the_gaps(t, seed):
    """With share=None: exactly the known values where the next time step (or the map moved
    by a quarter of the longitudes) has its gaps, when random gaps make every lag alike."""
    g = np.random.default_rng(seed)
    observed = g.random((2, t, 5, 8)) > 0.4
    inside = g.random((5, 8)) > 0.2
    held = held_out(observed, inside, share=None)
    assert not (held & ~observed).any() and not (held & ~inside[None, None]).any()
    missing = ~observed & inside[None, None]
    moved = np.roll(missing, -1, axis=1) if t > 1 else np.roll(missing, 2, axis=3)
    if t <= 2:  # one candidate lag; with more, another may match the neighbours better
        np.testing.assert_array_equal(held, moved & observed & inside[None, None])
    else:
        lags = [np.roll(missing, -k, axis=1) & observed & inside[None, None]
                for k in range(1, t)]
        assert any((held == m).all() for m in lags)


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 999), share=st.floats(0.02, 0.5))
def test_held_out_share_keeps_whole_pieces_within_the_budget(seed, share):
    """Thinned: a subset of the pattern made of whole pieces (connected within a map, all
    variables together), holding at most ``share`` of the known values (at least one piece);
    the same seed gives the same subset."""
    from scipy import ndimage

    from polydiff.masks import cloud_mask
    g = np.random.default_rng(seed)
    hidden = ~cloud_mask((3, 12, 16), 0.4, g, scale=1.5).numpy()
    observed = np.repeat(~hidden[None], 2, axis=0)
    inside = np.ones((12, 16), bool)
    full = held_out(observed, inside, share=None)
    part = held_out(observed, inside, share=share, seed=seed)
    np.testing.assert_array_equal(part, held_out(observed, inside, share=share, seed=seed))
    assert part.any() and not (part & ~full).any()
    assert (part[0] == part[1]).all()  # the same entries in both variables
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = ndimage.generate_binary_structure(2, 1)
    labels, _ = ndimage.label(full[0], structure=structure)
    for k in np.unique(labels[part[0]]):  # a chosen piece is taken whole
        assert part[0][labels == k].all()
    assert part.sum() <= share * observed.sum() or len(np.unique(labels[part[0]])) == 1


def test_held_out_avoids_the_steps_next_to_a_missing_month():
    """Whole missing months: the held-out months are not next to a missing one (lag 1 would
    hide the month before each gap, a harder task than the real one)."""
    observed = np.ones((1, 40, 4, 6), bool)
    gone = [5, 13, 22, 30]
    observed[:, gone] = False
    held = held_out(observed, np.ones((4, 6), bool), share=None)
    months = np.flatnonzero(held[0].any((1, 2)))
    assert len(months) == len(gone)
    assert not set(months) & {m + d for m in gone for d in (-1, 1)}


def test_held_out_bad_share_is_named():
    observed = np.random.default_rng(0).random((1, 3, 4, 6)) > 0.5
    with pytest.raises(ValueError, match=r"share must lie in \(0, 1\], got 1.5"):
        held_out(observed, np.ones((4, 6), bool), share=1.5)


@settings(max_examples=20, deadline=None)
@given(sizes=st.lists(st.integers(1, 30), min_size=1, max_size=4), m=st.integers(2, 6),
       level=st.sampled_from([0.5, 0.8, 0.9]), seed=st.integers(0, 9999))
def test_pooled_factor_is_the_factor_of_all_entries_together(sizes, m, level, seed):
    """Pooling calibrations of several ensembles gives the factor that ``spread_factor``
    finds on all their held-out entries at once; one part alone gives its own."""
    g = np.random.default_rng(seed)
    parts, ensembles, truths = [], [], []
    for n in sizes:
        truth = g.normal(size=n)
        ens = truth + g.normal(size=n) + 0.3 * g.normal(size=(m, n))
        where = g.random(n) < 0.8
        where[0] = True
        parts.append(Calibration.score(ens, truth, where, level))
        ensembles.append(ens[:, where])
        truths.append(truth[where])
    pooled = Calibration.pool(parts)
    assert pooled.entries == sum(len(t) for t in truths) and pooled.level == level
    together = conformal.spread_factor(torch.from_numpy(np.concatenate(ensembles, 1)),
                                       torch.from_numpy(np.concatenate(truths)), level=level)
    assert pooled.factor == pytest.approx(together, rel=1e-12)
    first = conformal.spread_factor(torch.from_numpy(ensembles[0]),
                                    torch.from_numpy(truths[0]), level=level)
    assert parts[0].factor == pytest.approx(first, rel=1e-12)


def test_calibration_score_ignores_nan_truth_outside_the_held_out_entries():
    ens = np.array([[0.0, -1.0], [2.0, 1.0]])
    truth = np.array([np.nan, 0.5])
    cal = Calibration.score(ens, truth, np.array([False, True]), level=0.5)
    assert cal.entries == 1 and np.isfinite(cal.k_lo).all()


def test_weighted_calibration_pools_its_weights_and_counts_area():
    """Weighted entries count by their weight (here the light one is left out), and pool
    with it."""
    ens = np.array([[0.0, 0.0, 0.0], [2.0, 2.0, 2.0]])  # mean 1, 50 % interval [0.5, 1.5]
    truth = np.array([1.0, 2.0, 4.0])  # covered from k = 0, 2, 6
    one = Calibration.score(ens, truth, np.ones(3, bool), 0.5, weight=np.array([1.0, 0.2, 1.0]))
    assert one.weight.tolist() == [1.0, 0.2, 1.0]
    # needs 2/3 of the weight 2.2: k = 2 holds 1.2 of it, k = 6 all (unweighted: k = 2)
    assert one.factor == pytest.approx(6.0, rel=1e-5)
    plain = Calibration.score(ens, truth, np.ones(3, bool), 0.5)
    assert plain.weight is None and plain.factor == pytest.approx(2.0, rel=1e-5)
    both = Calibration.pool([one, one])
    assert both.entries == 6 and both.weight.tolist() == [1.0, 0.2, 1.0] * 2
    assert both.factor == pytest.approx(6.0, rel=1e-5)
    with pytest.raises(ValueError, match="some parts are weighted and some are not"):
        Calibration.pool([one, Calibration.score(ens, truth, np.ones(3, bool), 0.5)])


def test_impute_calibrates_by_cell_area(gappy):
    """``calibrate`` weighs each held-out value by cos(latitude) of its cell."""
    ds = make_field(n_time=3, n_lat=10, n_lon=16, gaps=0.3, seed=2)
    cal = calibrate(ds, tiny_model(gappy), n_samples=2, steps=1, progress=False, domain="all")
    raw = np.stack([ds[v].values for v in ("SST", "AIRT")])
    held = held_out(np.isfinite(raw), np.ones(raw.shape[2:], bool), seed=0)
    area = np.broadcast_to(np.cos(np.deg2rad(ds["lat"].values))[:, None], raw.shape)
    np.testing.assert_allclose(cal.weight, area[held])


def test_pool_bad_input_is_named():
    one = Calibration(np.zeros(2), np.ones(2), 0.9)
    with pytest.raises(ValueError, match=r"Calibration.pool needs one or more Calibration "
                                         r"objects, got \[\]"):
        Calibration.pool([])
    with pytest.raises(ValueError, match=r"got \['Calibration', 'float'\]"):
        Calibration.pool([one, 1.5])
    with pytest.raises(ValueError, match=r"scored at the levels \[0.8, 0.9\]; pool "
                                         r"calibrations of one level"):
        Calibration.pool([one, Calibration(np.zeros(1), np.ones(1), 0.8)])


def test_calibrate_then_spread_factor_is_impute_calibrated(gappy):
    """``calibrate`` gives the factor ``impute(calibrate=True)`` applies; passing it back as
    ``spread_factor`` widens the same ensemble the same way."""
    ds = make_field(n_time=4, n_lat=10, n_lon=16, gaps=0.3, seed=5)
    model = tiny_model(gappy, conditional=True)
    kw = dict(n_samples=4, steps=2, seed=1, domain="all", progress=False)
    cal = calibrate(ds, model, **kw)
    auto = impute(ds, model, calibrate=True, **kw)
    assert cal.entries > 0 and round(cal.factor, 4) == auto.attrs["polydiff_spread_factor"]
    given_ = impute(ds, model, spread_factor=cal.factor, **kw)
    assert auto.attrs["polydiff_calibration"].startswith("known values of this data held out")
    assert given_.attrs["polydiff_calibration"] == "spread_factor given"
    for v in ("SST", "AIRT"):
        np.testing.assert_allclose(given_[f"{v}_std"].values, auto[f"{v}_std"].values,
                                   rtol=1e-6, atol=1e-7)
    plain = impute(ds, model, **kw)
    assert plain.attrs["polydiff_calibration"] == "none"
    # two halves of the record calibrated apart, pooled: between their own factors
    halves = [calibrate(ds.isel(time=slice(0, 2)), model, **kw),
              calibrate(ds.isel(time=slice(2, 4)), model, **kw)]
    pooled = Calibration.pool(halves).factor
    assert min(h.factor for h in halves) <= pooled <= max(h.factor for h in halves)


def test_spread_factor_bad_input_is_named(gappy):
    ds = make_field(n_time=2, n_lat=10, n_lon=16, gaps=0.3, seed=5)
    model = tiny_model(gappy)
    with pytest.raises(ValueError, match=r"give calibrate=True or spread_factor, not both "
                                         r"\(got spread_factor=1.5\)"):
        impute(ds, model, n_samples=2, calibrate=True, spread_factor=1.5, progress=False)
    for k, n in ((-1.0, 2), (float("inf"), 2), (1.5, 1)):
        with pytest.raises(ValueError, match=rf"spread_factor must be finite and >= 0 and "
                                             rf"needs n_samples >= 2, got spread_factor={k}, "
                                             rf"n_samples={n}"):
            impute(ds, model, n_samples=n, spread_factor=k, progress=False)
    with pytest.raises(ValueError, match=r"calibrate=True needs n_samples >= 2 and "
                                         r"calibrate_level in \(0, 1\), got n_samples=2, "
                                         r"calibrate_level=1.5"):
        calibrate(ds, model, n_samples=2, level=1.5, progress=False)
