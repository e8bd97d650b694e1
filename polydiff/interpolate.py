"""Interpolation into the missing entries of a grid: the first guesses that models refine
(missing frames of a video, time steps and gaps of gridded fields, any masked N-d array).

- :func:`linear_along`: each missing entry becomes the distance-weighted blend of the nearest
  given entries before and after it along ``dim`` (same position on every other axis); where
  only one side has one it holds that one (the "repeat the last frame" forecast past the end);
  where neither has, it is 0.
- :func:`push_pull`: the known values and their mask are averaged down a pyramid (each level
  halves every axis); going back up, each level keeps its own average where it has data and
  takes the coarser level's (interpolated) estimate where it has not, so small gaps are filled
  from their neighbours and large ones from ever wider surroundings.
- :func:`relax`: Jacobi iterations of the discrete Laplace equation with the known values
  fixed (harmonic interpolation; circular on periodic axes); :func:`biharmonic`: then the
  minimum of the bending energy ``sum (Laplacian u)^2`` over the missing entries by conjugate
  gradients, a thin-plate spline on the grid.
- :func:`first_guess` chains them (:data:`FILL_METHODS`); its ``"temporal"`` method (arrays
  with a time axis) interpolates linearly in time wherever a cell has a known value at another
  time step and takes the harmonic guess where it has none.

Given (known) entries are always returned exactly. How they compare with scipy's
interpolators on gridded fields is measured in docs/science.md.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["FILL_METHODS", "biharmonic", "first_guess", "linear_along", "push_pull", "relax"]

#: first guesses: push-pull + Laplace relaxation, or then the bending-energy minimum, or
#: linear in time (time-axis arrays; harmonic where a cell has no known time step)
FILL_METHODS = ("harmonic", "biharmonic", "temporal")


def linear_along(known: Tensor, given: Tensor, dim: int = 2) -> Tensor:
    """``known`` (any shape; any values where not given), ``given`` (bool, broadcastable to
    ``known``; True = given) -> ``known``'s shape, equal to ``known`` where ``given`` and
    interpolated linearly along ``dim`` elsewhere (held constant outside the first/last given
    entry, 0 where a line along ``dim`` has none)."""
    if known.ndim == 0:
        raise ValueError("linear_along: known must have at least one axis, got a scalar")
    if not -known.ndim <= dim < known.ndim:
        raise ValueError(f"linear_along: dim must be in [{-known.ndim}, {known.ndim - 1}] for "
                         f"known of shape {tuple(known.shape)}, got {dim}")
    try:
        given = given.to(torch.bool).expand_as(known)
    except RuntimeError:
        raise ValueError(f"linear_along: given must broadcast to known's shape "
                         f"{tuple(known.shape)}, got {tuple(given.shape)}") from None
    dim = dim % known.ndim
    n = known.shape[dim]
    view = [1] * known.ndim
    view[dim] = n
    idx = torch.arange(n, device=known.device).reshape(view).expand_as(known)
    prev = torch.where(given, idx, -1).cummax(dim=dim).values
    nxt = torch.where(given, idx, n).flip(dim).cummin(dim=dim).values.flip(dim)
    has_prev, has_next = prev >= 0, nxt < n
    v_prev = known.gather(dim, prev.clamp(0, n - 1))
    v_next = known.gather(dim, nxt.clamp(0, n - 1))
    w = (idx - prev).to(known.dtype) / (nxt - prev).clamp(min=1).to(known.dtype)
    blend = v_prev + (v_next - v_prev) * w
    zero = torch.zeros((), dtype=known.dtype, device=known.device)
    out = torch.where(has_prev & has_next, blend,
                      torch.where(has_prev, v_prev, torch.where(has_next, v_next, zero)))
    return torch.where(given, known, out)


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


def _laplacian(u: Tensor, wrap: tuple[bool, ...]) -> Tensor:
    """Mean of the ``2 * len(wrap)`` neighbours minus the entry (edges replicated: the
    symmetric graph Laplacian of the grid; ``wrap`` axes circular)."""
    total = torch.zeros_like(u)
    for axis, w in enumerate(wrap):
        d, n = axis + 2, u.shape[axis + 2]
        padded = _pad1(u, d, w)
        total = total + padded.narrow(d, 0, n) + padded.narrow(d, 2, n)
    return total / (2 * len(wrap)) - u


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
        est = torch.where(known, values, est + _laplacian(est, wrap))
    return est


def biharmonic(estimate: Tensor, values: Tensor, mask: Tensor, iterations: int = 100,
               periodic: tuple[bool, ...] | bool = False) -> Tensor:
    """``iterations`` conjugate-gradient steps towards the minimum of ``sum (L u)^2`` (``L``
    the grid Laplacian, edges replicated, ``periodic`` axes wrapped) over the missing entries
    of ``estimate (B, C, *axes)``, each sample and channel on its own; entries where ``mask``
    is 1 stay ``values``. The minimum is the grid's thin-plate spline through the known
    values (on a connected gap the system is positive definite)."""
    dims = estimate.ndim - 2
    wrap = (periodic,) * dims if isinstance(periodic, bool) else tuple(periodic)
    known = mask > 0
    free = (~known).to(estimate.dtype)
    axes = tuple(range(2, estimate.ndim))

    def bend(v: Tensor) -> Tensor:  # the energy's Hessian / 2 on the free entries
        return free * _laplacian(_laplacian(v, wrap), wrap)

    u = torch.where(known, values, estimate)
    r = -bend(u)
    p = r
    rs = (r * r).sum(axes, keepdim=True)
    tiny = torch.finfo(estimate.dtype).tiny
    for _ in range(iterations):
        bp = bend(p)
        alpha = rs / (p * bp).sum(axes, keepdim=True).clamp(min=tiny)
        u = u + alpha * p
        r = r - alpha * bp
        new = (r * r).sum(axes, keepdim=True)
        p = r + new / rs.clamp(min=tiny) * p
        rs = new
    return torch.where(known, values, u)


def first_guess(values: Tensor, mask: Tensor, periodic: tuple[bool, ...] | bool = False,
                levels: int = 8, iterations: int = 50, method: str = "harmonic",
                bend_iterations: int = 100) -> Tensor:
    """:func:`push_pull` (``levels``) then :func:`relax` (``iterations``), and for
    ``method="biharmonic"`` then :func:`biharmonic` (``bend_iterations``): ``(B, C, *axes)``,
    known entries unchanged. ``method="temporal"`` needs ``(B, C, time, lat, lon)``: linear
    in time (axis 2) where the cell has a known value at some time step, the harmonic guess
    elsewhere."""
    if method not in FILL_METHODS:
        raise ValueError(f"first guess method must be one of {list(FILL_METHODS)}, got "
                         f"{method!r}")
    if method == "temporal" and values.ndim != 5:
        raise ValueError(f"first guess method 'temporal' needs a time axis: values (B, C, "
                         f"time, lat, lon), got shape {tuple(values.shape)}")
    mask = mask.to(values.dtype)
    if method == "temporal":
        known = mask > 0
        in_time = linear_along(values, known, dim=2)
        reached = known.any(dim=2, keepdim=True)
        if bool(reached.all()):  # every cell known at some step: no spatial guess needed
            return in_time
    guess = relax(push_pull(values, mask, levels, periodic), values, mask, iterations,
                  periodic)
    if method == "biharmonic":
        guess = biharmonic(guess, values, mask, bend_iterations, periodic)
    elif method == "temporal":
        guess = torch.where(reached, in_time, guess)
    return guess

