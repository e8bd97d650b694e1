"""No silent ignores in the core API: non-finite guidance scales, sampler options the chosen
method does not take, mask values that occur nowhere and non-positive counts raise, naming the
argument; a network runs in its own dtype whatever the noise's."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from polydiff import (
    Denoiser,
    analytic,
    conditioning,
    guidance,
    losses,
    masks,
    parameterization,
    samplers,
    schedules,
)

SCHED = schedules.VPCosine()
BAD_NUMBERS = [math.nan, math.inf, -math.inf]


def _oracle():
    return analytic.GaussianMixture(torch.zeros(1, 2, 3), 0.5).denoiser(SCHED)


def _noise(shape=(2, 2, 3), dtype=torch.float32):
    return torch.randn(shape, generator=torch.Generator().manual_seed(0), dtype=dtype)


# -- guidance scales --------------------------------------------------------------------------
@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_cfg_scale_and_rescale_must_be_finite(bad) -> None:
    with pytest.raises(ValueError, match=r"guidance scale must be a finite number, "
                                         r"got -?(nan|inf)$"):
        guidance.cfg(_oracle(), bad)
    with pytest.raises(ValueError, match=r"guidance rescale must be a finite number in \[0, 1\]"):
        guidance.cfg(_oracle(), 2.0, rescale=bad)


@pytest.mark.parametrize("bad", [*BAD_NUMBERS, -1.0])
def test_dps_step_must_be_finite_and_non_negative(bad) -> None:
    with pytest.raises(ValueError, match=r"dps step must be a finite number >= 0"):
        guidance.dps(_oracle(), lambda v: v, torch.zeros(2, 2, 3), bad, SCHED)


def test_finite_guidance_still_works() -> None:
    x = samplers.sample(guidance.cfg(_oracle(), 3.0, rescale=0.5), _noise(), SCHED, 3)
    assert torch.isfinite(x).all()


# -- dtypes ---------------------------------------------------------------------------------
class ConvNet(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv1d(2, 2, 3, padding=1)
        self.emb = conditioning.NoiseEmbedding(4)
        self.head = nn.Linear(4, 2)
        self.seen: list[tuple[torch.dtype, torch.dtype]] = []

    def forward(self, x_in, c_noise):
        self.seen.append((x_in.dtype, c_noise.dtype))
        return self.conv(x_in) + self.head(self.emb(c_noise))[:, :, None]


def test_float64_noise_with_a_float32_network() -> None:
    """Was: "Input type (double) and bias type (float) should be the same"."""
    net = ConvNet()
    den = Denoiser(net, SCHED, "v")
    x = samplers.sample(den, _noise(dtype=torch.float64), SCHED, 3)
    assert x.dtype == torch.float64 and torch.isfinite(x).all()
    assert set(net.seen) == {(torch.float32, torch.float32)}


@pytest.mark.parametrize("noise_dtype", [torch.float32, torch.float64, torch.bfloat16])
def test_bf16_network(noise_dtype) -> None:
    net = ConvNet().to(torch.bfloat16)
    den = Denoiser(net, SCHED, "eps")
    x = samplers.sample(den, _noise(dtype=noise_dtype), SCHED, 3)
    assert x.dtype == torch.promote_types(noise_dtype, torch.float32)
    assert torch.isfinite(x).all()
    # bf16 input, but the noise level at full (float32) precision
    assert set(net.seen) == {(torch.bfloat16, torch.float32)}


def test_autocast_keeps_working() -> None:
    net = ConvNet()
    den = Denoiser(net, SCHED, "v")
    with torch.autocast("cpu", dtype=torch.bfloat16):
        x = samplers.sample(den, _noise(), SCHED, 3)
    assert x.dtype == torch.float32 and torch.isfinite(x).all()


def test_parameterless_network_keeps_the_input_dtype() -> None:
    seen = []

    class Scale(nn.Module):
        def forward(self, x_in, c_noise):
            seen.append(x_in.dtype)
            return 0.5 * x_in

    for dtype in (torch.float32, torch.float64):
        out = Denoiser(Scale(), SCHED, "eps")(_noise(dtype=dtype), 0.5)
        assert out.dtype == dtype
    assert seen == [torch.float32, torch.float64]


def test_network_dtype_reads_parameters_then_buffers() -> None:
    from polydiff.denoiser import network_dtype

    assert network_dtype(nn.Linear(2, 2).double(), torch.float32) == torch.float64
    assert network_dtype(conditioning.FourierEmbedding(4).half(), torch.float32) == torch.float16
    assert network_dtype(nn.Identity(), torch.float64) == torch.float64
    assert network_dtype(lambda x, c: x, torch.float32) == torch.float32  # a plain function


# -- sampler options ------------------------------------------------------------------------
@pytest.mark.parametrize("method, option, takers", [
    ("euler", "eta", r"\['ddim', 'dpmpp_2m_sde'\]"),
    ("dpmpp_2m", "s_churn", r"\['edm'\]"),
    ("heun", "order", r"\['unipc'\]"),
    ("ddim", "rtol", r"\['adaptive'\]"),
])
def test_an_option_of_another_method_raises(method, option, takers) -> None:
    seen = []

    def den(x, t, **cond):  # would swallow anything
        seen.append(cond)
        return torch.zeros_like(x)

    with pytest.raises(ValueError, match=rf"method '{method}' takes no option {option}= "
                                         rf"\(an option of {takers}\)"):
        samplers.sample(den, _noise(), SCHED, 3, method, **{option: 1.0})
    assert not seen  # raised before any evaluation
    fn = getattr(samplers, method)  # the method's function, called directly
    with pytest.raises(ValueError, match=rf"takes no option {option}="):
        fn(den, _noise(), samplers.make_grid(SCHED, 3), SCHED, **{option: 1.0})


def test_user_method_follows_the_same_rule() -> None:
    def shrink(denoiser, x, ts, schedule, *, gamma=0.5, **kw):
        return samplers.euler(denoiser, x * gamma, ts, schedule, **kw)

    den = _oracle()
    assert samplers.sample(den, _noise(), SCHED, 3, shrink, gamma=0.1).shape == (2, 2, 3)
    with pytest.raises(ValueError, match=r"method 'shrink' takes no option eta="):
        samplers.sample(den, _noise(), SCHED, 3, shrink, eta=0.3)


def test_options_and_conditioning_still_route() -> None:
    got = []

    def den(x, t, *, label):
        got.append(label)
        return torch.zeros_like(x)

    samplers.sample(den, _noise(), SCHED, 3, "dpmpp_2m_sde", eta=0.5, label="a",
                    generator=torch.Generator().manual_seed(0))
    samplers.sample(den, _noise(), SCHED, 3, "unipc", order=1, variant="bh1", label="b")
    assert set(got) == {"a", "b"}


# -- masks ------------------------------------------------------------------------------------
def test_from_values_needs_the_value_to_occur() -> None:
    mask = torch.tensor([[0, 255], [255, 0]], dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"known=1 occurs nowhere in the mask; its values are "
                                         r"\[0, 255\]"):
        masks.from_values(mask, known=1)
    with pytest.raises(ValueError, match=r"missing=1 occurs nowhere in the mask; its values are "
                                         r"\[0, 255\]"):
        masks.from_values(mask, missing=1)
    observed = torch.tensor([[False, True], [True, False]])
    assert torch.equal(masks.from_values(mask, known=255), observed)
    assert torch.equal(masks.from_values(mask, missing=0), observed)


@pytest.mark.parametrize("num_blocks", [0, -1, 1.5, True])
def test_block_mask_needs_a_positive_count(num_blocks) -> None:
    with pytest.raises(ValueError, match=r"num_blocks must be an integer >= 1"):
        masks.block_mask((2, 1, 4, 4), (2, 2), num_blocks)


def test_block_sizes_and_time_axis_are_integers() -> None:
    with pytest.raises(ValueError, match=r"block size must be an integer >= 1, got 1.5"):
        masks.block_mask((2, 1, 4, 4), (1.5, 2))
    with pytest.raises(ValueError, match=r"block size must be an integer >= 1, got 0"):
        masks.block_mask((2, 1, 4, 4), (0, 2))
    with pytest.raises(ValueError, match="time_axis"):
        masks.time_step_mask((2, 1, 4, 4), 0.5, time_axis=2.0)


# -- counts and numbers ---------------------------------------------------------------------
def _call(method, **kw):
    return samplers.sample(_oracle(), _noise(), SCHED, 3, method, **kw)


@pytest.mark.parametrize("call, message", [
    (lambda: samplers.sample(_oracle(), _noise(), SCHED, 0), r"steps must be an integer >= 1"),
    (lambda: samplers.sample(_oracle(), _noise(), SCHED, 2.0), r"steps must be an integer"),
    (lambda: _call("unipc", order=0), r"order must be an integer >= 1"),
    (lambda: _call("unipc", order=2.0), r"order must be an integer >= 1"),
    (lambda: _call("adaptive", max_nfe=0), r"max_nfe must be an integer >= 1"),
    (lambda: _call("euler", resample=(0, 2)), r"resample must be"),
    (lambda: samplers.calibrate(_oracle(), SCHED, _noise(), 2, teacher_steps=0),
     r"teacher_steps must be an integer >= 1"),
    (lambda: samplers.calibrate(_oracle(), SCHED, _noise(), 2, iters=-3),
     r"iters must be an integer >= 1"),
    (lambda: losses.sample_t("uniform", 0, SCHED), r"n \(the number of noise levels\) must"),
    (lambda: conditioning.NoiseEmbedding(0), r"out_dim must be an integer >= 1"),
    (lambda: conditioning.SinusoidalEmbedding(3), r"dim must be even"),
])
def test_counts_must_be_positive_integers(call, message) -> None:
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize("call, message", [
    (lambda: _call("ddim", eta=math.nan), r"eta must be a finite number in \[0, 1\], got nan"),
    (lambda: _call("dpmpp_2m_sde", eta=math.nan), r"eta must be a finite number >= 0, got nan"),
    (lambda: _call("edm", s_churn=math.nan), r"s_churn must be a finite number >= 0"),
    (lambda: _call("edm", s_noise=math.inf), r"s_noise must be a finite number >= 0"),
    (lambda: _call("edm", s_tmin=math.nan), r"s_tmin must be a number \(not NaN\)"),
    (lambda: _call("adaptive", rtol=math.nan), r"rtol must be a finite number > 0"),
    (lambda: _call("adaptive", atol=-1.0), r"atol must be a finite number >= 0"),
    (lambda: _call("adaptive", safety=2.0), r"safety must be a finite number in \(0, 1\]"),
    (lambda: samplers.sample(_oracle(), _noise(), SCHED, 3, grid=lambda s, n: (
        samplers.grids.karras(s, n, rho=math.inf))), r"rho must be a finite number > 0"),
    (lambda: samplers.calibrate(_oracle(), SCHED, _noise(), 2, lr=math.inf),
     r"lr must be a finite number > 0"),
    (lambda: losses.DiffusionLoss(sigmoid_bias=math.nan), r"sigmoid_bias must be a finite"),
    (lambda: losses.DiffusionLoss(gamma=math.inf), r"gamma \(the min-SNR clip\) must be"),
    (lambda: losses.sample_t("log_normal", 4, SCHED, p_std=0.0), r"p_std must be a finite "
                                                                  r"number > 0"),
    (lambda: parameterization.Prediction("edm", sigma_data=math.nan), r"sigma_data must be"),
])
def test_numbers_must_be_finite_where_they_need_to_be(call, message) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_edm_takes_an_infinite_s_tmax() -> None:
    assert torch.isfinite(_call("edm", s_tmax=math.inf)).all()


def test_noise_sampler_kwargs_must_be_taken_by_the_sampler() -> None:
    with pytest.raises(ValueError, match=r"noise_sampler 'uniform' takes no parameter 'p_mean'; "
                                         r"its parameters are \[\]"):
        losses.DiffusionLoss(noise_sampler="uniform", noise_sampler_kwargs={"p_mean": 0.0})
    with pytest.raises(ValueError, match=r"'log_normal' takes no parameter 'logit_std'; its "
                                         r"parameters are \['p_mean', 'p_std'\]"):
        losses.DiffusionLoss(noise_sampler="log_normal", noise_sampler_kwargs={"logit_std": 1})
    with pytest.raises(ValueError, match=r"a callable noise_sampler takes no parameter 'p_std'"):
        losses.DiffusionLoss(noise_sampler=lambda n, s, g, d: torch.rand(n),
                             noise_sampler_kwargs={"p_std": 1.0})
    with pytest.raises(ValueError, match=r"noise_sampler_kwargs\['p_std'\] must be a finite "
                                         r"number > 0"):
        losses.DiffusionLoss(noise_sampler="log_normal", noise_sampler_kwargs={"p_std": -1.0})
    with pytest.raises(ValueError, match=r"noise_sampler must be one of"):
        losses.DiffusionLoss(noise_sampler=3)
    loss = losses.DiffusionLoss("min_snr", "log_normal", noise_sampler_kwargs={"p_mean": -1.0})
    assert loss.noise_sampler_kwargs == {"p_mean": -1.0}
