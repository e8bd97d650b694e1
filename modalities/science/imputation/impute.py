"""``impute``: fill the gaps (NaN) of an ``xr.DataArray`` / ``xr.Dataset`` with a trained
science model, with an ensemble for the uncertainty.

Grids larger than the model's window are covered by overlapping windows (the core's tiles,
:mod:`polydiff.inference.tiles`, blended where they overlap); observed values are returned
exactly; coordinates and attributes (CF metadata) are kept, and provenance is added.

Guidance (how the known values steer a sample):

- ``"inpaint"``: replacement in x0-space (:func:`polydiff.guidance.inpaint`); for conditional
  imputation models the known values and their mask are also the network's input;
- ``"repaint"``: the same with RePaint resampling (``resample=(jump, repeats)``);
- ``"dps"``: diffusion posterior sampling (:func:`polydiff.guidance.dps`) on the observation
  operator "keep the observed entries", step ``dps_step``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

import numpy as np
import torch

from polydiff.plugin import (
    DEFAULT_METHOD,
    DEFAULT_STEPS,
    Calibration,
    Model,
    Sampler,
    Tiles,
    fill_tiles,
    inflate,
    latitude_weight,
    load,
    mix,
)

from ..data.field import Field
from ..data.files import select_variables
from ..data.windows import corners
from ..io.netcdf import check_units
from ..statistics.background import annual_phase, background_maps, stored_background
from .calibration import held_out

__all__ = ["GUIDANCE", "MEANS", "calibrate", "impute"]

GUIDANCE = ("inpaint", "repaint", "dps")
#: the ensemble's centre: its own mean, or the model's posterior mean
MEANS = ("ensemble", "posterior")


def field_model(model: Any, device: torch.device | str = "cpu", ema: bool = True) -> Model:
    """``model`` (a ``.ckpt`` path, an export directory, a ``DiffusionModule`` or a
    :class:`~polydiff.inference.Model`) as a science :class:`~polydiff.inference.Model`; a
    model of another modality, or one without its data description, is refused."""
    m = load(model, device=device, ema=ema, modality="science")
    if len(m.sample_shape) not in (3, 4):
        raise ValueError(f"{m.source} records the sample shape {list(m.sample_shape)}; expected "
                         f"(variables, [time,] lat, lon)")
    return m


def time_axis(m: Model) -> bool:
    """Whether samples are ``(variables, time, lat, lon)`` blocks."""
    return len(m.sample_shape) == 4


def window(m: Model) -> tuple[int, int, int]:
    """``(time, lat, lon)`` size of one sample (time 1 for a 2-D model)."""
    s = m.sample_shape
    return (s[1], s[2], s[3]) if len(s) == 4 else (1, s[1], s[2])


def periodic(m: Model) -> bool:
    """Whether the network pads longitude circularly."""
    value = getattr(m.net, "periodic", (False,))
    return bool(value[-1]) if isinstance(value, tuple) else bool(value)


def _domain(field: Field, domain: Any) -> np.ndarray:
    """``(Y, X)`` bool: the cells to fill. ``"auto"``: with several time steps, the cells with
    an observed value at some time (land stays NaN in SST); with one, every cell."""
    y, x = field.shape[1:]
    if isinstance(domain, str) and domain == "auto":
        return field.valid() if field.shape[0] > 1 else np.ones((y, x), dtype=bool)
    if domain is None or domain is False or (isinstance(domain, str) and domain == "all"):
        return np.ones((y, x), dtype=bool)
    arr = np.asarray(getattr(domain, "values", domain)).astype(bool)
    if arr.shape != (y, x):
        raise ValueError(f"domain must be 'auto', 'all' or a boolean (lat, lon) array of shape "
                         f"{(y, x)}, got shape {arr.shape}")
    return arr


def _plan(fm: Model, field: Field, overlap: Sequence[int] | None) -> tuple[Tiles, str]:
    """The tiles (model windows) covering the field ``(T, Y, X)``, and a note saying how the
    model's patch was cut to a grid smaller than it ("" when it was not): a patch larger than
    the grid along latitude or a regional longitude is cut to the grid (rounded up to the
    network's size multiple), so no window is mostly padding."""
    t, y, x = field.shape
    wt, wy, wx = window(fm)
    if time_axis(fm) and t < wt:
        raise ValueError(f"the model fills windows of {wt} time steps, but the data has {t}")
    wrap = field.periodic and periodic(fm)
    if wrap and wx > x:
        raise ValueError(f"the model's patch ({wx} longitudes) is wider than this global grid "
                         f"({x} longitudes); use data on the training resolution")
    m_lat, m_lon = (tuple(getattr(fm.net, "size_multiple", (1, 1))) or (1, 1))[-2:]
    cut_y = min(wy, -(-y // m_lat) * m_lat)
    cut_x = wx if wrap else min(wx, -(-x // m_lon) * m_lon)
    note = ""
    if (cut_y, cut_x) != (wy, wx):
        note = (f"the model's {wy} x {wx} patch cut to {cut_y} x {cut_x} (the grid has {y} x "
                f"{x} cells)")
        wy, wx = cut_y, cut_x
    ov = list(overlap) if overlap is not None else [wt // 4, wy // 4, wx // 4]
    if len(ov) != 3 or any(o < 0 for o in ov) or any(
            o >= s for o, s in zip(ov, (wt, wy, wx), strict=True) if s > 1):
        raise ValueError(f"overlap must be [time, lat, lon] cells >= 0 and smaller than the "
                         f"window {[wt, wy, wx]}, got {ov}")
    if wrap and wx == x:
        ov[2] = 0  # one window spans the globe: its wrap-around padding is the overlap
    ov = [min(o, s - 1) for o, s in zip(ov, (wt, wy, wx), strict=True)]
    return Tiles.with_overlap(field.shape, (wt, wy, wx), ov, (False, False, wrap)), note


def impute(data, model, n_samples: int = 16, method: str = DEFAULT_METHOD,
           steps: int = DEFAULT_STEPS, *, sampler: Sampler | None = None,
           variables: Sequence[str] | None = None, guidance: str = "inpaint",
           resample: tuple[int, int] | None = None, dps_step: float = 1.0,
           quantiles: Sequence[float] = (0.05, 0.5, 0.95), return_samples: bool = False,
           domain: Any = "auto", overlap: Sequence[int] | None = None,
           batch_size: int | None = None,
           seed: int = 0, device: str | torch.device = "cpu", ema: bool = True,
           progress: bool = True, calibrate: bool = False, calibrate_level: float = 0.9,
           calibrate_share: float | None = 0.1, spread_factor: float | None = None,
           mean: str = "auto"):
    """Fill the NaN gaps of ``data`` with ``model``; returns an ``xr.Dataset``.

    Args:
        data: an ``xr.DataArray`` or ``xr.Dataset`` holding the model's variables (same units)
            on a ``([time,] lat, lon)`` grid of any size (a model trained with
            ``FieldData(background=...)``: its training grid; it fills the anomalies from
            its stored background, which is added back; a seasonal one at the data's dates);
            NaN = missing.
        model: a ``.ckpt`` path, an export directory, a ``DiffusionModule`` or a
            :class:`polydiff.inference.Model` (anything :func:`polydiff.load` takes).
        n_samples: ensemble members per gap (>= 2 for std and quantiles to mean anything).
        method, steps: the sampler (:func:`polydiff.samplers.methods`) and its steps, or
            ``sampler``: a :class:`polydiff.inference.Sampler` (method, steps, grid).
        variables: the variables to fill (default: the model's, which the data must hold).
        guidance: one of :data:`GUIDANCE` (see the module docstring); ``resample``
            ``(jump, repeats)`` for ``"repaint"`` (default ``(1, 4)``), ``dps_step`` for ``"dps"``.
        quantiles: levels in (0, 1) of the ``{var}_quantiles`` output.
        return_samples: also return the members as ``{var}_samples``.
        domain: the cells to fill: ``"auto"`` (cells observed at some time when there are
            several time steps, e.g. the sea of an SST file; else all), ``"all"``, or a
            boolean ``(lat, lon)`` array. Cells outside stay NaN.
        overlap: ``[time, lat, lon]`` cells shared by neighbouring windows (default a quarter
            of the window).
        batch_size: network batch (windows x members) per sampler call; default: as many
            whole windows as fit the memory budget
            (:func:`polydiff.inference.budget.rows_for`).
        seed: seeds the noise of every window (results do not depend on ``batch_size``).
        calibrate: widen the ensemble so its central ``calibrate_level`` intervals cover that
            share of held-out known values, counted by cell area (cos latitude)
            (:func:`calibrate` with ``level=calibrate_level``,
            ``share=calibrate_share``: known values where another time step has its gaps,
            hidden and filled first, like the real gaps); the members' deviations from their
            mean are scaled by the conformal factor (in the ``polydiff_spread_factor``
            attribute). The mean is unchanged; it doubles the run time.
        spread_factor: instead, widen by this factor (>= 0), e.g. ``Calibration.pool(
            [calibrate(piece, model) for piece in pieces]).factor`` for a record filled in
            pieces, whose one-piece factors rest on few held-out values.
        mean: ``"ensemble"`` (the members as sampled), ``"posterior"`` (conditional models:
            the members moved onto the posterior mean ``E[x | known]`` = the denoiser at the
            highest noise level averaged over ``n_samples`` draws, the minimum-MSE estimate
            when the model was trained with weight on high noise levels; one network call
            per member more) or ``"auto"``: posterior for conditional models, else ensemble.

    Returns an ``xr.Dataset`` with, per variable ``v``: ``v`` (the ensemble mean; observed
    entries exactly the input's), ``v_std`` (ensemble standard deviation, 0 where observed),
    ``v_quantiles`` (dimension ``quantile``), ``v_imputed`` (1 where a value was filled) and,
    on request, ``v_samples`` (dimension ``sample``); the input's coordinates and attributes,
    with provenance in ``history`` and ``polydiff_*`` attributes.
    """
    levels = [float(q) for q in quantiles]
    if any(not 0.0 < q < 1.0 for q in levels):
        raise ValueError(f"quantiles must lie in (0, 1), got {levels}")
    if calibrate and spread_factor is not None:
        raise ValueError(f"give calibrate=True or spread_factor, not both (got spread_factor="
                         f"{spread_factor})")
    if spread_factor is not None and not (math.isfinite(spread_factor) and spread_factor >= 0
                                          and n_samples >= 2):
        raise ValueError(f"spread_factor must be finite and >= 0 and needs n_samples >= 2, "
                         f"got spread_factor={spread_factor}, n_samples={n_samples}")
    job = _prepare(data, model, n_samples=n_samples, method=method, steps=steps,
                   sampler=sampler, variables=variables, guidance=guidance, resample=resample,
                   dps_step=dps_step, domain=domain, overlap=overlap, batch_size=batch_size,
                   seed=seed, device=device, ema=ema, progress=progress, mean=mean)
    factor, source = spread_factor, "none" if spread_factor is None else "spread_factor given"
    if calibrate:
        factor = _calibration(job, calibrate_share, calibrate_level).factor
        source = "known values of this data held out like the gaps"
    samples = _ensemble(job, job.raw - job.bg, "impute: windows") + job.bg
    if factor is not None:
        samples = np.where(job.observed[None], samples,
                           inflate(torch.from_numpy(samples), factor).numpy())
    samples = np.where(job.run["inside"][None, None, None] | job.observed[None], samples,
                       np.nan)
    run = job.run  # the window plan, for the provenance
    return _dataset(job.ds, job.field, job.names, samples, job.observed, levels,
                    return_samples,
                    dict(source=job.fm.source, method=str(run["sampler"].method),
                         steps=run["sampler"].steps, n_samples=n_samples,
                         guidance=guidance, seed=seed, conditional=int(job.fm.conditional),
                         windows=len(run["tiles"].positions()),
                         window=list(run["tiles"].size), overlap=list(run["tiles"].overlap),
                         mean=job.mean, window_cut=job.note or "no",
                         background=_background_note(job.fm.spec.meta),
                         spread_factor=("none (not calibrated)" if factor is None
                                        else round(factor, 4)),
                         calibration=source))


def calibrate(data, model, n_samples: int = 16, method: str = DEFAULT_METHOD,
              steps: int = DEFAULT_STEPS, *,
              level: float = 0.9, share: float | None = 0.1, **options) -> Calibration:
    """What ``impute(data, model, ..., calibrate=True)`` learns before filling, without the
    filling: known values where another time step has its gaps (:func:`held_out`, at most
    ``share`` of the known values) are hidden and filled like the gaps, and each one's range
    of spread factors that cover it at ``level`` is kept, weighted by its cell's area
    (cos latitude). ``options``: :func:`impute`'s
    other keyword arguments (``variables``, ``guidance``, ``resample``, ``dps_step``,
    ``domain``, ``overlap``, ``batch_size``, ``seed``, ``device``, ``ema``, ``progress``,
    ``mean``); use the same ones for the ``impute`` calls that take its factor. Returns a
    :class:`~polydiff.conformal.Calibration`; pool several with
    ``Calibration.pool`` and pass ``.factor`` as ``impute(spread_factor=...)``."""
    job = _prepare(data, model, n_samples=n_samples, method=method, steps=steps, **options)
    return _calibration(job, share, level)


@dataclass
class _Job:
    """What :func:`impute` and :func:`calibrate` fill with (see :func:`_prepare`)."""

    ds: Any
    field: Field
    names: list[str]
    fm: Model
    raw: np.ndarray
    observed: np.ndarray
    bg: np.ndarray
    mean: str
    run: dict  # :func:`_members`' keyword arguments
    note: str = ""  # how the model's patch was cut to the grid ("": it was not)


def _prepare(data, model, *, n_samples: int, method: str, steps: int,
             sampler: Sampler | None = None,
             variables: Sequence[str] | None = None, guidance: str = "inpaint",
             resample: tuple[int, int] | None = None, dps_step: float = 1.0,
             domain: Any = "auto", overlap: Sequence[int] | None = None,
           batch_size: int | None = None,
             seed: int = 0, device: str | torch.device = "cpu", ema: bool = True,
             progress: bool = True, mean: str = "auto") -> _Job:
    """Check the arguments, load the model, read the data: the data's variables ``ds`` and
    :class:`Field`, its values ``raw (C, T, Y, X)`` in data units and where they are known,
    the background ``bg`` to take off and put back, the cells to fill and the window plan."""
    import xarray as xr

    if n_samples < 1 or steps < 1 or (batch_size is not None and batch_size < 1):
        raise ValueError(f"need n_samples, steps and batch_size >= 1, got {n_samples}, {steps}, "
                         f"{batch_size}")
    if guidance not in GUIDANCE:
        raise ValueError(f"unknown guidance {guidance!r}; expected one of {list(GUIDANCE)}")
    if mean not in (*MEANS, "auto"):
        raise ValueError(f"mean must be one of {[*MEANS, 'auto']}, got {mean!r}")
    if guidance == "repaint":
        resample = tuple(resample or (1, 4))
    elif resample is not None:
        raise ValueError("resample applies to guidance='repaint' only")
    if sampler is None:
        sampler = Sampler.of(method, steps, resample=resample)
    elif resample is not None:
        sampler = replace(sampler, resample=resample)
    fm = field_model(model, device=device, ema=ema)
    if mean == "auto":
        mean = "posterior" if fm.conditional else "ensemble"
    if mean == "posterior" and not fm.conditional:
        raise ValueError("mean='posterior' needs a conditional imputation model (it sees the "
                         "known values at the highest noise level); this one is unconditional")
    if not isinstance(data, (xr.DataArray, xr.Dataset)):
        raise ValueError(f"data must be an xr.DataArray or xr.Dataset, got "
                         f"{type(data).__name__}")
    names = list(variables) if variables is not None else fm.spec.variables
    if isinstance(data, xr.DataArray) and data.name is None and len(names) == 1:
        data = data.rename(names[0])
    ds = select_variables(data, names, where="data")
    check_units({v: str(ds[v].attrs.get("units", "")) for v in ds.data_vars}, fm.spec.meta,
                "data")
    if names != fm.spec.variables:
        raise ValueError(f"the model fills the variables {fm.spec.variables} together; variables="
                         f"{names} selects others")
    field = Field(ds, "data", in_memory_mb=float("inf"))
    field.check_observed()
    tiles, note = _plan(fm, field, overlap)
    inside = _domain(field, domain)
    raw = np.asarray(field.values, dtype=np.float32)  # (C, T, Y, X), data units
    # a model trained on anomalies fills anomalies; the background goes back on at the end
    bg = stored_background(fm.spec.meta, field.lat, field.lon, "data")
    if bg is None:
        bg = np.zeros((raw.shape[0], 1, 1, 1), np.float32)
    else:  # (C, T or 1, Y, X); a seasonal one at the data's own dates
        bg = background_maps(bg, None if bg.ndim == 3 else annual_phase(_dates(ds, field),
                                                                          "data"))
    run = dict(fm=fm, tiles=tiles, inside=inside, n_samples=n_samples,
               sampler=sampler, guidance=guidance,
               dps_step=dps_step, batch_size=batch_size, seed=seed,
               progress=progress)
    return _Job(ds=ds, field=field, names=names, fm=fm, raw=raw, observed=np.isfinite(raw),
                bg=bg, mean=mean, run=run, note=note)


def _calibration(job: _Job, share: float | None, level: float) -> Calibration:
    """Hide :func:`held_out` known values of ``job``'s data, fill them, score the ensemble."""
    if job.run["n_samples"] < 2 or not 0.0 < level < 1.0:
        raise ValueError(f"calibrate=True needs n_samples >= 2 and calibrate_level in (0, 1), "
                         f"got n_samples={job.run['n_samples']}, calibrate_level={level}")
    held = held_out(job.observed, job.run["inside"], share, job.run["seed"])
    if not held.any():
        raise ValueError("calibrate=True needs known values where the gaps of another time "
                         "step (or a longitude-shifted copy of the gaps) fall; this field "
                         "has none to hold out")
    trial = _ensemble(job, np.where(held, np.nan, job.raw) - job.bg,
                      "impute: calibration") + job.bg
    area = latitude_weight(torch.from_numpy(job.field.lat), ndim=2, lat_axis=0).numpy()
    return Calibration.score(trial, job.raw, held, level, weight=area)  # (Y, 1): by cell area


def _dates(ds, field: Field):
    """The data's time coordinate, or for a single map its scalar date coordinate (as
    ``ds.isel(time=0)`` leaves it), or ``None``."""
    if field.time is not None:
        return field.time
    for coord in ds.coords.values():
        if coord.ndim == 0 and (np.issubdtype(coord.dtype, np.datetime64)
                                or hasattr(coord.values.item(), "dayofyr")):
            return coord.values.reshape(1)
    return None


def _background_note(meta: dict) -> str:
    """What the ``polydiff_background`` attribute says about the model's background."""
    entry = meta.get("background")
    if not entry:
        return "none"
    if len(entry["shape"]) == 3:
        return "time mean of the training field"
    return (f"seasonal cycle of the training field (mean and {(entry['shape'][1] - 1) // 2} "
            f"annual harmonics)")


def _ensemble(job: _Job, raw: np.ndarray, desc: str) -> np.ndarray:
    """:func:`_members` of ``raw`` (``job``'s data, other gaps); with ``mean="posterior"``
    moved onto the posterior mean (the members' deviations from their mean, added to the
    denoiser at ``t_max`` averaged over as many draws)."""
    members = _members(job.field, raw, **job.run, desc=desc)
    if job.mean == "posterior":
        post = _members(job.field, raw, **job.run, desc=f"{desc} (posterior mean)",
                        point=True).mean(0)
        members = members - members.mean(0, keepdims=True) + post[None]
    return members


def _members(field: Field, raw: np.ndarray, *, fm: Model, tiles: Tiles, inside: np.ndarray,
             n_samples: int, sampler: Sampler, guidance: str, dps_step: float,
             batch_size: int, seed: int, progress: bool, desc: str = "impute: windows",
             point: bool = False) -> np.ndarray:
    """The ensemble ``(S, C, T, Y, X)`` in data units filling the NaN of ``raw (C, T, Y, X)``
    window by window (:func:`polydiff.inference.tiles.fill_tiles`: blended where windows
    overlap; window ``k`` seeded by ``(seed, k)``)."""
    norm = fm.spec.normalizer
    values = norm.normalize(torch.from_numpy(raw)[None])[0].numpy()  # model units, NaN kept
    validity = np.broadcast_to(inside[None, None].astype(np.float32), (1, *raw.shape[1:]))

    def cond_of(start: Sequence[int]) -> dict[str, torch.Tensor]:
        t0, y0, x0 = start
        extra = {}
        if getattr(fm.net, "coords", False):
            extra["vector"] = torch.from_numpy(
                corners(field.lat, field.lon, y0, x0, tiles.size[1:]))[None]
        if getattr(fm.net, "validity", False):
            v = np.nan_to_num(tiles.read(validity, start), nan=0.0)  # 0 beyond the grid
            extra["cond"] = torch.from_numpy(v if time_axis(fm) else v[:, 0])[None]
        return extra

    size = tiles.size if time_axis(fm) else tiles.size[1:]
    out = fill_tiles(fm, values, tiles, members=n_samples, seeds=lambda k: mix(seed, k),
                     cond_of=cond_of, point=point, post=norm.denormalize,
                     sample_shape=(raw.shape[0], *size),
                     batch_size=batch_size, progress=progress, desc=desc, sampler=sampler,
                     guidance=guidance, dps_step=dps_step)
    return out


def _dataset(ds, field: Field, names: list[str], samples: np.ndarray, observed: np.ndarray,
             levels: list[float], return_samples: bool, prov: dict):
    """The output ``xr.Dataset`` (see :func:`impute`)."""
    import xarray as xr

    from polydiff.plugin import version

    dims = list(field.axes.dims)
    squeeze = field.axes.time is None
    s = samples[:, :, 0] if squeeze else samples  # (S, C, [T,] Y, X)
    obs = observed[:, 0] if squeeze else observed
    out = xr.Dataset(coords=ds.coords, attrs=dict(ds.attrs))
    for c, v in enumerate(names):
        attrs = dict(ds[v].attrs)
        orig = np.asarray(ds[v].values)  # the input's values and dtype: observed kept exactly
        dtype = orig.dtype if np.issubdtype(orig.dtype, np.floating) else np.float32
        members = np.where(obs[c][None], orig[None], s[:, c]).astype(dtype)
        mean = np.where(obs[c], orig, members.mean(axis=0)).astype(dtype)
        std = (members.std(axis=0, ddof=1) if len(members) > 1
               else np.zeros_like(mean))
        std = np.where(obs[c], 0.0, std).astype(dtype)
        qs = np.where(obs[c][None], orig[None],
                      np.quantile(members, levels, axis=0)).astype(dtype)
        filled = ~obs[c] & np.isfinite(mean)
        out[v] = (dims, mean,
                  {**attrs, "cell_methods": f"{attrs.get('cell_methods', '')} sample: mean "
                                            f"(polydiff ensemble of {s.shape[0]})".strip(),
                   "ancillary_variables": f"{v}_std {v}_quantiles {v}_imputed"})
        out[f"{v}_std"] = (dims, std, {"units": attrs.get("units", ""),
                                         "long_name": f"ensemble standard deviation of {v}"})
        out[f"{v}_quantiles"] = (["quantile", *dims], qs,
                                 {"units": attrs.get("units", ""),
                                  "long_name": f"ensemble quantiles of {v}"})
        out[f"{v}_imputed"] = (dims, filled.astype(np.int8),
                               {"long_name": f"1 where {v} was filled by polydiff, 0 where it "
                                             f"was observed (or left missing)",
                                "flag_values": [0, 1], "flag_meanings": "observed imputed"})
        if return_samples:
            out[f"{v}_samples"] = (["sample", *dims], members,
                                   {"units": attrs.get("units", ""),
                                    "long_name": f"polydiff ensemble members of {v}"})
    out = out.assign_coords(quantile=("quantile", np.asarray(levels)))
    if return_samples:
        out = out.assign_coords(sample=("sample", np.arange(s.shape[0])))
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    line = (f"{stamp}: gaps filled by polydiff {version} impute (model "
            f"{prov['source']}, {prov['method']} {prov['steps']} steps, {prov['guidance']}, "
            f"{prov['n_samples']} samples, seed {prov['seed']})")
    out.attrs["history"] = (f"{ds.attrs['history']}\n{line}" if ds.attrs.get("history")
                            else line)
    for k, v in prov.items():
        out.attrs[f"polydiff_{k}"] = v if isinstance(v, (str, int, float)) else str(v)
    return out
