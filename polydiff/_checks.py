"""Small tensor helpers shared by the core: broadcasting and argument validation."""

from __future__ import annotations

import math
import operator
from collections.abc import Hashable, Iterable

import torch
from torch import Tensor


def append_dims(v: Tensor, ndim: int) -> Tensor:
    """View ``v`` of shape ``(B,)`` (or ``()``) as ``(B, 1, ..., 1)`` with ``ndim`` dims in all."""
    if v.ndim > ndim:
        raise ValueError(f"cannot broadcast a tensor of shape {tuple(v.shape)} to {ndim} dims")
    return v.reshape(*v.shape, *([1] * (ndim - v.ndim)))


def as_float_tensor(x: Tensor | float, name: str, like: Tensor | None = None) -> Tensor:
    """``x`` as a floating tensor (float32 unless it already is float64/float32)."""
    if not isinstance(x, Tensor):
        dtype = like.dtype if like is not None and like.is_floating_point() else torch.float32
        device = like.device if like is not None else None
        return torch.tensor(float(x), dtype=dtype, device=device)
    if x.dtype not in (torch.float32, torch.float64):
        return x.float()
    return x


def check_finite(x: Tensor, name: str) -> None:
    """Raise ``ValueError`` naming ``name`` when ``x`` holds NaN or Inf."""
    if not torch.isfinite(x).all():
        bad = (~torch.isfinite(x)).sum().item()
        raise ValueError(f"{name} must be finite, but it holds {bad} NaN/Inf value(s)")


def check_no_nan(x: Tensor, name: str) -> None:
    """Raise ``ValueError`` naming ``name`` when ``x`` holds NaN (+-Inf is allowed)."""
    if torch.isnan(x).any():
        bad = torch.isnan(x).sum().item()
        raise ValueError(f"{name} must not be NaN, but it holds {bad} NaN value(s)")


def check_real(value: float, name: str, *, at_least: float | None = None,
               at_most: float | None = None, positive: bool = False,
               finite: bool = True) -> float:
    """``value`` as a float; ``ValueError`` naming ``name`` unless it is a number (finite unless
    ``finite=False``) within ``[at_least, at_most]`` (either may be ``None``; ``positive``: ``> 0``
    instead of ``at_least``)."""
    if positive:  # (instead of at_least)
        at_least = None
    low = "(0" if positive else None if at_least is None else f"[{at_least:g}"
    if low and at_most is not None:
        bound = f" in {low}, {at_most:g}]"
    elif low:
        bound = " > 0" if positive else f" >= {at_least:g}"
    else:
        bound = "" if at_most is None else f" <= {at_most:g}"
    expected = ("a finite number" if finite else "a number (not NaN)") + bound
    try:
        v = float(value)
    except (TypeError, ValueError):
        v = math.nan  # not a number at all
    ok = (not math.isnan(v) and (math.isfinite(v) or not finite) and (v > 0 or not positive)
          and (at_least is None or v >= at_least) and (at_most is None or v <= at_most))
    if not ok:
        raise ValueError(f"{name} must be {expected}, got {value!r}")
    return v


def check_count(value: int, name: str, at_least: int = 1) -> int:
    """``value`` as an ``int``; ``ValueError`` naming ``name`` unless it is an integer (not a
    bool) ``>= at_least``."""
    try:
        n = None if isinstance(value, bool) else operator.index(value)
    except TypeError:
        n = None
    if n is None or n < at_least:
        raise ValueError(f"{name} must be an integer >= {at_least}, got {value!r}")
    return n


def check_choice(value: Hashable, choices: Iterable[Hashable], name: str) -> Hashable:
    """Raise ``ValueError`` listing the valid names when ``value`` is not one of ``choices``."""
    choices = sorted(choices)
    if value not in choices:
        raise ValueError(f"unknown {name} {value!r}; expected one of {choices}")
    return value


def check_broadcastable(mask: Tensor, x: Tensor, name: str = "observed") -> Tensor:
    """``mask`` broadcast to ``x.shape``; a clear error when the shapes do not broadcast."""
    try:
        return mask.expand_as(x) if mask.shape != x.shape else mask
    except RuntimeError:
        raise ValueError(
            f"{name} of shape {tuple(mask.shape)} does not broadcast to the data shape "
            f"{tuple(x.shape)}"
        ) from None


def check_mask(observed: Tensor, x: Tensor, name: str = "observed") -> Tensor:
    """The one mask check: ``observed`` must be a bool tensor (True = observed) broadcastable
    to ``x``; returns it expanded to ``x.shape``."""
    if not isinstance(observed, Tensor) or observed.dtype != torch.bool:
        got = observed.dtype if isinstance(observed, Tensor) else type(observed).__name__
        raise ValueError(f"{name} must be a bool tensor, got {got}")
    return check_broadcastable(observed, x, name)
