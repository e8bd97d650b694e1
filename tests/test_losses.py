import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch import nn

from polydiff import Denoiser, losses, parameterization, schedules

SCHEDS = [schedules.VPCosine(), schedules.VE(), schedules.EDM(), schedules.Flow()]


class PerfectNet(nn.Module):
    """Outputs the exact target: knows x0 and eps of the current batch."""

    def __init__(self, sched, pred):
        super().__init__()
        self.sched, self.pred = sched, pred
        self.x0 = self.eps = self.t = None

    def forward(self, x_in, c_noise):
        a, s = self.sched.alpha_sigma(self.t)
        shape = (-1,) + (1,) * (self.x0.ndim - 1)
        return self.pred.target(self.x0, self.eps, a.view(shape), s.view(shape))


class ConvNet(nn.Module):
    def __init__(self, ch):
        super().__init__()
        self.conv = nn.Conv1d(ch, ch, 3, padding=1)

    def forward(self, x_in, c_noise):
        return self.conv(x_in) + c_noise.view(-1, 1, 1) * 1e-3


@pytest.mark.parametrize("weighting", losses.WEIGHTINGS)
@pytest.mark.parametrize("prediction", parameterization.names())
@given(seed=st.integers(0, 10_000), sched_i=st.integers(0, len(SCHEDS) - 1))
def test_perfect_output_gives_zero_loss(weighting, prediction, seed, sched_i):
    sched = SCHEDS[sched_i]
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(3, 2, 5, generator=g, dtype=torch.float64)
    eps = torch.randn(3, 2, 5, generator=g, dtype=torch.float64)
    t = losses.sample_t("uniform", 3, sched, g).double()
    net = PerfectNet(sched, parameterization.get(prediction))
    net.x0, net.eps, net.t = x0, eps, t
    den = Denoiser(net, sched, prediction)
    loss = losses.denoising_loss(den, x0, t, eps, weighting)
    assert loss.shape == (3,)
    assert torch.all(loss.abs() < 1e-12 * (1 + losses.loss_weight(
        weighting, den, *sched.alpha_sigma(t)).abs()))


@given(seed=st.integers(0, 10_000), n_axes=st.integers(1, 3))
def test_unobserved_entries_change_neither_loss_nor_gradient(seed, n_axes):
    g = torch.Generator().manual_seed(seed)
    shape = (2, 2, *([3] * n_axes))
    x0 = torch.randn(shape, generator=g)
    observed = torch.rand(shape, generator=g) > 0.4
    eps = torch.randn(shape, generator=g)
    t = torch.rand(2, generator=g) * 0.9 + 0.05
    conv = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}[n_axes]
    torch.manual_seed(0)
    net = conv(2, 2, 3, padding=1)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = net

        def forward(self, x_in, c_noise):
            return self.body(x_in)

    den = Denoiser(Net(), schedules.VPCosine(), "v")

    def loss_and_grad(data):
        net.zero_grad()
        loss = losses.denoising_loss(den, data, t, eps, "min_snr", observed).sum()
        loss.backward()
        return loss.detach(), net.weight.grad.clone()

    l1, g1 = loss_and_grad(x0)
    changed = torch.where(observed, x0, torch.randn(shape, generator=g) * 100)
    changed[~observed.expand_as(changed)] = float("nan") if seed % 2 else 7.0
    l2, g2 = loss_and_grad(changed)
    assert torch.equal(l1, l2)
    assert torch.equal(g1, g2)
    l3, _ = loss_and_grad(torch.where(observed, x0 + 1.0, x0))
    assert not torch.equal(l1, l3)  # observed entries do count


def test_weightings_have_their_closed_forms():
    sched = schedules.VE(0.01, 50.0)
    den = Denoiser(nn.Identity(), sched, "eps")
    t = torch.tensor([0.2, 0.5, 0.8], dtype=torch.float64)
    a, s = sched.alpha_sigma(t)
    snr = (a / s) ** 2
    assert torch.allclose(losses.loss_weight("uniform", den, a, s), torch.ones(3).double())
    assert torch.allclose(losses.loss_weight("snr", den, a, s), torch.ones(3).double())
    assert torch.allclose(losses.loss_weight("min_snr", den, a, s, gamma=5.0),
                          snr.clamp(max=5.0) / snr)
    edm = Denoiser(nn.Identity(), sched, "edm", sigma_data=0.5)
    assert torch.allclose(losses.loss_weight("edm", edm, a, s), torch.ones(3).double())
    x0den = Denoiser(nn.Identity(), sched, "x0")
    assert torch.allclose(losses.loss_weight("sigmoid", x0den, a, s, sigmoid_bias=1.0),
                          snr * torch.sigmoid(1.0 - snr.log()))


@pytest.mark.parametrize("name", losses.NOISE_SAMPLERS)
@pytest.mark.parametrize("sched", SCHEDS, ids=lambda s: s.name)
def test_noise_samplers_stay_in_range(name, sched):
    t = losses.sample_t(name, 2000, sched, torch.Generator().manual_seed(0))
    assert t.shape == (2000,)
    assert t.min() >= sched.t_min and t.max() <= sched.t_max
    assert t.std() > 0


def test_log_normal_sampler_has_edm_distribution():
    sched = schedules.EDM(sigma_min=1e-4, sigma_max=1e4)
    t = losses.sample_t("log_normal", 20000, sched, torch.Generator().manual_seed(1))
    log_sigma = torch.log(sched.alpha_sigma(t)[1])
    assert log_sigma.mean().item() == pytest.approx(-1.2, abs=0.05)
    assert log_sigma.std().item() == pytest.approx(1.2, abs=0.05)


def test_diffusion_loss_trains_a_small_net():
    torch.manual_seed(0)
    x0 = torch.randn(64, 1, 8) * 0.1 + torch.linspace(-1, 1, 8)
    den = Denoiser(ConvNet(1), schedules.VPCosine(), "v")
    loss_fn = losses.DiffusionLoss("min_snr", "logit_normal")
    opt = torch.optim.Adam(den.parameters(), lr=1e-2)
    g = torch.Generator().manual_seed(0)
    first = None
    for _ in range(150):
        loss = loss_fn(den, x0, generator=g)
        opt.zero_grad()
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    eval_losses = [loss_fn(den, x0, generator=torch.Generator().manual_seed(9)).item()
                   for _ in range(1)]
    assert eval_losses[0] < 0.7 * first


def test_bad_loss_inputs_raise():
    den = Denoiser(ConvNet(1), schedules.VPCosine())
    x0 = torch.zeros(2, 1, 4)
    with pytest.raises(ValueError, match="weighting"):
        losses.DiffusionLoss("snr_typo")
    with pytest.raises(ValueError, match="noise_sampler"):
        losses.DiffusionLoss(noise_sampler="lognormal")
    with pytest.raises(ValueError, match="observed"):
        losses.DiffusionLoss()(den, x0, observed=torch.ones(3, 1, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="bool"):
        losses.DiffusionLoss()(den, x0, observed=torch.ones(2, 1, 4))
    bad = x0.clone()
    bad[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="finite"):
        losses.DiffusionLoss()(den, bad)


@given(seed=st.integers(0, 10_000), scale=st.floats(0.1, 10.0))
def test_element_weights_are_a_weighted_mean_over_entries(seed, scale):
    g = torch.Generator().manual_seed(seed)
    den = Denoiser(ConvNet(2), schedules.VPCosine(), "v")
    x0 = torch.randn(3, 2, 6, generator=g)
    eps = torch.randn(3, 2, 6, generator=g)
    t = torch.rand(3, generator=g) * 0.9 + 0.05
    observed = torch.rand(3, 1, 6, generator=g) > 0.3
    observed[:, :, 0] = True
    plain = losses.denoising_terms(den, x0, t, eps, "min_snr", observed)
    ones = losses.denoising_terms(den, x0, t, eps, "min_snr", observed,
                                  weight=torch.full((1, 1, 6), scale))
    torch.testing.assert_close(ones.loss, plain.loss)  # constant weights change nothing
    zeroed = torch.where(observed, x0, 0.0)  # (a mask also zeroes missing data before noising)
    as_mask = losses.denoising_terms(den, zeroed, t, eps, "min_snr", weight=observed.float())
    torch.testing.assert_close(as_mask.loss, plain.loss)  # a 0/1 weight counts like a mask
    w = torch.rand(1, 1, 6, generator=g) + 0.1
    terms = losses.denoising_terms(den, x0, t, eps, "uniform", weight=w)
    out, a, s = den.network_output(den.schedule.add_noise(x0, t, eps), t)
    se = (out - den.prediction.target(x0, eps, a, s)) ** 2
    manual = (se * w).sum((1, 2)) / w.expand_as(se).sum((1, 2))
    torch.testing.assert_close(terms.loss, manual)


def test_bad_weights_are_named():
    den = Denoiser(ConvNet(1), schedules.VPCosine())
    x0 = torch.zeros(2, 1, 4)
    with pytest.raises(ValueError, match="weight must be >= 0"):
        losses.DiffusionLoss()(den, x0, weight=-torch.ones(1, 1, 4))
    with pytest.raises(ValueError, match="weight of shape"):
        losses.DiffusionLoss()(den, x0, weight=torch.ones(3, 1, 4))
    with pytest.raises(ValueError, match="floating tensor"):
        losses.DiffusionLoss()(den, x0, weight=torch.ones(1, 1, 4, dtype=torch.long))
