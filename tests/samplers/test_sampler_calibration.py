"""Calibrated plans (``samplers.calibrate``): the differentiable solver is the sampler, the
learned plan is valid and lowers the error it was fit to, and bad input is refused."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polydiff import analytic, samplers, schedules
from polydiff.samplers import calibration

GMM = analytic.GaussianMixture(
    torch.tensor([[1.5, -1.0, 0.5, 0.0], [-1.2, 0.8, -0.5, 1.0], [0.2, 1.4, 1.0, -1.2]],
                 dtype=torch.float64),
    torch.tensor([0.15, 0.2, 0.1], dtype=torch.float64) ** 2)


def _noise(n: int, seed: int) -> torch.Tensor:
    return torch.randn(n, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


SCHEDULES = [schedules.VPDiscrete.scaled_linear(), schedules.VPCosine(), schedules.EDM(),
             schedules.Flow()]


@settings(max_examples=12, deadline=None)
@given(method=st.sampled_from(calibration.methods()), sched=st.sampled_from(SCHEDULES),
       steps=st.integers(2, 6), seed=st.integers(0, 2**16))
def test_differentiable_solver_is_the_sampler(method: str, sched, steps: int, seed: int) -> None:
    """``_solve`` (tensor coefficients) and ``sample`` (float coefficients) agree for any grid
    and any denoiser times."""
    g = torch.Generator().manual_seed(seed)
    ts = samplers.make_grid(sched, steps, "karras")
    interior = torch.sort(torch.rand(steps - 1, generator=g, dtype=torch.float64),
                          descending=True).values
    ts[1:-1] = sched.t_min + (sched.t_max - sched.t_min) * interior
    ts = samplers.check_grid(ts, sched)
    ev = (ts + 0.05 * torch.randn(len(ts), generator=g, dtype=torch.float64)).clamp(
        sched.t_min, sched.t_max)
    order, frame = calibration.MULTISTEP[method]
    noise = _noise(5, seed)
    den = GMM.denoiser(sched)
    ours = calibration._solve(den, noise, sched, ts, ev, order, frame, {})
    ref = samplers.sample(den, noise, sched, method=method, grid=ts, eval_times=ev)
    torch.testing.assert_close(ours, ref, rtol=1e-9, atol=1e-9)


def test_calibration_lowers_the_error_and_generalises() -> None:
    sched = schedules.VPDiscrete.scaled_linear()
    den = GMM.denoiser(sched)
    cal, held = _noise(128, 1), _noise(128, 2)
    plan = samplers.calibrate(den, sched, cal, 3, "dpm_3m", iters=40, teacher_steps=100)
    assert plan.steps == 3 and plan.method == "dpm_3m"
    assert plan.rmse < 0.7 * plan.rmse_start, (plan.rmse_start, plan.rmse)
    # a valid plan: decreasing grid with exact ends, denoiser times in range
    assert samplers.check_grid(plan.times, sched).equal(plan.times)
    assert plan.times[0].item() == sched.t_max and plan.times[-1].item() == sched.t_min
    assert ((plan.eval_times >= sched.t_min) & (plan.eval_times <= sched.t_max)).all()
    # on held-out noise it beats the grid it started from, at the same NFE
    exact = samplers.sample(den, held, sched, 200, "dpmpp_3m")
    info: dict = {}
    err_plan = (plan.sample(den, held, sched, info=info) - exact).square().mean().sqrt()
    err_init = (samplers.sample(den, held, sched, 3, "dpm_3m", "karras") - exact).square().mean(
    ).sqrt()
    assert info["nfe"] == 4
    assert err_plan < 0.8 * err_init, (err_plan, err_init)
    # JSON round trip
    again = samplers.Plan.from_dict(json.loads(json.dumps(plan.to_dict())))
    assert again.times.equal(plan.times) and again.eval_times.equal(plan.eval_times)
    torch.testing.assert_close(again.sample(den, held, sched), plan.sample(den, held, sched))


def test_calibration_without_shift_keeps_denoiser_times_on_the_grid() -> None:
    sched = schedules.VPCosine()
    plan = samplers.calibrate(GMM.denoiser(sched), sched, _noise(32, 3), 2, "dpm_2m",
                              iters=3, shift=False, teacher_steps=50)
    assert plan.eval_times.equal(plan.times)


def test_calibrate_bad_input() -> None:
    sched = schedules.VPCosine()
    den, noise = GMM.denoiser(sched), _noise(8, 0)
    with pytest.raises(ValueError, match="method.*dpm_2m"):
        samplers.calibrate(den, sched, noise, 3, "heun")
    with pytest.raises(ValueError, match="steps"):
        samplers.calibrate(den, sched, noise, 1)
    with pytest.raises(ValueError, match="targets"):
        samplers.calibrate(den, sched, noise, 3, targets=noise[:4])
    with pytest.raises(ValueError, match="noise"):
        samplers.calibrate(den, sched, noise * float("nan"), 3)
    with pytest.raises(ValueError, match="iters"):
        samplers.calibrate(den, sched, noise, 3, iters=0)


def test_eval_times_bad_input() -> None:
    sched = schedules.VPCosine()
    den, noise = GMM.denoiser(sched), _noise(4, 0)
    ts = samplers.make_grid(sched, 4)
    with pytest.raises(ValueError, match="eval_times must hold one time per grid point"):
        samplers.sample(den, noise, sched, grid=ts, eval_times=ts[:-1])
    with pytest.raises(ValueError, match="eval_times spans"):
        samplers.sample(den, noise, sched, grid=ts, eval_times=ts + 1.0)
    with pytest.raises(ValueError, match="eval_times holds NaN"):
        samplers.sample(den, noise, sched, grid=ts, eval_times=ts * float("nan"))
    with pytest.raises(ValueError, match="adaptive"):
        samplers.sample(den, noise, sched, method="adaptive", eval_times=ts)
    with pytest.raises(ValueError, match="eval_times must hold"):
        samplers.sample(den, noise, sched, grid=ts, eval_times=ts[:-1], resample=(2, 2))


def test_eval_times_reach_the_denoiser_and_resampling_slices_them() -> None:
    sched = schedules.VPCosine()
    ts = samplers.make_grid(sched, 4)
    ev = ts.flip(0).clone()  # any order is allowed
    seen: list[float] = []

    def den(x, t):
        seen.append(float(t[0]))
        return GMM.denoise(x, *sched.alpha_sigma(t))

    samplers.sample(den, _noise(2, 0), sched, method="euler", grid=ts, eval_times=ev)
    torch.testing.assert_close(torch.tensor(seen, dtype=torch.float64), ev)
    seen.clear()
    samplers.sample(den, _noise(2, 0), sched, method="euler", grid=ts, eval_times=ev,
                    resample=(2, 2))
    # blocks [0, 2] and [2, 4], each run twice; the final denoising at ts[-1] once
    expected = [ev[0], ev[1], ev[0], ev[1], ev[2], ev[3], ev[2], ev[3], ev[4]]
    torch.testing.assert_close(torch.tensor(seen, dtype=torch.float64),
                               torch.stack(expected).double())


def test_minibatch_calibration_slices_batch_aligned_conditioning() -> None:
    """With ``batch_size`` < N, per-sample conditioning travels with its noise: a denoiser
    whose data are shifted per sample by ``offset`` only calibrates if the slices match."""
    sched = schedules.VPCosine()
    n = 96
    offset = 3.0 * torch.randn(n, 4, dtype=torch.float64,
                               generator=torch.Generator().manual_seed(5))

    def den(x, t, offset, scale=1.0):
        alpha, sigma = (v[:, None] for v in sched.alpha_sigma(t))
        return GMM.denoise(x - alpha * offset, alpha[:, 0], sigma[:, 0]) * scale + offset

    cal = _noise(n, 6)
    plan = samplers.calibrate(den, sched, cal, 3, "dpm_3m", iters=60, batch_size=32,
                              check_every=10, teacher_steps=100, offset=offset, scale=1.0)
    assert plan.rmse < 0.8 * plan.rmse_start, (plan.rmse_start, plan.rmse)
    # the reported loss is the loss on all N draws, with the right offsets
    exact = samplers.sample(den, cal, sched, 100, "dpmpp_3m", offset=offset, scale=1.0)
    got = plan.sample(den, cal, sched, offset=offset, scale=1.0)
    assert abs((got - exact).square().mean().sqrt().item() - plan.rmse) < 1e-6 * (1 + plan.rmse)
    with pytest.raises(ValueError, match="batch_size"):
        samplers.calibrate(den, sched, cal, 3, batch_size=n + 1, offset=offset)
    with pytest.raises(ValueError, match="check_every"):
        samplers.calibrate(den, sched, cal, 3, batch_size=8, check_every=0, offset=offset)
