"""Time grids: strictly decreasing, inside the schedule's range, and what each name promises."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polydiff import schedules
from polydiff.samplers import grids

SCHEDULES = [schedules.VPLinear(), schedules.VPCosine(), schedules.VPDiscrete.ddpm_linear(),
             schedules.VPDiscrete.scaled_linear(), schedules.VE(), schedules.EDM(),
             schedules.Flow()]


@settings(max_examples=60, deadline=None)
@given(sched=st.sampled_from(SCHEDULES), grid=st.sampled_from(grids.names()),
       steps=st.integers(1, 400))
def test_grids_decreasing_in_range(sched, grid: str, steps: int) -> None:
    ts = grids.make_grid(sched, steps, grid)
    assert ts.shape == (steps + 1,) and ts.dtype == torch.float64
    assert (ts[1:] < ts[:-1]).all()
    assert ts[0].item() == sched.t_max and ts[-1].item() == sched.t_min
    assert ts.min() >= sched.t_min and ts.max() <= sched.t_max


@settings(max_examples=20, deadline=None)
@given(sched=st.sampled_from(SCHEDULES), steps=st.integers(2, 50),
       rho=st.floats(0.5, 12.0))
def test_karras_uniform_in_sigma_power(sched, steps: int, rho: float) -> None:
    ts = grids.karras(sched, steps, rho=rho)
    u = sched.ve_sigma(ts) ** (1 / rho)
    d = u[1:] - u[:-1]
    assert torch.allclose(d, d.mean().expand_as(d), rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("sched", SCHEDULES, ids=lambda s: s.name)
def test_log_snr_uniform_and_uniform_t(sched) -> None:
    lam = sched.log_snr(grids.log_snr(sched, 12))
    d = lam[1:] - lam[:-1]
    assert torch.allclose(d, d.mean().expand_as(d), rtol=1e-6)
    t = grids.uniform(sched, 12)
    assert torch.allclose(t[1:] - t[:-1], torch.full((12,), -(sched.t_max - sched.t_min) / 12,
                                                     dtype=torch.float64))
    q = grids.quadratic(sched, 12)  # denser near the data: intervals shrink
    assert ((q[:-1] - q[1:])[1:] < (q[:-1] - q[1:])[:-1]).all()


def test_user_grid_validation() -> None:
    sched = schedules.VPLinear()
    good = [1.0, 0.5, 0.1, 0.001]
    assert torch.equal(grids.make_grid(sched, None, good), torch.tensor(good,
                                                                        dtype=torch.float64))
    assert grids.make_grid(sched, 3, torch.tensor(good)).shape == (4,)
    with pytest.raises(ValueError, match="strictly decreasing"):
        grids.check_grid([1.0, 0.5, 0.5, 0.1], sched)
    with pytest.raises(ValueError, match="strictly decreasing"):
        grids.check_grid([0.1, 0.5], sched)
    with pytest.raises(ValueError, match="outside the schedule's range"):
        grids.check_grid([1.0, 0.5, 0.0], sched)  # t_min = 1e-3 for VPLinear
    with pytest.raises(ValueError, match="outside the schedule's range"):
        grids.check_grid([0.999, 0.5], schedules.VPCosine())  # t_max = 0.9946
    with pytest.raises(ValueError, match="NaN"):
        grids.check_grid([1.0, math.nan, 0.1], sched)
    with pytest.raises(ValueError, match=">= 2 times"):
        grids.check_grid([0.5], sched)
    with pytest.raises(ValueError, match="intervals"):
        grids.make_grid(sched, 5, good)


def test_bad_names_and_steps() -> None:
    sched = schedules.EDM()
    with pytest.raises(ValueError, match=r"unknown grid 'cosine'.*karras.*log_snr"):
        grids.make_grid(sched, 10, "cosine")
    for steps in (0, -3, 2.5, True):
        with pytest.raises(ValueError, match="steps must be an integer >= 1"):
            grids.make_grid(sched, steps, "log_snr")
    with pytest.raises(ValueError, match="rho"):
        grids.karras(sched, 10, rho=0.0)
    assert grids.make_grid(sched, None, "karras").shape == (11,)  # default: 10 steps
    custom = grids.make_grid(sched, 4, lambda s, n: torch.linspace(s.t_max, s.t_min, n + 1))
    assert custom.shape == (5,)
