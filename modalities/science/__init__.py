"""Scientific fields ``(B, variables, [time,] lat, lon)``: gap filling with calibrated
uncertainty on gridded netCDF / zarr data.

- :class:`FieldData`: patches / space-time windows of a gappy file (NaN = missing), lazy
  through dask, cos(latitude) weights, optional static grid channels;
- :class:`FieldUNet`: the grid backbone (periodic longitude, several variables, optional
  time axis, ``[known, mask]`` conditioning for imputation models);
- :func:`impute`: fill the gaps of an ``xr.DataArray`` / ``xr.Dataset`` with a trained model
  (mean, std, quantiles, samples), tiling grids larger than the training patch;
  :func:`calibrate` / :class:`Calibration`: its spread calibration on held-out known values,
  pooled over pieces of a record filled separately;
- ``polydiff impute`` (command), ``polydiff demo science``, the netCDF writer / reader and
  PNG maps; bundled NOAA fields in ``assets/`` (see ``assets/README.md``).

xarray, netCDF4 and dask (the ``science`` extra) are imported on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polydiff.plugin import Command, Modality

__all__ = ["MODALITY", "Calibration", "FieldData", "FieldUNet", "calibrate", "impute",
           "load_field", "open_fields"]

_HERE = Path(__file__).resolve().parent
_LAZY = {"FieldData": "data", "load_field": "data", "FieldUNet": "unet", "impute": "gapfill",
         "calibrate": "gapfill", "Calibration": "calibration", "open_fields": "files"}

MODALITY = Modality(
    name="science",
    description="(B, variables, [time,] lat, lon) gridded fields from netCDF/zarr: fill gaps "
                "with uncertainty (polydiff impute)",
    demo=f"{__name__}.demo:science_demo",
    configs={"coads": _HERE / "configs" / "science.yaml"},
    writers={"netcdf": f"{__name__}.io:write_netcdf", "png": f"{__name__}.maps:write_png"},
    readers={"netcdf": f"{__name__}.io:read_netcdf"},
    data_modules=(f"{__name__}.FieldData",),
    networks=(f"{__name__}.FieldUNet",),
    data_offset=f"{__name__}.background:background_offset",
    commands={"impute": Command(
        help="fill the gaps (NaN) of a netCDF/zarr field with a trained science model",
        arguments=f"{__name__}.command:add_arguments", run=f"{__name__}.command:run")},
)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
