"""``Normalizer``: the per-channel affine map between data units and model units.

Models train on ``z = (x - shift) / scale`` per channel (axis 1 of ``(B, C, *axes)``). The
statistics are fitted on the training split (:meth:`Normalizer.fit`, NaN-aware and mask-aware),
stored in checkpoints and exports as plain lists (:meth:`to_dict`), and inverted
(:meth:`denormalize`) before anything is written, so files are in data units.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor

from ._checks import check_mask

__all__ = ["Normalizer"]


class Normalizer:
    """``normalize(x) = (x - shift) / scale`` per channel; ``denormalize`` is its inverse.

    Args:
        shift, scale: one number per channel (``scale > 0``, all finite).
    """

    def __init__(self, shift: Sequence[float], scale: Sequence[float]):
        shift, scale = [float(v) for v in shift], [float(v) for v in scale]
        if len(shift) != len(scale) or not shift:
            raise ValueError(f"Normalizer: shift and scale need one entry per channel, got "
                             f"{len(shift)} and {len(scale)}")
        if not all(math.isfinite(v) for v in shift + scale) or min(scale) <= 0:
            raise ValueError(f"Normalizer: shift must be finite and scale finite and > 0, got "
                             f"shift={shift}, scale={scale}")
        self.shift, self.scale = shift, scale

    @property
    def channels(self) -> int:
        return len(self.shift)

    @classmethod
    def identity(cls, channels: int) -> Normalizer:
        """The identity map for ``channels`` channels."""
        return cls([0.0] * channels, [1.0] * channels)

    @classmethod
    def fit(cls, items: Iterable[Tensor | tuple[Tensor, Tensor | None]]) -> Normalizer:
        """Per-channel mean and standard deviation of ``items``.

        Each item is ``x (C, *axes)`` or ``(x, observed)``; NaN entries and entries with
        ``observed = False`` are left out. A channel with zero spread gets ``scale = 1``.
        Sums are accumulated in float64."""
        total = count = square = None
        for item in items:
            x, observed = item if isinstance(item, tuple) else (item, None)
            x = torch.as_tensor(x).to(torch.float64)
            keep = ~torch.isnan(x)
            if observed is not None:
                keep &= check_mask(observed, x)
            flat, k = x.flatten(1), keep.flatten(1)
            vals = torch.where(k, flat, 0.0)
            s, n, q = vals.sum(1), k.sum(1).to(torch.float64), (vals * vals).sum(1)
            if total is None:
                total, count, square = s, n, q
            elif s.shape != total.shape:
                raise ValueError(f"Normalizer.fit: items differ in channels ({total.shape[0]} "
                                 f"and {s.shape[0]})")
            else:
                total, count, square = total + s, count + n, square + q
        if total is None:
            raise ValueError("Normalizer.fit: no items to fit on")
        if (count == 0).any():
            empty = (count == 0).nonzero().flatten().tolist()
            raise ValueError(f"Normalizer.fit: channel(s) {empty} have no observed values")
        mean = total / count
        var = (square / count - mean * mean).clamp(min=0.0)
        std = torch.where(var > 1e-24, var.sqrt(), torch.ones_like(var))
        return cls(mean.tolist(), std.tolist())

    def _affine(self, x: Tensor) -> tuple[Tensor, Tensor]:
        if x.ndim < 2 or x.shape[1] != self.channels:
            raise ValueError(f"Normalizer: expected (B, {self.channels}, *axes), got "
                             f"{tuple(x.shape)}")
        view = (1, self.channels) + (1,) * (x.ndim - 2)
        dtype = x.dtype if x.is_floating_point() else torch.float32
        shift = torch.tensor(self.shift, dtype=dtype, device=x.device).reshape(view)
        scale = torch.tensor(self.scale, dtype=dtype, device=x.device).reshape(view)
        return shift, scale

    def normalize(self, x: Tensor) -> Tensor:
        """Data units -> model units; ``x (B, C, *axes)``."""
        shift, scale = self._affine(x)
        return (x - shift) / scale

    def denormalize(self, z: Tensor) -> Tensor:
        """Model units -> data units; ``z (B, C, *axes)``."""
        shift, scale = self._affine(z)
        return z * scale + shift

    def to_dict(self) -> dict[str, Any]:
        """``{"shift": [...], "scale": [...]}`` (JSON; stored in checkpoints and exports)."""
        return {"shift": list(self.shift), "scale": list(self.scale)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Normalizer:
        if not isinstance(d, dict) or set(d) != {"shift", "scale"}:
            raise ValueError(f"a normalizer is a dict with 'shift' and 'scale' lists, got {d!r}")
        return cls(d["shift"], d["scale"])

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Normalizer) and self.shift == other.shift
                and self.scale == other.scale)

    def __repr__(self) -> str:
        return f"Normalizer(shift={self.shift}, scale={self.scale})"
