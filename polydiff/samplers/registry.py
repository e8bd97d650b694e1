"""The table of methods: name -> function, with what each costs and promises.

Immutable (a ``MappingProxyType`` built at import), so it is safe to read from many threads. A
user function with the method signature (:class:`polydiff.typing.SamplerMethod`) gets its
:class:`MethodInfo` built on the fly by :func:`info`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from .._checks import check_choice
from ..typing import SamplerMethod
from ._options import check_conditioning, register_takers
from .adaptive import adaptive
from .dpmpp import dpm_2m, dpm_3m, dpmpp_2m, dpmpp_2m_sde, dpmpp_3m
from .first_order import ddim, ddpm, euler, euler_maruyama
from .heun import edm, heun
from .unipc import unipc

__all__ = ["COMMON_OPTIONS", "DEFAULT_METHOD", "DEFAULT_STEPS",
           "MethodInfo", "check_conditioning", "info", "methods", "nfe",
           "split_options"]

#: the method every polydiff command, task and ``sample`` call uses unless told otherwise
DEFAULT_METHOD = "dpmpp_2m"
#: the steps of the inference layer, the commands and the tasks unless told otherwise
#: (:func:`polydiff.samplers.sample` alone defaults to 10)
DEFAULT_STEPS = 20

#: options every method takes (handled by ``_run.Run``)
COMMON_OPTIONS = frozenset({"final", "generator", "callback", "progress", "info", "eval_times"})

#: the signature a method must have, for error messages
SIGNATURE = "fn(denoiser, x, ts, schedule, *, <options>, **kw)"


@dataclass(frozen=True)
class MethodInfo:
    """``evals_per_step`` network calls per step, plus one for the final denoising (``None``:
    adaptive, or not known for a user method); ``order``: convergence order of the ODE methods
    (``None`` for SDE methods, which converge weakly with order 1, and for user methods);
    ``stochastic``: draws from ``generator``; ``options``: the keywords routed to ``fn`` (the
    rest is conditioning)."""

    fn: SamplerMethod
    evals_per_step: int | None
    order: int | None
    stochastic: bool | None  # None: not known (a user method)
    options: frozenset[str]
    name: str


def _options(fn: SamplerMethod) -> frozenset[str]:
    """The keyword-only parameters of ``fn`` plus :data:`COMMON_OPTIONS`; checks that ``fn``
    takes ``(denoiser, x, ts, schedule)`` positionally and accepts the common options."""
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        raise ValueError(f"method {fn!r}: cannot read its signature, expected {SIGNATURE}"
                         ) from None
    params = sig.parameters.values()
    positional = [p.name for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(positional) > 4:
        raise ValueError(f"method {_name(fn)}{sig}: options must be keyword-only (after `*`), "
                         f"got positional {positional[4:]}; expected {SIGNATURE}")
    try:
        sig.bind(None, None, None, None, **dict.fromkeys(COMMON_OPTIONS))
    except TypeError as e:
        raise ValueError(f"method {_name(fn)}{sig} does not fit {SIGNATURE}: {e}") from None
    return frozenset(p.name for p in params if p.kind is p.KEYWORD_ONLY) | COMMON_OPTIONS


def _name(fn: SamplerMethod) -> str:
    return getattr(fn, "__name__", type(fn).__name__)


def _describe(fn: SamplerMethod, evals: int | None = None, order: int | None = None,
              stochastic: bool | None = None) -> MethodInfo:
    return MethodInfo(fn, evals, order, stochastic, _options(fn), _name(fn))


_METHODS = MappingProxyType({e.name: e for e in (
    _describe(ddpm, 1, None, True),
    _describe(ddim, 1, 1, False),  # stochastic when eta > 0
    _describe(euler, 1, 1, False),
    _describe(heun, 2, 2, False),
    _describe(dpmpp_2m, 1, 2, False),
    _describe(dpmpp_3m, 1, 3, False),
    _describe(dpm_2m, 1, 2, False),
    _describe(dpm_3m, 1, 3, False),
    _describe(dpmpp_2m_sde, 1, None, True),
    _describe(unipc, 1, 3, False),  # order + 1 for order=1..3 (default order=2)
    _describe(euler_maruyama, 1, None, True),
    _describe(edm, 2, None, True),
    _describe(adaptive, None, 3, False),
)})
_BY_FN = MappingProxyType({e.fn: e for e in _METHODS.values()})
#: every option name of a built-in method -> the methods that take it
_TAKERS = MappingProxyType({k: tuple(sorted(n for n, e in _METHODS.items() if k in e.options))
                            for e in _METHODS.values() for k in e.options})
register_takers(_TAKERS)


def methods() -> list[str]:
    """Names of all built-in sampling methods."""
    return sorted(_METHODS)


def info(method: str | SamplerMethod) -> MethodInfo:
    """The :class:`MethodInfo` of a built-in ``method`` (its name or its function), or one
    built on the fly for a user function with the method signature."""
    if isinstance(method, str):
        return _METHODS[check_choice(method, _METHODS, "method")]
    if not callable(method):
        raise ValueError(f"method must be one of {methods()} or a function {SIGNATURE}, got "
                         f"{type(method).__name__} {method!r}")
    try:
        return _BY_FN[method]
    except (KeyError, TypeError):  # a user function (TypeError: an unhashable callable)
        return _describe(method)


def split_options(entry: MethodInfo, kwargs: dict[str, Any]) -> tuple[dict, dict]:
    """``(options, conditioning)``: the keywords ``entry``'s method takes, and the rest, which
    goes to the denoiser. A keyword that is an option of a built-in method but not of this one
    (``eta=`` with ``"euler"``) raises instead of reaching the denoiser as conditioning."""
    options = {k: v for k, v in kwargs.items() if k in entry.options}
    cond = {k: v for k, v in kwargs.items() if k not in entry.options}
    check_conditioning(cond, f"method {entry.name!r}")
    return options, cond


def nfe(method: str | SamplerMethod, steps: int, final: str = "denoise") -> int | None:
    """Network evaluations of ``method`` over ``steps`` steps (``None`` when not fixed:
    "adaptive" and user methods)."""
    k = info(method).evals_per_step
    if k is None:
        return None
    return k * steps + (final == "denoise")
