"""Imputation training (CSDI-style self-supervision on gappy data): target masks, the
conditioning the network sees, and sampling that returns the known values exactly."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from toy_modalities import NET1D, TOY1D, Toy1DData

from polydiff.cli import main
from polydiff.conditioners import known_channels
from polydiff.modality import register_modality, unregister_modality
from polydiff.training import DiffusionModule, export, load_checkpoint, load_exported
from polydiff.training.imputation import KINDS, TargetMasks

COND_NET = {**NET1D, "init_args": {**NET1D["init_args"], "cond_channels": 4}}


@given(kind=st.sampled_from(KINDS), seed=st.integers(0, 2**31), lo=st.floats(0.05, 0.5),
       spread=st.floats(0.0, 0.4), holes=st.floats(0.0, 0.5))
def test_targets_and_given_split_the_observed_entries(kind, seed, lo, spread, holes):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, 2, 6, 5, generator=g)
    observed = torch.rand(3, 1, 6, 5, generator=g) >= holes
    masks = TargetMasks(kinds=[kind], missing=(lo, lo + spread), axis=0)
    given_, targets = masks.draw(x, observed, g)
    obs = observed.expand_as(x)
    assert given_.shape == targets.shape == x.shape
    assert not (given_ & targets).any()
    assert torch.equal(given_ | targets, obs)
    for i in range(3):
        if obs[i].sum() >= 2:
            assert targets[i].any()
    if kind in ("steps", "suffix", "strided"):  # whole indices along the axis, across the rest
        hidden = (targets | ~obs)[:, 0]
        per_index = hidden.all(dim=2) | ~hidden.any(dim=2) | ~obs[:, 0].all(dim=2)
        assert per_index.all()
    if kind == "suffix":
        for i in range(3):
            rows = targets[i, 0].any(dim=1).nonzero().flatten()
            if len(rows) and obs[i].all():
                assert rows.tolist() == list(range(rows.min().item(), 6))
    again = masks.draw(x, observed, torch.Generator().manual_seed(seed))
    assert torch.equal(again[1], masks.draw(x, observed,
                                            torch.Generator().manual_seed(seed))[1])


@given(seed=st.integers(0, 2**31), n=st.integers(2, 12), axis=st.integers(0, 1),
       strides=st.lists(st.integers(2, 5), min_size=1, max_size=3))
def test_strided_targets_keep_every_mth_index(seed, n, axis, strides):
    shape = (4, 1, n, 3) if axis == 0 else (4, 1, 3, n)
    x = torch.randn(shape)
    given_, targets = TargetMasks(kinds=["strided"], strides=strides, axis=axis).draw(
        x, None, torch.Generator().manual_seed(seed))
    for i in range(4):
        kept = given_[i, 0].all(dim=1 - axis)
        assert torch.equal(kept, given_[i, 0].any(dim=1 - axis))  # whole indices
        idx = kept.nonzero().flatten().tolist()
        assert targets[i].any() and idx  # something given, something to fill
        m = idx[1] - idx[0] if len(idx) > 1 else None
        if m is not None:  # a run of every m-th index from an offset below m
            assert m in strides and idx[0] < m
            assert idx == list(range(idx[0], n, m))
        else:
            assert idx[0] + max(strides) >= n  # the stride drawn passes the end


def test_cond_is_known_values_and_mask():
    known = torch.arange(6.0).reshape(1, 2, 3)
    given_ = torch.tensor([[[True, False, True]]])
    cond = known_channels(known, given_)
    assert cond.shape == (1, 4, 3)
    assert torch.equal(cond[:, :2], torch.tensor([[[0.0, 0.0, 2.0], [3.0, 0.0, 5.0]]]))
    assert torch.equal(cond[:, 2:], given_.expand(1, 2, 3).float())


def test_bad_options_are_named():
    with pytest.raises(ValueError, match="unknown target mask kind 'clouds'"):
        TargetMasks(kinds=["clouds"])
    with pytest.raises(ValueError, match=r"0 < low <= high < 1"):
        TargetMasks(missing=(0.5, 1.0))
    with pytest.raises(ValueError, match=r"strides must be integers >= 2.*got \[1, 2\]"):
        TargetMasks(kinds=["strided"], strides=[1, 2])
    with pytest.raises(ValueError, match=r"unknown imputation option\(s\) \['rate'\]"):
        TargetMasks.from_config({"rate": 0.5})
    with pytest.raises(ValueError, match="cond_channels=0; build it with cond_channels=4"):
        DiffusionModule(NET1D, imputation={}, sample_shape=[2, 32])


@pytest.fixture()
def toy1d():
    register_modality(TOY1D)
    yield
    unregister_modality("toy1d")


def test_imputation_model_trains_on_gaps_and_fills_them(tmp_path, toy1d, cli_error):
    pl.seed_everything(0)
    module = DiffusionModule(COND_NET, ema_decay=None, seed=1,
                             imputation={"kinds": ["random", "blocks", "suffix"],
                                         "missing": [0.2, 0.8]})
    trainer = pl.Trainer(accelerator="cpu", max_steps=3, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=tmp_path,
                         num_sanity_val_steps=0)
    trainer.fit(module, Toy1DData())
    val = trainer.validate(module, Toy1DData(), verbose=False)[0]
    assert torch.isfinite(torch.tensor(val["val/loss"]))
    again = trainer.validate(module, Toy1DData(), verbose=False)[0]
    assert again["val/loss"] == val["val/loss"]  # fixed targets and noise: comparable
    ckpt = tmp_path / "m.ckpt"
    trainer.save_checkpoint(ckpt)
    loaded = load_checkpoint(ckpt)
    assert loaded.imputation is not None and loaded.imputation.kinds == ("random", "blocks",
                                                                         "suffix")
    data = Toy1DData()
    data.setup()
    known = data.train_set[0]["x"].clone()
    known[:, 10:22] = float("nan")
    torch.save(known, tmp_path / "gappy.pt")
    outs = []
    exp = export(loaded, tmp_path / "export")
    assert load_exported(exp).export_config["imputation"]["kinds"] == ["random", "blocks",
                                                                       "suffix"]
    for src, name in ((ckpt, "a"), (exp, "b")):
        assert main(["sample", "--checkpoint", str(src), "--num", "2", "--steps", "3",
                     "--out", str(tmp_path / name), "--known", str(tmp_path / "gappy.pt")]) == 0
        outs.append(torch.load(tmp_path / name / "samples.pt", weights_only=True))
    cli_error(["sample", "--checkpoint", ckpt, "--num", "1", "--out", tmp_path / "none"],
              r"--known: none given, but this model was trained for imputation")
    keep = ~torch.isnan(known)
    torch.testing.assert_close(outs[0][:, keep], known[keep].expand(2, -1), rtol=0, atol=1e-4)
    torch.testing.assert_close(outs[0], outs[1])
    # the known values really are an input of the conditional model
    shifted = known.clone()
    shifted[:, :10] += 1.0
    torch.save(shifted, tmp_path / "shifted.pt")
    assert main(["sample", "--checkpoint", str(ckpt), "--num", "2", "--steps", "3", "--out",
                 str(tmp_path / "c"), "--known", str(tmp_path / "shifted.pt")]) == 0
    other = torch.load(tmp_path / "c" / "samples.pt", weights_only=True)
    assert not torch.allclose(other[:, ~keep], outs[0][:, ~keep])


def test_posterior_mean_averages_the_denoiser_at_t_max():
    """E[x0 | known] = the mean over x_t ~ N(0, sigma_max^2) of D(x_t, t_max): with a denoiser
    linear in x_t the average of many draws tends to the x_t = 0 value; known entries exact."""
    from polydiff.inference import DataSpec, Model
    from polydiff.schedules import VPCosine

    seen = []

    def den(x, t, cond):
        seen.append((x, t))
        known, mask = cond.chunk(2, dim=1)
        return 3.0 + 0.5 * x + known.sum(dim=(1, 2), keepdim=True)  # sees the known values

    sch = VPCosine()
    model = Model(den, DataSpec(None, (1, 6)), conditional=True, schedule=sch)

    def posterior_mean_with(den, sch, known, observed, **kw):
        return model.posterior_mean(known, observed, units="model", **kw)

    known = torch.randn(3, 1, 6)
    observed = torch.zeros(3, 1, 6, dtype=torch.bool)
    observed[:, :, :2] = True
    out = posterior_mean_with(den, sch, known, observed, draws=400, seed=1)
    assert torch.equal(out[observed], known[observed])
    given_sum = torch.where(observed, known, 0).sum(dim=(1, 2), keepdim=True)
    expected = (3.0 + given_sum).expand_as(out)
    # 0.5 x the mean of 400 N(0, 1) draws: sd 0.025
    torch.testing.assert_close(out[~observed], expected[~observed], rtol=0, atol=0.1)
    assert len(seen) == 400 and all(torch.all(t == sch.t_max) for _, t in seen)
    sigma = float(sch.alpha_sigma(torch.tensor(sch.t_max))[1])
    assert abs(torch.stack([x for x, _ in seen]).std().item() - sigma) < 0.02
    # batching does not change the draws
    again = posterior_mean_with(den, sch, known, observed, draws=3, seed=1, batch_size=1)
    torch.testing.assert_close(again, posterior_mean_with(den, sch, known, observed, draws=3,
                                                          seed=1), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="need draws and batch_size >= 1, got 0, 256"):
        posterior_mean_with(den, sch, known, observed, draws=0)


def test_posterior_mean_needs_an_imputation_model():
    module = DiffusionModule(NET1D, sample_shape=[2, 16])
    with pytest.raises(ValueError, match="posterior_mean needs an imputation model"):
        module.posterior_mean(torch.zeros(1, 2, 16), torch.ones(1, 2, 16, dtype=torch.bool))
