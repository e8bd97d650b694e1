"""The loaded model: data units in and out, known values kept exactly whatever the guidance,
the posterior mean, SDEdit editing, the data description, and one-line errors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import polydiff
from polydiff.inference import DataSpec, Model, Sampler
from polydiff.normalize import Normalizer
from polydiff.training import DiffusionModule

NET = {"class_path": "polydiff.nn.UNet",
       "init_args": {"dims": 1, "in_channels": 2, "base_channels": 8, "channel_mult": [1, 2],
                     "num_res_blocks": 1, "attention_heads": 2, "num_classes": 3}}
INFO = {"modality": None, "writer": None, "normalizer": {"shift": [1.0, -2.0],
                                                          "scale": [2.0, 0.5]},
        "meta": {"sample_rate": 100}, "sample_shape": [2, 16], "num_classes": 3}


def _module(imputation: bool = False) -> DiffusionModule:
    torch.manual_seed(0)
    net = {**NET, "init_args": {**NET["init_args"], "cond_channels": 4 if imputation else 0}}
    module = DiffusionModule(net, sample_shape=[2, 16], ema_decay=0.9,
                             imputation={"kinds": ["random"]} if imputation else None)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in module.net.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    module.ema_net.load_state_dict(module.net.state_dict())
    module.data_info = INFO
    return module.eval()


MODULE, IMPUTER = _module(), _module(imputation=True)


def test_the_data_description_is_typed_and_frozen():
    model = polydiff.load(MODULE)
    spec = model.spec
    assert spec.sample_shape == (2, 16) and spec.num_classes == 3
    assert spec.sample_rate == 100 and spec.fps is None and spec.takes("class_labels")
    assert not spec.takes("known") and polydiff.load(IMPUTER).spec.takes("known")
    with pytest.raises(TypeError):
        spec.meta["sample_rate"] = 5  # read-only
    with pytest.raises(AttributeError):
        spec.modality = "audio"
    assert DataSpec.from_info(spec.to_info(), spec.sample_shape) == DataSpec.from_info(
        INFO, (2, 16))
    with pytest.raises(ValueError, match="the normaliser has 1 channel"):
        DataSpec(None, (2, 4), normalizer=Normalizer([0.0], [1.0]))
    with pytest.raises(ValueError, match=r"unknown conditioning \['text'\]"):
        DataSpec(None, (2, 4), conditioning={"text"})


def test_samples_are_in_data_units_and_equal_the_modules_model_units():
    model = polydiff.load(MODULE)
    data = model.sample(3, steps=3, seed=2, class_labels=[0, 1, 2])
    raw = MODULE.sample(3, steps=3, seed=2, class_labels=[0, 1, 2])  # model units
    norm = Normalizer.from_dict(INFO["normalizer"])
    torch.testing.assert_close(data, norm.denormalize(raw), rtol=0, atol=1e-6)
    assert torch.equal(model.sample(3, steps=3, seed=2, class_labels=[0, 1, 2],
                                    units="model"), raw)


@settings(max_examples=8, deadline=None)
@given(guidance=st.sampled_from(["auto", "inpaint", "repaint", "dps"]),
       method=st.sampled_from(["dpmpp_2m", "ddpm", "euler"]), seed=st.integers(0, 5),
       conditional=st.booleans())
def test_impute_keeps_the_known_values_exactly_in_data_units(guidance, method, seed,
                                                             conditional):
    model = polydiff.load(IMPUTER if conditional else MODULE)
    g = torch.Generator().manual_seed(seed)
    known = 3 * torch.randn(2, 2, 16, generator=g)
    known[torch.rand(known.shape, generator=g) < 0.5] = float("nan")  # NaN = missing
    extra = {"class_labels": [0, 2]} if not conditional else {}
    out = model.impute(known, guidance=guidance, method=method, steps=2, seed=seed,
                       dps_step=0.1, **extra)
    seen = ~torch.isnan(known)
    assert out.shape == known.shape and torch.isfinite(out).all()
    assert torch.equal(out[seen], known[seen])


def test_posterior_mean_in_data_units_and_its_errors():
    model = polydiff.load(IMPUTER)
    known = torch.randn(2, 2, 16)
    observed = torch.rand(2, 2, 16) > 0.5
    mean = model.posterior_mean(known, observed, draws=3, seed=1)
    raw = IMPUTER.posterior_mean(model.spec.to_model_units(known), observed, draws=3, seed=1)
    torch.testing.assert_close(mean, model.spec.to_data_units(raw), rtol=0, atol=1e-5)
    assert torch.equal(mean[observed], known[observed])
    with pytest.raises(ValueError, match="posterior_mean needs an imputation model"):
        polydiff.load(MODULE).posterior_mean(known, observed)
    with pytest.raises(ValueError, match="trained for imputation .* give known="):
        model.sample(2)


def test_edit_keeps_the_input_at_low_strength_and_forgets_it_at_full_strength():
    model = polydiff.load(MODULE)
    x = model.sample(4, steps=5, seed=0, class_labels=[0, 1, 2, 0])
    near = model.edit(x, 0.05, steps=20, seed=1, class_labels=[0, 1, 2, 0])
    far = model.edit(x, 1.0, steps=20, seed=1, class_labels=[0, 1, 2, 0])
    assert (near - x).abs().mean() < 0.2 * (far - x).abs().mean()
    # full strength starts at t_max (alpha 0.008): almost a fresh sample, whatever x was
    other = model.edit(x + 1.0, 1.0, steps=20, seed=1, class_labels=[0, 1, 2, 0])
    assert (far - other).abs().mean() < 0.1 * (far - x).abs().mean()
    keep = torch.zeros(4, 2, 16, dtype=torch.bool)
    keep[..., :4] = True
    kept = model.edit(x, 0.5, steps=4, seed=2, known=x, observed=keep,
                      class_labels=[0, 1, 2, 0])
    assert torch.equal(kept[keep], x[keep])
    with pytest.raises(ValueError, match=r"strength must lie in \(0, 1\], got 0"):
        model.edit(x, 0.0)


def test_sampler_settings_fail_before_any_work():
    with pytest.raises(ValueError, match="unknown method 'magic'"):
        Sampler(method="magic")
    with pytest.raises(ValueError, match="steps must be a whole number >= 1, got 0"):
        Sampler(steps=0)
    assert Sampler.of().describe() == f"{polydiff.samplers.DEFAULT_METHOD}, 20 steps"
    with pytest.raises(ValueError, match=r"resample \(RePaint\) needs known values"):
        polydiff.load(MODULE).sample(1, resample=(1, 2), class_labels=[0])


def test_units_and_shapes_are_checked():
    model = polydiff.load(MODULE)
    with pytest.raises(ValueError, match=r"units must be one of \['data', 'model'\]"):
        model.sample(1, units="pixels")
    with pytest.raises(ValueError, match="noise must have shape"):
        model.sample(2, noise=torch.zeros(3, 2, 16))
    with pytest.raises(ValueError, match="observed must be a bool tensor"):
        model.impute(torch.zeros(1, 2, 16), torch.zeros(1, 2, 16))
    with pytest.raises(ValueError, match="observed= needs known="):
        model.sample(1, observed=torch.ones(1, 2, 16, dtype=torch.bool))


def test_a_plain_denoiser_function_is_a_model_too():
    from polydiff import analytic, schedules

    sched = schedules.VPCosine()
    gmm = analytic.GaussianMixture(means=torch.randn(3, 4), variances=0.1)
    model = Model(gmm.denoiser(sched), DataSpec(None, (4,)), schedule=sched)
    x = model.sample(5, steps=4, seed=0)
    assert x.shape == (5, 4) and torch.isfinite(x).all()
