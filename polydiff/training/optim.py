"""The optimiser of :class:`~polydiff.training.DiffusionModule`: AdamW with linear warm-up and a
constant or cosine learning rate."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["LR_DECAYS", "adamw_warmup"]

LR_DECAYS = ("constant", "cosine")


def adamw_warmup(net: nn.Module, trainer, lr: float, betas: Sequence[float],
                 weight_decay: float, warmup_steps: int, decay: str,
                 min_lr_ratio: float) -> dict:
    """Lightning's ``configure_optimizers`` result: AdamW (weight decay on tensors with >= 2
    dims only) and a per-step schedule: linear warm-up over ``warmup_steps``, then constant or
    cosine down to ``min_lr_ratio * lr`` at the trainer's last step."""
    params, no_decay = [], []
    for p in net.parameters():
        if p.requires_grad:
            (params if p.ndim >= 2 else no_decay).append(p)
    groups = [{"params": params, "weight_decay": weight_decay},
              {"params": no_decay, "weight_decay": 0.0}]
    opt = torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, betas=tuple(betas))
    if decay == "cosine" and trainer.max_epochs == -1 and trainer.max_steps == -1:
        raise ValueError("lr_decay='cosine' needs a finite Trainer max_steps/max_epochs")
    total: list[int] = []

    def total_steps() -> int:
        # Looked up at the first decayed step, not here: `estimated_stepping_batches` sets up
        # the train loader, and a loader set up before Lightning restores a checkpoint never
        # receives its saved state (mid-epoch resume of a ResumableLoader).
        if not total:
            n = trainer.estimated_stepping_batches
            if not math.isfinite(n) or n <= 0:
                raise ValueError("lr_decay='cosine' needs a finite Trainer max_steps/"
                                 f"max_epochs (estimated steps: {n})")
            total.append(int(n))
        return total[0]

    def factor(step: int) -> float:
        if warmup_steps and step < warmup_steps:
            return (step + 1) / warmup_steps
        if decay == "cosine" and step > warmup_steps:
            frac = min(1.0, (step - warmup_steps) / max(1, total_steps() - warmup_steps))
            return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * frac))
        return 1.0

    sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
    return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
