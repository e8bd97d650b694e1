"""Linear interpolation along one axis between given entries: the first guess of missing
frames (video) and of missing time steps (gridded fields).

:func:`linear_along`: each missing entry becomes the distance-weighted blend of the nearest
given entries before and after it along ``dim`` (same position on every other axis); where
only one side has one it holds that one (the "repeat the last frame" forecast past the end);
where neither has, it is 0. Given entries are returned exactly.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["linear_along"]


def linear_along(known: Tensor, given: Tensor, dim: int = 2) -> Tensor:
    """``known`` (any shape; any values where not given), ``given`` (bool, broadcastable to
    ``known``; True = given) -> ``known``'s shape, equal to ``known`` where ``given`` and
    interpolated linearly along ``dim`` elsewhere (held constant outside the first/last given
    entry, 0 where a line along ``dim`` has none)."""
    if known.ndim == 0:
        raise ValueError("linear_along: known must have at least one axis, got a scalar")
    if not -known.ndim <= dim < known.ndim:
        raise ValueError(f"linear_along: dim must be in [{-known.ndim}, {known.ndim - 1}] for "
                         f"known of shape {tuple(known.shape)}, got {dim}")
    try:
        given = given.to(torch.bool).expand_as(known)
    except RuntimeError:
        raise ValueError(f"linear_along: given must broadcast to known's shape "
                         f"{tuple(known.shape)}, got {tuple(given.shape)}") from None
    dim = dim % known.ndim
    n = known.shape[dim]
    view = [1] * known.ndim
    view[dim] = n
    idx = torch.arange(n, device=known.device).reshape(view).expand_as(known)
    prev = torch.where(given, idx, -1).cummax(dim=dim).values
    nxt = torch.where(given, idx, n).flip(dim).cummin(dim=dim).values.flip(dim)
    has_prev, has_next = prev >= 0, nxt < n
    v_prev = known.gather(dim, prev.clamp(0, n - 1))
    v_next = known.gather(dim, nxt.clamp(0, n - 1))
    w = (idx - prev).to(known.dtype) / (nxt - prev).clamp(min=1).to(known.dtype)
    blend = v_prev + (v_next - v_prev) * w
    zero = torch.zeros((), dtype=known.dtype, device=known.device)
    out = torch.where(has_prev & has_next, blend,
                      torch.where(has_prev, v_prev, torch.where(has_next, v_next, zero)))
    return torch.where(given, known, out)
