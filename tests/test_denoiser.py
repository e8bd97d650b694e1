import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from polydiff import Denoiser, analytic, parameterization, schedules


def test_perfect_network_output_gives_exact_x0_for_every_prediction():
    sched = schedules.VPCosine()
    x0 = torch.randn(4, 2, 3, dtype=torch.float64)
    t = torch.tensor([0.1, 0.3, 0.6, 0.9], dtype=torch.float64)
    eps = torch.randn_like(x0)
    x_t = sched.add_noise(x0, t, eps)
    for name in parameterization.names():
        pred = parameterization.get(name)

        class Net(nn.Module):
            def __init__(self, pred):
                super().__init__()
                self.pred = pred

            def forward(self, x_in, c_noise):
                a, s = sched.alpha_sigma(t)
                return self.pred.target(x0, eps, a.view(-1, 1, 1), s.view(-1, 1, 1))

        den = Denoiser(Net(pred), sched, name)
        x0_hat, eps_hat = den(x_t, t, return_eps=True)
        assert torch.allclose(x0_hat, x0, atol=1e-9), name
        assert torch.allclose(eps_hat, eps, atol=1e-9), name


def test_c_noise_and_input_scaling():
    seen = {}

    class Net(nn.Module):
        def forward(self, x_in, c_noise):
            seen["x"], seen["c"] = x_in, c_noise
            return torch.zeros_like(x_in)

    sched = schedules.EDM()
    den = Denoiser(Net(), sched, "edm", sigma_data=0.5)
    x = torch.ones(2, 1, 4)
    t = torch.tensor([0.0, 1.0])
    den(x, t)
    _, sigma = sched.alpha_sigma(t)
    assert torch.allclose(seen["c"], 0.25 * torch.log(sigma))
    assert torch.allclose(seen["x"][:, 0, 0], 1 / torch.sqrt(sigma**2 + 0.25))
    den2 = Denoiser(Net(), schedules.VPLinear(), "eps")
    den2(x, 0.5)
    assert torch.allclose(seen["c"], torch.full((2,), 500.0))
    assert torch.equal(seen["x"], x)


def test_wrong_output_shape_and_bad_t_raise():
    class Bad(nn.Module):
        def forward(self, x_in, c_noise):
            return x_in[:, :1]

    den = Denoiser(Bad(), schedules.VPCosine())
    with pytest.raises(ValueError, match="shape"):
        den(torch.zeros(2, 3, 4), 0.5)
    with pytest.raises(ValueError, match=r"t must be a scalar or of shape \(2,\)"):
        Denoiser(nn.Identity(), schedules.VE())(torch.zeros(2, 3), torch.zeros(3))
    with pytest.raises(ValueError, match="c_noise"):
        Denoiser(nn.Identity(), schedules.VE(), c_noise="sigma")


def test_bf16_network_gives_float32_solver_output():
    class Net(nn.Module):
        def forward(self, x_in, c_noise):
            return (x_in * 0.5).to(torch.bfloat16)

    den = Denoiser(Net(), schedules.VPCosine(), "eps")
    out = den(torch.randn(2, 3, 4), 0.5)
    assert out.dtype == torch.float32 and torch.isfinite(out).all()


def test_analytic_denoiser_is_a_polydiff_denoiser():
    gm = analytic.GaussianMixture(torch.zeros(1, 3), 1.0)
    den = gm.denoiser(schedules.VE())
    x = torch.randn(5, 3, dtype=torch.float64)
    out = den(x, 1.0)  # alpha = 1, sigma = 50: posterior mean x / (1 + 2500)
    assert torch.allclose(out, x / (1 + 2500.0))
    assert den.calls == 1


def test_public_types_are_met() -> None:
    """``polydiff.Denoiser``, the analytic oracle and guidance wrappers are ``typing.Denoiser``s;
    a plain module is a ``typing.Network``."""
    from polydiff import guidance
    from polydiff import typing as pt

    net = nn.Conv1d(2, 2, 1)
    den = Denoiser(net, schedules.VPCosine())
    assert isinstance(net, pt.Network) and isinstance(den, pt.Denoiser)
    oracle = analytic.GaussianMixture(torch.zeros(1, 2, 3)).denoiser(schedules.VPCosine())
    assert isinstance(oracle, pt.Denoiser) and isinstance(guidance.cfg(oracle, 2.0), pt.Denoiser)


class _GuessNet(torch.nn.Module):
    """An ideal residual network: it knows ``x0`` and ``eps`` and returns the exact target of
    the residual ``x0 - guess``; its first guess is ``guess``."""

    residual = True

    def __init__(self, x0, eps, guess, prediction):
        super().__init__()
        self.x0, self.eps, self.g, self.prediction = x0, eps, guess, prediction
        self.seen = []

    def first_guess(self, **cond):
        return self.g

    def forward(self, x_in, c_noise, guess=None, **cond):
        assert guess is not None and torch.equal(guess, self.g)
        self.seen.append(x_in)
        alpha, sigma = self.alpha_sigma
        p, q = self.prediction.coefficients(alpha, sigma)
        return p * (self.x0 - self.g) + q * self.eps


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from([n for n in parameterization.names() if n != "edm"]),
       schedule=st.sampled_from(["vp_cosine", "vp_linear", "flow"]),
       c_noise_map=st.sampled_from(["1000t", "t", "log_snr"]), t=st.floats(0.05, 0.95),
       seed=st.integers(0, 99))
def test_a_first_guess_residual_gives_the_full_prediction_for_any_schedule(name, schedule,
                                                                         c_noise_map, t, seed):
    """The Denoiser denoises x0 - guess with its own schedule and prediction: an ideal residual
    network gives the exact x0, whatever the schedule, prediction or c_noise map (before, the
    network recovered t from c_noise / 1000 and had to be told the module's schedule)."""
    g = torch.Generator().manual_seed(seed)
    x0, eps, guess = (torch.randn(2, 3, 5, generator=g, dtype=torch.float64) for _ in range(3))
    sched, pred = schedules.get(schedule), parameterization.get(name)
    tt = torch.full((2,), t, dtype=torch.float64)
    alpha, sigma = (v.view(-1, 1, 1) for v in sched.alpha_sigma(tt))
    net = _GuessNet(x0, eps, guess, pred)
    net.alpha_sigma = (alpha, sigma)
    den = Denoiser(net, sched, name, c_noise=c_noise_map)
    x_t = alpha * x0 + sigma * eps
    torch.testing.assert_close(den(x_t, tt), x0)
    torch.testing.assert_close(net.seen[0], alpha * (x0 - guess) + sigma * eps)  # r_t
