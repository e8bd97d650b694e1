"""The one mask convention: a bool tensor ``observed`` with True = known/kept, False = missing.

NaN in data means missing: :func:`from_nan` turns it into ``observed = False`` plus a finite
placeholder. Random, block and whole-time-step masks make training and evaluation gaps;
:func:`from_values` / :func:`to_values` convert from and to other conventions (0/1, 0/255,
"1 = fill this in" inpainting masks).

Masks are shaped like the data ``(B, C, *axes)`` or broadcast to it (e.g. ``(B, 1, *axes)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ._checks import check_count, check_mask

__all__ = [
    "from_nan",
    "fill_missing",
    "random_mask",
    "block_mask",
    "time_step_mask",
    "from_values",
    "to_values",
    "check_mask",
    "runs",
]


def from_nan(x: Tensor, fill: float = 0.0) -> tuple[Tensor, Tensor]:
    """``(observed, filled)``: NaN entries become ``observed = False`` and ``fill``.

    +-Inf is not "missing" but corrupt data, and raises."""
    if torch.isinf(x).any():
        raise ValueError("x holds +-Inf values; only NaN marks missing data")
    observed = ~torch.isnan(x)
    return observed, torch.where(observed, x, torch.full((), fill, dtype=x.dtype,
                                                          device=x.device))


def fill_missing(x: Tensor, observed: Tensor, value: float = float("nan")) -> Tensor:
    """``x`` with unobserved entries replaced by ``value`` (NaN by default, for writing out)."""
    observed = check_mask(observed, x)
    return torch.where(observed, x, torch.full((), value, dtype=x.dtype, device=x.device))


def random_mask(shape: Sequence[int], missing: float, generator: torch.Generator | None = None,
                device: torch.device | str | None = None) -> Tensor:
    """Each entry independently missing with probability ``missing`` in [0, 1]."""
    if not 0.0 <= missing <= 1.0:
        raise ValueError(f"missing must be a probability in [0, 1], got {missing}")
    return torch.rand(tuple(shape), generator=generator, device=device) >= missing


def block_mask(shape: Sequence[int], block: Sequence[int], num_blocks: int = 1,
               generator: torch.Generator | None = None,
               device: torch.device | str | None = None) -> Tensor:
    """Rectangular gaps: per sample, ``num_blocks`` (>= 1) boxes of size ``block`` (one length
    per spatial axis, i.e. per entry of ``shape[2:]``) missing across all channels.

    Returns ``(B, 1, *axes)``, which broadcasts over channels."""
    shape = tuple(shape)
    axes = shape[2:]
    num_blocks = check_count(num_blocks, "num_blocks")
    if len(block) != len(axes):
        raise ValueError(f"block must give one size per spatial axis ({len(axes)}), got {block}")
    block = tuple(check_count(b, "each block size") for b in block)
    if any(b > n for b, n in zip(block, axes, strict=True)):
        raise ValueError(f"block sizes {tuple(block)} must lie in [1, axis size] for {axes}")
    observed = torch.ones((shape[0], 1, *axes), dtype=torch.bool, device=device)
    for i in range(shape[0]):
        for _ in range(num_blocks):
            starts = [int(torch.randint(0, n - b + 1, (1,), generator=generator))
                      for b, n in zip(block, axes, strict=True)]
            idx = tuple(slice(s, s + b) for s, b in zip(starts, block, strict=True))
            observed[(i, 0, *idx)] = False
    return observed


def time_step_mask(shape: Sequence[int], missing: float, time_axis: int = 2,
                   generator: torch.Generator | None = None,
                   device: torch.device | str | None = None) -> Tensor:
    """Whole time steps missing: each index along ``time_axis`` is dropped (for every channel
    and every other axis) with probability ``missing``. Returns a mask broadcastable to
    ``shape`` with size 1 on all axes but batch and time."""
    shape = tuple(shape)
    if isinstance(time_axis, bool) or not isinstance(time_axis, int) or \
            not 2 <= time_axis < len(shape):
        raise ValueError(f"time_axis must index a spatial axis of {shape}, got {time_axis}")
    mshape = [1] * len(shape)
    mshape[0], mshape[time_axis] = shape[0], shape[time_axis]
    return random_mask(mshape, missing, generator, device)


def from_values(mask: Tensor, known: float | None = None, missing: float | None = None) -> Tensor:
    """Convert a numeric mask to ``observed``.

    Give exactly one of ``known`` (the value that marks kept entries, e.g. 1 or 255) or
    ``missing`` (the value that marks entries to fill in, e.g. diffusers' white = 1 or 255).
    The value must occur in the mask (a 0/255 mask read with ``known=1`` would otherwise mark
    everything missing): when it does not, this raises and lists the values found.
    """
    if (known is None) == (missing is None):
        raise ValueError("from_values: give exactly one of known= or missing=")
    mask = torch.as_tensor(mask)
    name, value = ("known", known) if known is not None else ("missing", missing)
    hits = mask == value
    if mask.numel() and not bool(hits.any()):
        values = torch.unique(mask).tolist()
        shown = values if len(values) <= 10 else [*values[:10], "..."]
        raise ValueError(f"{name}={value!r} occurs nowhere in the mask; its values are {shown}")
    return hits if known is not None else ~hits


def to_values(observed: Tensor, known: float = 1, missing: float = 0,
              dtype: torch.dtype = torch.float32) -> Tensor:
    """``observed`` as numbers: ``known`` where True, ``missing`` where False."""
    observed = check_mask(observed, observed)  # (no data to broadcast to: the dtype check)
    k = torch.tensor(known, dtype=dtype, device=observed.device)
    m = torch.tensor(missing, dtype=dtype, device=observed.device)
    return torch.where(observed, k, m)


def runs(flags: Tensor) -> list[tuple[int, int]]:
    """``[(start, end), ...]`` (end exclusive) of the True runs of a 1-D bool tensor (the gaps
    of a missing-mask along an axis)."""
    flags = torch.as_tensor(flags)
    if flags.ndim != 1:
        raise ValueError(f"runs: expected a 1-D mask, got shape {tuple(flags.shape)}")
    padded = torch.cat([torch.zeros(1, dtype=torch.int8), flags.to(torch.int8),
                        torch.zeros(1, dtype=torch.int8)])
    edges = torch.diff(padded).nonzero().flatten().tolist()
    return list(zip(edges[::2], edges[1::2], strict=True))
