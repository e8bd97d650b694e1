"""The table of methods: name -> function, with what each costs and promises.

Immutable (a ``MappingProxyType`` built at import), so it is safe to read from many threads.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType

from .._checks import check_choice
from .adaptive import adaptive
from .dpmpp import dpm_2m, dpm_3m, dpmpp_2m, dpmpp_2m_sde, dpmpp_3m
from .first_order import ddim, ddpm, euler, euler_maruyama
from .heun import edm, heun
from .unipc import unipc

__all__ = ["MethodInfo", "get", "info", "methods", "nfe"]

#: options every method takes (handled by ``_run.Run``)
COMMON_OPTIONS = frozenset({"final", "generator", "callback", "progress", "info", "eval_times"})


@dataclass(frozen=True)
class MethodInfo:
    """``evals_per_step`` network calls per step, plus one for the final denoising;
    ``order``: convergence order of the ODE methods (``None`` for SDE methods, which converge
    weakly with order 1)."""

    fn: Callable
    evals_per_step: int | None  # None: adaptive
    order: int | None
    stochastic: bool
    options: frozenset[str]


def _options(fn: Callable) -> frozenset[str]:
    params = inspect.signature(fn).parameters.values()
    return frozenset(p.name for p in params if p.kind is p.KEYWORD_ONLY) | COMMON_OPTIONS


def _entry(fn: Callable, evals: int | None, order: int | None, stochastic: bool) -> MethodInfo:
    return MethodInfo(fn, evals, order, stochastic, _options(fn))


_METHODS = MappingProxyType({
    "ddpm": _entry(ddpm, 1, None, True),
    "ddim": _entry(ddim, 1, 1, False),  # stochastic when eta > 0
    "euler": _entry(euler, 1, 1, False),
    "heun": _entry(heun, 2, 2, False),
    "dpmpp_2m": _entry(dpmpp_2m, 1, 2, False),
    "dpmpp_3m": _entry(dpmpp_3m, 1, 3, False),
    "dpm_2m": _entry(dpm_2m, 1, 2, False),
    "dpm_3m": _entry(dpm_3m, 1, 3, False),
    "dpmpp_2m_sde": _entry(dpmpp_2m_sde, 1, None, True),
    "unipc": _entry(unipc, 1, 3, False),  # order + 1 for order=1..3 (default order=2)
    "euler_maruyama": _entry(euler_maruyama, 1, None, True),
    "edm": _entry(edm, 2, None, True),
    "adaptive": _entry(adaptive, None, 3, False),
})


def methods() -> list[str]:
    """Names of all sampling methods."""
    return sorted(_METHODS)


def info(method: str) -> MethodInfo:
    """The :class:`MethodInfo` of ``method``."""
    check_choice(method, _METHODS, "method")
    return _METHODS[method]


def get(method: str) -> Callable:
    """The function of ``method``."""
    return info(method).fn


def nfe(method: str, steps: int, final: str = "denoise") -> int | None:
    """Network evaluations of ``method`` over ``steps`` steps (``None`` for "adaptive")."""
    k = info(method).evals_per_step
    if k is None:
        return None
    return k * steps + (final == "denoise")
