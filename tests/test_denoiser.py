import pytest
import torch
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
