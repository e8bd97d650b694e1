"""Optimal interpolation with the field's own local covariance.

Each missing value is estimated from the known values within ``radius`` cells of it (all
variables) as the Gaussian conditional mean under the covariance of the field's anomalies
from its background, ``a_h = c_hk^T (C_kk + ridge diag C_kk)^-1 a_k``: simple kriging with an
empirical, non-stationary covariance (optimal interpolation as in weather and ocean
analysis). The covariance of every cell with every cell up to ``2 radius`` away
(:func:`local_covariance`) is estimated from the field's own maps, each filled by the
biharmonic first guess (:func:`field_covariance`), so it is learned from the observed values
of the same file. Unlike a stationary kernel it can represent correlation lengths, shapes
and couplings between variables that change from place to place (measured against the
classical methods in docs/science.md and docs/benchmarks.md).

:func:`local_oi` is the first guess of ``FieldUNet(fill_method="covariance")`` (the table is
stored with the model) and ``science_baselines.local_oi`` (``benchmarks/``) the
classical method built on it. Where a cell has no known value within ``radius`` the caller's
fallback (the biharmonic guess) is kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from torch import Tensor

from .background import background_at
from .fill import fill_maps

__all__ = ["decode_table", "encode_table", "field_covariance", "local_covariance", "local_oi",
           "offsets", "table_grid"]


def offsets(radius: int) -> tuple[np.ndarray, np.ndarray]:
    """``(dy, dx)``: the ``(2 radius + 1)^2`` cell offsets of a neighbourhood, row-major."""
    r = np.arange(-radius, radius + 1)
    dy, dx = np.meshgrid(r, r, indexing="ij")
    return dy.ravel(), dx.ravel()


def _check_radius(radius: int) -> int:
    if not isinstance(radius, (int, np.integer)) or isinstance(radius, bool) or radius < 1:
        raise ValueError(f"covariance radius must be an integer >= 1 (cells), got {radius!r}")
    return int(radius)


def _shifted(a: np.ndarray, dy: int, dx: int, periodic: bool) -> np.ndarray:
    """``a (..., Y, X)`` read at ``(y + dy, x + dx)``: 0 beyond the latitudes (and the
    longitudes of a regional grid), wrapped around a global one."""
    y, x = a.shape[-2:]
    out = np.zeros_like(a)
    src_y = slice(max(0, dy), min(y, y + dy))
    dst_y = slice(max(0, -dy), min(y, y - dy))
    if periodic:
        out[..., dst_y, :] = np.roll(a[..., src_y, :], -dx, axis=-1)
    else:
        src_x = slice(max(0, dx), min(x, x + dx))
        dst_x = slice(max(0, -dx), min(x, x - dx))
        out[..., dst_y, dst_x] = a[..., src_y, src_x]
    return out


def local_covariance(anomalies: np.ndarray, radius: int, periodic: bool,
                     block: int = 16) -> np.ndarray:
    """``(C, C, D, D, Y, X)`` float32, ``D = 4 radius + 1``: ``table[a, b, R + dy, R + dx,
    y, x] = mean_t anomalies[a, t, y, x] * anomalies[b, t, y + dy, x + dx]`` (``R = 2
    radius``; 0 where ``y + dy`` leaves the grid) for complete ``anomalies (C, T, Y, X)``
    (no NaN). Offsets reach ``2 radius`` so the covariance between any two cells of one
    neighbourhood is in the table."""
    radius = _check_radius(radius)
    a = np.asarray(anomalies)
    if a.ndim != 4:
        raise ValueError(f"anomalies must be (C, T, Y, X), got shape {tuple(a.shape)}")
    acc = _Accumulator(a.shape[0], a.shape[2:], radius, periodic)
    for t0 in range(0, a.shape[1], block):
        acc.add(np.asarray(a[:, t0:t0 + block], dtype=np.float64))
    return acc.table()


class _Accumulator:
    """Sums of lagged products over time blocks (the covariance of a long record)."""

    def __init__(self, channels: int, grid: tuple[int, int], radius: int, periodic: bool):
        self.big = 2 * radius
        d = 2 * self.big + 1
        self.periodic = bool(periodic)
        self.sums = np.zeros((channels, channels, d, d, *grid), dtype=np.float64)
        self.count = 0

    def add(self, part: np.ndarray) -> None:
        if not np.isfinite(part).all():
            raise ValueError("local_covariance: anomalies must be complete (no NaN); fill the "
                             "maps first (field_covariance does)")
        big = self.big
        for i in range(2 * big + 1):
            for j in range(2 * big + 1):
                moved = _shifted(part, i - big, j - big, self.periodic)
                self.sums[:, :, i, j] += np.einsum("atyx,btyx->abyx", part, moved)
        self.count += part.shape[1]

    def table(self) -> np.ndarray:
        if self.count == 0:
            raise ValueError("local_covariance: no time step to estimate a covariance from")
        return (self.sums / self.count).astype(np.float32)


def field_covariance(values: Any, background: np.ndarray, radius: int, periodic: bool,
                     block: int = 16, method: str = "biharmonic",
                     basis: np.ndarray | None = None) -> np.ndarray:
    """:func:`local_covariance` of the anomalies ``values - background`` of a gappy field
    ``values (C, T, Y, X)`` (numpy or dask, NaN = missing; ``background`` a time mean ``(C,
    Y, X)`` or seasonal coefficients ``(C, P, Y, X)`` with their ``basis (T, P)``, see
    :mod:`~polydiff.modalities.science.background`), each map filled by
    :func:`~polydiff.modalities.science.fill.first_guess` (``method``). Maps with no known
    value are left out. Reads ``block`` time steps at a time."""
    radius = _check_radius(radius)
    c, t, y, x = values.shape
    acc = _Accumulator(c, (y, x), radius, periodic)
    coefs = np.asarray(background, dtype=np.float32)
    for t0 in range(0, t, block):
        bg = background_at(coefs, None if basis is None else basis[t0:t0 + block])
        part = np.asarray(values[:, t0:t0 + block], dtype=np.float32) - bg
        some = np.isfinite(part).any(axis=(0, 2, 3))
        if some.any():
            filled = fill_maps(part[:, some].transpose(1, 0, 2, 3), periodic, method)
            acc.add(filled.transpose(1, 0, 2, 3).astype(np.float64))
    return acc.table()


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


def encode_table(radius: int, table: np.ndarray, lat: np.ndarray, lon: np.ndarray,
                 periodic: bool) -> dict[str, Any]:
    """JSON-able record of a covariance table (float16, base64) and the grid it indexes (how
    models written before the table became a fitted buffer recorded it in their description;
    :meth:`FieldUNet.use_data_info` still reads it)."""
    from .background import encode_background

    radius, periodic, lat0, lon0, dlat, dlon = table_grid(radius, lat, lon, periodic)
    return {"radius": int(radius), "periodic": bool(periodic), "lat0": lat0, "dlat": dlat,
            "lon0": lon0, "dlon": dlon, "table": encode_background(table, dtype="float16")}


def table_grid(radius: int, lat: np.ndarray, lon: np.ndarray, periodic: bool) -> list[float]:
    """``[radius, periodic, lat0, lon0, dlat, dlon]``: how a covariance table indexes its grid
    (degrees; a one-cell axis gets step 1)."""
    lat, lon = np.asarray(lat, np.float64), np.asarray(lon, np.float64)
    return [float(radius), float(bool(periodic)), float(lat[0]), float(lon[0]),
            float(lat[1] - lat[0]) if lat.size > 1 else 1.0,
            float(lon[1] - lon[0]) if lon.size > 1 else 1.0]


def decode_table(entry: Mapping[str, Any]) -> np.ndarray:
    """The ``(C, C, D, D, Y, X)`` float32 table of :func:`encode_table`'s record."""
    from .background import decode_background

    return decode_background(entry["table"])
