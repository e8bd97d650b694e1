"""Exponential moving average (EMA) of network weights."""

from __future__ import annotations

import copy

import torch
from torch import nn

__all__ = ["ema_decay", "ema_copy", "ema_update_"]


def ema_decay(num_updates: int, decay: float, warmup: bool = True) -> float:
    """Decay for the ``num_updates``-th update (1-based): ``decay``, or with ``warmup``
    ``min(decay, (1 + n) / (10 + n))`` so early averages are not dominated by the random init."""
    if not 0.0 <= decay < 1.0:
        raise ValueError(f"ema decay must lie in [0, 1), got {decay}")
    if warmup:
        return min(decay, (1.0 + num_updates) / (10.0 + num_updates))
    return decay


def ema_copy(net: nn.Module) -> nn.Module:
    """A copy of ``net`` without gradients to hold the average."""
    ema = copy.deepcopy(net)
    return ema.requires_grad_(False)


@torch.no_grad()
def ema_update_(ema: nn.Module, net: nn.Module, decay: float) -> None:
    """``ema <- decay * ema + (1 - decay) * net`` for parameters; buffers are copied."""
    e_params = list(ema.parameters())
    n_params = [p.detach() for p in net.parameters()]
    if len(e_params) != len(n_params):
        raise ValueError("EMA and network have different parameters")
    for e, p in zip(e_params, n_params, strict=True):
        if e.shape != p.shape:
            raise ValueError(
                f"EMA and network parameters differ in shape ({tuple(e.shape)} vs "
                f"{tuple(p.shape)}): the two copies are sharded differently. With FSDP, make the "
                f"network class its own unit, e.g. FSDPStrategy(auto_wrap_policy={{"
                f"{type(net).__name__}}}) (more classes may be added), so both copies shard alike"
            )
    pairs = [(e, p.to(e.dtype)) for e, p in zip(e_params, n_params, strict=True)
             if e.is_floating_point()]
    if pairs:
        torch._foreach_lerp_([e for e, _ in pairs], [p for _, p in pairs], 1.0 - decay)
    for eb, nb in zip(ema.buffers(), net.buffers(), strict=True):
        eb.copy_(nb)
