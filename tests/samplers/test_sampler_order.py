"""Convergence orders of the ODE methods against an exact Gaussian-mixture denoiser.

Reference: ``scipy.integrate.solve_ivp`` (DOP853, rtol 1e-10) of the probability-flow ODE in the
VE frame, ``d(x/alpha)/dlam = D - x/alpha`` with ``lam = log(alpha/sigma)``, from ``t_max`` to the
same end time as the solver (``final="none"``: no final denoising). The order is the slope of
log RMS error against log steps on a range where the asymptotic regime shows.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pytest
import torch
from scipy.integrate import solve_ivp

from polydiff import analytic, samplers, schedules
from polydiff.samplers import _expint
from polydiff.samplers._run import Run

GMM = analytic.GaussianMixture(
    torch.tensor([[1.0, -0.5, 0.3], [-0.8, 0.6, -0.2]], dtype=torch.float64),
    torch.tensor([0.3, 0.5], dtype=torch.float64) ** 2)
STEPS = (24, 48, 96)
CASES = {  # schedule, end time (lam ~ 1.2-1.8: well inside the modes' scale)
    "vp_linear": (schedules.VPLinear(), 0.05),
    "edm": (schedules.EDM(), 0.25),
    "ve": (schedules.VE(), 0.4),
}


def _lam(sched, t: float) -> float:
    return 0.5 * sched.log_snr(torch.tensor(t, dtype=torch.float64)).item()


def _alpha(sched, t: float) -> float:
    return sched.alpha_sigma(torch.tensor(t, dtype=torch.float64))[0].item()


@functools.cache
def _problem(name: str):
    sched, t_end = CASES[name]
    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 3, dtype=torch.float64, generator=g)
    x = x * sched.alpha_sigma(torch.tensor(sched.t_max, dtype=torch.float64))[1].item()
    a0, a1 = _alpha(sched, sched.t_max), _alpha(sched, t_end)

    def f(lam, y):
        xv = torch.from_numpy(y).reshape(x.shape)
        return (GMM.denoise(xv, 1.0, math.exp(-lam)) - xv).reshape(-1).numpy()

    sol = solve_ivp(f, (_lam(sched, sched.t_max), _lam(sched, t_end)),
                    (x / a0).reshape(-1).numpy(), method="DOP853", rtol=1e-10, atol=1e-12)
    assert sol.success
    ref = torch.from_numpy(sol.y[:, -1]).reshape(x.shape) * a1
    return sched, t_end, x, ref


def _grid(sched, t_end: float, n: int) -> torch.Tensor:
    lam = torch.linspace(sched.log_snr(torch.tensor(sched.t_max, dtype=torch.float64)).item(),
                         sched.log_snr(torch.tensor(t_end, dtype=torch.float64)).item(), n + 1,
                         dtype=torch.float64)
    ts = sched.t_of_log_snr(lam)
    ts[0], ts[-1] = sched.t_max, t_end
    return ts


def _slope(fn, case: str) -> tuple[float, list[float]]:
    sched, t_end, x, ref = _problem(case)
    errs = []
    for n in STEPS:
        out = fn(GMM.denoiser(sched), x, _grid(sched, t_end, n), sched, final="none")
        errs.append((out - ref).square().mean().sqrt().item())
    return -np.polyfit(np.log(STEPS), np.log(errs), 1)[0], errs


ORDERS = {
    "euler": (samplers.euler, 1),
    "ddim": (samplers.ddim, 1),
    "heun": (samplers.heun, 2),
    "edm(s_churn=0)": (functools.partial(samplers.edm, s_churn=0.0), 2),
    "dpmpp_2m": (samplers.dpmpp_2m, 2),
    "dpmpp_3m": (samplers.dpmpp_3m, 3),
    "dpm_2m": (samplers.dpm_2m, 2),
    "dpm_3m": (samplers.dpm_3m, 3),
    "unipc(1,bh2)": (functools.partial(samplers.unipc, order=1), 2),
    "unipc(2,bh2)": (functools.partial(samplers.unipc, order=2), 3),
    "unipc(3,bh2)": (functools.partial(samplers.unipc, order=3), 4),
    "unipc(1,bh1)": (functools.partial(samplers.unipc, order=1, variant="bh1"), 2),
    "unipc(2,bh1)": (functools.partial(samplers.unipc, order=2, variant="bh1"), 3),
    "unipc(3,bh1)": (functools.partial(samplers.unipc, order=3, variant="bh1"), 4),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("method", sorted(ORDERS))
def test_convergence_order(method: str, case: str) -> None:
    fn, order = ORDERS[method]
    slope, errs = _slope(fn, case)
    assert abs(slope - order) < 0.3, f"{method} on {case}: slope {slope:.2f}, errors {errs}"
    assert errs[-1] < errs[0]


def _dpmpp_3m_halved(denoiser, x, ts, sched, final="none"):
    """DPM-Solver++(3M) as commonly implemented: second difference weighted by
    ``-(phi_2/h - 1/2)``, i.e. half its Taylor value."""
    run = Run(denoiser, x, ts, sched, final=final)
    x, hist, lam = run.x, [], run.lam
    for i in run.steps():
        hist = [run.denoise(x, i), *hist[:2]]
        h = run.h[i]
        phi1 = math.expm1(-h)
        phi2 = phi1 / h + 1
        x_new = x * run.ratio[i] - run.alpha[i + 1] * phi1 * hist[0]
        if len(hist) == 3:
            r0, r1 = (lam[i] - lam[i - 1]) / h, (lam[i - 1] - lam[i - 2]) / h
            d10, d11 = (hist[0] - hist[1]) / r0, (hist[1] - hist[2]) / r1
            d1, d2 = d10 + r0 / (r0 + r1) * (d10 - d11), (d10 - d11) / (r0 + r1)
            x_new = x_new + run.alpha[i + 1] * (phi2 * d1 - (phi2 / h - 0.5) * d2)
        elif len(hist) == 2:
            x_new = x_new + run.alpha[i + 1] * phi2 * (hist[0] - hist[1]) * h / run.h[i - 1]
        x = x_new
    return run.finish(x)


def test_common_3m_is_second_order_ours_third() -> None:
    """The exact parabola integral makes 3M third order; halving its last term does not."""
    common, _ = _slope(_dpmpp_3m_halved, "vp_linear")
    ours, _ = _slope(samplers.dpmpp_3m, "vp_linear")
    assert abs(common - 2) < 0.3 and abs(ours - 3) < 0.3, (common, ours)


def test_expint_weights_integrate_polynomials_exactly() -> None:
    """The weights reproduce int_0^h e^(u-h) p(u) du for polynomials up to their degree."""
    h, nodes = 0.7, [0.0, -0.5, -1.3]
    w = _expint.weights(h, nodes)
    for deg in range(3):
        exact = _expint.moments(h, deg + 1)[deg]
        assert math.isclose(sum(wk * u**deg for wk, u in zip(w, nodes, strict=True)), exact,
                            rel_tol=1e-12, abs_tol=1e-15)
    # the noise frame's weights integrate e^(-u) p(u) over [0, h]
    wn = _expint.noise_weights(h, nodes)
    u = np.linspace(0, h, 20001)
    for deg in range(3):
        exact = np.trapezoid(np.exp(-u) * (u - 0.2) ** deg, u)
        approx = sum(wk * (uk - 0.2) ** deg for wk, uk in zip(wn, nodes, strict=True))
        assert math.isclose(approx, exact, rel_tol=1e-7), (deg, approx, exact)
    for h in (1e-3, 0.5, 0.99, 1.0, 3.0):  # series and recurrence agree with the integral
        u = np.linspace(0, h, 20001)
        for j, m in enumerate(_expint.moments(h, 4)):
            assert math.isclose(m, np.trapezoid(np.exp(u - h) * u**j, u), rel_tol=1e-6)


@pytest.mark.parametrize("case", ["vp_linear", "edm"])
def test_adaptive_meets_tolerance(case: str) -> None:
    sched, t_end, x, ref = _problem(case)
    ts = torch.tensor([sched.t_max, t_end], dtype=torch.float64)
    errs, nfes = [], []
    for tol in (1e-3, 1e-5):
        info: dict = {}
        out = samplers.adaptive(GMM.denoiser(sched), x, ts, sched, rtol=tol, atol=tol,
                                final="none", info=info)
        errs.append((out - ref).abs().max().item())
        nfes.append(info["nfe"])
        assert info["accepted"] > 0 and info["rejected"] < info["accepted"] / 2
        assert errs[-1] < 30 * tol, (tol, errs[-1])
    assert errs[1] < errs[0] / 10 and nfes[1] > nfes[0]


def test_final_step_reaches_sigma_zero_at_second_order() -> None:
    """For Gaussian data the ODE solution at sigma = 0 is known in closed form:
    x0 = mu + sqrt(v / (v + s_T²)) (x_T/alpha_T - mu). Ending the grid at s = sigma/alpha = 0.05,
    a plain final denoising leaves an O(s²/v) error however many steps are taken; the
    extrapolated last step keeps converging at second order."""
    sched = schedules.VPLinear()
    mu, v = 0.4, 0.3**2
    gauss = analytic.GaussianMixture(torch.tensor([[mu]], dtype=torch.float64),
                                     torch.tensor([v], dtype=torch.float64))
    noise = torch.randn(16, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    s_t = sched.ve_sigma(torch.tensor(sched.t_max, dtype=torch.float64)).item()
    exact = mu + math.sqrt(v / (v + s_t**2)) * (noise * s_t - mu)
    t_end = sched.t_of_log_snr(torch.tensor(-2 * math.log(0.05), dtype=torch.float64)).item()
    errs, plain = [], []
    for n in (16, 32, 64):
        seen: list = []
        out = samplers.sample(gauss.denoiser(sched), noise, sched, method="dpmpp_2m",
                              grid=_grid(sched, t_end, n),
                              callback=lambda x, t, d, seen=seen: seen.append(d))
        errs.append((out - exact).abs().max().item())
        plain.append((seen[-1] - exact).abs().max().item())  # D at the last grid time
    slope = -np.polyfit(np.log([16, 32, 64]), np.log(errs), 1)[0]
    assert slope > 1.7, errs
    assert errs[-1] < plain[-1] / 5 and plain[-1] > 0.5 * plain[0], (errs, plain)
