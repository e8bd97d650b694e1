"""PNG maps of fields (matplotlib): panels on a latitude/longitude grid, NaN in grey.

:func:`write_maps` draws named panels side by side; :func:`write_png` is the modality's
``"png"`` writer (the first time step of up to 8 samples, one row per variable).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

__all__ = ["Panel", "write_maps", "write_png"]

#: one panel: (title, 2-D array (lat, lon), colormap, (vmin, vmax) or None)
Panel = tuple[str, np.ndarray, str, tuple[float, float] | None]


def write_maps(panels: Sequence[Panel], path: str | Path, lat: np.ndarray | None = None,
               lon: np.ndarray | None = None, ncols: int | None = None,
               title: str | None = None) -> Path:
    """Draw ``panels`` (each ``(title, field (lat, lon), cmap, range)``) into one PNG and
    return its path. Latitude increases upwards; NaN cells are grey."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not panels:
        raise ValueError("write_maps: no panels to draw")
    ncols = ncols or min(len(panels), 3)
    nrows = -(-len(panels) // ncols)
    first = np.asarray(panels[0][1])
    aspect = first.shape[1] / max(1, first.shape[0])
    fig, axes = plt.subplots(nrows, ncols, figsize=(ncols * min(6.0, 2.2 * aspect) + 0.5,
                                                    nrows * 2.6 + (0.4 if title else 0)),
                             squeeze=False, dpi=100)
    extent = None
    if lat is not None and lon is not None:
        lat, lon = np.asarray(lat), np.asarray(lon)
        extent = (float(lon.min()), float(lon.max()), float(lat.min()), float(lat.max()))
    for ax, (name, field, cmap, rng) in zip(axes.flat, panels, strict=False):
        field = np.asarray(field, dtype=np.float64)
        if lat is not None and lat.size > 1 and lat[0] > lat[-1]:
            field = field[::-1]
        colors = plt.get_cmap(cmap).with_extremes(bad="0.8")
        vmin, vmax = rng if rng is not None else (np.nanmin(field), np.nanmax(field))
        im = ax.imshow(np.ma.masked_invalid(field), origin="lower", cmap=colors, vmin=vmin,
                       vmax=vmax, extent=extent, aspect="auto", interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.tick_params(labelsize=7)
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.02).ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def write_png(x: Tensor, path: Path, meta: Mapping[str, Any]) -> Path:
    """Samples ``x (B, C, [T,] lat, lon)`` (data units) -> ``PATH.png``: the first time step of
    up to 8 samples (columns), one row per variable, each variable on one colour scale."""
    from .netcdf import grid_coords

    arr = x.detach().float().cpu().numpy()
    if arr.ndim == 5:
        arr = arr[:, :, 0]
    arr = arr[:8]
    names = list(meta.get("variables") or [f"var{i}" for i in range(arr.shape[1])])
    units = meta.get("units") or {}
    lat, lon = grid_coords(meta, arr.shape[-2], arr.shape[-1])
    if lat is not None:
        arr = arr[..., :len(lat), :]
    panels: list[Panel] = []
    for c, name in enumerate(names):
        rng = (float(np.nanmin(arr[:, c])), float(np.nanmax(arr[:, c])))
        for b in range(arr.shape[0]):
            panels.append((f"{name} [{units.get(name, '')}] sample {b}", arr[b, c], "viridis",
                           rng))
    return write_maps(panels, Path(path).with_suffix(".png"), lat, lon, ncols=arr.shape[0])
