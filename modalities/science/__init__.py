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

Organised by role: :mod:`.data` (files, grids, the data module), :mod:`.statistics` (what a
training field fits: background, covariance, lag correlation), :mod:`.guesses` (the
statistical first guesses), :mod:`.unet` (the network), :mod:`.imputation` (``impute``,
calibration, the classical reference), :mod:`.io` (netCDF and PNG files).

xarray, netCDF4 and dask (the ``science`` extra) are imported on first use.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from polydiff.plugin import Command, Modality

__all__ = ["MODALITY", "Calibration", "FieldData", "FieldUNet", "calibrate", "impute",
           "load_field", "open_fields"]

_HERE = Path(__file__).resolve().parent
_LAZY = {"FieldData": "data.module", "load_field": "data.field", "FieldUNet": "unet",
         "impute": "imputation.impute", "calibrate": "imputation.impute",
         "Calibration": "imputation.impute", "open_fields": "data.files"}

MODALITY = Modality(
    name="science",
    description="(B, variables, [time,] lat, lon) gridded fields from netCDF/zarr: fill gaps "
                "with uncertainty (polydiff impute)",
    demo=f"{__name__}.demo:science_demo",
    configs={"coads": _HERE / "configs" / "science.yaml"},
    writers={"netcdf": f"{__name__}.io.netcdf:write_netcdf",
             "png": f"{__name__}.io.maps:write_png"},
    readers={"netcdf": f"{__name__}.io.netcdf:read_netcdf"},
    data_modules=(f"{__name__}.FieldData",),
    networks=(f"{__name__}.FieldUNet",),
    data_offset=f"{__name__}.statistics.background:background_offset",
    commands={"impute": Command(
        help="fill the gaps (NaN) of a netCDF/zarr field with a trained science model",
        arguments=f"{__name__}.command:add_arguments", run=f"{__name__}.command:run")},
)


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
