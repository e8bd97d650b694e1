"""``polydiff impute INPUT --var NAME --checkpoint C --out OUT.nc [--samples N]``: fill the gaps
of a netCDF / zarr field and write the mean, spread and quantiles to a new netCDF file.

Everything is checked before any sampling: the output file (new, or ``--overwrite``), the
device, the sampler, the model (a science model), the input (netCDF / zarr, the variables and
their units, a latitude / longitude grid, something observed).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

__all__ = ["add_arguments", "run"]


def _select(items: list[str] | None) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        if not sep or not name or not value.lstrip("-").isdigit():
            raise ValueError(f"--select {item!r}: expected DIM=INDEX such as depth=0")
        out[name] = int(value)
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``polydiff impute``."""
    from polydiff.plugin import add_model_options, add_sampler_options, finite_float, positive_int

    p.add_argument("input", help="netCDF file or zarr store whose NaN values are gaps")
    add_model_options(p, "a science model")
    add_sampler_options(p)
    p.add_argument("--var", action="append", default=None, metavar="NAME",
                   help="variable to fill (repeat for several; default: the model's "
                        "variables, which the model fills together)")
    p.add_argument("--out", required=True, help="output netCDF file (must not exist)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    p.add_argument("--samples", type=positive_int, default=16,
                   help="ensemble members (default 16)")
    p.add_argument("--guidance", default="inpaint", choices=["inpaint", "repaint", "dps"],
                   help="how known values steer the samples (default inpaint)")
    p.add_argument("--resample", type=positive_int, nargs=2, default=None,
                   metavar=("JUMP", "REPEATS"), help="with --guidance repaint (default 1 4)")
    p.add_argument("--dps-step", type=finite_float, default=1.0,
                   help="with --guidance dps: the guidance step (default 1)")
    p.add_argument("--quantiles", type=finite_float, nargs="+", default=[0.05, 0.5, 0.95],
                   help="quantile levels written as VAR_quantiles (default 0.05 0.5 0.95)")
    p.add_argument("--save-samples", action="store_true",
                   help="also write the ensemble members (VAR_samples)")
    p.add_argument("--domain", default="auto", choices=["auto", "all"],
                   help="auto: with several time steps, fill only cells observed at some time "
                        "(land stays NaN); all: fill every cell (default auto)")
    p.add_argument("--select", action="append", default=None, metavar="DIM=INDEX",
                   help="pick one index of another dimension, e.g. depth=0 (repeatable)")
    p.add_argument("--batch-size", type=positive_int, default=None,
                   help="windows x members per network call (default: as many as fit the "
                        "memory budget, POLYDIFF_MEMORY_MB, 256 MiB on the CPU)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    p.add_argument("--mean", default="auto", choices=["auto", "ensemble", "posterior"],
                   help="centre of the ensemble: its own mean, or (conditional models) the "
                        "posterior mean from the denoiser at the highest noise level; auto: "
                        "posterior for conditional models (default auto)")
    p.add_argument("--calibrate", action="store_true",
                   help="widen the ensemble so its 90%% intervals cover 90%% of held-out known "
                        "values (filled like the gaps first; doubles the run time)")
    p.add_argument("--spread-factor", type=finite_float, default=None, metavar="K",
                   help="widen the ensemble by K instead of calibrating here, e.g. the "
                        "polydiff_spread_factor of an earlier --calibrate run on more data")


def run(a: argparse.Namespace) -> int:
    """Check everything, fill the gaps, write ``--out``; returns the exit status."""
    from polydiff.plugin import check_device, check_out_file, load_model, sampler_from

    from .data.files import engine_for, open_fields
    from .imputation.impute import field_model, impute

    out = check_out_file(a.out, a.overwrite)
    if out.suffix != ".nc":
        raise ValueError(f"--out {out}: expected a netCDF file name ending in .nc")
    device = check_device(a.device)
    sampler = sampler_from(a, None if a.resample is None else tuple(a.resample))
    if a.resample is not None and a.guidance != "repaint":
        raise ValueError("--resample applies to --guidance repaint only")
    if any(not 0 < q < 1 for q in a.quantiles):
        raise ValueError(f"--quantiles {a.quantiles}: levels must lie in (0, 1)")
    if a.calibrate and a.samples < 2:
        raise ValueError(f"--calibrate needs --samples >= 2 (a spread to widen), got "
                         f"{a.samples}")
    if a.spread_factor is not None:
        if a.calibrate:
            raise ValueError(f"--spread-factor {a.spread_factor}: give it or --calibrate, "
                             f"not both")
        if a.spread_factor < 0 or a.samples < 2:
            raise ValueError(f"--spread-factor {a.spread_factor}: expected a factor >= 0 "
                             f"and --samples >= 2 (a spread to widen), got --samples "
                             f"{a.samples}")
    select = _select(a.select)
    engine_for(a.input)  # a netCDF file or zarr store, or one clear sentence
    model = load_model(a, modality="science", check_grid=sampler)
    try:
        field_model(model)
    except ValueError as err:
        raise ValueError(f"--checkpoint: {err}") from None
    variables = model.spec.variables
    names = a.var or variables
    unknown = [v for v in names if v not in variables]
    if unknown or sorted(names) != sorted(variables):
        raise ValueError(f"--var {names}: the model {a.checkpoint} fills the variables "
                         f"{variables} together; give --var for each of them")
    ds = open_fields(a.input, variables, select)
    t0 = time.perf_counter()
    result = impute(ds, model, n_samples=a.samples, sampler=sampler,
                    guidance=a.guidance, dps_step=a.dps_step, quantiles=a.quantiles,
                    return_samples=a.save_samples, domain=a.domain, batch_size=a.batch_size,
                    seed=a.seed, device=device, ema=not a.no_ema, progress=not a.no_progress,
                    calibrate=a.calibrate, spread_factor=a.spread_factor, mean=a.mean)
    result.attrs["polydiff_input"] = str(Path(a.input))
    out.parent.mkdir(parents=True, exist_ok=True)
    encoding = {v: {"zlib": True, "complevel": 4} for v in result.data_vars}
    tmp = out.with_name(out.name + ".part")
    result.to_netcdf(tmp, engine="netcdf4", encoding=encoding)
    tmp.replace(out)
    filled = sum(int(result[f"{v}_imputed"].sum()) for v in variables)
    factor = result.attrs["polydiff_spread_factor"]
    calibrated = (f", spread x {factor} (calibrated)" if a.calibrate
                  else f", spread x {factor} (given)" if a.spread_factor is not None else "")
    cut = result.attrs.get("polydiff_window_cut", "no")
    calibrated += "" if cut == "no" else f"; {cut}"
    print(f"filled {filled} values of {', '.join(variables)} with {a.samples} samples "
          f"({sampler.describe()}, {a.guidance}, {result.attrs['polydiff_mean']} mean"
          f"{calibrated}) in "
          f"{time.perf_counter() - t0:.1f} s; wrote {out}")
    return 0
