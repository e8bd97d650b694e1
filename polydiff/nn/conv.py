"""N-d convolution with "same" padding per axis: zero or periodic (circular).

Zero padding is the convolution's own (no padded copy of the input); only periodic axes, and
the one extra trailing zero of an even kernel, are padded explicitly before the convolution.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ._utils import check_dims, per_axis, positive_ints

__all__ = ["pad_axes", "same_padding", "Conv"]

_CONV = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


def pad_axes(x: Tensor, padding: Sequence[tuple[int, int]],
             periodic: Sequence[bool]) -> Tensor:
    """Pad each spatial axis of ``x`` ``(B, C, *axes)`` by ``(before, after)``.

    Periodic axes wrap around (any amount, also more than the axis length); the others are
    padded with zeros. Returns ``(B, C, *padded_axes)``.
    """
    nax = x.ndim - 2
    if len(padding) != nax or len(periodic) != nax:
        raise ValueError(
            f"pad_axes: need one padding and one periodic flag per spatial axis ({nax}), got "
            f"{len(padding)} and {len(periodic)}"
        )
    for i, ((lo, hi), circ) in enumerate(zip(padding, periodic, strict=True)):
        if lo == 0 and hi == 0:
            continue
        axis = 2 + i
        if circ:
            n = x.shape[axis]
            idx = torch.arange(-lo, n + hi, device=x.device) % n
            x = x.index_select(axis, idx)
        else:
            # F.pad lists (before, after) pairs starting from the last axis.
            pad = [0, 0] * (x.ndim - 1 - axis) + [lo, hi]
            x = F.pad(x, pad)
    return x


def same_padding(kernel_size: Sequence[int]) -> tuple[tuple[int, int], ...]:
    """Per-axis ``(before, after)`` padding so a stride-1 conv keeps the size."""
    return tuple(((k - 1) // 2, k - 1 - (k - 1) // 2) for k in kernel_size)


class Conv(nn.Module):
    """Conv1d/2d/3d (by ``dims``) with "same" padding, zero or periodic per axis.

    Input ``(B, in_channels, *axes)``; output ``(B, out_channels, *ceil(axes / stride))``
    (for axes divisible by the stride: ``axes / stride``). ``periodic`` is one bool or one per
    axis, e.g. ``(False, True)`` for (lat, lon) fields. The wrapped conv is ``self.conv``.

    The result equals ``self.conv`` (without padding) applied to
    ``pad_axes(x, self.padding, self.periodic)``, but zero padding is done by the convolution
    itself (``self.conv.padding``): only periodic axes are padded explicitly (``pad_axes`` with
    ``self.explicit_padding``), plus the one extra trailing zero of an even kernel.
    """

    def __init__(self, dims: int, in_channels: int, out_channels: int,
                 kernel_size: int | Sequence[int] = 3, stride: int | Sequence[int] = 1,
                 periodic: bool | Sequence[bool] = False, bias: bool = True):
        super().__init__()
        self.dims = check_dims(dims)
        self.kernel_size = positive_ints(kernel_size, dims, "kernel_size")
        self.stride = positive_ints(stride, dims, "stride")
        self.periodic = per_axis(periodic, dims, "periodic", bool)
        self.padding = same_padding(self.kernel_size)
        # zero axes: the symmetric part (lo, lo) by the conv, an even kernel's extra trailing
        # zero (hi - lo = 1) explicitly; periodic axes: all explicitly (wrapped around)
        conv_padding = tuple(0 if circ else lo
                             for (lo, _), circ in zip(self.padding, self.periodic, strict=True))
        self.explicit_padding = tuple(
            (lo, hi) if circ else (0, hi - lo)
            for (lo, hi), circ in zip(self.padding, self.periodic, strict=True)
        )
        self._pad_first = any(lo or hi for lo, hi in self.explicit_padding)
        self.conv = _CONV[dims](in_channels, out_channels, self.kernel_size, stride=self.stride,
                                padding=conv_padding, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C_in, *axes) -> (B, C_out, *axes / stride)``."""
        if x.ndim != self.dims + 2:
            raise ValueError(
                f"Conv(dims={self.dims}): x must have shape (B, C, {self.dims} axes), got "
                f"{tuple(x.shape)}"
            )
        if self._pad_first:
            x = pad_axes(x, self.explicit_padding, self.periodic)
        return self.conv(x)

    def extra_repr(self) -> str:
        return f"periodic={self.periodic}"

