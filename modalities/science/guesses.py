"""The grid model's statistical first guesses: optimal interpolation with the statistics a
training field fitted (:mod:`~polydiff.modalities.science.statistics`).

- :func:`local_oi` (``FieldUNet(fill_method="covariance")``): each missing value from the
  known values within ``radius`` cells of it (all variables), as the Gaussian conditional
  mean under the field's local covariance table, ``a_h = c_hk^T (C_kk + ridge diag C_kk)^-1
  a_k``: simple kriging with an empirical, non-stationary covariance (optimal interpolation
  as in weather and ocean analysis);
- :func:`temporal_oi` (``fill_method="temporal_oi"``): each missing anomaly from the same
  cell's nearest known time steps before and after it, at lags ``p`` and ``n``, under the
  lag correlation ``rho(L)``: weights ``(rho_p - r rho_n, rho_n - r rho_p) / (1 - r^2)`` with
  ``r = rho(p + n)`` where ``p + n`` is within the estimated lags and the three correlations
  form a covariance, else ``rho`` of the nearer known step; the background (anomaly 0) when
  neither has. Unlike linear interpolation in time it falls back to the background as the
  known steps grow apart, by as much as the data says.

Both work on anomalies from the background (data units); the classical methods built on them
are ``science_baselines.local_oi`` / ``temporal_oi`` (``benchmarks/``).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .statistics.covariance import _check_radius, offsets

__all__ = ["local_oi", "temporal_oi"]


def local_oi(values: Tensor, mask: Tensor, table: Tensor, rows: Tensor, cols: Tensor,
             radius: int, periodic: bool, fallback: Tensor | None = None,
             ridge: float = 0.01, nearest: int | None = 24, chunk: int = 8192) -> Tensor:
    """Optimal interpolation of the missing entries of patches ``values (B, C, H, W)``
    (anomalies; ``mask`` True where known) from the known ones within ``radius`` cells,
    under the covariance ``table (C, C, D, D, Y, X)`` of :func:`local_covariance` (``D >= 4
    radius + 1``). Patch ``b`` starts at grid row ``rows[b]`` and column ``cols[b]``
    (rows past the grid are padding: no covariance, never known). ``periodic``: the grid's
    longitudes wrap (a patch as wide as the grid wraps onto itself). ``nearest``: use at
    most this many known entries (cells x variables), the nearest (``None``: all within
    ``radius``). ``ridge``: a nugget, the share of each known value's variance taken for
    noise (keeps the solve well posed). Known entries come back exactly; missing entries
    with no known neighbour take ``fallback`` (default 0, the background)."""
    radius = _check_radius(radius)
    b, c, h, w = values.shape
    if mask.shape != values.shape:
        raise ValueError(f"local_oi: mask {tuple(mask.shape)} must match values "
                         f"{tuple(values.shape)}")
    if table.ndim != 6 or table.shape[:2] != (c, c):
        raise ValueError(f"local_oi: table must be (C, C, D, D, Y, X) with C = {c}, got "
                         f"{tuple(table.shape)}")
    d = table.shape[2]
    big = d // 2
    if big < 2 * radius:
        raise ValueError(f"local_oi: a table of offsets up to {big} cells cannot serve "
                         f"radius {radius} (needs {2 * radius})")
    n_lat, n_lon = table.shape[-2:]
    dev = values.device
    # one flat gather per matrix: [(y, x), dy, dx, c1, c2]
    flat = table.to(device=dev, dtype=torch.float32).permute(4, 5, 2, 3, 0, 1).reshape(-1)
    base = torch.zeros_like(values) if fallback is None else fallback.to(values.dtype)
    out = torch.where(mask, values, base).to(torch.float32)
    todo = (~mask).any(dim=1).nonzero()  # (N, 3): sample, row, column
    if todo.numel() == 0:
        return out.to(values.dtype)
    dy, dx = (torch.as_tensor(o, device=dev) for o in offsets(radius))
    k = dy.numel()
    e_k = torch.arange(k * c, device=dev) // c  # entries (cell, variable), cell-major
    e_c = torch.arange(k * c, device=dev) % c
    order = (dy * dy + dx * dx).to(torch.float32)[e_k] + 1e-3 * torch.arange(
        k * c, device=dev, dtype=torch.float32) / (k * c)  # nearest first, ties by index
    s = k * c if nearest is None else max(1, min(int(nearest), k * c))
    # flat offsets in the table between any two entries, and from the target to an entry
    ey, ex = dy[e_k], dx[e_k]
    cell = d * d * c * c
    rel = ((((ey[None, :] - ey[:, None] + big) * d + (ex[None, :] - ex[:, None] + big)) * c
            + e_c[:, None]) * c + e_c[None, :])  # (K C, K C)
    trel = ((((ey + big) * d + (ex + big))[:, None] * c + torch.arange(c, device=dev)) * c
            + e_c[:, None])  # (K C, C target)
    wrap_patch = periodic and w == n_lon
    vals = values.to(torch.float32)
    for s0 in range(0, todo.shape[0], chunk):
        sb, si, sj = todo[s0:s0 + chunk].unbind(1)
        n = sb.numel()
        ii = si[:, None] + dy[None]  # (N, K) neighbour rows and columns in the patch
        jj = sj[:, None] + dx[None]
        inside = (ii >= 0) & (ii < h)
        if wrap_patch:
            jj = jj % w
        else:
            inside &= (jj >= 0) & (jj < w)
        ii, jj = ii.clamp(0, h - 1), jj.clamp(0, w - 1)
        gy = rows[sb][:, None] + ii  # grid rows and columns of the neighbours
        gx = cols[sb][:, None] + jj
        inside &= gy < n_lat
        gx = gx % n_lon if periodic else gx
        inside &= gx < n_lon
        gy, gx = gy.clamp(0, n_lat - 1), gx.clamp(0, n_lon - 1)
        bb = sb[:, None].expand(-1, k)
        known = (mask[bb, :, ii, jj] & inside[..., None]).reshape(n, k * c)  # (N, K C)
        x = vals[bb, :, ii, jj].reshape(n, k * c)
        # the nearest known entries (unknown ones fill up rows with too few)
        score = torch.where(known, order[None], order[None] + 1e6)
        pick = torch.topk(score, s, dim=1, largest=False, sorted=False).indices  # (N, S)
        m = known.gather(1, pick).to(torch.float32)
        x = torch.where(m > 0, x.gather(1, pick), 0.0)
        pk = e_k[pick]  # (N, S)
        pos = gy.gather(1, pk) * n_lon + gx.gather(1, pk)  # entry 1's cell
        a = flat[pos[:, :, None] * cell + rel[pick[:, :, None], pick[:, None, :]]]  # (N, S, S)
        tpos = gy[:, k // 2] * n_lon + gx[:, k // 2]  # the target cell (offset 0)
        rhs = flat[tpos[:, None, None] * cell + trel[pick]] * m[..., None]  # (N, S, C)
        diag = torch.diagonal(a, dim1=1, dim2=2).clone()
        scale = (diag * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp_min(1)
        a.mul_(m[:, :, None]).mul_(m[:, None, :])
        torch.diagonal(a, dim1=1, dim2=2).add_(m * ridge * diag + (1 - m)
                                               + 1e-6 * scale.clamp_min(1e-12))
        chol, info = torch.linalg.cholesky_ex(a)
        # (cholesky_solve and triangular solves of small batched systems are many times
        # slower on CPU than the explicit inverse of the factor)
        weights = torch.cholesky_inverse(chol) @ rhs  # (N, S, C)
        bad = info > 0
        if bool(bad.any()):  # not positive definite (rounding): LU there
            weights[bad] = torch.linalg.solve(a[bad], rhs[bad])
        est = (weights * x[..., None]).sum(1)  # (N, C)
        has = ((m.sum(1) > 0) & inside[:, k // 2])[:, None] & ~mask[sb, :, si, sj]
        out[sb, :, si, sj] = torch.where(has, est, out[sb, :, si, sj])
    return out.to(values.dtype)


def temporal_oi(anomalies: Tensor, known: Tensor, rho: Tensor, dim: int = 2) -> Tensor:
    """The optimal-interpolation estimate of every entry of ``anomalies (B, C, ...)`` along
    axis ``dim`` (time) from its nearest ``known`` (bool, same shape) entries before and
    after it, under ``rho (C, L + 1)`` (:func:`lag_correlation`; lags past ``L``: 0; both
    sides only where ``p + n <= L`` and the correlations form a covariance, else the nearer
    one); known entries are returned exactly, entries with no known neighbour are 0."""
    if anomalies.shape != known.shape or anomalies.ndim < 3 or not 2 <= dim < anomalies.ndim:
        raise ValueError(f"temporal_oi: anomalies {tuple(anomalies.shape)} and known "
                         f"{tuple(known.shape)} must be the same (B, C, ...) shape with the "
                         f"time axis dim={dim} past the channels")
    c = anomalies.shape[1]
    if rho.ndim != 2 or rho.shape[0] != c:
        raise ValueError(f"temporal_oi: rho must be (C={c}, lags), got {tuple(rho.shape)}")
    t = anomalies.shape[dim]
    view = [1] * anomalies.ndim
    view[dim] = t
    steps = torch.arange(t, device=anomalies.device).view(view).expand_as(anomalies)
    prev = torch.where(known, steps, -1).cummax(dim).values
    nxt = torch.where(known, steps, t).flip(dim).cummin(dim).values.flip(dim)
    has_p, has_n = prev >= 0, nxt < t
    lags = rho.shape[1]
    table = torch.cat([rho, rho.new_zeros(c, 1)], dim=1).to(anomalies.dtype)  # 0 past L
    chan = torch.arange(c, device=anomalies.device).view(1, c, *[1] * (anomalies.ndim - 2))

    def r(lag: Tensor) -> Tensor:
        return table[chan.expand_as(lag), lag.clamp(0, lags)]

    rp, rn = r(steps - prev), r(nxt - steps)
    rpn = r(nxt - prev)
    # both sides only where the three correlations are a covariance (a lag past L reads 0,
    # which with rho_p, rho_n near 1 is not): else the nearer side alone
    det = 1.0 - rp * rp - rn * rn - rpn * rpn + 2.0 * rp * rn * rpn
    both = has_p & has_n & (nxt - prev <= lags - 1) & (det > 1e-6)
    near_p = has_p & (~has_n | (steps - prev <= nxt - steps))
    den = (1.0 - rpn * rpn).clamp_min(1e-6)
    wp = torch.where(both, (rp - rpn * rn) / den, torch.where(near_p, rp, 0.0))
    wn = torch.where(both, (rn - rpn * rp) / den,
                     torch.where(has_n & ~near_p, rn, 0.0))
    a = torch.where(known, anomalies, torch.zeros_like(anomalies))
    a_prev = a.gather(dim, prev.clamp(0, t - 1))
    a_next = a.gather(dim, nxt.clamp(0, t - 1))
    return torch.where(known, anomalies, wp * a_prev + wn * a_next)
