"""The anchors of ``samplers.py``: diffusers' schedulers and k-diffusion's sampling functions
on the same exact Gaussian-mixture problem (an exact eps-predictor / VE denoiser), one row per
configuration and NFE budget."""

from __future__ import annotations

import importlib
import importlib.util
import math
import sys
import types
import warnings

import torch


# -- diffusers --------------------------------------------------------------------------------
def diffusers_anchors():
    import diffusers as d

    base = dict(num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012,
                beta_schedule="scaled_linear", prediction_type="epsilon")
    multistep = dict(final_sigmas_type="zero", lower_order_final=True)
    two_eval = {"Heun"}
    return {
        "DPMSolverMultistep": (d.DPMSolverMultistepScheduler, base, {
            "karras": dict(algorithm_type="dpmsolver++", solver_order=2, use_karras_sigmas=True,
                           **multistep),
            "lu_lambdas": dict(algorithm_type="dpmsolver++", solver_order=2, use_lu_lambdas=True,
                               **multistep),
            "linspace": dict(algorithm_type="dpmsolver++", solver_order=2, **multistep)}),
        "UniPC": (d.UniPCMultistepScheduler, base, {
            "karras": dict(solver_order=2, use_karras_sigmas=True, **multistep),
            "linspace": dict(solver_order=2, **multistep)}),
        "UniPC(order=3)": (d.UniPCMultistepScheduler, base, {
            "karras": dict(solver_order=3, use_karras_sigmas=True, **multistep),
            "linspace": dict(solver_order=3, **multistep)}),
        "DEIS": (d.DEISMultistepScheduler, base, {
            "karras": dict(solver_order=2, use_karras_sigmas=True, lower_order_final=True),
            "linspace": dict(solver_order=2, lower_order_final=True)}),
        "Euler": (d.EulerDiscreteScheduler, base, {
            "karras": dict(use_karras_sigmas=True), "linspace": {}}),
        "Heun": (d.HeunDiscreteScheduler, base, {
            "karras": dict(use_karras_sigmas=True), "linspace": {}}),
        "DDIM": (d.DDIMScheduler, base, {
            "trailing": dict(timestep_spacing="trailing", clip_sample=False,
                             set_alpha_to_one=True),
            "linspace": dict(timestep_spacing="linspace", clip_sample=False,
                             set_alpha_to_one=True)}),
    }, two_eval


def run_diffusers_once(cls, cfg, n, gmm, noise, s_max):
    """One diffusers sampling loop with an exact eps-model; returns (x0, nfe)."""
    sch = cls(**cfg)
    sch.set_timesteps(n)
    ve_frame = hasattr(sch, "scale_model_input") and type(sch).__name__ in (
        "EulerDiscreteScheduler", "HeunDiscreteScheduler")
    x = noise * (s_max if ve_frame else s_max / math.sqrt(1 + s_max**2))
    nfe = 0
    for t in sch.timesteps:
        inp = sch.scale_model_input(x, t)
        if hasattr(sch, "sigmas") and type(sch).__name__ != "DDIMScheduler":
            # the scheduler's own noise level for this call: the model is exact w.r.t. it
            s = float(sch.sigmas[sch.step_index if sch.step_index is not None else 0])
        else:
            ac = float(sch.alphas_cumprod[int(t)])
            s = math.sqrt((1 - ac) / ac)
        a, sg = 1 / math.sqrt(1 + s * s), s / math.sqrt(1 + s * s)
        eps = (inp - a * gmm.denoise(inp, a, sg)) / sg
        nfe += 1
        x = sch.step(eps, t, x).prev_sample
    return x, nfe


def run_diffusers(gmm, noise, s_max, score, nfes) -> list[dict]:
    rows = []
    anchors, two_eval = diffusers_anchors()
    for label, (cls, base, configs) in anchors.items():
        for cname, cfg in configs.items():
            for target in nfes:
                n = (target + 1) // 2 if label in two_eval else target
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    x, nfe = run_diffusers_once(cls, {**base, **cfg}, n, gmm, noise, s_max)
                rows.append({"library": "diffusers", "method": label, "config": cname,
                             "stochastic": False, "nfe_target": target, "nfe": nfe,
                             **score(x)})
    return rows


# -- k-diffusion ---------------------------------------------------------------------------------
def k_sampling():
    """``k_diffusion.sampling`` alone: the package's ``__init__`` imports training extras
    (torchvision, skimage, ...), so the module is loaded under a bare parent package with a
    minimal ``utils`` (the one helper it uses)."""
    try:
        return importlib.import_module("k_diffusion.sampling")
    except ImportError:
        pass
    for name in [m for m in sys.modules if m == "k_diffusion" or m.startswith("k_diffusion.")]:
        del sys.modules[name]
    spec = importlib.util.find_spec("k_diffusion")
    if spec is None:
        raise ImportError("k-diffusion is not installed: pip install --no-deps k-diffusion")
    pkg = types.ModuleType("k_diffusion")
    pkg.__path__ = list(spec.submodule_search_locations)
    utils = types.ModuleType("k_diffusion.utils")
    utils.append_dims = lambda x, n: x[(...,) + (None,) * (n - x.ndim)]
    sys.modules["k_diffusion"], sys.modules["k_diffusion.utils"] = pkg, utils
    return importlib.import_module("k_diffusion.sampling")


K_METHODS = {"euler": ("sample_euler", 1), "heun": ("sample_heun", 2),
             "dpm_2": ("sample_dpm_2", 2), "lms": ("sample_lms", 1),
             "dpmpp_2m": ("sample_dpmpp_2m", 1),
             # extra, for the third-order question (eta=0 makes it the ODE solver)
             "dpmpp_3m_sde(eta=0)": ("sample_dpmpp_3m_sde", 1)}


def run_kdiffusion(gmm, sched, noise, s_max, score, nfes) -> list[dict]:
    ks = k_sampling()
    s_min = sched.ve_sigma(torch.tensor(sched.t_min, dtype=torch.float64)).item()
    rows = []

    def model(x, sigma):
        return gmm.denoise(x, 1.0, sigma)

    for label, (fname, evals) in K_METHODS.items():
        fn = getattr(ks, fname)
        for cname in ("karras", "exponential"):
            for target in nfes:
                n = (target + 1) // 2 if evals == 2 else target
                if cname == "karras":
                    sig = ks.get_sigmas_karras(n, s_min, s_max, rho=7.0)
                else:
                    sig = ks.get_sigmas_exponential(n, s_min, s_max)
                sig = sig.double()
                calls = [0]

                def counted(x, s, _calls=calls):
                    _calls[0] += 1
                    return model(x, s)

                extra = {"eta": 0.0, "noise_sampler": lambda s, sn: 0.0} if "3m" in label else {}
                x = fn(counted, noise * s_max, sig, disable=True, **extra)
                rows.append({"library": "k-diffusion", "method": label, "config": cname,
                             "stochastic": False, "nfe_target": target, "nfe": calls[0],
                             "extra": "3m" in label, **score(x)})
    return rows
