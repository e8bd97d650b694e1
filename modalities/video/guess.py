"""A first guess of the missing frames from the given ones, linear in time.

Each missing entry of ``known (B, C, F, H, W)`` becomes the linear blend in time of the nearest
given entries before and after it (at the same channel and pixel), weighted by distance, and
the nearest given one where only one side has one: between given frames it is
:func:`~.baselines.linear_blend`, after the last given frame it holds that frame
(:func:`~.baselines.repeat_last`, the prediction baseline), before the first it holds the
first. Given entries are returned exactly; a pixel with no given entry at all stays 0.

Conditional frame models (``VideoUNet(conditional=True)``) take it as extra input channels and,
with ``residual=True``, denoise only the residual from it.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["temporal_guess"]


def temporal_guess(known: Tensor, given: Tensor) -> Tensor:
    """``known (B, C, F, H, W)`` (any values where not given), ``given`` (bool, broadcastable
    to ``known``; True = given) -> the first guess ``(B, C, F, H, W)``, equal to ``known``
    where ``given``. Works along axis 2 for any number of trailing axes."""
    if known.ndim < 3:
        raise ValueError(f"temporal_guess: known must be (B, C, F, ...), got shape "
                         f"{tuple(known.shape)}")
    try:
        given = given.to(torch.bool).expand_as(known)
    except RuntimeError:
        raise ValueError(f"temporal_guess: the mask (given) must broadcast to known's shape "
                         f"{tuple(known.shape)}, got {tuple(given.shape)}") from None
    frames = known.shape[2]
    view = (1, 1, frames) + (1,) * (known.ndim - 3)
    idx = torch.arange(frames, device=known.device).reshape(view).expand_as(known)
    prev = torch.where(given, idx, -1).cummax(dim=2).values
    nxt = torch.where(given, idx, frames).flip(2).cummin(dim=2).values.flip(2)
    has_prev, has_next = prev >= 0, nxt < frames
    v_prev = known.gather(2, prev.clamp(0, frames - 1))
    v_next = known.gather(2, nxt.clamp(0, frames - 1))
    span = (nxt - prev).clamp(min=1).to(known.dtype)
    w = (idx - prev).to(known.dtype) / span
    blend = v_prev + (v_next - v_prev) * w
    zero = torch.zeros((), dtype=known.dtype, device=known.device)
    out = torch.where(has_prev & has_next, blend,
                      torch.where(has_prev, v_prev, torch.where(has_next, v_next, zero)))
    return torch.where(given, known, out)
