"""Samplers: stateless, schedule-agnostic functions from noise to data.

``sample(denoiser, noise, schedule, steps=10, method="dpmpp_2m", grid="log_snr", ...)`` runs any
method; each method is also a plain function ``method(denoiser, x, ts, schedule, ...)`` with
``ts`` decreasing times and ``x`` the sample at ``ts[0]``; ``sample(method=fn)`` also runs a
user function with that signature (:class:`polydiff.typing.SamplerMethod`), typically built on
:class:`Run`, the machinery every method shares. Every piece of state lives in local variables,
so one function can run in many threads at once. Imports only torch and numpy.
"""

from . import calibration, grids
from ._run import Run
from .adaptive import adaptive
from .calibration import Plan, calibrate
from .dpmpp import dpm_2m, dpm_3m, dpmpp_2m, dpmpp_2m_sde, dpmpp_3m
from .first_order import ddim, ddpm, euler, euler_maruyama
from .grids import check_grid, make_grid
from .heun import edm, heun
from .registry import DEFAULT_METHOD, DEFAULT_STEPS, MethodInfo, info, methods, nfe
from .sample import renoise, sample
from .unipc import unipc

__all__ = [
    "DEFAULT_METHOD", "DEFAULT_STEPS",
    "MethodInfo", "Plan", "Run", "adaptive", "calibrate", "calibration", "check_grid", "ddim",
    "ddpm", "dpm_2m", "dpm_3m", "dpmpp_2m", "dpmpp_2m_sde", "dpmpp_3m", "edm", "euler",
    "euler_maruyama", "grids", "heun", "info", "make_grid", "methods", "nfe", "renoise",
    "sample", "unipc",
]
