"""Tiles: inputs larger than a model's window, covered by overlapping N-d tiles whose samples
are blended where they overlap (weights that ramp down towards each tile's edges, so no seam
shows), with the network run on many tiles and members at once.

- :class:`Tiles`: where tiles start on a grid ``(n_0, n_1, ...)`` (axes may wrap: a global
  longitude), reading one (cells beyond a non-periodic edge read as NaN: padding up to the
  window) and its cells' indices;
- :class:`Blend`: accumulates weighted tiles into the grid;
- :func:`fill_tiles`: every tile of a gappy input filled by a model (or its posterior mean's
  terms), ``members`` per tile, each tile with its own seed, in batches of whole tiles.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from .model import Model

__all__ = ["Blend", "Tiles", "fill_tiles", "ramp", "tile_starts"]


def tile_starts(n: int, size: int, stride: int, periodic: bool = False) -> list[int]:
    """Start indices of tiles of ``size`` every ``stride`` along an axis of ``n`` cells that
    cover it: the last tile ends at the last cell (a tile larger than the axis starts at 0
    and is padded), or, on a periodic axis, tiles start anywhere on the circle (one tile as
    wide as the circle covers it alone)."""
    if size < 1 or stride < 1:
        raise ValueError(f"tile size and stride must be >= 1, got {size} and {stride}")
    if periodic and size < n:
        return list(range(0, n, stride))
    if size >= n:
        return [0]
    out = list(range(0, n - size + 1, stride))
    if out[-1] != n - size:
        out.append(n - size)
    return out


def ramp(size: int, overlap: int) -> np.ndarray:
    """1-D blending weights ``(size,)``: rising over the first ``overlap`` cells and falling
    over the last ``overlap``, 1 in between (all ones without overlap); always > 0."""
    i = np.arange(size, dtype=np.float64)
    if overlap <= 0:
        return np.ones(size)
    return np.minimum(1.0, np.minimum(i + 1, size - i) / (overlap + 1))


@dataclass(frozen=True)
class Tiles:
    """Tiles of ``size`` every ``stride`` cells over a grid of ``shape`` (one entry per
    axis); :meth:`with_overlap` gives them by the cells neighbours share instead.

    ``periodic``: axes that wrap around (a tile may cross the end); on them a tile may not be
    larger than the axis. On other axes a tile larger than the axis is padded (its cells
    beyond the edge read as NaN and are dropped when blending). A stride larger than the tile
    leaves cells between tiles (training patches; :class:`Blend` refuses such a plan)."""

    shape: tuple[int, ...]
    size: tuple[int, ...]
    stride: tuple[int, ...]
    periodic: tuple[bool, ...]

    def __post_init__(self) -> None:
        n = len(self.shape)
        for name in ("shape", "size", "stride", "periodic"):
            value = tuple(getattr(self, name))
            if len(value) != n:
                raise ValueError(f"Tiles: {name} needs one entry per axis ({n}), got "
                                 f"{list(value)}")
            object.__setattr__(self, name, value)
        for axis, (m, s, st, p) in enumerate(zip(self.shape, self.size, self.stride,
                                                 self.periodic, strict=True)):
            if s < 1 or st < 1:
                raise ValueError(f"Tiles: axis {axis} needs a tile size and a stride >= 1, got "
                                 f"size {s}, stride {st}")
            if p and s > m:
                raise ValueError(f"Tiles: a tile of {s} cells is larger than periodic axis "
                                 f"{axis} ({m} cells)")

    @classmethod
    def with_overlap(cls, shape, size, overlap, periodic) -> Tiles:
        """Tiles whose neighbours share ``overlap`` cells per axis (``0 <= overlap < size``)."""
        for axis, (s, o) in enumerate(zip(size, overlap, strict=True)):
            if not 0 <= o < s:
                raise ValueError(f"Tiles: axis {axis} needs an overlap in [0, size), got size "
                                 f"{s}, overlap {o}")
        return cls(tuple(shape), tuple(size), tuple(s - o for s, o in zip(size, overlap,
                                                                          strict=True)),
                   tuple(periodic))

    @property
    def overlap(self) -> tuple[int, ...]:
        """Cells neighbouring tiles share per axis (0 where the stride is the tile or more)."""
        return tuple(max(0, s - st) for s, st in zip(self.size, self.stride, strict=True))

    def positions(self) -> list[tuple[int, ...]]:
        """Every tile's start, the first axis slowest."""
        starts = [tile_starts(n, s, st, p) for n, s, st, p in
                  zip(self.shape, self.size, self.stride, self.periodic, strict=True)]
        out: list[tuple[int, ...]] = [()]
        for axis in starts:
            out = [(*pos, a) for pos in out for a in axis]
        return out

    def index(self, start: Sequence[int]) -> list[tuple[np.ndarray, np.ndarray]]:
        """Per axis ``(cells, inside)``: the grid indices of the tile at ``start`` (wrapped on
        periodic axes, clipped elsewhere) and which of them lie inside the grid."""
        out = []
        for a, n, s, p in zip(start, self.shape, self.size, self.periodic, strict=True):
            cells = np.arange(a, a + s)
            inside = np.ones(s, dtype=bool) if p else cells < n
            out.append((cells % n if p else np.minimum(cells, n - 1), inside))
        return out

    def read(self, values: Any, start: Sequence[int]) -> np.ndarray:
        """The tile at ``start`` of ``values (..., *shape)`` (numpy, or anything with numpy
        slicing such as a lazy dask array: one block is read): ``(..., *size)`` float32, NaN
        where it lies beyond the grid."""
        idx = self.index(start)
        bands = tuple(slice(int(c.min()), int(c.max()) + 1) for c, _ in idx)
        block = np.asarray(values[(Ellipsis, *bands)], dtype=np.float32)
        block = block[(Ellipsis, *np.ix_(*(c - b.start for (c, _), b in
                                            zip(idx, bands, strict=True))))]
        mask = np.ones(self.size, dtype=bool)
        for axis, (_, ins) in enumerate(idx):
            mask &= ins.reshape([-1 if a == axis else 1 for a in range(len(idx))])
        if not mask.all():
            block[..., ~mask] = np.nan
        return block

    def weight(self) -> np.ndarray:
        """The blending weight of a tile ``(*size,)`` (float64, > 0)."""
        w = np.ones((), dtype=np.float64)
        for s, o in zip(self.size, self.overlap, strict=True):
            w = np.multiply.outer(w, ramp(s, o))
        return w


class Blend:
    """Accumulates weighted tiles of ``(*lead, *size)`` into ``(*lead, *shape)`` (float32
    sums, float64 weights); :meth:`result` divides."""

    def __init__(self, tiles: Tiles, lead: Sequence[int]):
        self.tiles = tiles
        self.num = np.zeros((*lead, *tiles.shape), dtype=np.float32)
        self.den = np.zeros(tiles.shape, dtype=np.float64)
        self.weight = tiles.weight()

    def add(self, values: np.ndarray, start: Sequence[int]) -> None:
        """Add the tile at ``start``: ``values (*lead, *size)`` (cells beyond the grid are
        dropped; a tile never covers a cell twice, since it is no larger than a periodic
        axis)."""
        idx = self.tiles.index(start)
        keep = [ins for _, ins in idx]
        cells = np.ix_(*(c[k] for (c, _), k in zip(idx, keep, strict=True)))
        w = self.weight[np.ix_(*keep)]
        self.num[(Ellipsis, *cells)] += (values[(Ellipsis, *np.ix_(*keep))] * w).astype(
            np.float32)
        self.den[cells] += w

    def result(self) -> np.ndarray:
        """The blended grid ``(*lead, *shape)`` (float32)."""
        if not (self.den > 0).all():
            raise RuntimeError("tiling left cells without a tile (a bug in the tile plan)")
        return (self.num / self.den).astype(np.float32)


Seeds = Callable[[int], int]
CondOf = Callable[[Sequence[int]], dict[str, Any]]


def fill_tiles(model: Model, values: np.ndarray, tiles: Tiles, *, members: int,
               seeds: Seeds, cond_of: CondOf | None = None, point: bool = False,
               post: Callable[[torch.Tensor], torch.Tensor] | None = None,
               sample_shape: Sequence[int] | None = None, batch_size: int | None = None,
               progress: bool = False, desc: str = "tiles", **kwargs: Any) -> np.ndarray:
    """Every tile of ``values (C, *shape)`` (model units, NaN = missing) filled ``members``
    times and blended: ``(members, C, *shape)`` (model units, unless ``post`` says).

    A tile's cells are reshaped to ``sample_shape`` (default the model's; so a ``(1, Y, X)``
    tile of a ``(C, T, Y, X)`` field feeds a map model, and a model that takes any multiple of
    its size can run on tiles cut to a grid smaller than its training patch). Tile ``k`` draws
    its starting noise from ``seeds(k)`` and its sampler noise from ``seeds(k) + 1``, whatever
    else shares its batch;
    ``cond_of(start)`` gives its other conditioning (``vector``, ``cond``; 1 or ``members``
    rows). ``point``: the posterior mean's terms (the denoiser at ``t_max`` on the same
    noise) instead of samples. ``post``: applied to each batch of filled tiles before they
    are blended (e.g. back to data units, so that the blend is in those). ``batch_size``:
    rows (tiles x members) per network call, whole tiles (default: as many as fit the memory
    budget, :func:`~polydiff.inference.budget.rows_for`); ``kwargs``: the model's
    :meth:`~Model.sample` options (sampler, guidance, ...)."""
    from .draw import posterior_terms

    shape = tuple(model.sample_shape if sample_shape is None else sample_shape)
    positions = tiles.positions()
    c = values.shape[0]
    if math.prod(shape[1:]) != math.prod(tiles.size) or shape[0] != c:
        raise ValueError(f"fill_tiles: tiles of {list(tiles.size)} cells do not fill the "
                         f"model's samples {list(shape)} ({c} channels given)")
    blend = Blend(tiles, (members, c))
    device = model.device
    if batch_size is None:
        batch_size = _budget_rows(model, values, tiles, shape, members, cond_of)
    per_call = max(1, batch_size // members)
    bar = _bar(len(positions), progress, desc)
    for first in range(0, len(positions), per_call):
        chunk = list(enumerate(positions))[first:first + per_call]
        known, noise, extra = [], [], []
        for k, start in chunk:
            tile = torch.from_numpy(tiles.read(values, start).reshape(c, *shape[1:]))
            known.append(tile[None].expand(members, *tile.shape))
            g = torch.Generator().manual_seed(seeds(k))
            noise.append(torch.randn((members, *shape), generator=g))
            if cond_of is not None:
                extra.append(cond_of(start))
        known_t = torch.cat(known)
        observed = torch.isfinite(known_t)
        known_t = torch.where(observed, known_t, 0.0)
        cond = _stack(extra, members)
        with torch.no_grad(), model.evaluating():
            if point:
                x = posterior_terms(model.denoiser, model.schedule, torch.cat(noise).to(device),
                                    known_t.to(device), observed.to(device), model.conditioner,
                                    **{k: v.to(device) for k, v in cond.items()})
            else:
                gens = [torch.Generator(device=device).manual_seed(seeds(k) + 1)
                        for k, _ in chunk]
                x = model.sample(known_t.shape[0], known=known_t, observed=observed,
                                 noise=torch.cat(noise), generator=gens, units="model",
                                 batch_size=known_t.shape[0], shape=shape, **cond, **kwargs)
        x = x.float().cpu()
        x = (x if post is None else post(x)).numpy()
        for j, (_, start) in enumerate(chunk):
            blend.add(x[j * members:(j + 1) * members].reshape(members, c, *tiles.size), start)
        bar.update(len(chunk))
    bar.close()
    return blend.result()


def _budget_rows(model: Model, values: np.ndarray, tiles: Tiles, shape: tuple[int, ...],
                 members: int, cond_of: CondOf | None) -> int:
    """Rows per call within the memory budget, measured on the first tile's first row."""
    from .budget import rows_for
    from .draw import posterior_terms

    start = tiles.positions()[0]
    device = model.device
    tile = torch.from_numpy(tiles.read(values, start).reshape(values.shape[0], *shape[1:]))
    known = tile[None].to(device)
    observed = torch.isfinite(known)
    cond = _stack([cond_of(start)] if cond_of is not None else [], 1)
    cond = {k: v[:1].to(device) for k, v in cond.items()}
    noise = torch.zeros((1, *shape), device=device)

    def one_row() -> None:
        with model.evaluating():
            posterior_terms(model.denoiser, model.schedule, noise,
                            torch.where(observed, known, 0.0), observed, model.conditioner,
                            **cond)

    return rows_for(model.net, one_row, members, device)


def _stack(parts: list[dict[str, Any]], members: int) -> dict[str, torch.Tensor]:
    """The tiles' conditioning, ``members`` rows per tile, stacked."""
    if not parts:
        return {}
    out = {}
    for name in parts[0]:
        rows = []
        for p in parts:
            v = torch.as_tensor(p[name])
            rows.append(v.expand(members, *v.shape[1:]) if v.shape[0] == 1 else v)
        out[name] = torch.cat(rows)
    return out


def _bar(total: int, show: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="tile", disable=not show)
