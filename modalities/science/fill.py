"""A quick, deterministic first guess of the missing values: push-pull, then relaxation.

:func:`push_pull`: the known values and their mask are averaged down a pyramid (each level
halves every axis); going back up, each level keeps its own average where it has data and
takes the coarser level's (interpolated) estimate where it has not, so small gaps are filled
from their neighbours and large ones from ever wider surroundings. :func:`relax` then smooths
the filled values by Jacobi iterations of the discrete Laplace equation with the known values
fixed (harmonic interpolation; circular on periodic axes). :func:`first_guess` is both; it is
what a :class:`~polydiff.modalities.science.FieldUNet` imputation model refines. It is about
as accurate as scipy's linear ``griddata`` (half of the points hidden: RMSE 1.154 against
1.151 m/s on the first 12 months of the bundled 5 degree winds, 0.672 against 0.645 on the
full 2.5 degree field; benchmarks/impute.py) and much faster.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["first_guess", "push_pull", "relax"]

_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
#: a coarse cell keeps its own average once 1/16 of it is known (else the coarser estimate)
_TRUST = 16.0
_LINEAR = {1: "linear", 2: "bilinear", 3: "trilinear"}


def _halve(v: Tensor) -> Tensor:
    """Average pooling by 2 on every spatial axis (odd sizes padded with zeros first)."""
    pad = []
    for n in reversed(v.shape[2:]):
        pad += [0, n % 2]
    if any(pad):
        v = F.pad(v, pad)
    return _POOL[v.ndim - 2](v, 2)


def _pad1(x: Tensor, d: int, wrap: bool) -> Tensor:
    """One cell of padding on both ends of axis ``d``: wrapped or replicated."""
    n = x.shape[d]
    lo = x.narrow(d, n - 1, 1) if wrap else x.narrow(d, 0, 1)
    hi = x.narrow(d, 0, 1) if wrap else x.narrow(d, n - 1, 1)
    return torch.cat([lo, x, hi], dim=d)


def _double(est: Tensor, size: tuple[int, ...], wrap: tuple[bool, ...]) -> Tensor:
    """Linear interpolation to twice the size (cell centres, as ``align_corners=False``),
    wrapping ``wrap`` axes, cut to ``size``."""
    for axis, w in enumerate(wrap):
        est = _pad1(est, axis + 2, w)
    up = F.interpolate(est, scale_factor=2.0, mode=_LINEAR[est.ndim - 2], align_corners=False)
    return up[(slice(None), slice(None), *(slice(2, 2 + n) for n in size))]


def push_pull(values: Tensor, mask: Tensor, levels: int = 8,
              periodic: tuple[bool, ...] | bool = False) -> Tensor:
    """Fill ``values (B, C, *axes)`` (1-3 spatial axes) where ``mask`` (same shape, 1 = known,
    0 = missing) is 0, with a pyramid of at most ``levels`` halvings; known entries are
    returned unchanged. ``periodic`` axes wrap when interpolating back up, so on sizes
    divisible by ``2 ** levels`` the result commutes with a roll by a multiple of it. A
    sample/channel with no known value at all comes out as 0."""
    dims = values.ndim - 2
    wrap = (periodic,) * dims if isinstance(periodic, bool) else tuple(periodic)
    mask = mask.to(values.dtype)
    num, den = [values * mask], [mask]
    while len(num) <= levels and min(num[-1].shape[2:]) > 1:
        num.append(_halve(num[-1]))
        den.append(_halve(den[-1]))
    est = num[-1] / den[-1].clamp(min=1e-12)
    for n, d in zip(reversed(num[:-1]), reversed(den[:-1]), strict=True):
        up = _double(est, tuple(n.shape[2:]), wrap)
        w = (d * _TRUST).clamp(max=1.0)  # enough known values: keep this level's average
        est = n / d.clamp(min=1e-12) * w + up * (1 - w)
    return torch.where(mask > 0, values, est)


def relax(estimate: Tensor, values: Tensor, mask: Tensor, iterations: int = 30,
          periodic: tuple[bool, ...] | bool = False) -> Tensor:
    """``iterations`` Jacobi sweeps of the Laplace equation on the missing entries of
    ``estimate (B, C, *axes)``: each becomes the mean of its ``2 * len(axes)`` neighbours
    (edges replicated, ``periodic`` axes wrapped); entries where ``mask`` is 1 stay
    ``values``."""
    dims = estimate.ndim - 2
    wrap = (periodic,) * dims if isinstance(periodic, bool) else tuple(periodic)
    known = mask > 0
    est = torch.where(known, values, estimate)
    for _ in range(iterations):
        total = torch.zeros_like(est)
        for axis in range(dims):
            d = axis + 2
            if wrap[axis]:
                total = total + est.roll(1, d) + est.roll(-1, d)
            else:
                first, last = est.narrow(d, 0, 1), est.narrow(d, est.shape[d] - 1, 1)
                total = total + torch.cat([first, est.narrow(d, 0, est.shape[d] - 1)], d)
                total = total + torch.cat([est.narrow(d, 1, est.shape[d] - 1), last], d)
        est = torch.where(known, values, total / (2 * dims))
    return est


def first_guess(values: Tensor, mask: Tensor, periodic: tuple[bool, ...] | bool = False,
                levels: int = 8, iterations: int = 50) -> Tensor:
    """:func:`push_pull` (``levels``) then :func:`relax` (``iterations``): ``(B, C, *axes)``,
    known entries unchanged."""
    mask = mask.to(values.dtype)
    return relax(push_pull(values, mask, levels, periodic), values, mask, iterations,
                 periodic)
