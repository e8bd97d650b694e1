"""Samplers benchmark: polydiff vs diffusers and k-diffusion on an exact Gaussian-mixture model.

Problem: an analytic GMM with 8 well-separated, anisotropic modes in 64 dimensions (tensors of
shape (4, 4, 4)), under Stable Diffusion's discrete schedule (``VPDiscrete.scaled_linear``,
1000 betas) for every library. Each solver starts from the same noise at the schedule's top
noise level and its result is compared with the exact probability-flow ODE solution at
sigma = 0 from that noise (``scipy.integrate.solve_ivp``, DOP853, rtol = atol = 1e-10):

- RMSE to the exact ODE sample (per entry), and the median over samples of the per-sample RMSE,
- mode flips: samples whose most responsible mode differs from the exact solution's,
- SW: sliced Wasserstein-2 distance to true samples of the mixture (256 projections).

Plus the per-step overhead (µs) of the sampling loop with a trivial model on a (1, 4, 8, 8) and a
(16, 3, 64, 64) float32 tensor: the marginal cost of a step, ``(T(60 steps) - T(10)) / 50``.

Run: ``python benchmarks/samplers.py`` (~22 minutes on 2 CPU cores, 14 of them calibrating;
``--calibration-samples 0`` skips that). Needs
``pip install diffusers torchsde torchdiffeq`` and ``pip install --no-deps k-diffusion``; only
``k_diffusion.sampling`` is imported. Prints tables and writes ``benchmarks/results/samplers.json``.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import torch
from sampler_anchors import k_sampling, run_diffusers, run_kdiffusion
from scipy.integrate import solve_ivp

from polydiff import analytic, samplers, schedules

NFES = (5, 8, 10, 15, 20, 50)
GRIDS = ("log_snr", "karras", "uniform", "quadratic")
OUT = Path(__file__).parent / "results" / "samplers.json"


# -- the problem ------------------------------------------------------------------------------
def make_problem(n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    k, shape = 8, (4, 4, 4)
    means = 0.7 * torch.randn((k, *shape), generator=g, dtype=torch.float64)
    std = 0.10 + 0.25 * torch.rand((k, *shape), generator=g, dtype=torch.float64)
    weights = 1.0 + torch.arange(k, dtype=torch.float64)
    gmm = analytic.GaussianMixture(means, std**2, weights)
    sched = schedules.VPDiscrete.scaled_linear()
    noise = torch.randn((n, *shape), generator=g, dtype=torch.float64)
    true = gmm.sample(n, generator=g)
    proj = torch.randn(256, gmm.dim, generator=g, dtype=torch.float64)
    return gmm, sched, noise, true, proj / proj.norm(dim=1, keepdim=True)


def sigma_max(sched) -> float:  # sigma/alpha at t_max: where every solver starts
    return sched.ve_sigma(torch.tensor(sched.t_max, dtype=torch.float64)).item()


def reference(gmm, x_ve: torch.Tensor, s_max: float, rtol: float = 1e-10) -> torch.Tensor:
    """Exact PF-ODE in the VE frame, dx/ds = -s score(x; s), from s_max to s = 0."""
    shape = x_ve.shape

    def f(s, y):
        x = torch.from_numpy(y).reshape(shape)
        return (-s * gmm.score(x, 1.0, s)).reshape(-1).numpy()

    sol = solve_ivp(f, (s_max, 0.0), x_ve.reshape(-1).numpy(), method="DOP853", rtol=rtol,
                    atol=rtol)
    return torch.from_numpy(sol.y[:, -1]).reshape(shape)


def sliced_w2(a: torch.Tensor, b: torch.Tensor, proj: torch.Tensor) -> float:
    pa = torch.sort(a.reshape(len(a), -1).double() @ proj.T, dim=0).values
    pb = torch.sort(b.reshape(len(b), -1).double() @ proj.T, dim=0).values
    return (pa - pb).square().mean().sqrt().item()


def metrics(x, ref, gmm, true, proj, ref_modes) -> dict:
    x = x.double()
    if not torch.isfinite(x).all():
        return {"rmse": math.inf, "median_rmse": math.inf, "flips": len(x), "sw": math.inf}
    per_sample = (x - ref).flatten(1).square().mean(1).sqrt()
    return {"rmse": (x - ref).square().mean().sqrt().item(),
            "median_rmse": per_sample.median().item(),
            "flips": int((gmm.component_of(x) != ref_modes).sum()),
            "sw": sliced_w2(x, true, proj)}


# -- polydiff ----------------------------------------------------------------------------------
POLYDIFF = {  # label -> (method, options)
    "euler": ("euler", {}), "heun": ("heun", {}), "dpmpp_2m": ("dpmpp_2m", {}),
    "dpmpp_3m": ("dpmpp_3m", {}), "dpm_2m": ("dpm_2m", {}), "dpm_3m": ("dpm_3m", {}),
    "unipc(1,bh2)": ("unipc", {"order": 1}), "unipc(2,bh2)": ("unipc", {"order": 2}),
    "unipc(3,bh2)": ("unipc", {"order": 3}), "unipc(2,bh1)": ("unipc", {"order": 2,
                                                                         "variant": "bh1"}),
    "unipc(3,bh1)": ("unipc", {"order": 3, "variant": "bh1"}),
    # stochastic: their RMSE to the ODE solution is not a measure of error (only SW is)
    "ddpm": ("ddpm", {}), "ddim(eta=0.5)": ("ddim", {"eta": 0.5}),
    "dpmpp_2m_sde": ("dpmpp_2m_sde", {}), "euler_maruyama": ("euler_maruyama", {}),
    "edm(churn)": ("edm", {}),
}


def run_polydiff(gmm, sched, noise, score, nfes=NFES, adaptive: bool = True) -> list[dict]:
    rows = []
    den = gmm.denoiser(sched)
    for label, (method, opts) in POLYDIFF.items():
        entry = samplers.info(method)
        for grid in GRIDS:
            for target in nfes:
                steps = (target - 1) // entry.evals_per_step
                if steps < 1:
                    continue
                info = {}
                x = samplers.sample(den, noise, sched, steps, method, grid, info=info,
                                    generator=torch.Generator().manual_seed(1), **opts)
                rows.append({"library": "polydiff", "method": label, "config": grid,
                             "stochastic": entry.stochastic or opts.get("eta", 0) > 0,
                             "nfe_target": target, "nfe": info["nfe"], **score(x)})
    for tol in (1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4) if adaptive else ():
        info = {}
        x = samplers.sample(den, noise, sched, 1, "adaptive", info=info, rtol=tol, atol=tol)
        rows.append({"library": "polydiff", "method": "adaptive", "config": f"tol={tol:g}",
                     "stochastic": False, "nfe_target": None, "nfe": info["nfe"], **score(x)})
    return rows


CALIBRATED = {"dpm_3m": (5, 8, 10), "dpm_2m": (5,)}  # method -> NFE budgets
CALIBRATION = {"iters": 600, "batch_size": 2048, "check_every": 50, "lr": 0.01}


def run_calibrated(gmm, sched, noise, score, samples: int, seed: int) -> list[dict]:
    """``samplers.calibrate`` plans, learned on separate calibration noise (``samples`` draws
    of another seed; teacher: dpm_3m with 100 log-SNR steps, RMSE ~1e-4 to the exact ODE;
    settings ``CALIBRATION``, chosen on a third noise seed) and scored on the benchmark's
    noise."""
    rows = []
    den = gmm.denoiser(sched)
    cal = torch.randn((samples, *noise.shape[1:]), dtype=torch.float64,
                      generator=torch.Generator().manual_seed(10_000 + seed))
    t0 = time.perf_counter()
    targets = samplers.sample(den, cal, sched, 100, "dpm_3m", "log_snr")
    t_teacher = time.perf_counter() - t0
    for method, budgets in CALIBRATED.items():
        for target in budgets:
            t0 = time.perf_counter()
            opts = {**CALIBRATION, "batch_size": min(CALIBRATION["batch_size"], samples)}
            plan = samplers.calibrate(den, sched, cal, target - 1, method, targets=targets,
                                      **opts)
            seconds = time.perf_counter() - t0
            info = {}
            x = plan.sample(den, noise, sched, info=info)
            rows.append({"library": "polydiff", "method": method, "config": "calibrated",
                         "stochastic": False, "calibrated": True, "nfe_target": target,
                         "nfe": info["nfe"], "calibration_s": seconds,
                         "teacher_s": t_teacher, "calibration_samples": samples,
                         "calibration_rmse": plan.rmse, "plan": plan.to_dict(), **score(x)})
            print(f"calibrated {method} NFE {target}: {seconds:.0f}s, calibration RMSE "
                  f"{plan.rmse_start:.3e} -> {plan.rmse:.3e}, benchmark RMSE "
                  f"{rows[-1]['rmse']:.3e}", flush=True)
    return rows


# -- overhead -------------------------------------------------------------------------------
def _timed(fn: Callable[[], object]) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _runners(shape: tuple[int, ...]) -> dict[str, Callable[[int], float]]:
    """name -> run(steps) returning the seconds of the timed part, for one tensor shape."""
    import diffusers as d

    ks = k_sampling()
    vp = schedules.VPDiscrete.scaled_linear()
    edm = schedules.EDM(sigma_min=0.0292, sigma_max=14.6)
    x = torch.randn(shape)

    def ident(x, t):
        return x

    def poly(method, schedule=vp):
        fn = getattr(samplers, method)
        grid = {n: samplers.grids.log_snr(schedule, n) for n in (10, 60)}
        return lambda n: _timed(lambda: fn(ident, x, grid[n], schedule))

    def poly_sample(n):
        return _timed(lambda: samplers.sample(ident, x, vp, n, "dpmpp_2m"))

    sig = {n: ks.get_sigmas_karras(n, 0.0292, 14.6) for n in (10, 60)}

    def kdiff(n):
        return _timed(lambda: ks.sample_dpmpp_2m(ident, x, sig[n], disable=True))

    sch = d.DPMSolverMultistepScheduler(
        beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
        use_karras_sigmas=True, solver_order=2, final_sigmas_type="zero")

    def diff_loop():
        y = x
        for t in sch.timesteps:
            y = sch.step(y, t, y).prev_sample

    def diff(n):
        sch.set_timesteps(n)  # outside the clock
        return _timed(diff_loop)

    return {
        "polydiff dpmpp_2m (VP)": poly("dpmpp_2m"),
        "polydiff dpmpp_2m (EDM)": poly("dpmpp_2m", edm),
        "polydiff sample(dpmpp_2m)": poly_sample,
        "polydiff euler (VP)": poly("euler"),
        "polydiff dpmpp_3m (VP)": poly("dpmpp_3m"),
        "polydiff unipc (VP)": poly("unipc"),
        "k-diffusion dpmpp_2m": kdiff,
        "diffusers DPMSolverMultistep": diff,
    }


def overhead(repeats: int) -> list[dict]:
    """Marginal µs per step, ``(T(60 steps) - T(10 steps)) / 50``, each T the minimum over
    ``repeats`` rounds in which the samplers take turns (machine noise hits all alike). The
    model returns its input; grids/sigmas/``set_timesteps`` are prepared outside the clock."""
    rows = []
    for shape in ((1, 4, 8, 8), (16, 3, 64, 64)):
        runners = _runners(shape)
        best = {(k, n): math.inf for k in runners for n in (10, 60)}
        for _ in range(repeats):
            for k, run in runners.items():
                for n in (10, 60):
                    best[k, n] = min(best[k, n], run(n))
        for k in runners:
            rows.append({"shape": list(shape), "sampler": k,
                         "us_per_step": (best[k, 60] - best[k, 10]) / 50 * 1e6})
    return rows


# -- report ------------------------------------------------------------------------------------
def best_by(rows, key="rmse", **match):
    sel = [r for r in rows if all(r.get(k) == v for k, v in match.items())]
    return min(sel, key=lambda r: (r[key], r["flips"])) if sel else None


def print_pivot(rows, library, value, fmt, title):
    print(f"\n{title}")
    labels = sorted({(r["method"], r["config"]) for r in rows if r["library"] == library
                     and r["nfe_target"] is not None}, key=lambda m: m)
    print(f"{'method':22s} {'config':12s}" + "".join(f"{n:>10d}" for n in NFES))
    for method, config in labels:
        cells = []
        for n in NFES:
            r = [r for r in rows if r["library"] == library and r["method"] == method
                 and r["config"] == config and r["nfe_target"] == n]
            cells.append(f"{fmt(r[0][value]):>10s}" if r else f"{'-':>10s}")
        print(f"{method:22s} {config:12s}" + "".join(cells))


def summarize(rows, extras: bool = False, calibrated: bool = True, nfes=NFES) -> dict:
    """Best deterministic polydiff method vs best anchor per NFE budget. The anchors are the
    issue's list (diffusers DPMSolverMultistep, UniPC, DEIS, Euler, Heun, DDIM; k-diffusion
    euler, heun, dpm_2, lms, dpmpp_2m) in every configuration tried; ``extras`` adds
    k-diffusion's dpmpp_3m_sde(eta=0); ``calibrated=False`` leaves out calibrated plans."""
    out = {}
    ode = [r for r in rows if not r["stochastic"] and r["nfe_target"] is not None]
    anchors = [r for r in ode if r["library"] != "polydiff" and (extras or not r.get("extra"))]
    ours = [r for r in ode if r["library"] == "polydiff"
            and (calibrated or not r.get("calibrated"))]
    print(f"\n{'NFE':>4s}  {'polydiff (best RMSE)':40s} {'best anchor':52s} {'ratio':>6s} "
          f"{'median p/a':>17s} {'min flips p/a':>13s}")
    for n in nfes:
        p = best_by(ours, nfe_target=n)
        a = best_by(anchors, nfe_target=n)
        pm = best_by(ours, key="median_rmse", nfe_target=n)
        am = best_by(anchors, key="median_rmse", nfe_target=n)
        fp = min(r["flips"] for r in ours if r["nfe_target"] == n)
        fa = min(r["flips"] for r in anchors if r["nfe_target"] == n)
        out[str(n)] = {"polydiff": p, "anchor": a, "rmse_ratio": p["rmse"] / a["rmse"],
                       "median_ratio": pm["median_rmse"] / am["median_rmse"],
                       "polydiff_best_median": pm, "anchor_best_median": am,
                       "min_flips_polydiff": fp, "min_flips_anchor": fa}
        pd = f"{p['method']}/{p['config']} [{p['nfe']}] {p['rmse']:.2e}"
        an = f"{a['library']} {a['method']}/{a['config']} [{a['nfe']}] {a['rmse']:.2e}"
        med = f"{pm['median_rmse']:.1e}/{am['median_rmse']:.1e}"
        print(f"{n:>4d}  {pd:40s} {an:52s} {p['rmse'] / a['rmse']:6.3f} {med:>17s} "
              f"{fp:>6d}/{fa:<6d}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=4096,
                    help="noise draws scored (at 5-10 NFE the RMSE rests on rare mode flips: "
                         "a few hundred draws decide it by chance)")
    ap.add_argument("--seed", type=int, default=0, help="seed of the mixture, noise and samples")
    ap.add_argument("--repeats", type=int, default=15, help="timing rounds")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--skip-overhead", action="store_true")
    ap.add_argument("--calibration-samples", type=int, default=32768,
                    help="noise draws for samplers.calibrate (0: skip the calibrated plans)")
    args = ap.parse_args()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the accuracy part is tiny tensors: threads only add latency

    t_start = time.perf_counter()
    gmm, sched, noise, true, proj = make_problem(args.samples, args.seed)
    s_max = sigma_max(sched)
    t0 = time.perf_counter()
    ref = reference(gmm, noise * s_max, s_max)
    ref_check = reference(gmm, noise * s_max, s_max, rtol=1e-12)
    ref_err = (ref - ref_check).square().mean().sqrt().item()
    print(f"reference: solve_ivp DOP853 rtol 1e-10 in {time.perf_counter() - t0:.1f}s "
          f"(RMSE vs rtol 1e-12: {ref_err:.1e})")
    ref_modes = gmm.component_of(ref)
    floor = {"sw_exact_ode": sliced_w2(ref, true, proj),
             "sw_true_vs_true": sliced_w2(gmm.sample(args.samples,
                                                     torch.Generator().manual_seed(99)),
                                          true, proj)}
    print(f"SW floor: exact ODE samples {floor['sw_exact_ode']:.4f}, two true sample sets "
          f"{floor['sw_true_vs_true']:.4f}")

    def score(x):
        return metrics(x, ref, gmm, true, proj, ref_modes)

    rows = run_polydiff(gmm, sched, noise, score)
    if args.calibration_samples:
        rows += run_calibrated(gmm, sched, noise, score, args.calibration_samples, args.seed)
    rows += run_diffusers(gmm, noise, s_max, score, NFES)
    rows += run_kdiffusion(gmm, sched, noise, s_max, score, NFES)

    for lib in ("polydiff", "diffusers", "k-diffusion"):
        print_pivot(rows, lib, "rmse", lambda v: f"{v:.2e}",
                    f"[{lib}] RMSE to the exact ODE sample (stochastic methods: not an error)")
    for lib in ("polydiff", "diffusers", "k-diffusion"):
        print_pivot(rows, lib, "median_rmse", lambda v: f"{v:.2e}",
                    f"[{lib}] median per-sample RMSE to the exact ODE sample")
    for lib in ("polydiff", "diffusers", "k-diffusion"):
        print_pivot(rows, lib, "flips", str, f"[{lib}] mode flips (of {args.samples})")
    for lib in ("polydiff", "diffusers", "k-diffusion"):
        print_pivot(rows, lib, "sw", lambda v: f"{v:.4f}", f"[{lib}] sliced W2 to true samples")
    print("\n[polydiff] adaptive")
    for r in rows:
        if r["method"] == "adaptive":
            print(f"  {r['config']:12s} nfe {r['nfe']:4d}  rmse {r['rmse']:.2e}  "
                  f"flips {r['flips']}  sw {r['sw']:.4f}")
    print("\nBest deterministic method per NFE budget, anchors as specified in the issue "
          "(RMSE; NFE used in brackets; median = median per-sample RMSE of the best method by "
          "that measure)")
    summary = summarize(rows)
    print("\nThe same without calibrated plans (fixed grids only)")
    summary_fixed = summarize(rows, calibrated=False)
    print("\nThe same, anchors including k-diffusion dpmpp_3m_sde(eta=0)")
    summary_extra = summarize(rows, extras=True)

    torch.set_num_threads(threads)  # timings with torch's default intra-op threads
    over = [] if args.skip_overhead else overhead(args.repeats)
    if over:
        print("\nPer-step overhead (µs, marginal cost of one step, trivial model, float32)")
        for shape in ((1, 4, 8, 8), (16, 3, 64, 64)):
            print(f"  shape {shape}")
            for r in over:
                if tuple(r["shape"]) == shape:
                    print(f"    {r['sampler']:32s} {r['us_per_step']:9.1f}")
    result = {
        "meta": {"date": date.today().isoformat(), "samples": args.samples, "seed": args.seed,
                 "torch": torch.__version__, "python": platform.python_version(),
                 "threads": torch.get_num_threads(), "machine": platform.machine(),
                 "schedule": "VPDiscrete.scaled_linear (1000 betas)", "dim": gmm.dim,
                 "modes": gmm.num_components, "sigma_max": s_max,
                 "reference_rmse_vs_rtol_1e-12": ref_err, **floor,
                 "seconds": time.perf_counter() - t_start},
        "accuracy": rows, "summary": summary, "summary_fixed_grids": summary_fixed,
        "summary_with_extras": summary_extra,
        "overhead": over,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1))
    print(f"\nwrote {args.out} ({time.perf_counter() - t_start:.0f}s)")


if __name__ == "__main__":
    main()
