"""Finite at the ends: denoisers, prediction conversions and the loss are finite on the whole
closed range ``[0, 1]`` of every schedule, for every prediction, c_noise map and weighting, and
unchanged inside ``[t_min, t_max]``; NaN given to a schedule raises, naming the argument."""

from __future__ import annotations

import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st
from torch import nn

from polydiff import Denoiser, guidance, losses, parameterization, schedules
from polydiff._checks import append_dims
from polydiff.conditioning import C_NOISE_MAPS, NoiseEmbedding, c_noise

SCHEDULES = [schedules.VPLinear(), schedules.VPCosine(), schedules.VPDiscrete.ddpm_linear(),
             schedules.VE(), schedules.EDM(), schedules.Flow()]
PREDICTIONS = parameterization.names()
C_NOISE = sorted(C_NOISE_MAPS)
DTYPES = [torch.float32, torch.float64]
#: times in [0, 1], the exact ends often
TIME = st.one_of(st.sampled_from([0.0, 1.0]), st.floats(0.0, 1.0))
TIMES = st.lists(TIME, min_size=1, max_size=3)


class SmallNet(nn.Module):
    """A small random network: a convolution of the input plus an embedding of c_noise."""

    def __init__(self, channels: int = 2, seed: int = 0):
        super().__init__()
        torch.manual_seed(seed)
        self.conv = nn.Conv1d(channels, channels, 3, padding=1)
        self.emb = NoiseEmbedding(8)
        self.head = nn.Linear(8, channels)

    def forward(self, x_in: torch.Tensor, c_noise: torch.Tensor) -> torch.Tensor:
        return self.conv(x_in) + self.head(self.emb(c_noise))[:, :, None]


NET = SmallNet()


def _data(n: int, dtype: torch.dtype, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, 2, 5, generator=g, dtype=dtype),
            torch.randn(n, 2, 5, generator=g, dtype=dtype))


def _finite(*tensors: torch.Tensor) -> bool:
    return all(bool(torch.isfinite(v).all()) for v in tensors)


# -- the cases of the issue ----------------------------------------------------------------
@pytest.mark.parametrize("sched", [schedules.VPLinear(), schedules.Flow()], ids=str)
def test_x0_prediction_at_t0_is_finite(sched) -> None:
    """Was NaN: det = -sigma = 0 at t = 0."""
    x, _ = _data(2, torch.float32)
    x0, eps = Denoiser(NET, sched, "x0")(x, 0.0, return_eps=True)
    assert _finite(x0, eps)


@pytest.mark.parametrize("prediction", ["eps", "score"])
@pytest.mark.parametrize("sched", [schedules.VPCosine(), schedules.Flow()], ids=str)
def test_eps_and_score_prediction_at_t1_are_finite(sched, prediction) -> None:
    """Was +-Inf: alpha(1) = 0."""
    x, _ = _data(2, torch.float32)
    x0, eps = Denoiser(NET, sched, prediction)(x, 1.0, return_eps=True)
    assert _finite(x0, eps)


@pytest.mark.parametrize("weighting", ["snr", "min_snr"])
@pytest.mark.parametrize("t", [0.0, 1.0])
def test_snr_losses_at_the_ends_are_finite(weighting, t) -> None:
    """Was NaN: SNR / loss factor = inf / inf at t = 0 (and 0 / 0 at t = 1 of Flow)."""
    x0, _ = _data(4, torch.float32)
    for sched in SCHEDULES:
        for prediction in PREDICTIONS:
            den = Denoiser(NET, sched, prediction)
            loss = losses.DiffusionLoss(weighting)(den, x0, t=torch.full((4,), t))
            assert torch.isfinite(loss), (sched, prediction)


@pytest.mark.parametrize("method", ["alpha_sigma", "log_snr", "t_of_log_snr"])
@pytest.mark.parametrize("sched", SCHEDULES, ids=str)
def test_nan_given_to_a_schedule_raises_naming_the_argument(sched, method) -> None:
    name = "lam" if method == "t_of_log_snr" else "t"
    for bad in (float("nan"), torch.tensor([0.5, float("nan")])):
        with pytest.raises(ValueError, match=rf"^{name}\b.*NaN"):
            getattr(sched, method)(bad)


@pytest.mark.parametrize("sched", SCHEDULES, ids=str)
def test_infinite_log_snr_maps_to_the_limit_of_the_inverse(sched) -> None:
    """``t_of_log_snr(+-inf)`` is the limit of the inverse (never NaN); ``-inf`` is ``t = 1``
    where ``alpha(1) = 0``, beyond it otherwise; ``+inf`` is ``t = 0`` where ``sigma(0) = 0``."""
    for dtype in DTYPES:
        lam = torch.tensor([float("inf"), -float("inf")], dtype=dtype)
        lo, hi = sched.t_of_log_snr(lam).tolist()
        a, s = sched.alpha_sigma(torch.tensor([0.0, 1.0], dtype=dtype))
        assert lo <= 1e-8 and hi >= 1.0
        if s[0] == 0:
            assert lo == pytest.approx(0.0, abs=1e-8)
        if a[1] == 0:
            assert hi == pytest.approx(1.0)


# -- every combination at the ends ----------------------------------------------------------
@pytest.mark.parametrize("prediction", PREDICTIONS)
@pytest.mark.parametrize("sched", SCHEDULES, ids=str)
def test_every_combination_is_finite_at_the_ends(sched, prediction) -> None:
    ts = torch.tensor([0.0, 1.0, sched.t_min, sched.t_max])
    x0, eps = _data(4, torch.float32)
    x_t = sched.add_noise(x0, ts, eps)
    for cn in C_NOISE:
        den = Denoiser(NET, sched, prediction, c_noise=cn)
        assert _finite(*den(x_t, ts, return_eps=True)), cn
    den = Denoiser(NET, sched, prediction)
    for weighting in losses.WEIGHTINGS:
        terms = losses.denoising_terms(den, x0, ts, eps, weighting)
        assert _finite(terms.loss, terms.mse_x0), weighting
        _, a, s = den.network_output(x_t, ts)
        assert _finite(losses.loss_weight(weighting, den, a, s)), weighting


# -- property tests ------------------------------------------------------------------------
@given(sched=st.sampled_from(SCHEDULES), prediction=st.sampled_from(PREDICTIONS),
       cn=st.sampled_from(C_NOISE), dtype=st.sampled_from(DTYPES), ts=TIMES,
       seed=st.integers(0, 100))
@example(sched=SCHEDULES[-1], prediction="x0", cn="log_snr", dtype=torch.float32,
         ts=[0.0, 1.0], seed=0)
def test_denoiser_is_finite_on_the_closed_range(sched, prediction, cn, dtype, ts, seed) -> None:
    t = torch.tensor(ts, dtype=dtype)
    x0, eps = _data(len(ts), dtype, seed)
    x_t = sched.add_noise(x0, t, eps)
    den = Denoiser(NET, sched, prediction, c_noise=cn)
    x0_hat, eps_hat = den(x_t, t, return_eps=True)
    assert x0_hat.dtype == dtype and x0_hat.shape == x_t.shape
    assert _finite(x0_hat, eps_hat)


@given(sched=st.sampled_from(SCHEDULES), prediction=st.sampled_from(PREDICTIONS),
       cn=st.sampled_from(C_NOISE), dtype=st.sampled_from(DTYPES),
       us=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=3), seed=st.integers(0, 100))
def test_denoiser_is_unchanged_inside_the_range(sched, prediction, cn, dtype, us, seed) -> None:
    """Inside ``[t_min, t_max]`` the denoiser is the plain formula at ``t``, bit for bit."""
    t = (sched.t_min + (sched.t_max - sched.t_min) * torch.tensor(us, dtype=torch.float64))
    t = t.to(dtype)
    x_t, _ = _data(len(us), dtype, seed)
    den = Denoiser(NET, sched, prediction, c_noise=cn)
    alpha, sigma = sched.alpha_sigma(t)
    x_in = x_t
    if den.input_scale == "unit_variance":
        x_in = x_t * append_dims(den.prediction.c_in(alpha, sigma), 3)
    out = NET(x_in.float(), c_noise(cn, t, alpha, sigma).float()).to(dtype)
    ref = den.prediction.to_x0_eps(out, x_t, append_dims(alpha, 3), append_dims(sigma, 3))
    got = den(x_t, t, return_eps=True)
    assert torch.equal(got[0], ref[0]) and torch.equal(got[1], ref[1])


@pytest.mark.parametrize("prediction", ["eps", "edm"])
@pytest.mark.parametrize("sched", SCHEDULES, ids=str)
def test_the_gradient_in_t_is_unchanged_on_the_closed_range(sched, prediction) -> None:
    """Calibration differentiates the denoiser in ``t``: the clamp keeps that gradient inside
    ``[t_min, t_max]``, its ends included (``torch.clamp`` alone would zero it there); it is
    the plain formula's up to the order of summation."""
    x_t, _ = _data(3, torch.float64)
    den = Denoiser(NET, sched, prediction, c_noise="log_snr")

    def plain(t):
        alpha, sigma = (append_dims(v, 3) for v in sched.alpha_sigma(t))
        x_in = x_t * den.prediction.c_in(alpha, sigma) if den.input_scale != "none" else x_t
        out = NET(x_in.float(), c_noise("log_snr", t, alpha[:, 0, 0], sigma[:, 0, 0]).float())
        return den.prediction.to_x0_eps(out.double(), x_t, alpha, sigma)[0]

    t = torch.tensor([sched.t_min, 0.5 * (sched.t_min + sched.t_max), sched.t_max],
                     dtype=torch.float64, requires_grad=True)
    (got,) = torch.autograd.grad(den(x_t, t).sum(), t)
    (ref,) = torch.autograd.grad(plain(t).sum(), t)
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=0)
    assert got.abs().min() > 0


@given(sched=st.sampled_from(SCHEDULES), dtype=st.sampled_from(DTYPES), ts=TIMES,
       seed=st.integers(0, 100))
@example(sched=SCHEDULES[1], dtype=torch.float64, ts=[0.0, 1.0], seed=0)
def test_conversions_are_finite_and_exact_on_the_closed_range(sched, dtype, ts, seed) -> None:
    """At the noise level the denoiser works at (``network_output``) every conversion is finite
    and round-trips, for any ``t`` in ``[0, 1]``."""
    t = torch.tensor(ts, dtype=dtype)
    x0, eps = _data(len(ts), dtype, seed)
    for name in PREDICTIONS:
        den = Denoiser(NET, sched, name)
        x_t = sched.add_noise(x0, t, eps)
        out, a, s = den.network_output(x_t, t)
        pred = den.prediction
        assert _finite(out, a, s, pred.c_in(a, s), pred.x0_loss_factor(a, s)), name
        assert bool(pred.regular(a, s).all()), name
        # round trip at that level: (x0, eps) -> target -> (x0, eps)
        x_c = a * x0 + s * eps
        back = pred.to_x0_eps(pred.target(x0, eps, a, s), x_c, a, s)
        assert _finite(*back), name
        tol = 1e-4 if dtype == torch.float32 else 1e-8
        scale = 1 + float(x_c.abs().max())
        torch.testing.assert_close(back[0], x0, rtol=0, atol=tol * scale / float(a.min()))
        torch.testing.assert_close(back[1], eps, rtol=0, atol=tol * scale / float(s.min()))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("sched", SCHEDULES, ids=str)
def test_regular_conversions_are_finite_at_the_raw_ends(sched, dtype) -> None:
    """Where ``Prediction.regular`` holds at ``alpha(t), sigma(t)`` of an exact end, the
    conversions there are finite: they are the limits the denoiser uses."""
    a, s = (v[:, None] for v in sched.alpha_sigma(torch.tensor([0.0, 1.0], dtype=dtype)))
    x0, eps = (v[:, :, 0] for v in _data(2, dtype))
    for name in PREDICTIONS:
        pred = parameterization.get(name)
        ok = pred.regular(a, s)[:, 0]
        for i in torch.nonzero(ok).flatten().tolist():
            ai, si = a[i:i + 1], s[i:i + 1]
            x_t = ai * x0[i:i + 1] + si * eps[i:i + 1]
            out = pred.target(x0[i:i + 1], eps[i:i + 1], ai, si)
            assert _finite(out, *pred.to_x0_eps(out, x_t, ai, si)), (name, i)


@given(sched=st.sampled_from(SCHEDULES), prediction=st.sampled_from(PREDICTIONS),
       weighting=st.sampled_from(losses.WEIGHTINGS), dtype=st.sampled_from(DTYPES), ts=TIMES,
       seed=st.integers(0, 100))
@example(sched=SCHEDULES[0], prediction="eps", weighting="snr", dtype=torch.float32,
         ts=[0.0, 1.0], seed=0)
@example(sched=SCHEDULES[-1], prediction="score", weighting="edm", dtype=torch.float32,
         ts=[0.0, 1.0], seed=0)
def test_diffusion_loss_is_finite_on_the_closed_range(sched, prediction, weighting, dtype, ts,
                                                      seed) -> None:
    """The loss and its gradient are finite for any ``t`` in ``[0, 1]``."""
    x0, eps = _data(len(ts), dtype, seed)
    net = SmallNet(seed=seed % 3)
    den = Denoiser(net, sched, prediction)
    loss = losses.DiffusionLoss(weighting)(den, x0, t=torch.tensor(ts, dtype=dtype), eps=eps)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(_finite(p.grad) for p in net.parameters())


# -- what the ends give ----------------------------------------------------------------------
@pytest.mark.parametrize("prediction", ["eps", "v", "flow", "edm"])
@pytest.mark.parametrize("sched", [schedules.VPLinear(), schedules.VPCosine(),
                                   schedules.VPDiscrete.ddpm_linear(), schedules.Flow()], ids=str)
def test_the_limit_at_sigma_zero_is_the_input(sched, prediction) -> None:
    """``sigma(0) = 0`` means ``x_t = x0``: predictions regular there return ``x_t`` (the
    limit), whatever the network says."""
    x_t, _ = _data(3, torch.float64)
    x0_hat = Denoiser(NET, sched, prediction)(x_t, 0.0)
    torch.testing.assert_close(x0_hat, x_t, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("prediction", PREDICTIONS)
def test_beyond_the_range_the_denoiser_is_continuous(prediction) -> None:
    """Approaching ``t_min`` from below (limit or clamp) meets the value inside the range."""
    sched = schedules.Flow()
    den = Denoiser(NET, sched, prediction)
    x_t, _ = _data(2, torch.float64)
    at_min = den(x_t, sched.t_min, return_eps=True)
    below = den(x_t, sched.t_min * (1 - 1e-9), return_eps=True)
    for u, v in zip(at_min, below, strict=True):
        torch.testing.assert_close(u, v, rtol=1e-6, atol=1e-6)


def test_dps_is_finite_at_the_ends() -> None:
    sched = schedules.Flow()
    den = guidance.dps(Denoiser(NET, sched, "v"), lambda v: v, torch.zeros(2, 2, 5), 1.0, sched)
    x, _ = _data(2, torch.float32)
    assert _finite(den(x, torch.tensor([0.0, 1.0])))
