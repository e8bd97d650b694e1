"""Local optimal interpolation: the covariance table and the conditional mean it gives."""

import numpy as np
import pytest
import torch
from conftest import make_field
from hypothesis import given, settings
from hypothesis import strategies as st

from polydiff.modalities.science.guesses import local_oi
from polydiff.modalities.science.statistics.covariance import (
    decode_table,
    encode_table,
    field_covariance,
    local_covariance,
    offsets,
)


def _brute_table(a: np.ndarray, radius: int, periodic: bool) -> np.ndarray:
    c, t, y, x = a.shape
    big = 2 * radius
    d = 2 * big + 1
    out = np.zeros((c, c, d, d, y, x))
    for i in range(y):
        for j in range(x):
            for dy in range(-big, big + 1):
                for dx in range(-big, big + 1):
                    ii, jj = i + dy, j + dx
                    if not 0 <= ii < y:
                        continue
                    if periodic:
                        jj %= x
                    elif not 0 <= jj < x:
                        continue
                    out[:, :, dy + big, dx + big, i, j] = np.einsum(
                        "at,bt->ab", a[:, :, i, j], a[:, :, ii, jj]) / t
    return out


@pytest.mark.parametrize("periodic", [False, True])
def test_local_covariance_is_the_mean_of_lagged_products(periodic):
    a = np.random.default_rng(0).normal(size=(2, 7, 5, 6))
    got = local_covariance(a, 1, periodic, block=3)
    np.testing.assert_allclose(got, _brute_table(a, 1, periodic), rtol=1e-5, atol=1e-6)


def test_local_covariance_refuses_gaps_and_bad_radius():
    a = np.zeros((1, 3, 4, 4))
    a[0, 1, 2, 2] = np.nan
    with pytest.raises(ValueError, match="complete"):
        local_covariance(a, 1, False)
    with pytest.raises(ValueError, match="radius must be an integer >= 1"):
        local_covariance(np.zeros((1, 3, 4, 4)), 0, False)


def _gaussian(y: int, x: int, c: int, seed: int) -> np.ndarray:
    """A positive definite covariance over the (c, y, x) cells, smooth in space."""
    rng = np.random.default_rng(seed)
    f = rng.normal(size=(40, c, y, x))
    f = f + np.roll(f, 1, axis=-1) + np.roll(f, 1, axis=-2)  # correlate neighbours
    f[:, 1 % c] += 0.5 * f[:, 0]  # and the variables
    flat = f.reshape(40, -1)
    return flat.T @ flat / 40 + 0.1 * np.eye(flat.shape[1])


def _table_of(sigma: np.ndarray, c: int, y: int, x: int, radius: int) -> np.ndarray:
    big = 2 * radius
    d = 2 * big + 1
    s = sigma.reshape(c, y, x, c, y, x)
    out = np.zeros((c, c, d, d, y, x))
    for i in range(y):
        for j in range(x):
            for dy in range(-big, big + 1):
                for dx in range(-big, big + 1):
                    if 0 <= i + dy < y and 0 <= j + dx < x:
                        out[:, :, dy + big, dx + big, i, j] = s[:, i, j, :, i + dy, j + dx]
    return out


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), share=st.floats(0.2, 0.8))
def test_local_oi_is_the_gaussian_conditional_mean_given_the_neighbourhood(seed, share):
    c, y, x, r = 2, 5, 6, 1
    sigma = _gaussian(y, x, c, seed)
    table = torch.from_numpy(_table_of(sigma, c, y, x, r)).float()
    rng = np.random.default_rng(seed)
    values = rng.normal(size=(1, c, y, x)).astype(np.float32)
    known = rng.random((1, 1, y, x)) > share
    known = np.broadcast_to(known, values.shape).copy()
    zero = torch.zeros(1, dtype=torch.long)
    got = local_oi(torch.from_numpy(values).float(), torch.from_numpy(known), table, zero, zero,
                   r, False, ridge=0.0, nearest=None).numpy()
    flat_v = values.reshape(-1).astype(np.float64)
    idx = np.arange(c * y * x).reshape(c, y, x)
    for i in range(y):
        for j in range(x):
            if known[0, 0, i, j]:
                np.testing.assert_array_equal(got[0, :, i, j], values[0, :, i, j])
                continue
            near = [idx[v, a, b] for a in range(max(0, i - r), min(y, i + r + 1))
                    for b in range(max(0, j - r), min(x, j + r + 1)) for v in range(c)
                    if known[0, v, a, b]]
            if not near:
                assert np.all(got[0, :, i, j] == 0)
                continue
            s_nn = sigma[np.ix_(near, near)]
            for v in range(c):
                want = sigma[idx[v, i, j], near] @ np.linalg.solve(s_nn, flat_v[near])
                np.testing.assert_allclose(got[0, v, i, j], want, rtol=2e-3, atol=2e-3)


def test_a_patch_gets_what_the_whole_grid_gets_where_its_neighbourhood_is_inside():
    c, y, x, r = 2, 8, 10, 1
    a = np.random.default_rng(1).normal(size=(c, 30, y, x)).cumsum(axis=-1)
    table = torch.from_numpy(local_covariance(a, r, periodic=True))
    values = torch.from_numpy(a[:, :1].transpose(1, 0, 2, 3).copy()).float()
    known = torch.rand(values.shape[0], 1, y, x, generator=torch.Generator().manual_seed(0)) > 0.5
    known = known.expand_as(values)
    zero = torch.zeros(1, dtype=torch.long)
    whole = local_oi(values, known, table, zero, zero, r, True)
    y0, x0, h, w = 2, 7, 5, 6  # a patch crossing the date line
    cols = (np.arange(x0, x0 + w) % x)
    patch = values[:, :, y0:y0 + h][..., cols]
    pk = known[:, :, y0:y0 + h][..., cols]
    got = local_oi(patch, pk, table, torch.tensor([y0]), torch.tensor([x0]), r, True)
    inner = got[:, :, r:h - r, r:w - r]
    want = whole[:, :, y0 + r:y0 + h - r][..., cols[r:w - r]]
    torch.testing.assert_close(inner, want, rtol=1e-4, atol=1e-5)


def test_fallback_where_nothing_is_known_nearby_and_padding_rows_are_never_known():
    c, y, x, r = 1, 6, 6, 1
    a = np.random.default_rng(2).normal(size=(c, 20, y, x))
    table = torch.from_numpy(local_covariance(a, r, periodic=False))
    values = torch.ones(1, c, 8, x)  # two padding rows below the grid
    known = torch.zeros(1, c, 8, x, dtype=torch.bool)
    known[0, 0, 0, 0] = True
    known[0, 0, 7, 3] = True  # "known" in a padding row: no covariance there
    fallback = torch.full_like(values, -5.0)
    got = local_oi(values, known, table, torch.tensor([0]), torch.tensor([0]), r, False,
                   fallback=fallback)
    assert got[0, 0, 0, 0] == 1.0 and got[0, 0, 7, 3] == 1.0
    assert got[0, 0, 1, 1] != -5.0  # next to the known corner
    assert got[0, 0, 3, 3] == -5.0 and got[0, 0, 6, 3] == -5.0  # nothing within reach


def test_field_covariance_fills_the_maps_first_and_skips_empty_ones():
    rng = np.random.default_rng(3)
    full = rng.normal(size=(1, 6, 6, 8))
    gappy = full.copy()
    gappy[:, 2] = np.nan  # a lost map counts for nothing
    bg = np.zeros((1, 6, 8), np.float32)
    got = field_covariance(gappy, bg, 1, True)
    want = local_covariance(np.delete(full, 2, axis=1), 1, True)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_encoded_table_round_trips_in_float16():
    table = np.random.default_rng(4).normal(size=(2, 2, 5, 5, 3, 4)).astype(np.float32)
    entry = encode_table(1, table, np.array([-10.0, -5.0, 0.0]), np.arange(4) * 90.0, True)
    assert entry["dlat"] == 5.0 and entry["dlon"] == 90.0 and entry["periodic"]
    np.testing.assert_allclose(decode_table(entry), table, rtol=1e-3, atol=1e-3)
    assert len(offsets(2)[0]) == 25


# -- the grid model's first guess -------------------------------------------------------------
def _trainer(root, steps: int):
    import lightning.pytorch as pl

    return pl.Trainer(accelerator="cpu", max_steps=steps, logger=False, limit_val_batches=0,
                      enable_progress_bar=False, enable_model_summary=False,
                      enable_checkpointing=False, default_root_dir=root)


def _covariance_model(path, patch=None):
    """An untrained residual x0 model: it predicts its first guess (the field's OI)."""
    from polydiff import Denoiser, schedules
    from polydiff.inference import Model
    from polydiff.modalities.science.data import FieldData
    from polydiff.modalities.science.unet import FieldUNet

    data = FieldData(str(path), patch=patch, min_observed=0, background=True, covariance=1)
    net = FieldUNet(variables=2, conditional=True, residual=True,
                    fill_method="covariance", base_channels=8, channel_mult=(1, 2),
                    attention_heads=2)
    info = data.data_info()
    net.fit_statistics(data.statistics())
    net.use_data_info(info)
    den = Denoiser(net, schedules.VPCosine(), "x0").eval()
    return Model.from_info(den, info, conditional=True, source="fresh"), data


def test_impute_with_a_covariance_model_gives_the_fields_oi(tmp_path):
    from polydiff.interpolate import first_guess
    from polydiff.modalities.science import impute

    path = tmp_path / "train.nc"
    make_field(n_time=6, n_lat=12, n_lon=16, gaps=0.3).to_netcdf(path, engine="scipy")
    model, data = _covariance_model(path)
    assert data.covariance_table.shape == (2, 2, 5, 5, 12, 16)
    ds = make_field(n_time=2, n_lat=12, n_lon=16, gaps=0.4, seed=3)
    out = impute(ds, model, n_samples=2, steps=2, domain="all", progress=False)
    bg = data.background_values[:, None]
    a = (np.stack([ds[v].values for v in ("SST", "AIRT")]) - bg).transpose(1, 0, 2, 3)
    known = torch.from_numpy(np.isfinite(a))
    x = torch.from_numpy(np.nan_to_num(a).copy())
    guess = first_guess(x, known, (False, True), levels=1, method="biharmonic")
    zero = torch.zeros(2, dtype=torch.long)
    stored = data.statistics()["covariance_table"].astype(np.float16)  # as stored
    table = torch.from_numpy(stored.astype(np.float32))
    want = local_oi(x, known, table, zero, zero, 1, True, fallback=guess).numpy()
    want = want.transpose(1, 0, 2, 3) + bg
    for c, v in enumerate(("SST", "AIRT")):
        obs = np.isfinite(ds[v].values)
        np.testing.assert_array_equal(out[v].values[obs], ds[v].values[obs])
        np.testing.assert_allclose(out[v].values[~obs], want[c][~obs], rtol=0, atol=2e-3)


def test_the_table_is_a_fitted_buffer_and_old_descriptions_still_load(tmp_path):
    """The description no longer carries the table (base64 JSON); a description written
    before, which does, fills the same buffers."""
    from polydiff.modalities.science.data import FieldData
    from polydiff.modalities.science.unet import FieldUNet

    path = tmp_path / "train.nc"
    make_field(n_time=6, n_lat=12, n_lon=16, gaps=0.3).to_netcdf(path, engine="scipy")
    data = FieldData(str(path), min_observed=0, background=True, covariance=1)
    info, stats = data.data_info(), data.statistics()
    assert "covariance" not in info["meta"] and "lag_correlation" not in info["meta"]
    f = data.field
    old = {**info, "meta": {**info["meta"], "covariance": encode_table(
        1, stats["covariance_table"], f.lat, f.lon, f.periodic)}}
    kw = dict(variables=2, conditional=True, fill_method="covariance", base_channels=8,
              channel_mult=(1, 2), attention_heads=2)
    new, migrated = FieldUNet(**kw), FieldUNet(**kw)
    new.fit_statistics(stats)
    new.use_data_info(info)
    migrated.use_data_info(old)
    assert torch.equal(new.oi_table, migrated.oi_table)
    assert torch.equal(new.oi_grid, migrated.oi_grid)
    assert set(new.state_dict()) >= {"oi_table", "oi_grid"}
    with pytest.raises(ValueError, match="recorded covariance table is of 2 variable"):
        FieldUNet(**{**kw, "variables": 3}).fit_statistics(stats)


def test_patches_find_their_place_on_the_grid_from_their_corners(tmp_path):
    """The guess of a patch (placed by its ``vector``) is the whole grid's OI wherever the
    patch holds the cell's whole neighbourhood, also across the date line."""
    path = tmp_path / "train.nc"
    make_field(n_time=6, n_lat=12, n_lon=16, gaps=0.3).to_netcdf(path, engine="scipy")
    model, data = _covariance_model(path, patch=[8, 8])
    net = model.net
    oi = net._oi_state()
    g = torch.Generator().manual_seed(5)
    whole = torch.randn(1, 2, 12, 16, generator=g)
    known = (torch.rand(1, 1, 12, 16, generator=g) > 0.5).expand(1, 2, 12, 16)
    z = torch.where(known, whole, 0.0)
    zero = torch.zeros(1, dtype=torch.long)
    shift, scale = oi["shift"].view(1, 2, 1, 1), oi["scale"].view(1, 2, 1, 1)
    ref = local_oi(z * scale + shift, known, oi["table"], zero, zero, 1, True)
    ref = (ref - shift) / scale
    seen = 0
    for item in (data.train_set[i] for i in range(len(data.train_set))):
        lat0, lon0 = float(item["vector"][0]), float(item["vector"][2])
        y0 = int(round((lat0 - data.field.lat[0]) / (data.field.lat[1] - data.field.lat[0])))
        x0 = int(round((lon0 - data.field.lon[0]) / 22.5)) % 16
        rows, cols = np.arange(y0, y0 + 8), np.arange(x0, x0 + 8) % 16
        if rows[-1] >= 12:
            continue
        pz, pk = z[:, :, rows][..., cols], known[:, :, rows][..., cols]
        cond = torch.cat([pz, pk.float()], dim=1)
        guess = net._first_guess(cond, item["vector"][None])
        want = ref[:, :, rows][..., cols]
        inner = (slice(None), slice(None), slice(1, 7), slice(1, 7))
        near = torch.nn.functional.max_pool2d(pk[:, :1].float(), 3, 1, 1)[0, 0] > 0
        both = near[1:7, 1:7].expand(2, 6, 6)[None]
        torch.testing.assert_close(guess[inner][both], want[inner][both], rtol=1e-4, atol=1e-4)
        seen += int(cols[0] > cols[-1])
    assert seen > 0  # some patch crossed the date line


def test_the_table_reaches_every_copy_of_the_network_and_is_required(tmp_path):
    from polydiff.modalities.science.data import FieldData
    from polydiff.modalities.science.unet import FieldUNet
    from polydiff.training import DiffusionModule, build_net, export, load_exported

    path = tmp_path / "train.nc"
    make_field(n_time=6, n_lat=12, n_lon=16, gaps=0.3).to_netcdf(path, engine="scipy")
    data = FieldData(str(path), min_observed=0, background=True, covariance=1, batch_size=2)
    net = build_net("polydiff.modalities.science.FieldUNet", variables=2, conditional=True,
                    fill_method="covariance", base_channels=8, channel_mult=[1, 2],
                    attention_heads=2)
    x = torch.zeros(1, 2, 12, 16)
    cond = torch.zeros(1, 4, 12, 16)
    vec = torch.tensor([[-80.0, 80.0, 0.0, 337.5]])
    with pytest.raises(ValueError, match=r"no covariance table: train it with "
                                         r"FieldData\(background=True, covariance=radius\)"):
        net(x, torch.zeros(1), cond=cond, vector=vec)
    module = DiffusionModule(net, prediction="v", ema_decay=0.9, imputation={"kinds": ["random"]})
    plain = FieldData(str(path), min_observed=0, background=True, batch_size=2)
    with pytest.raises(ValueError, match="the data records no covariance table; use "
                                         r"FieldData\(background=True, covariance=radius\)"):
        _trainer(tmp_path, 0).fit(module, plain)  # at setup, before any training step
    _trainer(tmp_path, 1).fit(module, data)
    table = torch.from_numpy(data.covariance_table).half()
    for copy in (module.net, module.ema_net):
        assert torch.equal(copy.oi_table, table) and copy.oi_grid[0] == 1
    with pytest.raises(ValueError, match="needs vector"):
        module.net(x, torch.zeros(1), cond=cond)
    assert module.net(x, torch.zeros(1), cond=cond, vector=vec).shape == x.shape
    out = export(module, tmp_path / "exp")
    loaded = load_exported(out).net
    assert torch.equal(loaded.oi_table, table) and loaded._oi_state()["radius"] == 1
    with pytest.raises(ValueError, match="covariance=1 needs background=True"):
        FieldData(str(path), covariance=1)
    with pytest.raises(ValueError, match="fill_method='covariance' interpolates maps"):
        FieldUNet(variables=2, conditional=True, time_axis=True, fill_method="covariance")


def test_lightning_trains_a_covariance_model_and_impute_loads_its_table(tmp_path):
    """Train on the bundled winds' own covariance, checkpoint, fill from the checkpoint."""
    import lightning.pytorch as pl
    import xarray as xr

    from polydiff.modalities.science import impute
    from polydiff.modalities.science.data import ASSETS, FieldData
    from polydiff.training import DiffusionModule, build_net, load_checkpoint

    pl.seed_everything(0)
    data = FieldData("bundled:navy_winds_5deg.nc", patch=[16, 32], batch_size=4,
                     val_fraction=0.1, background=True, covariance=1)
    net = build_net("polydiff.modalities.science.FieldUNet", variables=2, conditional=True,
                    fill_method="covariance", residual=True, base_channels=8,
                    channel_mult=[1, 2], attention_heads=2)
    module = DiffusionModule(net, ema_decay=0.9, lr=1e-3, seed=0,
                             imputation={"kinds": ["random"], "missing": [0.2, 0.6]})
    trainer = pl.Trainer(accelerator="cpu", max_steps=2, logger=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=tmp_path, limit_val_batches=1,
                         num_sanity_val_steps=0)
    trainer.fit(module, data)
    assert module.net.oi_table is not None and trainer.callback_metrics["train/loss"].isfinite()
    ckpt = tmp_path / "m.ckpt"
    trainer.save_checkpoint(ckpt)
    loaded = load_checkpoint(ckpt)
    assert loaded.ema_net._oi_state()["radius"] == 1
    np.testing.assert_allclose(loaded.net.oi_table.float().numpy(),
                               data.covariance_table, rtol=2e-3, atol=2e-3)
    ds = xr.open_dataset(ASSETS / "navy_winds_5deg.nc", decode_times=False)
    ds = ds[["UWND", "VWND"]].isel({ds["UWND"].dims[0]: slice(0, 1)}).load()
    hole = np.random.default_rng(0).random(ds["UWND"].shape) < 0.3
    for v in ("UWND", "VWND"):
        ds[v].values[hole] = np.nan
    out = impute(ds, ckpt, n_samples=2, steps=2, progress=False)
    for v in ("UWND", "VWND"):
        assert np.isfinite(out[v].values[hole]).all()
        np.testing.assert_array_equal(out[v].values[~hole], ds[v].values[~hole])
