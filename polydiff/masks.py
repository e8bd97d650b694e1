"""The one mask convention: a bool tensor ``observed`` with True = known/kept, False = missing.

NaN in data means missing: :func:`from_nan` turns it into ``observed = False`` plus a finite
placeholder. The generators below return ``observed`` for every kind of gap the library makes
(training targets, a modality's task, synthetic gaps of a benchmark):

- :func:`random_mask`: independent points; :func:`block_mask`: boxes of one size;
  :func:`random_blocks_mask`: boxes of random sizes up to a share of the positions;
- :func:`time_step_mask`: whole steps along an axis (at random, or an exact count);
- :func:`suffix_mask`: everything after the first ``known`` entries along an axis
  (prediction, continuation); :func:`strided_mask`: every ``m``-th entry along an axis given
  (interpolation); :func:`from_intervals`: intervals along an axis missing (gaps in seconds);
- :func:`cloud_mask`: cloud-like patches (smoothed noise, thresholded) on every map.

Random generators take a ``torch.Generator`` or a ``numpy.random.Generator`` (numpy pipelines
keep their draws). :func:`from_values` / :func:`to_values` convert from and to other
conventions (0/1, 0/255, "1 = fill this in" inpainting masks); :func:`runs` lists the gaps
of a mask along an axis.

Masks are shaped like the data ``(B, C, *axes)`` or broadcast to it (e.g. ``(B, 1, *axes)``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._checks import check_count, check_mask

__all__ = [
    "from_nan",
    "fill_missing",
    "random_mask",
    "block_mask",
    "random_blocks_mask",
    "time_step_mask",
    "suffix_mask",
    "strided_mask",
    "from_intervals",
    "cloud_mask",
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


Generator = torch.Generator | np.random.Generator | None


def _uniform(shape: Sequence[int], generator: Generator, device=None) -> Tensor:
    """``U[0, 1)`` draws of ``shape`` from a torch or a numpy generator."""
    if isinstance(generator, np.random.Generator):
        return torch.from_numpy(generator.random(tuple(shape))).to(device)
    return torch.rand(tuple(shape), generator=generator, device=device)


def _check_missing(missing: float, what: str = "missing") -> float:
    if not 0.0 <= missing <= 1.0:
        raise ValueError(f"{what} must be a probability in [0, 1], got {missing}")
    return float(missing)


def random_mask(shape: Sequence[int], missing: float, generator: Generator = None,
                device: torch.device | str | None = None) -> Tensor:
    """Each entry independently missing with probability ``missing`` in [0, 1]."""
    _check_missing(missing)
    return _uniform(shape, generator, device) >= missing


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


def random_blocks_mask(shape: Sequence[int], missing: float, max_block: Sequence[int],
                       generator: torch.Generator | None = None, tries: int = 64) -> Tensor:
    """``(1, *axes)`` for one sample ``shape = (C, *axes)``: boxes of random size (1 to
    ``max_block`` per axis, at random places) missing across all channels, until at least a
    share ``missing`` of the positions is (or ``tries`` boxes were drawn)."""
    _check_missing(missing)
    axes = tuple(shape[1:])
    if len(max_block) != len(axes):
        raise ValueError(f"max_block needs one size per spatial axis ({len(axes)}), got "
                         f"{list(max_block)}")
    hidden = torch.zeros((1, *axes), dtype=torch.bool)
    total = hidden.numel()
    for _ in range(tries):
        if hidden.sum() >= missing * total:
            break
        size = [int(torch.randint(1, min(m, a) + 1, (), generator=generator))
                for m, a in zip(max_block, axes, strict=True)]
        start = [int(torch.randint(0, a - s + 1, (), generator=generator))
                 for s, a in zip(size, axes, strict=True)]
        hidden[(slice(None), *(slice(b, b + s) for b, s in zip(start, size, strict=True)))] = True
    return ~hidden


def _along(shape: Sequence[int], axis: int, keep: Tensor) -> Tensor:
    """A mask of ``shape``'s rank, size 1 except along ``axis``, where it is ``keep``."""
    view = [1] * len(shape)
    view[axis] = -1
    return keep.reshape(view)


def _axis(shape: Sequence[int], axis: int, name: str = "axis") -> int:
    if isinstance(axis, bool) or not isinstance(axis, int) or not 0 <= axis < len(shape):
        raise ValueError(f"{name} must index an axis of {tuple(shape)}, got {axis}")
    return axis


def time_step_mask(shape: Sequence[int], missing: float, time_axis: int = 2,
                   generator: Generator = None, device: torch.device | str | None = None,
                   *, count: int | None = None, keep_ends: bool = False) -> Tensor:
    """Whole time steps missing: each index along ``time_axis`` is dropped (for every channel
    and every other axis) with probability ``missing``, or, with ``count``, exactly that many
    (chosen without replacement; ``keep_ends``: never the first or the last). Returns a mask
    broadcastable to ``shape`` with size 1 on all axes but batch (axis 0, when ``time_axis``
    is not 0) and time."""
    shape = tuple(shape)
    _axis(shape, time_axis, "time_axis")
    if count is None:
        mshape = [1] * len(shape)
        mshape[time_axis] = shape[time_axis]
        if time_axis:
            mshape[0] = shape[0]
        return random_mask(mshape, missing, generator, device)
    t = shape[time_axis]
    pool = np.arange(1, t - 1) if keep_ends else np.arange(t)
    if not 1 <= count <= len(pool):
        raise ValueError(f"count must lie in 1..{len(pool)} for {t} steps"
                         f"{' (the ends kept)' if keep_ends else ''}, got {count}")
    if isinstance(generator, np.random.Generator):
        steps = generator.choice(pool, size=count, replace=False)
    else:
        steps = pool[torch.randperm(len(pool), generator=generator)[:count].numpy()]
    keep = torch.ones(t, dtype=torch.bool)
    keep[torch.as_tensor(steps, dtype=torch.long)] = False
    return _along(shape, time_axis, keep).to(device)


def suffix_mask(shape: Sequence[int], known: int, axis: int) -> Tensor:
    """The first ``known`` entries along ``axis`` observed, the rest missing (prediction,
    continuation): broadcastable to ``shape``."""
    shape = tuple(shape)
    n = shape[_axis(shape, axis)]
    if not 0 <= known <= n:
        raise ValueError(f"known must lie in 0..{n} (the axis' length), got {known}")
    return _along(shape, axis, torch.arange(n) < known)


def strided_mask(shape: Sequence[int], every: int, axis: int, offset: int = 0) -> Tensor:
    """Entries ``offset, offset + every, ...`` along ``axis`` observed, those between missing
    (interpolation: every ``m``-th frame or step given): broadcastable to ``shape``."""
    shape = tuple(shape)
    n = shape[_axis(shape, axis)]
    if every < 1 or not 0 <= offset < max(every, 1):
        raise ValueError(f"strided_mask needs every >= 1 and 0 <= offset < every, got every="
                         f"{every}, offset={offset}")
    keep = torch.zeros(n, dtype=torch.bool)
    keep[offset::every] = True
    return _along(shape, axis, keep)


def from_intervals(length: int, intervals: Sequence[tuple[float, float]], rate: float = 1.0,
                   unit: str = "", what: str = "the input") -> Tensor:
    """``observed (length,)``: False inside each ``(start, end)`` interval, in units of
    ``1 / rate`` entries (seconds at ``rate`` samples per second: ``unit="s"``); an empty
    interval or one past the end of ``what`` is a ``ValueError`` naming it."""
    observed = torch.ones(length, dtype=torch.bool)
    u = f" {unit}" if unit else ""
    for start, end in intervals:
        a, b = round(start * rate), round(end * rate)
        if not 0 <= a < b:
            raise ValueError(f"gap {start}-{end}{u}: need 0 <= start < end")
        if b > length:
            raise ValueError(f"gap {start}-{end}{u} ends after {what} ({length} entries, "
                             f"{length / rate:.3f}{u})")
        observed[a:b] = False
    return observed


def cloud_mask(shape: Sequence[int], missing: float, generator: Generator = None,
               scale: float = 3.0, periodic: bool = True) -> Tensor:
    """Cloud-like patches over ``missing`` of every map (the last two axes; to within one
    cell): per map, white noise smoothed by a Gaussian of ``scale`` cells (wrapping along the
    last axis when ``periodic``, e.g. longitude) and thresholded at its ``1 - missing``
    quantile."""
    from scipy import ndimage

    if not 0.0 < missing < 1.0:
        raise ValueError(f"missing must lie in (0, 1), got {missing}")
    shape = tuple(shape)
    if len(shape) < 2:
        raise ValueError(f"cloud_mask needs maps (..., Y, X), got shape {shape}")
    rng: Any = generator if isinstance(generator, np.random.Generator) else None
    modes = ("nearest", "wrap" if periodic else "nearest")
    out = np.zeros(shape, dtype=bool)
    for idx in np.ndindex(*shape[:-2]):
        if rng is not None:
            noise = rng.standard_normal(shape[-2:])
        else:
            noise = torch.randn(shape[-2:], generator=generator, dtype=torch.float64).numpy()
        field = ndimage.gaussian_filter(noise, scale, mode=modes)
        out[idx] = field <= np.quantile(field, 1.0 - missing)
    return torch.from_numpy(out)


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
