"""Parameter initialisation helpers."""

from __future__ import annotations

from typing import TypeVar

import torch
from torch import nn

__all__ = ["zero_init"]

M = TypeVar("M", bound=nn.Module)


def zero_init(module: M) -> M:
    """Set every parameter of ``module`` to zero in place and return ``module``.

    Used on the last layer of residual branches and on a network's output layer, so that the
    branch (or network) outputs exactly zero at initialisation.
    """
    with torch.no_grad():
        for p in module.parameters():
            p.zero_()
    return module
