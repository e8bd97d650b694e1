import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from polydiff import schedules

ALL = [
    schedules.VPLinear(),
    schedules.VPCosine(),
    schedules.VPDiscrete.ddpm_linear(),
    schedules.VPDiscrete.scaled_linear(),
    schedules.VPDiscrete(torch.linspace(1e-3, 0.2, 20)),
    schedules.VE(),
    schedules.EDM(),
    schedules.Flow(),
]
IDS = [f"{s.name}{i}" for i, s in enumerate(ALL)]
unit = st.floats(0.0, 1.0)


@pytest.mark.parametrize("sched", ALL, ids=IDS)
@given(a=unit, b=unit)
def test_log_snr_strictly_decreasing(sched, a, b):
    lo, hi = sorted((a, b))
    t0 = sched.t_min + lo * (sched.t_max - sched.t_min)
    t1 = sched.t_min + hi * (sched.t_max - sched.t_min)
    lam = sched.log_snr(torch.tensor([t0, t1], dtype=torch.float64))
    if t1 - t0 > 1e-9:
        assert lam[0] > lam[1]
    assert torch.isfinite(lam).all()


@pytest.mark.parametrize("sched", ALL, ids=IDS)
@given(u=unit)
def test_inverse_round_trips(sched, u):
    t = torch.tensor([sched.t_min + u * (sched.t_max - sched.t_min)], dtype=torch.float64)
    back = sched.t_of_log_snr(sched.log_snr(t))
    assert abs(back.item() - t.item()) < 1e-9
    t32 = t.float()
    assert abs(sched.t_of_log_snr(sched.log_snr(t32)).item() - t32.item()) < 1e-5


@pytest.mark.parametrize("sched", ALL, ids=IDS)
@given(u=unit)
def test_log_snr_matches_alpha_sigma(sched, u):
    t = torch.tensor([sched.t_min + u * (sched.t_max - sched.t_min)], dtype=torch.float64)
    alpha, sigma = sched.alpha_sigma(t)
    expected = 2 * (math.log(alpha.item()) - math.log(sigma.item()))
    assert sched.log_snr(t).item() == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert alpha.item() > 0 and sigma.item() > 0


#: the schedules that are variance preserving by construction (sigma² = 1 - alpha²)
VP = (schedules.VPLinear, schedules.VPCosine, schedules.VPDiscrete)


@pytest.mark.parametrize("sched", [s for s in ALL if isinstance(s, VP)], ids=str)
@given(t=unit)
def test_variance_preserving(sched, t):
    alpha, sigma = sched.alpha_sigma(torch.tensor([t], dtype=torch.float64))
    assert (alpha**2 + sigma**2).item() == pytest.approx(1.0, abs=1e-12)


def test_endpoints_and_closed_forms():
    flow = schedules.Flow()
    a, s = flow.alpha_sigma(torch.tensor([0.0, 0.25, 1.0]))
    assert torch.allclose(a, torch.tensor([1.0, 0.75, 0.0]))
    assert torch.allclose(s, torch.tensor([0.0, 0.25, 1.0]))
    edm = schedules.EDM(sigma_min=0.002, sigma_max=80.0)
    _, s = edm.alpha_sigma(torch.tensor([0.0, 1.0], dtype=torch.float64))
    assert s.tolist() == pytest.approx([0.002, 80.0])
    ve = schedules.VE(sigma_min=0.01, sigma_max=50.0)
    _, s = ve.alpha_sigma(torch.tensor([0.5], dtype=torch.float64))
    assert s.item() == pytest.approx(math.sqrt(0.01 * 50.0))


def test_discrete_matches_alphas_cumprod():
    betas = torch.linspace(1e-4, 0.02, 1000, dtype=torch.float64)
    sched = schedules.VPDiscrete(betas)
    ac = torch.cumprod(1 - betas, 0)
    i = torch.tensor([0, 10, 500, 999])
    alpha, _ = sched.alpha_sigma(sched.t_of_index(i))
    assert torch.allclose(alpha**2, ac[i], rtol=1e-12)
    assert torch.allclose(sched.index_of_t(sched.t_of_index(i)), i.double())


def test_add_noise_broadcasts_over_any_axes():
    sched = schedules.VPCosine()
    for shape in [(3, 2, 5), (3, 1, 4, 4), (3, 2, 2, 3, 3)]:
        x0, eps = torch.randn(shape), torch.randn(shape)
        t = torch.tensor([0.1, 0.5, 0.9])
        xt = sched.add_noise(x0, t, eps)
        a, s = sched.alpha_sigma(t)
        for b in range(3):
            assert torch.allclose(xt[b], a[b] * x0[b] + s[b] * eps[b], atol=1e-6)


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan")])
def test_t_out_of_range_raises(bad):
    with pytest.raises(ValueError, match="t"):
        schedules.VPLinear().alpha_sigma(torch.tensor([bad]))


@pytest.mark.parametrize(
    "betas, msg",
    [([0.1, 0.05, 0.2], "non-decreasing"), ([0.0, 0.1], r"\(0, 1\)"), ([0.5, 1.0], r"\(0, 1\)"),
     ([0.1, float("nan")], "finite"), ([[0.1, 0.2]], "1-D")],
)
def test_bad_betas_raise(betas, msg):
    with pytest.raises(ValueError, match=msg):
        schedules.VPDiscrete(torch.tensor(betas))


def test_unknown_schedule_lists_valid_names():
    with pytest.raises(ValueError, match="vp_cosine"):
        schedules.get("cosine_typo")
    assert isinstance(schedules.get("edm", sigma_max=10.0), schedules.EDM)


def test_add_noise_rejects_non_finite_data():
    x = torch.zeros(2, 3)
    x[0, 1] = float("inf")
    with pytest.raises(ValueError, match="x0 must be finite"):
        schedules.VE().add_noise(x, torch.tensor([0.5, 0.5]), torch.zeros(2, 3))


def test_config_rebuilds_schedule():
    for s in ALL:
        cfg = s.config()
        rebuilt = schedules.get(**cfg)
        t = torch.tensor([s.t_min, 0.5 * (s.t_min + s.t_max), s.t_max], dtype=torch.float64)
        assert torch.allclose(rebuilt.log_snr(t), s.log_snr(t))
