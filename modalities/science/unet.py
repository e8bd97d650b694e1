"""The grid backbone: :class:`polydiff.nn.UNet` set up for fields
``(B, variables, [time,] lat, lon)``, plus the grid's own input channels.

- longitude is periodic (circular padding in every convolution, down- and upsampling), so a
  global grid has no seam at the date line and the network commutes with a longitude roll by
  a multiple of :attr:`size_multiple` (tested);
- several variables are the channels (each normalised on its own by the data module; the
  normaliser is stored with the model);
- ``time_axis=True`` adds the time axis (3-D): time is not downsampled, attention is
  factorised (over lat x lon per step, then over time per cell, with a relative-position bias
  in time);
- ``conditional=True``: ``cond`` starts with the known values and their mask
  (``2 * variables`` channels, :func:`polydiff.conditioners.known_channels`), for
  imputation models trained on gappy data;
- ``coords=True``: sin/cos of latitude and longitude as 4 more input channels, computed here
  from ``vector = [lat_first, lat_last, lon_first, lon_last]`` (degrees; the patch's corner
  coordinates, a batch key every :class:`~polydiff.modalities.science.FieldData` item
  carries), so they work for conditional and unconditional models alike;
- ``validity=True``: ``cond`` ends with a land/sea validity channel (1 = the cell has data);
- ``fill=True`` (conditional models): a first guess of the missing values (push-pull and
  relaxation, harmonic or biharmonic, or linear in time,
  :func:`~polydiff.interpolate.first_guess`) is one more input channel per
  variable, for the network to refine;
- ``fill_method="covariance"`` (maps only): the biharmonic guess, then optimal
  interpolation of every gap from the known values within the recorded radius under the
  field's own local covariance (:mod:`~polydiff.modalities.science.statistics.covariance`;
  train with
  ``FieldData(background=True, covariance=radius)``: the table comes with the data's
  description, :meth:`FieldUNet.use_data_info`, and is stored with the model);
  ``fill_method="temporal_oi"`` (``time_axis`` only): optimal interpolation in time under the
  field's lag correlation (:mod:`~polydiff.modalities.science.statistics.lag`; recorded by
  ``FieldData(background=...)``) where a cell has a known step in the window, the harmonic
  guess elsewhere;
- ``residual=True`` (with ``fill``): the :class:`polydiff.Denoiser` denoises the residual
  ``x0 - first guess`` instead of ``x0`` (:meth:`FieldUNet.first_guess`): the U-Net sees
  ``r_t = x_t - alpha(t) g`` and its output ``out_r`` becomes ``out_r + p(alpha, sigma) g``
  for a prediction ``out = p x0 + q eps`` (exact for every linear prediction, see
  :mod:`polydiff.parameterization`); with ``prediction="x0"`` the untrained model predicts
  the first guess. The Denoiser applies it with its own schedule and prediction.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from polydiff.plugin import FILL_METHODS, FittedBuffers, UNet, first_guess

from .guesses import local_oi, temporal_oi
from .statistics.covariance import decode_table

__all__ = ["COORD_CHANNELS", "FIELD_FILL_METHODS", "FieldUNet", "coord_channels"]

#: first guesses of a FieldUNet: those of :mod:`~polydiff.interpolate`,
#: ``"covariance"`` (biharmonic, then optimal interpolation with the field's covariance) and
#: ``"temporal_oi"`` (optimal interpolation in time with the field's lag correlation)
FIELD_FILL_METHODS = (*FILL_METHODS, "covariance", "temporal_oi")
#: the first guesses that need what the data records (:meth:`FieldUNet.use_data_info`)
_RECORDED = {"covariance": "covariance", "temporal_oi": "lag_correlation"}
_NAMES = {"covariance": "covariance table", "lag_correlation": "lag correlation"}

#: sin/cos latitude, sin/cos longitude
COORD_CHANNELS = 4


def coord_channels(vector: Tensor, axes: Sequence[int]) -> Tensor:
    """``(B, 4, *axes)`` = sin/cos latitude, sin/cos longitude of regular patches whose corner
    coordinates are ``vector (B, 4) = [lat_first, lat_last, lon_first, lon_last]`` (degrees);
    ``axes = ([time,] lat, lon)`` sizes."""
    if vector.ndim != 2 or vector.shape[1] != 4:
        raise ValueError(f"FieldUNet: vector must be (B, 4) = [lat_first, lat_last, lon_first, "
                         f"lon_last] in degrees, got {tuple(vector.shape)}")
    *lead, n_lat, n_lon = axes
    v = vector.to(torch.float64) * (math.pi / 180)
    s_lat = torch.linspace(0, 1, n_lat, dtype=torch.float64, device=vector.device)
    s_lon = torch.linspace(0, 1, n_lon, dtype=torch.float64, device=vector.device)
    lat = v[:, 0:1] + (v[:, 1:2] - v[:, 0:1]) * s_lat  # (B, n_lat)
    lon = v[:, 2:3] + (v[:, 3:4] - v[:, 2:3]) * s_lon  # (B, n_lon)
    b = vector.shape[0]
    shape = (b, *lead, n_lat, n_lon)
    view_lat = (b, *[1] * len(lead), n_lat, 1)
    view_lon = (b, *[1] * len(lead), 1, n_lon)
    chans = [torch.sin(lat).reshape(view_lat), torch.cos(lat).reshape(view_lat),
             torch.sin(lon).reshape(view_lon), torch.cos(lon).reshape(view_lon)]
    return torch.stack([c.expand(shape) for c in chans], dim=1)


class FieldUNet(FittedBuffers, nn.Module):
    """U-Net for gridded fields; ~0.3M parameters with the defaults (CPU-sized).

    Args:
        variables: number of variables (channels in and out).
        time_axis: samples are ``(B, variables, time, lat, lon)`` instead of
            ``(B, variables, lat, lon)``.
        conditional: imputation model: ``cond`` starts with ``[known values, mask]``.
        coords: sin/cos latitude and longitude input channels from ``vector``.
        validity: ``cond`` ends with a validity (land/sea) channel.
        fill: (conditional) the push-pull first guess as ``variables`` more input channels.
        fill_method: that guess: ``"harmonic"`` (Laplace relaxation), ``"biharmonic"``
            (then the bending-energy minimum, a thin-plate spline on the grid: much closer
            for scattered points and blobs, worse for whole missing time steps) or
            ``"temporal"`` (``time_axis`` only: linear in time where a cell has a known time
            step, harmonic elsewhere; best for whole missing time steps;
            :mod:`~polydiff.interpolate`) or ``"covariance"`` (maps only: the
            biharmonic guess, then local optimal interpolation with the field's covariance,
            which the data's description brings: ``FieldData(covariance=radius)``) or
            ``"temporal_oi"`` (``time_axis`` only: optimal interpolation in time with the
            field's lag correlation, which ``FieldData(background=...)`` records; the
            harmonic guess where a cell has no known step in the window).
        oi_ridge: (``"covariance"``) the nugget of the interpolation, as a share of each
            known value's variance.
        residual: (conditional, with ``fill``) the Denoiser denoises the residual from the
            first guess (:meth:`first_guess`); the output is then the residual's prediction.
        periodic_lon: circular padding along longitude (global grids); ``False`` for regional
            grids.
        base_channels, channel_mult, num_res_blocks, attention_levels, dropout,
        attention_heads, emb_dim, emb_kind, mid_attention: as in :class:`polydiff.nn.UNet`.
        max_time_distance: clip distance of the time relative-position bias (``time_axis``).

    ``forward(x, c_noise, cond=None, vector=None, class_labels=None, guess=None)``: ``cond (B,
    cond_channels, [time,] lat, lon)`` with ``cond_channels = 2 * variables * conditional +
    validity``; ``vector (B, 4)`` (required with ``coords``). Latitude and longitude sizes must
    be multiples of ``size_multiple``.
    """

    #: init arguments of earlier versions, dropped when a stored spec names them (the
    #: Denoiser now applies the residual with its own prediction and schedule)
    RETIRED_INIT_ARGS = ("prediction", "schedule")

    def __init__(self, variables: int = 1, time_axis: bool = False, conditional: bool = False,
                 coords: bool = True, validity: bool = False, fill: bool = True,
                 fill_method: str = "harmonic", oi_ridge: float = 0.01,
                 residual: bool = False, periodic_lon: bool = True,
                 base_channels: int = 16, channel_mult: Sequence[int] = (1, 2, 2),
                 num_res_blocks: int = 1, attention_levels: Sequence[int] = (-1,),
                 dropout: float = 0.0, attention_heads: int = 4, emb_dim: int | None = None,
                 emb_kind: str = "sinusoidal", mid_attention: bool = True,
                 max_time_distance: int = 8):
        super().__init__()
        if variables < 1:
            raise ValueError(f"FieldUNet: variables must be >= 1, got {variables}")
        self.variables, self.time_axis = int(variables), bool(time_axis)
        self.conditional, self.coords = bool(conditional), bool(coords)
        self.validity = bool(validity)
        self.fill = bool(fill) and self.conditional
        if fill_method not in FIELD_FILL_METHODS:
            raise ValueError(f"FieldUNet: fill_method must be one of {list(FIELD_FILL_METHODS)}, "
                             f"got {fill_method!r}")
        if fill_method in ("temporal", "temporal_oi") and not time_axis:
            how = "linear" if fill_method == "temporal" else "optimal interpolation"
            raise ValueError(f"FieldUNet: fill_method={fill_method!r} ({how} in time) needs "
                             f"time_axis=True; use 'harmonic', 'biharmonic' or 'covariance' "
                             f"for maps")
        if fill_method == "covariance" and time_axis:
            raise ValueError("FieldUNet: fill_method='covariance' interpolates maps; with "
                             "time_axis=True use 'temporal_oi', 'temporal', 'harmonic' or "
                             "'biharmonic'")
        if not oi_ridge >= 0:
            raise ValueError(f"FieldUNet: oi_ridge must be >= 0, got {oi_ridge}")
        self.fill_method, self.oi_ridge = fill_method, float(oi_ridge)
        #: (``"covariance"`` / ``"temporal_oi"``) fitted on the training field
        #: (:meth:`fit_statistics`, from ``FieldData.statistics()``): the covariance table
        #: ``(C, C, D, D, Y, X)`` (float16) and its grid ``[radius, periodic, lat0, lon0, dlat,
        #: dlon]``, or the lag correlation ``(C, L + 1)``; buffers saved with the weights
        self.register_fitted("oi_table", None)
        self.register_fitted("oi_grid", None)
        self.register_fitted("lag_rho", None)
        #: the normaliser's ``(shift, scale)`` (the interpolation works in data units), from
        #: :meth:`use_data_info`
        self._norm: tuple[list[float], list[float]] | None = None
        #: the tables as the first guess uses them (built from the buffers on first use)
        self._oi: dict | None = None
        if residual and not self.fill:
            raise ValueError("FieldUNet: residual=True needs conditional=True and fill=True "
                             "(the output adds the first guess of the known values)")
        #: the Denoiser denoises ``x0 - first_guess(...)`` (see :class:`polydiff.Denoiser`)
        self.residual = bool(residual)
        #: channels of ``cond`` the caller gives: [known, mask] (conditional), validity
        self.cond_channels = 2 * self.variables * self.conditional + int(self.validity)
        dims = 3 if time_axis else 2
        space = [1, 2] if time_axis else [0, 1]
        #: pyramid depth of the first guess: the network's, so a roll by a multiple of
        #: ``size_multiple`` commutes with the whole model
        self.levels = len(tuple(channel_mult)) - 1
        #: (weak reference to the last ``cond``, its version, its guess): a sampler passes the
        #: same ``cond`` tensor at every step, so the guess is computed once per run
        self._guess_cache: tuple | None = None
        self.unet = UNet(
            dims=dims, in_channels=variables,
            cond_channels=(self.cond_channels + COORD_CHANNELS * self.coords
                           + self.variables * self.fill),
            base_channels=base_channels, channel_mult=channel_mult,
            num_res_blocks=num_res_blocks, attention_levels=attention_levels, dropout=dropout,
            attention_heads=attention_heads, emb_dim=emb_dim, emb_kind=emb_kind,
            mid_attention=mid_attention,
            periodic=(False,) * (dims - 1) + (bool(periodic_lon),),
            down_factors=(1, 2, 2) if time_axis else 2,
            attention_axes=[space, [0]] if time_axis else None,
            relative_position_axes=[0] if time_axis else (),
            max_relative_distance=max_time_distance,
        )

    @property
    def size_multiple(self) -> tuple[int, ...]:
        """Per-axis multiple every sample size must be (``([time,] lat, lon)``)."""
        return self.unet.size_multiple

    @property
    def periodic(self) -> tuple[bool, ...]:
        return self.unet.periodic

    @property
    def null_class(self) -> None:
        """Fields are not class-conditional."""
        return None

    def fit_statistics(self, statistics: dict) -> None:
        """Keep what this network's first guess needs of the statistics its training field
        fitted (``FieldData.statistics()``; :class:`~polydiff.training.DiffusionModule` hands
        them over at the start of training): for ``fill_method="covariance"`` the covariance
        table and its grid, for ``"temporal_oi"`` the lag correlation. A field without them is
        refused here, before any training step."""
        key = _RECORDED.get(self.fill_method)
        if key is None or not self.fill:
            return
        if key == "covariance":
            table, grid = statistics.get("covariance_table"), statistics.get("covariance_grid")
            found = None if table is None else np.shape(table)[0]
        else:
            rho = statistics.get("lag_correlation")
            found = None if rho is None else np.shape(rho)[0]
        if found is None:
            how = ("FieldData(background=True, covariance=radius)" if key == "covariance"
                   else "FieldData(background='seasonal' or True)")
            raise ValueError(f"FieldUNet(fill_method={self.fill_method!r}): the data records no "
                             f"{_NAMES[key]}; use {how}, or another fill_method")
        if found != self.variables:
            raise ValueError(f"FieldUNet: the recorded {_NAMES[key]} is of {found} "
                             f"variable(s), but the network has {self.variables}")
        if key == "covariance":
            self.register_fitted("oi_table", torch.as_tensor(np.asarray(table),
                                                             dtype=torch.float16))
            self.register_fitted("oi_grid", torch.tensor([float(v) for v in grid],
                                                         dtype=torch.float64))
        else:
            self.register_fitted("lag_rho", torch.as_tensor(np.asarray(rho),
                                                            dtype=torch.float32))
        self._oi, self._guess_cache = None, None

    def check_field(self, meta: dict) -> None:
        """Refuse a field description (``FieldData``'s ``metadata()``) that disagrees with
        this network's flags: the variables, the time axis, the coordinate and validity inputs
        and the window's size multiple describe one field, so each mismatch is named with the
        value to set (the data's)."""
        if not meta or "variables" not in meta:
            return  # not a FieldData description (a hand-made one): nothing to compare
        found = {"variables": len(meta["variables"]), "time_axis": bool(meta.get("time_axis")),
                 "coords": bool(meta.get("coords")), "validity": bool(meta.get("validity"))}
        how = {"variables": f"the data has the variables {list(meta['variables'])}",
               "time_axis": "the data's samples are " + (
                   "space-time windows (FieldData(time_window=...))" if found["time_axis"]
                   else "maps (FieldData(time_window=None))"),
               "coords": f"FieldData(coords={found['coords']})",
               "validity": f"FieldData(validity={found['validity']})"}
        for name, value in found.items():
            if getattr(self, name) != value:
                raise ValueError(f"FieldUNet({name}={getattr(self, name)}) does not fit the "
                                 f"data: {how[name]}; build the network with {name}={value}")
        window = list(meta.get("window") or [])[-2:]
        if window and any(n % m for n, m in zip(window, self.size_multiple[-2:], strict=True)):
            raise ValueError(f"the data's windows are {window} (lat, lon) cells, not multiples "
                             f"of the network's size_multiple {list(self.size_multiple[-2:])}; "
                             f"choose FieldData(patch=...) or multiple= accordingly")

    def use_data_info(self, info: dict | None) -> None:
        """Check the data's description against this network (:meth:`check_field`) and take
        its normaliser (called by :class:`~polydiff.training.DiffusionModule` and
        :func:`polydiff.load` whenever it is set; the interpolation works on anomalies in data
        units). A description written by an earlier version that still records the
        covariance table or the lag correlation fills the fitted buffers from it."""
        self.check_field((info or {}).get("meta") or {})
        key = _RECORDED.get(self.fill_method)
        if key is None or not self.fill:
            return
        norm = (info or {}).get("normalizer") or {}
        self._norm = (list(norm.get("shift", [0.0] * self.variables)),
                      list(norm.get("scale", [1.0] * self.variables)))
        entry = ((info or {}).get("meta") or {}).get(key)
        fitted = self.oi_table if key == "covariance" else self.lag_rho
        if entry and fitted is None:
            if key == "covariance":
                grid = [entry["radius"], entry["periodic"], entry["lat0"], entry["lon0"],
                        entry["dlat"], entry["dlon"]]
                self.fit_statistics({"covariance_table": decode_table(entry),
                                     "covariance_grid": grid})
            else:
                self.fit_statistics({"lag_correlation": entry["rho"]})
        self._oi, self._guess_cache = None, None

    def _load_from_state_dict(self, *args, **kwargs) -> None:
        super()._load_from_state_dict(*args, **kwargs)
        self._oi, self._guess_cache = None, None  # the tables may have changed

    def _oi_state(self) -> dict | None:
        """The fitted tables as the first guess uses them (``None`` when not fitted)."""
        if self._oi is not None:
            return self._oi
        key = _RECORDED.get(self.fill_method)
        fitted = self.oi_table if key == "covariance" else self.lag_rho
        if fitted is None:
            return None
        shift, scale = self._norm or ([0.0] * self.variables, [1.0] * self.variables)
        oi = {"shift": torch.tensor(shift, dtype=torch.float32, device=fitted.device),
              "scale": torch.tensor(scale, dtype=torch.float32, device=fitted.device)}
        if key == "covariance":
            radius, periodic, lat0, lon0, dlat, dlon = self.oi_grid.tolist()
            oi.update(table=self.oi_table.to(torch.float32), radius=int(radius),
                      periodic=bool(periodic), origin=(lat0, lon0), step=(dlat, dlon))
        else:
            oi["rho"] = self.lag_rho
        self._oi = oi
        return oi

    def _in_data_units(self, cond: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(known in data units, mask, shift, scale)`` from ``cond``'s ``[known, mask]``
        channels, with the recorded tensors moved to its device."""
        oi = self._oi_state()
        dev = cond.device
        for k, v in oi.items():
            if isinstance(v, Tensor) and v.device != dev:
                oi[k] = v.to(dev)
        c = self.variables
        view = (1, c) + (1,) * (cond.ndim - 2)
        shift, scale = oi["shift"].view(view), oi["scale"].view(view)
        mask = cond[:, c:2 * c] > 0.5
        return cond[:, :c].to(torch.float32) * scale + shift, mask, shift, scale

    def _temporal_oi_guess(self, cond: Tensor, guess: Tensor) -> Tensor:
        """``guess`` replaced by optimal interpolation in time where a cell has a known step
        (``fill_method="temporal_oi"``)."""
        if self._oi_state() is None:
            raise ValueError("FieldUNet(fill_method='temporal_oi') has no lag correlation: "
                             "train it with FieldData(background=...), whose statistics "
                             "bring it (a model loaded from such a checkpoint has it)")
        known, mask, shift, scale = self._in_data_units(cond)
        est = temporal_oi(known, mask, self._oi_state()["rho"], dim=2)
        est = ((est - shift) / scale).to(guess.dtype)
        est = torch.where(mask, cond[:, :self.variables].to(guess.dtype), est)  # exact
        return torch.where(mask.any(dim=2, keepdim=True), est, guess)

    def _oi_guess(self, cond: Tensor, guess: Tensor, vector: Tensor | None) -> Tensor:
        """``guess`` improved by local optimal interpolation (``fill_method="covariance"``)."""
        oi = self._oi_state()
        if oi is None:
            raise ValueError("FieldUNet(fill_method='covariance') has no covariance table: train "
                             "it with FieldData(background=True, covariance=radius), whose "
                             "statistics bring the table (a model loaded from such a "
                             "checkpoint has it)")
        if vector is None:
            raise ValueError("FieldUNet(fill_method='covariance') needs vector = [lat_first, "
                             "lat_last, lon_first, lon_last] (FieldData(coords=True)) to find "
                             "each patch on the grid")
        known, mask, shift, scale = self._in_data_units(cond)
        n_lon = oi["table"].shape[-1]
        v = vector.to(torch.float64)
        rows = torch.round((v[:, 0] - oi["origin"][0]) / oi["step"][0]).long()
        cols = torch.round((v[:, 2] - oi["origin"][1]) / oi["step"][1]).long()
        cols = cols % n_lon if oi["periodic"] else cols
        if (rows < 0).any() or (cols < 0).any():
            raise ValueError(f"FieldUNet: a patch starts at grid row/column "
                             f"{int(rows.min())}/{int(cols.min())} of the recorded covariance's "
                             f"grid; the data is not on the grid the model was trained on")
        fallback = guess.to(torch.float32) * scale + shift
        est = local_oi(known, mask, oi["table"], rows, cols, oi["radius"], oi["periodic"],
                       fallback=fallback, ridge=self.oi_ridge)
        return ((est - shift) / scale).to(guess.dtype)

    def _first_guess(self, cond: Tensor, vector: Tensor | None = None) -> Tensor:
        """The first guess from ``cond``'s ``[known, mask]`` channels; reused while the same,
        unmodified ``cond`` tensor comes back (the steps of one sampling run)."""
        cached = self._guess_cache
        if cached is not None and cached[0]() is cond and cached[1] == cond._version:
            return cached[2]
        c = self.variables
        method = {"covariance": "biharmonic", "temporal_oi": "harmonic"}.get(self.fill_method,
                                                                            self.fill_method)
        guess = first_guess(cond[:, :c], cond[:, c:2 * c], self.periodic, levels=self.levels,
                            method=method)
        if self.fill_method == "covariance":
            guess = self._oi_guess(cond, guess, vector)
        elif self.fill_method == "temporal_oi":
            guess = self._temporal_oi_guess(cond, guess)
        self._guess_cache = (weakref.ref(cond), cond._version, guess)
        return guess

    def first_guess(self, cond: Tensor | None = None, vector: Tensor | None = None,
                    **_: object) -> Tensor:
        """The first guess ``(B, variables, [time,] lat, lon)`` of the missing values from
        ``cond``'s ``[known, mask]`` channels (model units; the known values exact)."""
        if not self.fill or cond is None:
            raise ValueError("FieldUNet.first_guess needs a conditional model with fill=True "
                             "and cond = [known, mask, ...]")
        return self._first_guess(cond, vector)

    def forward(self, x: Tensor, c_noise: Tensor, cond: Tensor | None = None,
                vector: Tensor | None = None, class_labels: Tensor | None = None,
                guess: Tensor | None = None) -> Tensor:
        """``x (B, variables, [time,] lat, lon)``, ``c_noise (B,)`` -> like ``x``; ``guess``:
        the first guess when the caller (the Denoiser) has it, else computed from ``cond``."""
        if class_labels is not None:
            raise ValueError("FieldUNet is not class-conditional; drop class_labels")
        axes = tuple(x.shape[2:])
        want = (x.shape[0], self.cond_channels, *axes)
        if cond is not None and tuple(cond.shape) != want:
            raise ValueError(f"FieldUNet: cond must have shape {want} ([known, mask] "
                             f"{2 * self.variables * self.conditional} + validity "
                             f"{int(self.validity)} channels), got {tuple(cond.shape)}")
        parts = [] if not self.cond_channels else [
            cond if cond is not None else x.new_zeros(want)]
        if self.fill:
            parts.append(self._first_guess(parts[0], vector) if guess is None else guess)
        if self.coords:
            if vector is None:
                raise ValueError("FieldUNet(coords=True) needs vector = [lat_first, lat_last, "
                                 "lon_first, lon_last] (degrees) for each sample")
            parts.append(coord_channels(vector, axes).to(x.dtype))
        full = torch.cat([p.to(x.dtype) for p in parts], dim=1) if parts else None
        return self.unet(x, c_noise, cond=full)
