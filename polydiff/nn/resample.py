"""Down- and upsampling by integer factors per axis, for 1, 2 or 3 spatial axes."""

from __future__ import annotations

from collections.abc import Sequence

import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_choice
from ._utils import check_dims, positive_ints
from .conv import Conv

__all__ = ["Downsample", "Upsample"]

_AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def _check_divisible(x: Tensor, factor: tuple[int, ...], who: str) -> None:
    for i, (n, f) in enumerate(zip(x.shape[2:], factor, strict=True)):
        if n % f:
            raise ValueError(
                f"{who}: size {n} of spatial axis {i} (x.shape[{i + 2}]) must be a multiple "
                f"of the factor {f}"
            )


class Downsample(nn.Module):
    """Divide each spatial axis by its factor: ``(B, C, *axes) -> (B, out, *axes / factor)``.

    Args:
        dims: number of spatial axes.
        channels: input channels; ``out_channels`` defaults to the same.
        factor: one int or one per axis, e.g. ``(1, 2, 2)`` keeps the time axis of a video.
        mode: ``"conv"`` (3-wide strided conv) or ``"avg"`` (average pooling, then a 1x1 conv
            only when the channel count changes).
        periodic: circular padding per axis (``"conv"`` mode).
    """

    MODES = ("conv", "avg")

    def __init__(self, dims: int, channels: int, factor: int | Sequence[int] = 2,
                 out_channels: int | None = None, mode: str = "conv",
                 periodic: bool | Sequence[bool] = False):
        super().__init__()
        self.dims = check_dims(dims)
        self.factor = positive_ints(factor, dims, "factor")
        out_channels = out_channels or channels
        self.mode = check_choice(mode, self.MODES, "Downsample mode")
        if mode == "conv":
            self.op: nn.Module = Conv(dims, channels, out_channels, 3, stride=self.factor,
                                      periodic=periodic)
        else:
            self.op = (nn.Identity() if out_channels == channels
                       else Conv(dims, channels, out_channels, 1))

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, *axes) -> (B, out_channels, *axes / factor)``; axes must divide evenly."""
        _check_divisible(x, self.factor, "Downsample")
        if self.mode == "avg":
            x = _AVG_POOL[self.dims](x, self.factor, self.factor)
        return self.op(x)


class Upsample(nn.Module):
    """Nearest-neighbour upsampling by a factor per axis, then a 3-wide conv.

    ``(B, channels, *axes) -> (B, out_channels, *axes * factor)``. ``conv=False`` skips the conv
    (then ``out_channels`` must equal ``channels``).
    """

    def __init__(self, dims: int, channels: int, factor: int | Sequence[int] = 2,
                 out_channels: int | None = None, periodic: bool | Sequence[bool] = False,
                 conv: bool = True):
        super().__init__()
        self.dims = check_dims(dims)
        self.factor = positive_ints(factor, dims, "factor")
        out_channels = out_channels or channels
        if not conv and out_channels != channels:
            raise ValueError("Upsample: conv=False needs out_channels == channels")
        self.conv: nn.Module = (Conv(dims, channels, out_channels, 3, periodic=periodic)
                                if conv else nn.Identity())

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C, *axes) -> (B, out_channels, *axes * factor)``."""
        for i, f in enumerate(self.factor):
            if f > 1:
                x = x.repeat_interleave(f, dim=2 + i)
        return self.conv(x)
