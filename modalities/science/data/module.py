"""``FieldData``: training samples from a gridded netCDF / zarr field with gaps.

Samples are patches ``(variables, lat, lon)`` or, with ``time_window``, space-time blocks
``(variables, time, lat, lon)``, in data units with NaN where nothing was observed (the base
class turns NaN into ``observed = False``). Items carry ``weight`` = cos(latitude) (the
area-weighted loss of global grids), ``vector`` = the patch's corner coordinates
``[lat_first, lat_last, lon_first, lon_last]`` (degrees; :class:`FieldUNet` turns them into
sin/cos channels) and, with ``validity=True``, ``cond`` = the land/sea validity channel (1 where
the cell has an observed value at some time). With ``background=True`` (or ``"mean"``) the
samples are anomalies from the field's background (per-cell time mean of its filled maps),
with ``background="seasonal"`` from its seasonal cycle (mean and annual harmonics), which the
model records.

The file is opened lazily (dask); fields up to ``in_memory_mb`` are read into memory once,
larger ones window by window.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from polydiff.plugin import DiffusionDataModule, Tiles, latitude_weight

from ..statistics.background import (
    BACKGROUNDS,
    annual_phase,
    background_at,
    encode_background,
    fit_background_basis,
)
from ..statistics.covariance import field_covariance, table_grid
from ..statistics.lag import lag_correlation
from .field import Field, load_field
from .windows import corners, rows_cols

__all__ = ["FieldData"]

#: the most coordinate values metadata keeps (for the writer's lat/lon axes)
_MAX_COORDS = 4096


class _Patches(Dataset):
    """Items of :class:`FieldData`: one window each."""

    def __init__(self, field: Field, windows: Tiles, positions: list, time_axis: bool,
                 validity: np.ndarray | None, weight: np.ndarray | None, coords: bool,
                 background: np.ndarray | None = None, basis: np.ndarray | None = None):
        self.field, self.windows, self.positions = field, windows, positions
        self.time_axis, self.validity, self.weight = time_axis, validity, weight
        self.coords, self.background, self.basis = coords, background, basis

    def __len__(self) -> int:
        return len(self.positions)

    def _static(self, grid: np.ndarray, y0: int, x0: int) -> np.ndarray:
        """``grid (K, Y, X)`` cut to the window ``(K, [wt,] wy, wx)`` (0 in padding)."""
        rows, cols, inside = rows_cols(self.windows, y0, x0)
        out = grid[:, rows][:, :, cols] * inside
        if self.time_axis:
            out = np.broadcast_to(out[:, None], (out.shape[0], self.windows.size[0],
                                                 *out.shape[1:]))
        return np.ascontiguousarray(out, dtype=np.float32)

    def _background(self, t0: int, y0: int, x0: int) -> np.ndarray:
        """The background on the window at ``(t0, y0, x0)``, shaped like its sample."""
        if self.background.ndim == 3:  # the time mean
            return self._static(self.background, y0, x0)
        rows, cols, inside = rows_cols(self.windows, y0, x0)
        coefs = self.background[:, :, rows][:, :, :, cols] * inside  # (C, P, wy, wx)
        wt = self.windows.size[0]
        basis = self.basis[t0:t0 + wt]
        # a window longer than the record (its padding steps) repeats the last step's background
        basis = np.concatenate([basis, np.repeat(basis[-1:], wt - len(basis), 0)])
        maps = background_at(coefs, basis)
        return np.ascontiguousarray(maps if self.time_axis else maps[:, 0], dtype=np.float32)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        t0, y0, x0 = self.positions[i]
        x = self.windows.read(self.field.values, (t0, y0, x0))
        if not self.time_axis:
            x = x[:, 0]
        if self.background is not None:
            x = x - self._background(t0, y0, x0)
        item = {"x": torch.from_numpy(x)}
        if self.weight is not None:
            item["weight"] = torch.from_numpy(self._static(self.weight, y0, x0))
        if self.validity is not None:
            item["cond"] = torch.from_numpy(self._static(self.validity, y0, x0))
        if self.coords:
            item["vector"] = torch.from_numpy(corners(self.field.lat, self.field.lon, y0, x0,
                                                      self.windows.size[1:]))
        return item


class FieldData(DiffusionDataModule):
    """Patches of a gridded field with gaps (NaN = missing).

    Args:
        path: a netCDF-3/4 file or zarr store (engine chosen from the file), or
            ``"bundled:coads_2deg.nc"`` / ``"bundled:navy_winds_5deg.nc"``.
        variables: the variables to model (default: every variable on the lat/lon grid);
            they become the channels, each with its own normalisation.
        patch: ``[lat, lon]`` size of a sample (default: the whole grid, padded with NaN rows
            up to a multiple of ``multiple``).
        time_window: ``None``: samples are one time step ``(C, lat, lon)``; ``T``: blocks of
            ``T`` consecutive steps ``(C, T, lat, lon)``.
        stride: ``[time, lat, lon]`` steps between windows (default: half a window).
        select: indices of other dimensions, e.g. ``{"depth": 0}``.
        multiple: the whole-grid sample is padded to a multiple of this (the network's
            ``size_multiple``).
        coords: give every item ``vector`` = the corner coordinates of its patch (for
            ``FieldUNet(coords=True)``).
        validity: give every item ``cond`` = the land/sea validity channel (for
            ``FieldUNet(validity=True)``; unconditional models, see docs/science.md).
        lat_weight: give every item ``weight`` = cos(latitude).
        background: samples are anomalies from the field's background, stored with the model
            and added back when it fills gaps
            (:mod:`~polydiff.modalities.science.statistics.background`;
            computed at every ``setup``, 2 passes of the first guess over every map; needs
            several time steps): ``True`` or ``"mean"``: the per-cell time mean of the
            gap-filled maps; ``"seasonal"``: their mean and annual cycle (2 harmonics; needs a
            time axis of dates covering the year; 5 maps per variable stored). Measured on the
            navy winds: the time mean lowers the RMSE under every mask of the benchmark, the
            seasonal cycle lowers it further (docs/science.md).
        covariance: radius (cells) of the local optimal interpolation a
            ``FieldUNet(fill_method="covariance")`` refines: the covariance of the anomalies
            of every cell with every cell up to ``2 radius`` away, estimated from the field's
            own filled maps (:mod:`~polydiff.modalities.science.statistics.covariance`) and
            stored with
            the model (float16; ``4 C^2 (4 radius + 1)^2`` bytes per cell); needs
            ``background=True``; ``None`` (default): none.
        min_observed: windows with a smaller observed fraction are left out.
        chunks, in_memory_mb: dask chunks of the lazy file; fields up to this size are loaded.
        batch_size, val_fraction, seed, num_workers, normalization, normalizer_items: as in
            :class:`~polydiff.training.DiffusionDataModule`; the validation split is a seeded
            share of the time windows (of the patches when there is one time window).
    """

    modality = "science"
    writer = "netcdf"

    def __init__(self, path: str = "bundled:coads_2deg.nc",
                 variables: Sequence[str] | None = None, patch: Sequence[int] | None = None,
                 time_window: int | None = None, stride: Sequence[int] | None = None,
                 select: dict[str, int] | None = None, multiple: int = 4,
                 coords: bool = True, validity: bool = False, lat_weight: bool = True,
                 min_observed: float = 0.05,
                 chunks: Any = "auto", in_memory_mb: float = 512.0, batch_size: int = 16,
                 val_fraction: float = 0.1, seed: int = 0, num_workers: int = 0,
                 normalization: str = "fit", normalizer_items: int = 4096,
                 background: bool | str = False, covariance: int | None = None):
        super().__init__(batch_size=batch_size, val_fraction=val_fraction, seed=seed,
                         num_workers=num_workers, normalization=normalization,
                         normalizer_items=normalizer_items)
        if patch is not None and (len(patch) != 2 or min(patch) < 1):
            raise ValueError(f"patch must be [lat, lon] sizes >= 1, got {patch}")
        if time_window is not None and time_window < 1:
            raise ValueError(f"time_window must be >= 1 or None, got {time_window}")
        if stride is not None and (len(stride) != 3 or min(stride) < 1):
            raise ValueError(f"stride must be [time, lat, lon] steps >= 1, got {stride}")
        if multiple < 1 or not 0.0 <= min_observed < 1.0:
            raise ValueError(f"need multiple >= 1 and 0 <= min_observed < 1, got {multiple}, "
                             f"{min_observed}")
        self.path, self.variables = path, None if variables is None else list(variables)
        self.patch = None if patch is None else [int(v) for v in patch]
        self.time_window = time_window
        self.stride = None if stride is None else [int(v) for v in stride]
        self.select, self.multiple = dict(select or {}), int(multiple)
        self.coords, self.validity = bool(coords), bool(validity)
        if background is True:
            background = "mean"
        if background not in (False, None, *BACKGROUNDS):
            raise ValueError(f"background must be False, True or one of {list(BACKGROUNDS)}, "
                             f"got {background!r}")
        self.lat_weight, self.background = bool(lat_weight), background or None
        self.background_values: np.ndarray | None = None
        self.background_basis: np.ndarray | None = None
        #: (with a background) the anomalies' lag correlation ``(C, MAX_LAG + 1)``
        self.lag_rho: np.ndarray | None = None
        if covariance is not None and not self.background:
            raise ValueError(f"covariance={covariance!r} needs background=True (the covariance "
                             f"is that of the anomalies from the background)")
        if covariance is not None and (isinstance(covariance, bool)
                                       or not isinstance(covariance, int) or covariance < 1):
            raise ValueError(f"covariance must be a radius in cells >= 1 or None, got "
                             f"{covariance!r}")
        self.covariance = covariance
        self.covariance_table: np.ndarray | None = None
        self.min_observed = float(min_observed)
        self.chunks, self.in_memory_mb = chunks, float(in_memory_mb)
        self.field: Field | None = None
        self.windows: Tiles | None = None

    # -- the grid ---------------------------------------------------------------------------
    def _window_size(self, field: Field) -> tuple[int, int, int]:
        t, y, x = field.shape
        wt = self.time_window or 1
        if self.patch is not None:
            return wt, self.patch[0], self.patch[1]
        m = self.multiple
        if x % m and field.periodic:
            raise ValueError(f"{field.where}: the {x} longitudes of this global grid are not a "
                             f"multiple of {m}; give patch=[lat, lon] with multiples of {m}")
        return wt, -(-y // m) * m, -(-x // m) * m

    def build(self) -> dict[str, Dataset]:
        field = load_field(self.path, self.variables, self.select, self.chunks,
                           self.in_memory_mb)
        size = self._window_size(field)
        stride = tuple(self.stride or [max(1, s // 2) for s in size])
        if self.time_window is None:
            stride = (1, *stride[1:])
        if size[0] > field.shape[0]:
            raise ValueError(f"{field.where}: a time window of {size[0]} steps does not fit the "
                             f"{field.shape[0]} time steps")
        windows = Tiles(field.shape, size, stride, (False, False, field.periodic))
        positions = self._keep(field, windows, windows.positions())
        self.field, self.windows = field, windows
        valid = field.valid()[None].astype(np.float32) if self.validity else None
        weight = None
        if self.lat_weight:
            weight = np.broadcast_to(latitude_weight(field.lat, ndim=3, lat_axis=1).numpy(),
                                     (1, *field.shape[1:])).astype(np.float32)
        if self.background:
            if field.shape[0] < 2:
                raise ValueError(f"{field.where}: background={self.background!r} needs several "
                                 f"time steps (the background is fitted to them); this field "
                                 f"has {field.shape[0]}")
            years = (annual_phase(field.time, field.where) if self.background == "seasonal"
                     else None)
            self.background_values, self.background_basis = fit_background_basis(
                field.values, field.periodic, years)
            self.lag_rho = lag_correlation(field.values, self.background_values,
                                           self.background_basis)
        if self.covariance is not None:
            self.covariance_table = field_covariance(field.values, self.background_values,
                                                     self.covariance, field.periodic,
                                                     basis=self.background_basis)
        parts = self._split(positions)
        return {k: _Patches(field, windows, v, self.time_window is not None, valid, weight,
                            self.coords, self.background_values, self.background_basis)
                for k, v in parts.items()}

    def _keep(self, field: Field, windows: Tiles, positions: list) -> list:
        """Positions whose windows hold at least ``min_observed`` observed entries."""
        if self.min_observed <= 0:
            return positions
        seen = np.isfinite(field.values).mean(axis=0)
        seen = np.asarray(seen.compute() if hasattr(seen, "compute") else seen)
        kept = []
        wt = windows.size[0]
        for t0, y0, x0 in positions:
            rows, cols, inside = rows_cols(windows, y0, x0)
            frac = (seen[t0:t0 + wt][:, rows][:, :, cols] * inside).mean()
            if frac >= self.min_observed:
                kept.append((t0, y0, x0))
        if not kept:
            raise ValueError(f"{field.where}: no window of size {list(windows.size)} has "
                             f"{self.min_observed:.0%} observed values; lower min_observed or "
                             f"choose larger patches")
        return kept

    def _split(self, positions: list) -> dict[str, list]:
        times = sorted({p[0] for p in positions})
        if self.val_fraction <= 0:
            return {"train": positions}
        if len(times) > 1:
            train_idx, val_idx = self.split(len(times), self.val_fraction)
            val_times = {times[i] for i in val_idx.tolist()}
            train = [p for p in positions if p[0] not in val_times]
            val = [p for p in positions if p[0] in val_times]
        else:
            train_idx, val_idx = self.split(len(positions), self.val_fraction)
            train = [positions[i] for i in sorted(train_idx.tolist())]
            val = [positions[i] for i in sorted(val_idx.tolist())]
        return {"train": train, "val": val} if val else {"train": train}

    # -- what the model records ----------------------------------------------------------------
    def metadata(self) -> dict[str, Any]:
        """Variables, units and CF attributes, the grid and how samples were cut (JSON);
        recorded with the model and checked when it fills another file."""
        self.setup()
        f = self.field
        grid = {"lat_name": str(f.axes.lat), "lon_name": str(f.axes.lon),
                "time_name": None if f.axes.time is None else str(f.axes.time),
                "periodic": f.periodic, "shape": list(f.shape)}
        if f.lat.size <= _MAX_COORDS and f.lon.size <= _MAX_COORDS:
            grid["lat"], grid["lon"] = f.lat.tolist(), f.lon.tolist()
        return {"variables": list(f.variables), "units": dict(f.units),
                "attrs": dict(f.attrs), "grid": grid, "source": Path(str(f.where)).name,
                "window": list(self.windows.size), "time_axis": self.time_window is not None,
                "coords": self.coords, "validity": self.validity,
                "lat_weight": self.lat_weight,
                "background": (None if self.background_values is None
                               else encode_background(self.background_values))}

    def statistics(self) -> dict[str, Any]:
        """What the field fitted that a network keeps as buffers (saved with its weights):
        with a background the anomalies' ``"lag_correlation"`` ``(C, MAX_LAG + 1)``, with
        ``covariance`` their ``"covariance_table"`` ``(C, C, D, D, Y, X)`` and its
        ``"covariance_grid"`` ``[radius, periodic, lat0, lon0, dlat, dlon]``."""
        self.setup()
        stats: dict[str, Any] = {}
        if self.lag_rho is not None:
            stats["lag_correlation"] = np.round(self.lag_rho, 5)
        if self.covariance_table is not None:
            f = self.field
            stats["covariance_table"] = self.covariance_table
            stats["covariance_grid"] = table_grid(self.covariance, f.lat, f.lon, f.periodic)
        return stats
