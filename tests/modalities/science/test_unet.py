"""The grid backbone: periodic longitude (roll equivariance), layouts with and without time,
conditioning channels, and NaN never reaching the network."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_field
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from polydiff import Denoiser, schedules
from polydiff.conditioners import known_channels
from polydiff.losses import DiffusionLoss
from polydiff.modalities.science.data import FieldData
from polydiff.modalities.science.unet import FieldUNet, coord_channels
from polydiff.training.imputation import TargetMasks


def _random_weights(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Every parameter random (the output layer starts at zero, which would hide everything)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(0.2 * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return net


def _tiny(**kw) -> FieldUNet:
    return FieldUNet(base_channels=8, channel_mult=(1, 2), attention_heads=2, **kw)


@settings(max_examples=8)
@given(cells=st.integers(1, 3), time_axis=st.booleans(), conditional=st.booleans(),
       validity=st.booleans(), seed=st.integers(0, 100),
       fill_method=st.sampled_from(["harmonic", "biharmonic", "temporal"]))
def test_periodic_model_commutes_with_a_longitude_roll(cells, time_axis, conditional,
                                                       validity, seed, fill_method):
    assume(time_axis or fill_method != "temporal")  # linear in time needs a time axis
    net = _random_weights(_tiny(variables=2, time_axis=time_axis, conditional=conditional,
                                validity=validity, fill_method=fill_method),
                          seed).double().eval()
    g = torch.Generator().manual_seed(seed)
    axes = ((3,) if time_axis else ()) + (8, 16)
    x = torch.randn(2, 2, *axes, generator=g, dtype=torch.float64)
    cond = (torch.randn(2, net.cond_channels, *axes, generator=g, dtype=torch.float64)
            if net.cond_channels else None)
    c = torch.rand(2, generator=g, dtype=torch.float64)
    vector = torch.tensor([[-70.0, 70.0, 0.0, 337.5], [-30.0, 40.0, 90.0, 427.5]],
                          dtype=torch.float64)  # 16 columns of 22.5 degrees: the globe
    shift = cells * net.size_multiple[-1]  # one padded cell of the coarsest level

    def roll(v):
        return None if v is None else torch.roll(v, shift, dims=-1)

    moved = vector.clone()
    moved[:, 2:] -= shift * 22.5  # the coordinates move with the data
    with torch.no_grad():
        out = net(x, c, cond=cond, vector=vector)
        rolled = net(roll(x), c, cond=roll(cond), vector=moved)
    assert out.abs().max() > 1e-3  # the test is not trivially about zeros
    # the biharmonic guess's conjugate gradients sum over the whole map, in another order
    # after a roll: equal up to rounding amplified by 100 steps (seen: 3e-9), not bit for bit
    tol = 1e-9 if fill_method == "harmonic" or not conditional else 1e-6
    torch.testing.assert_close(rolled, roll(out), rtol=tol, atol=tol)


def test_coordinate_channels_follow_the_corners():
    chans = coord_channels(torch.tensor([[-30.0, 30.0, 10.0, 40.0]]), (3, 4))
    assert chans.shape == (1, 4, 3, 4)
    lat = torch.deg2rad(torch.tensor([-30.0, 0.0, 30.0], dtype=torch.float64))
    lon = torch.deg2rad(torch.tensor([10.0, 20.0, 30.0, 40.0], dtype=torch.float64))
    torch.testing.assert_close(chans[0, 0, :, 2], torch.sin(lat))
    torch.testing.assert_close(chans[0, 3, 1], torch.cos(lon))
    assert coord_channels(torch.zeros(2, 4), (5, 3, 4)).shape == (2, 4, 5, 3, 4)
    with pytest.raises(ValueError, match=r"vector must be \(B, 4\)"):
        coord_channels(torch.zeros(2, 3), (3, 4))


def test_without_periodic_padding_the_roll_does_not_commute():
    net = _random_weights(_tiny(variables=1, periodic_lon=False, coords=False),
                          0).double().eval()
    x = torch.randn(1, 1, 8, 16, dtype=torch.float64)
    c = torch.full((1,), 0.3, dtype=torch.float64)
    with torch.no_grad():
        diff = net(torch.roll(x, 2, -1), c) - torch.roll(net(x, c), 2, -1)
    assert diff.abs().max() > 1e-4


def test_layouts_and_conditioning_channels():
    net = _tiny(variables=3, time_axis=True, conditional=True, validity=True)
    assert net.cond_channels == 2 * 3 + 1  # what the caller gives; coordinates come inside
    assert net.size_multiple == (1, 2, 2)  # time is not downsampled
    assert net.periodic == (False, False, True)
    x = torch.randn(2, 3, 5, 8, 12)
    vec = torch.tensor([[-10.0, 10.0, 0.0, 55.0]]).expand(2, 4)
    out = net(x, torch.rand(2), cond=torch.randn(2, net.cond_channels, 5, 8, 12), vector=vec)
    assert out.shape == x.shape
    assert _tiny(variables=2).periodic == (False, True)
    with pytest.raises(ValueError, match="variables must be >= 1"):
        FieldUNet(variables=0)
    with pytest.raises(ValueError, match="multiple of 2"):
        net(torch.randn(1, 3, 5, 7, 12), torch.rand(1), vector=vec[:1])
    with pytest.raises(ValueError, match="needs vector"):
        net(x, torch.rand(2))
    with pytest.raises(ValueError, match=r"cond must have shape \(2, 7, 5, 8, 12\)"):
        net(x, torch.rand(2), cond=torch.randn(2, 6, 5, 8, 12), vector=vec)


@settings(max_examples=10)
@given(seed=st.integers(0, 10_000), gaps=st.floats(0.0, 0.95), whole=st.booleans())
def test_nan_anywhere_never_reaches_the_network(tmp_path_factory, seed, gaps, whole):
    ds = make_field(n_time=3, n_lat=8, n_lon=16, gaps=gaps, seed=seed)
    if whole:  # a variable missing at a whole time step, and a whole map corner
        ds["SST"][1] = np.nan
        ds["AIRT"][:, :4, :8] = np.nan
    ds["SST"][0, 0, 0] = 1.0  # keep something observed per variable
    ds["AIRT"][0, -1, -1] = 1.0
    path = tmp_path_factory.mktemp("nan") / "f.nc"
    ds.to_netcdf(path, engine="scipy")
    data = FieldData(str(path), validity=True, min_observed=0, batch_size=3, val_fraction=0)
    net = _tiny(variables=2, conditional=True, validity=True)
    seen = []
    net.register_forward_pre_hook(
        lambda m, args, kwargs: seen.append(all(torch.isfinite(a).all() for a in
                                                (*args, *kwargs.values())
                                                if isinstance(a, torch.Tensor))),
        with_kwargs=True)
    den = Denoiser(net, schedules.VPCosine(), "v")
    g = torch.Generator().manual_seed(seed)
    for batch in data.train_dataloader():
        given_, targets = TargetMasks(kinds=["random", "blocks"]).draw(
            batch["x"], batch.get("observed"), g)
        cond = torch.cat([known_channels(batch["x"], given_), batch["cond"]], dim=1)
        loss = DiffusionLoss("min_snr")(den, batch["x"], observed=targets, generator=g,
                                        weight=batch["weight"], cond=cond,
                                        vector=batch["vector"])
        assert torch.isfinite(loss)
    assert seen and all(seen)


@pytest.mark.parametrize("prediction", ["v", "x0", "eps"])
def test_residual_model_denoises_the_residual_from_the_first_guess(prediction):
    from polydiff import parameterization
    from polydiff.interpolate import first_guess

    net = _random_weights(_tiny(variables=2, conditional=True, residual=True), 3
                          ).double().eval()
    sched = schedules.VPCosine()
    den = Denoiser(net, sched, prediction)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 2, 8, 16, generator=g, dtype=torch.float64)
    known = torch.rand(2, 2, 8, 16, generator=g) > 0.5
    cond = known_channels(x, known)
    vec = torch.tensor([[-70.0, 70.0, 0.0, 337.5]], dtype=torch.float64).expand(2, 4)
    t = torch.tensor([0.2, 0.7], dtype=torch.float64)
    alpha, sigma = sched.alpha_sigma(t)
    x_t = alpha[:, None, None, None] * x + sigma[:, None, None, None] * torch.randn(
        x.shape, generator=g, dtype=torch.float64)
    with torch.no_grad():
        x0_hat = den(x_t, t, cond=cond, vector=vec)
        guess = first_guess(torch.where(known, x, 0.0), known, (False, True), net.levels)
        r_t = x_t - alpha[:, None, None, None] * guess
        full = torch.cat([cond, guess, coord_channels(vec, (8, 16))], 1)
        out_r = net.unet(r_t, 1000 * t, cond=full)
        r0, _ = parameterization.get(prediction).to_x0_eps(out_r, r_t, alpha[:, None, None, None],
                                                           sigma[:, None, None, None])
    torch.testing.assert_close(x0_hat, guess + r0)
    if prediction == "x0":  # untrained (zero output layer): the first guess itself
        fresh = Denoiser(_tiny(variables=2, conditional=True, residual=True).double(), sched,
                         "x0")
        torch.testing.assert_close(fresh(x_t, t, cond=cond, vector=vec), guess)
    with pytest.raises(ValueError, match="residual=True needs conditional=True"):
        FieldUNet(variables=1, residual=True)
    with pytest.raises(ValueError, match=r"fill_method must be one of \['harmonic', "
                                         r"'biharmonic', 'temporal', 'covariance', "
                                         r"'temporal_oi'\], got 'cubic'"):
        FieldUNet(variables=1, conditional=True, fill_method="cubic")
    with pytest.raises(ValueError, match=r"fill_method='temporal' \(linear in time\) needs "
                                         r"time_axis=True"):
        FieldUNet(variables=1, conditional=True, fill_method="temporal")


def test_the_first_guess_is_computed_once_per_sampling_run(monkeypatch):
    """A sampler passes the same cond at every step: the guess is reused, and recomputed for
    another cond or after cond changed in place; results are those of a fresh computation."""
    from polydiff import samplers
    from polydiff.modalities.science import unet as unet_module

    calls = []
    real = unet_module.first_guess

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(unet_module, "first_guess", counting)
    net = _random_weights(_tiny(variables=1, conditional=True, residual=True,
                                fill_method="biharmonic"), 0).double().eval()
    den = Denoiser(net, schedules.VPCosine(), "v")
    g = torch.Generator().manual_seed(0)
    known = torch.randn(2, 1, 8, 16, generator=g, dtype=torch.float64)
    mask = (torch.rand(2, 1, 8, 16, generator=g) > 0.5).double()
    cond = torch.cat([known * mask, mask], 1)
    vec = torch.tensor([[-70.0, 70.0, 0.0, 337.5]], dtype=torch.float64).expand(2, 4)
    noise = torch.randn(2, 1, 8, 16, generator=g, dtype=torch.float64)
    with torch.no_grad():
        out = samplers.sample(den, noise, den.schedule, steps=4, method="euler", cond=cond,
                              vector=vec)
        assert len(calls) == 1
        t = torch.full((2,), 0.5, dtype=torch.float64)
        first = den(noise, t, cond=cond, vector=vec)
        assert len(calls) == 1
        fresh = den(noise, t, cond=cond.clone(), vector=vec)  # another tensor: recomputed
        assert len(calls) == 2
        torch.testing.assert_close(first, fresh, rtol=0, atol=0)
        cond[:, 0] += 1.0  # changed in place: recomputed
        changed = den(noise, t, cond=cond, vector=vec)
        assert len(calls) == 3 and not torch.allclose(changed, first)
    assert torch.isfinite(out).all()


def test_temporal_oi_guess_interpolates_in_time_with_the_recorded_lag_correlation(tmp_path):
    from polydiff.interpolate import first_guess
    from polydiff.modalities.science.guesses import temporal_oi

    path = tmp_path / "f.nc"
    make_field(n_time=8, n_lat=8, n_lon=16, gaps=0.3).to_netcdf(path, engine="scipy")
    data = FieldData(str(path), min_observed=0, background=True, time_window=4)
    info, stats = data.data_info(), data.statistics()
    net = FieldUNet(variables=2, conditional=True, time_axis=True, fill_method="temporal_oi",
                    base_channels=8, channel_mult=(1, 2), attention_heads=2)
    g = torch.Generator().manual_seed(0)
    z = torch.randn(2, 2, 4, 8, 16, generator=g)
    mask = torch.rand(z.shape, generator=g) < 0.4
    mask[:, :, :, 0, 0] = False  # a cell with no known step in the window
    cond = torch.cat([torch.where(mask, z, 0.0), mask.float()], dim=1)
    with pytest.raises(ValueError, match="no lag correlation: train it with FieldData"):
        net(torch.zeros_like(z), torch.zeros(2), cond=cond)
    net.fit_statistics(stats)
    net.use_data_info(info)
    guess = net._first_guess(cond)
    norm = info["normalizer"]
    shift = torch.tensor(norm["shift"]).view(1, 2, 1, 1, 1)
    scale = torch.tensor(norm["scale"]).view(1, 2, 1, 1, 1)
    rho = torch.tensor(stats["lag_correlation"], dtype=torch.float32)
    want = (temporal_oi(torch.where(mask, z, 0.0) * scale + shift, mask, rho) - shift) / scale
    seen = mask.any(dim=2, keepdim=True).expand_as(mask)
    torch.testing.assert_close(guess[seen], want[seen], rtol=1e-4, atol=1e-4)
    harmonic = first_guess(cond[:, :2], cond[:, 2:], net.periodic, levels=net.levels,
                           method="harmonic")
    torch.testing.assert_close(guess[~seen], harmonic[~seen])
    assert (guess[mask] == z[mask]).all()
    with pytest.raises(ValueError, match="records no lag correlation; use FieldData"):
        net.fit_statistics(FieldData(str(path), min_observed=0, time_window=4).statistics())
    with pytest.raises(ValueError, match="fill_method='temporal_oi' .* needs time_axis=True"):
        FieldUNet(variables=2, conditional=True, fill_method="temporal_oi")


def test_the_network_refuses_a_field_description_it_does_not_fit(tmp_path):
    """The variables, time axis, coordinate and validity inputs and the window's multiple
    describe one field: a network built for another is refused at setup, naming the value to
    set; a matching one is accepted, and so is a hand-made description."""
    import lightning.pytorch as pl

    from polydiff.training import DiffusionModule

    path = tmp_path / "f.nc"
    make_field(n_time=8, n_lat=8, n_lon=16, gaps=0.3).to_netcdf(path, engine="scipy")
    maps = FieldData(str(path), min_observed=0).data_info()
    blocks = FieldData(str(path), min_observed=0, time_window=4, coords=False).data_info()
    kw = dict(base_channels=8, channel_mult=(1, 2), attention_heads=2)
    FieldUNet(variables=2, **kw).use_data_info(maps)
    FieldUNet(variables=2, time_axis=True, coords=False, **kw).use_data_info(blocks)
    FieldUNet(variables=3, **kw).use_data_info({"meta": {"window": [1, 8, 16]}})
    cases = [(dict(variables=1), maps, r"FieldUNet\(variables=1\) does not fit the data: the "
                                       r"data has the variables \['SST', 'AIRT'\]; build the "
                                       r"network with variables=2"),
             (dict(variables=2), blocks, r"FieldUNet\(time_axis=False\) .* space-time windows "
                                         r"\(FieldData\(time_window=...\)\); .* time_axis=True"),
             (dict(variables=2, time_axis=True), blocks,
              r"FieldUNet\(coords=True\) .* FieldData\(coords=False\); .* coords=False"),
             (dict(variables=2, validity=True), maps, r"FieldUNet\(validity=True\)")]
    for args, info, message in cases:
        with pytest.raises(ValueError, match=message):
            FieldUNet(**args, **kw).use_data_info(info)
    odd = FieldData(str(path), patch=[7, 16], min_observed=0).data_info()
    with pytest.raises(ValueError, match=r"windows are \[7, 16\] .* size_multiple \[2, 2\]"):
        FieldUNet(variables=2, **kw).use_data_info(odd)
    module = DiffusionModule(FieldUNet(variables=1, **kw), prediction="v")
    trainer = pl.Trainer(accelerator="cpu", max_steps=1, logger=False, limit_val_batches=0,
                         enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False, default_root_dir=tmp_path)
    with pytest.raises(ValueError, match=r"FieldUNet\(variables=1\) does not fit the data"):
        trainer.fit(module, FieldData(str(path), min_observed=0, batch_size=2))
