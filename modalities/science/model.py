"""A trained science model: :func:`polydiff.load` (a checkpoint, an export directory or a live
module) checked to be one, and what its sample shape and network say about the grid."""

from __future__ import annotations

from typing import Any

import torch

from polydiff.plugin import Model, load

__all__ = ["field_model", "periodic", "time_axis", "window"]


def field_model(model: Any, device: torch.device | str = "cpu", ema: bool = True) -> Model:
    """``model`` (a ``.ckpt`` path, an export directory, a ``DiffusionModule`` or a
    :class:`~polydiff.inference.Model`) as a science :class:`~polydiff.inference.Model`; a
    model of another modality, or one without its data description, is refused."""
    m = load(model, device=device, ema=ema, modality="science")
    if len(m.sample_shape) not in (3, 4):
        raise ValueError(f"{m.source} records the sample shape {list(m.sample_shape)}; expected "
                         f"(variables, [time,] lat, lon)")
    return m


def time_axis(m: Model) -> bool:
    """Whether samples are ``(variables, time, lat, lon)`` blocks."""
    return len(m.sample_shape) == 4


def window(m: Model) -> tuple[int, int, int]:
    """``(time, lat, lon)`` size of one sample (time 1 for a 2-D model)."""
    s = m.sample_shape
    return (s[1], s[2], s[3]) if len(s) == 4 else (1, s[1], s[2])


def periodic(m: Model) -> bool:
    """Whether the network pads longitude circularly."""
    value = getattr(m.net, "periodic", (False,))
    return bool(value[-1]) if isinstance(value, tuple) else bool(value)
