import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from polydiff import parameterization, schedules
from polydiff._checks import append_dims

SCHEDS = [schedules.VPCosine(), schedules.VE(), schedules.EDM(), schedules.Flow(),
          schedules.VPDiscrete.scaled_linear()]


@st.composite
def noisy_batch(draw):
    n_axes = draw(st.integers(1, 3))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 2)),
             *[draw(st.integers(1, 4)) for _ in range(n_axes)])
    seed = draw(st.integers(0, 2**16))
    g = torch.Generator().manual_seed(seed)
    sched = SCHEDS[draw(st.integers(0, len(SCHEDS) - 1))]
    u = torch.rand(shape[0], generator=g, dtype=torch.float64)
    t = sched.t_min + (sched.t_max - sched.t_min) * u
    x0 = torch.randn(shape, generator=g, dtype=torch.float64)
    eps = torch.randn(shape, generator=g, dtype=torch.float64)
    a, s = sched.alpha_sigma(t)
    return x0, eps, append_dims(a, len(shape)), append_dims(s, len(shape))


@pytest.mark.parametrize("name", parameterization.names())
@given(batch=noisy_batch())
def test_target_inverts_to_x0_and_eps(name, batch):
    x0, eps, a, s = batch
    pred = parameterization.Prediction(name, sigma_data=0.7)
    x_t = a * x0 + s * eps
    x0_hat, eps_hat = pred.to_x0_eps(pred.target(x0, eps, a, s), x_t, a, s)
    scale = 1 + x_t.abs().max().item()
    assert torch.allclose(x0_hat, x0, atol=1e-8 * scale / a.min().item())
    assert torch.allclose(eps_hat, eps, atol=1e-8 * scale / s.min().item())


@pytest.mark.parametrize("src", parameterization.names())
@pytest.mark.parametrize("dst", parameterization.names())
@given(batch=noisy_batch())
def test_every_pair_round_trips(src, dst, batch):
    """out_src -> (x0, eps) -> out_dst -> (x0, eps) -> out_src reproduces out_src."""
    x0, eps, a, s = batch
    p_src, p_dst = parameterization.get(src), parameterization.get(dst)
    x_t = a * x0 + s * eps
    out_src = p_src.target(x0, eps, a, s)
    out_dst = p_dst.target(*p_src.to_x0_eps(out_src, x_t, a, s), a, s)
    back = p_src.target(*p_dst.to_x0_eps(out_dst, x_t, a, s), a, s)
    tol = 1e-7 * (1 + out_src.abs().max().item()) / min(a.min().item(), s.min().item())
    assert torch.allclose(back, out_src, atol=tol)


@pytest.mark.parametrize("name", parameterization.names())
@given(batch=noisy_batch())
def test_loss_factor_links_output_and_x0_errors(name, batch):
    x0, eps, a, s = batch
    pred = parameterization.get(name)
    x_t = a * x0 + s * eps
    delta = 1e-3 * torch.ones_like(x0)
    out = pred.target(x0, eps, a, s) + delta
    x0_hat, _ = pred.to_x0_eps(out, x_t, a, s)
    lhs = delta**2
    rhs = pred.x0_loss_factor(a, s) * (x0_hat - x0) ** 2
    assert torch.allclose(lhs, rhs, rtol=1e-6)


def test_known_targets():
    a, s = torch.tensor(0.6, dtype=torch.float64), torch.tensor(0.8, dtype=torch.float64)
    x0, eps = torch.tensor([1.0], dtype=torch.float64), torch.tensor([2.0], dtype=torch.float64)
    assert parameterization.get("v").target(x0, eps, a, s).item() == pytest.approx(0.6 * 2 - 0.8)
    assert parameterization.get("flow").target(x0, eps, a, s).item() == pytest.approx(1.0)
    assert parameterization.get("score").target(x0, eps, a, s).item() == pytest.approx(-2 / 0.8)


def test_edm_matches_karras_preconditioning():
    sd, sig = 0.5, torch.tensor(3.0, dtype=torch.float64)
    one = torch.tensor(1.0, dtype=torch.float64)
    c_skip = sd**2 / (sig**2 + sd**2)
    c_out = sig * sd / (sig**2 + sd**2).sqrt()
    x0, eps = torch.randn(5, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    x = x0 + sig * eps
    f = parameterization.get("edm", sd).target(x0, eps, one, sig)
    assert torch.allclose(c_skip * x + c_out * f, x0)
    c_in = parameterization.get("edm", sd).c_in(one, sig)
    assert c_in.item() == pytest.approx(1 / (sig**2 + sd**2).sqrt().item())


def test_unknown_prediction_lists_valid_names():
    with pytest.raises(ValueError, match=r"'eps'"):
        parameterization.Prediction("epsilon")
    with pytest.raises(ValueError, match="sigma_data"):
        parameterization.Prediction("edm", sigma_data=0.0)
