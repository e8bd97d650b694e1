"""Small tensor helpers shared by the core: broadcasting and argument validation."""

from __future__ import annotations

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
