"""Gap filling on the full Ferret navy winds: polydiff against the classical methods.

    flock /tmp/polydiff-heavy.lock .venv/bin/python benchmarks/impute.py \
        [--minutes 5] [--minutes-training-free M] [--samples 8] [--steps 10]
        [--eval-months 6] [--masks ...] [--prediction v] [--weighting uniform] [--residual]
        [--calibrate] [--mean ensemble|posterior] [--fill-method biharmonic]
        [--steps-fill-method temporal] [--minutes-steps M] [--background [seasonal]] [--merge]
        [--fill-method covariance] [--covariance 2] [--no-training-free]
        [--calibration-months N]

The field is ``monthly_navy_winds.cdf`` of the Debian package ferret-datasets (UWND and
VWND, 132 months x 73 x 144 at 2.5 deg, complete), so every hidden value has a truth. For each
mask (fixed seeds; the same entries are hidden in both variables)

- ``random50`` / ``random90``: 50 % / 90 % of the points, independently;
- ``clouds``: cloud-like blobs (smoothed noise, 10 deg) over 40 % of every map;
- ``steps``: 25 % of the months missing entirely,

every method sees only the observed values of the masked field and fills it; the scores are
taken at the hidden entries of ``--eval-months`` months (spread over the record; for
``steps``, hidden months), both variables together, cos(latitude) weighted: RMSE and MAE
(m/s), CRPS (fair ensemble estimator; closed form for kriging's Gaussian; MAE for point
estimates), coverage of the central 90 % interval (by area; ``coverage90_cells``: the share
of hidden grid cells), and the wall time (training included). ``--calibrate`` widens the
conditional model's ensemble by ``science.calibrate`` on the same data (the 3-D model: the
stretches' calibrations pooled, ``--calibration-months N`` stretches around N missing months:
the scored ones and others); the JSON keeps the ensemble before calibration and the coverage
the held-out values would give counted per cell.

Methods: polydiff conditional (CSDI-style imputation model trained on the masked field; a 2-D
model, with a 3-month time window for ``steps``, filled on 5-month stretches around each
scored month; ``--residual``: it denoises the residual from its first guess, ``--fill-method``
biharmonic or harmonic for the 2-D models, ``--steps-fill-method`` (linear in time) for
``steps``, whose 3-D model trains ``--minutes-steps``, or ``temporal_oi``: optimal
interpolation in time, whose classical version is the ``temporal_oi`` baseline);
``--background``: both polydiff models learn the anomalies from the field's background,
``FieldData(background=True)`` (``--background seasonal``: from its seasonal cycle), and
``polydiff_first_guess`` is then the background plus the guess of the anomalies;
``--fill-method covariance``: the 2-D models start from optimal interpolation with the
field's own local covariance (``FieldData(covariance=R)``, radius ``--covariance``), whose
classical version is the ``local_oi`` baseline;
``--mean posterior``
(default): the members centred on the posterior mean; ``--calibrate``: spread calibrated on
held-out known values, the uncalibrated scores of the same ensemble kept as
``polydiff_conditional_uncalibrated``), polydiff training-
free (an unconditional model trained on the observed values, ``guidance.inpaint``), scipy
griddata (linear, cubic), RBFInterpolator (thin-plate spline on the sphere), linear
interpolation in time, DINEOF (iterative truncated SVD), space-time optimal interpolation /
kriging with a stationary covariance fitted by maximum likelihood (with a predictive
distribution), ``local_oi``: optimal interpolation of the anomalies from the seasonal
background with the field's own local, non-stationary covariance (estimated from its filled
maps; both variables together; radius ``--covariance``), the strongest classical method for
scattered gaps, and ``temporal_oi``: optimal interpolation in time of the anomalies from the
seasonal background under their lag correlation, the strongest for missing months.
Map-by-map methods cannot fill months with no data: "n/a" for ``steps``.

Prints a table, writes ``benchmarks/results/impute.json``; it asserts nothing. The targets of
the issue (RMSE <= 0.8 x the best classical, 90 % coverage in 85-95 %, CRPS below the best
probabilistic baseline and the best MAE) are evaluated in the JSON (``target``, with met flags).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from impute_record import merge_source, targets, write_record  # benchmarks/, beside this file

from polydiff.modalities.science.imputation.impute import MEANS
from polydiff.modalities.science.statistics.background import annual_phase

ROOT = Path(__file__).resolve().parents[1]
FERRET = Path("/usr/share/ferret-vis/data/monthly_navy_winds.cdf")
VARS = ("UWND", "VWND")
MASKS = ("random50", "random90", "clouds", "steps")


# -- the field and its masks ----------------------------------------------------------------
def load_winds(path: Path, months: int | None):
    import xarray as xr

    from polydiff.modalities.science.data.files import open_fields

    if not path.is_file():
        raise SystemExit(f"{path} is missing: apt-get install -y --no-install-recommends "
                         f"ferret-datasets")
    ds = open_fields(path, list(VARS), chunks=None).load()
    if months:
        ds = ds.isel(TIME=slice(0, months))
    assert isinstance(ds, xr.Dataset)
    return ds


def make_mask(kind: str, shape: tuple[int, int, int], seed: int) -> np.ndarray:
    """The hidden entries (True) of ``(T, Y, X)``: ``~`` the observed masks of
    :mod:`polydiff.masks`, drawn from a numpy generator seeded with ``seed``."""
    from polydiff import masks

    rng = np.random.default_rng(seed)
    if kind.startswith("random"):
        observed = masks.random_mask(shape, int(kind[6:]) / 100, rng)
    elif kind == "clouds":
        observed = masks.cloud_mask(shape, 0.4, rng, scale=4.0)
    elif kind == "steps":
        count = min(max(1, round(0.25 * shape[0])), shape[0] - 2)
        observed = masks.time_step_mask(shape, 0.25, time_axis=0, generator=rng, count=count,
                                        keep_ends=True).expand(shape)
    else:
        raise ValueError(f"unknown mask {kind!r}; expected one of {MASKS}")
    return ~observed.numpy()


def eval_months(kind: str, hidden: np.ndarray, k: int) -> np.ndarray:
    t = hidden.shape[0]
    if kind == "steps":
        months = np.flatnonzero(hidden.all(axis=(1, 2)))
        return months[np.linspace(0, len(months) - 1, min(k, len(months))).round().astype(int)]
    return np.linspace(2, t - 3, k).round().astype(int)


# -- scores -----------------------------------------------------------------------------------
def score(truth: np.ndarray, hidden: np.ndarray, lat: np.ndarray, mean: np.ndarray,
          ensemble: np.ndarray | None = None, std: np.ndarray | None = None) -> dict:
    """Scores at the hidden entries; arrays ``(V, T, Y, X)`` (ensemble ``(M, V, T, Y, X)``)."""
    from polydiff import metrics

    y = torch.from_numpy(truth)
    where = torch.from_numpy(hidden)
    w = metrics.latitude_weight(torch.from_numpy(lat), ndim=4, lat_axis=2).to(y.dtype)
    m = torch.from_numpy(mean).to(y.dtype)
    out = {"rmse": metrics.rmse(m, y, where, weight=w).item(),
           "mae": metrics.mae(m, y, where, weight=w).item()}
    if ensemble is not None:
        ens = torch.from_numpy(ensemble).to(y.dtype)
        out["crps"] = metrics.crps_ensemble(ens, y, where, weight=w).item()
        out["coverage90"] = metrics.interval_coverage(ens, y, 0.9, where, weight=w).item()
        # the share of hidden grid cells (each counted once, not by area)
        out["coverage90_cells"] = metrics.interval_coverage(ens, y, 0.9, where).item()
        out["spread_skill"] = metrics.spread_skill(ens, y, where, weight=w)[2].item()
    elif std is not None:
        s = torch.from_numpy(std).to(y.dtype)
        out["crps"] = metrics.crps_gaussian(m, s, y, where, weight=w).item()
        inside = ((m - y).abs() <= 1.6448536 * s).to(y.dtype)
        out["coverage90"] = metrics.mae(inside, torch.zeros_like(y), where, weight=w).item()
    else:
        out["crps"] = out["mae"]  # a point forecast's CRPS is its absolute error
    return out


# -- classical methods ------------------------------------------------------------------------
def timed(fill, *args, **kwargs) -> tuple:
    """``(mean, std, seconds)`` of a method returning ``mean`` or ``(mean, std)``."""
    t0 = time.perf_counter()
    res = fill(*args, **kwargs)
    mean, std = res if isinstance(res, tuple) else (res, None)
    return mean, std, time.perf_counter() - t0


def run_baselines(gappy: np.ndarray, lat, lon, months: np.ndarray, kind: str,
                  radius: int = 3, years: np.ndarray | None = None) -> dict:
    """``name -> (mean (V, K, Y, X), std or None, seconds)``; ``None`` for map-by-map
    methods on ``steps`` (a map with no known value: nothing to interpolate from)."""
    import science_baselines as b

    def each(fn):  # one variable at a time
        return lambda: np.stack([fn(gappy[i]) for i in range(len(VARS))])

    def both(mean_std):
        return np.stack([m for m, _ in mean_std]), np.stack([s for _, s in mean_std])

    spatial = {"griddata_linear": each(lambda v: b.griddata(v[months], lat, lon, "linear")),
               "griddata_cubic": each(lambda v: b.griddata(v[months], lat, lon, "cubic")),
               "rbf_thin_plate": each(lambda v: b.rbf(v[months], lat, lon)),
               "local_oi": lambda: b.local_oi(gappy, lat, lon, months, radius=radius,
                                              years=years)}
    out = {name: None if kind == "steps" else timed(fn) for name, fn in spatial.items()}
    out["temporal_linear"] = timed(each(lambda v: b.temporal_linear(v, lat, lon)[months]))
    out["temporal_oi"] = timed(each(lambda v: b.temporal_oi(v, lat, lon, years)[months]))
    out["dineof"] = timed(each(lambda v: b.dineof(v, lat, lon, max_iter=50)[0][months]))
    out["kriging_space_time"] = timed(lambda: both(
        [b.kriging(gappy[i], lat, lon, times=months)[:2] for i in range(len(VARS))]))
    return out


# -- polydiff -----------------------------------------------------------------------------------
def fill_method(kind: str, a) -> str:
    """The conditional model's first guess: ``--fill-method`` for the 2-D models,
    ``--steps-fill-method`` for the 3-D ``steps`` model (the bending energy overshoots in time
    there: RMSE 1.844 against harmonic 1.772 and linear in time 1.747 m/s for the whole
    field's guess)."""
    return a.steps_fill_method if kind == "steps" else a.fill_method


def first_guess_fill(gappy: np.ndarray, months: np.ndarray, kind: str, method: str,
                     background: str | None = None, years: np.ndarray | None = None
                     ) -> np.ndarray:
    """The deterministic first guess a conditional FieldUNet refines (push-pull, Laplace
    relaxation, and with ``method="biharmonic"`` the bending-energy minimum; periodic in
    longitude) on whole maps; over (time, lat, lon) for ``steps``. ``background``: the guess
    of the anomalies from the field's background, plus the background (what a model trained
    with ``FieldData(background=...)`` starts from; ``years``: the dates of the seasonal
    one)."""
    from polydiff.interpolate import first_guess
    from polydiff.modalities.science.statistics.background import background_maps, fit_background
    from polydiff.modalities.science.statistics.filled import fill_maps

    if background:
        seasonal = years if background == "seasonal" else None
        bg = background_maps(fit_background(gappy, True, seasonal), seasonal)
        bg = np.broadcast_to(bg, gappy.shape).astype(gappy.dtype)
        return bg[:, months] + first_guess_fill(gappy - bg, months, kind, method)
    if kind == "steps":
        x = torch.from_numpy(np.nan_to_num(gappy))[None]  # (1, V, T, Y, X)
        mask = torch.from_numpy(np.isfinite(gappy))[None]
        return first_guess(x, mask, (False, False, True), method=method)[0].numpy()[:, months]
    return fill_maps(gappy[:, months].transpose(1, 0, 2, 3), True, method).transpose(1, 0, 2, 3)


def train(path: Path, conditional: bool, time_window: int | None, minutes: float, seed: int,
          root: Path, mask_kinds: list[str], a, fill: str = "harmonic"):
    import lightning.pytorch as pl

    from polydiff.modalities.science import FieldData
    from polydiff.training import DiffusionModule, build_net

    pl.seed_everything(seed, verbose=False)
    data = FieldData(str(path), patch=a.patch, time_window=time_window,
                     batch_size=a.batch_size, val_fraction=0.0, seed=seed,
                     background=a.background,
                     covariance=a.covariance if fill == "covariance" and conditional else None)
    residual = a.residual and conditional
    net = build_net("polydiff.modalities.science.FieldUNet", variables=len(VARS),
                    conditional=conditional, time_axis=time_window is not None,
                    base_channels=a.base_channels, residual=residual,
                    prediction=a.prediction, fill_method=fill)
    imputation = ({"kinds": mask_kinds, "missing": list(a.missing)} if conditional else None)
    module = DiffusionModule(net, prediction=a.prediction, weighting=a.weighting, lr=a.lr,
                             warmup_steps=50, lr_decay=a.lr_decay, ema_decay=a.ema,
                             seed=seed, imputation=imputation)
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_time={"minutes": minutes},
                         logger=False, enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False, num_sanity_val_steps=0,
                         gradient_clip_val=1.0, default_root_dir=root)
    trainer.fit(module, data)
    return module, trainer.global_step


def calibration_months(hidden: np.ndarray, months: np.ndarray, n: int | None,
                       span: int = 5) -> np.ndarray:
    """The whole missing months whose ``span``-month stretches calibrate the 3-D model: the
    scored ``months``, then (``n`` > their number) other missing months, evenly over the
    record, at least ``span`` months from every month taken before (so the stretches do not
    overlap; their gaps are filled for calibration only, never scored)."""
    if n is None or n <= len(months):
        return months
    others = np.setdiff1d(np.flatnonzero(hidden.all(axis=(1, 2))), months)
    taken = list(months)
    grid = np.linspace(0, len(others) - 1, n)  # evenly spaced ranks, nearest first
    nearest = np.abs(np.arange(len(others))[:, None] - grid[None]).min(1)
    for m in others[np.argsort(nearest, kind="stable")]:
        if len(taken) == n:
            break
        if all(abs(int(m) - t) >= span for t in taken):
            taken.append(int(m))
    return np.asarray(taken)


def run_polydiff(module, gappy_ds, months: np.ndarray, time_window: int | None, a, guidance,
                 calibrate: bool = False, mean: str = "ensemble",
                 calibrate_at: np.ndarray | None = None):
    """``(samples (M, V, K, Y, X), seconds, calibration)``. The 2-D models fill the scored
    months in one call; the 3-D model fills a stretch around each. With ``calibrate`` the
    spread factor comes from ``science.calibrate`` on the same data (3-D: the stretches
    around ``calibrate_at``, default ``months``, pooled) and ``calibration`` is a dict of
    the ``factor`` applied, the ``cells_factor`` the same held-out values would give counted
    per grid cell instead of by area, and for the 3-D model the months, each stretch's own
    factor and the scored stretches' pooled factor; else ``None``."""
    from polydiff.modalities import science

    t0 = time.perf_counter()
    kwargs = dict(n_samples=a.samples, steps=a.steps, domain="all", guidance=guidance,
                  seed=a.seed, progress=False, batch_size=64, mean=mean)
    at = months if calibrate_at is None else calibrate_at
    if time_window is None:  # the scored months as one short record
        record = gappy_ds.isel(TIME=months)
        fills = [(record, list(range(len(months))))]  # (data, its scored time steps)
        calibrate_on = [record]
    else:
        # the scored month with two more either side (two time windows): calibration can
        # then hold out a month that is not next to the gap, as the real gap is not; one
        # month per stretch is few held-out values, so the stretches' calibrations are pooled
        span = time_window + 2

        def stretch(m: int):
            lo = int(min(max(0, m - span // 2), gappy_ds.sizes["TIME"] - span))
            return lo, gappy_ds.isel(TIME=slice(lo, lo + span))

        fills = [(data, [int(m) - lo]) for m in months for lo, data in [stretch(m)]]
        calibrate_on = [stretch(m)[1] for m in at]
    cal = factor = None
    if calibrate:
        parts = [science.calibrate(data, module, **kwargs) for data in calibrate_on]
        pooled = science.Calibration.pool(parts)
        factor = pooled.factor
        cal = {"factor": factor,
               "cells_factor": science.Calibration(pooled.k_lo, pooled.k_hi,
                                                   pooled.level).factor}
        if time_window is not None:
            cal.update(months=[int(m) for m in at],
                       piece_factors=[round(p.factor, 4) for p in parts],
                       scored_pieces_factor=science.Calibration.pool(
                           parts[:len(months)]).factor)
    out = []
    for data, t in fills:
        filled = science.impute(data, module, spread_factor=factor, return_samples=True,
                                **kwargs)
        out.append(np.stack([filled[f"{v}_samples"].values[:, t] for v in VARS], 1))
    return np.concatenate(out, axis=2), time.perf_counter() - t0, cal


def inflate_back(samples: np.ndarray, factor: float) -> np.ndarray:
    """Undo ``impute(calibrate=True)``'s widening of ``samples (M, ...)`` by ``factor``."""
    from polydiff.conformal import inflate

    return inflate(torch.from_numpy(samples), 1.0 / factor).numpy()


# -- the run -------------------------------------------------------------------------------------
def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--field", type=Path, default=FERRET)
    p.add_argument("--masks", nargs="+", default=list(MASKS), choices=MASKS)
    p.add_argument("--minutes", type=float, default=5.0, help="training time per model")
    p.add_argument("--minutes-training-free", type=float, default=None,
                   help="training time of the unconditional model (default --minutes)")
    p.add_argument("--samples", type=int, default=8)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--eval-months", type=int, default=6)
    p.add_argument("--months", type=int, default=None, help="use only the first N months")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--patch", type=int, nargs=2, default=[32, 64], help="training patch")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--base-channels", type=int, default=16)
    p.add_argument("--prediction", default="v")
    p.add_argument("--weighting", default="uniform",
                   help="loss weighting (uniform: the highest noise levels, where the "
                        "conditional mean is learned, count fully)")
    p.add_argument("--mean", default="posterior", choices=list(MEANS),
                   help="conditional model: the ensemble centred on its own mean or on the "
                        "posterior mean (impute(mean=...))")
    p.add_argument("--calibrate", action="store_true",
                   help="conditional model: impute(calibrate=True), spread calibrated on "
                        "held-out known values (the uncalibrated scores are kept too)")
    p.add_argument("--fill-method", default="biharmonic",
                   choices=["harmonic", "biharmonic", "covariance"],
                   help="first guess of the 2-D conditional models (covariance: optimal "
                        "interpolation with the field's local covariance, needs --background)")
    p.add_argument("--covariance", type=int, default=3,
                   help="radius (cells) of the local optimal interpolation: the local_oi "
                        "baseline and --fill-method covariance")
    p.add_argument("--steps-fill-method", default="temporal",
                   choices=["harmonic", "biharmonic", "temporal", "temporal_oi"],
                   help="first guess of the 3-D steps model (temporal: linear in time; "
                        "temporal_oi: optimal interpolation in time, needs --background)")
    p.add_argument("--minutes-steps", type=float, default=None,
                   help="training time of the 3-D steps conditional model (default --minutes; "
                        "its training-free model's time is scaled alike; a 3-D step costs "
                        "about 4x a 2-D one)")
    p.add_argument("--calibration-months", type=int, default=None, metavar="N",
                   help="steps: calibrate the 3-D model on the stretches around N whole "
                        "missing months (the scored ones and others; default the scored ones)")
    p.add_argument("--merge", action="store_true",
                   help="keep the other masks' results of --out (each mask records the "
                        "arguments and date of its own run)")
    p.add_argument("--background", nargs="?", const="mean", default=None,
                   choices=["mean", "seasonal"],
                   help="the polydiff models learn anomalies from the field's background "
                        "(FieldData(background=...): per-cell time mean of its filled maps, "
                        "or with 'seasonal' their mean and annual cycle)")
    p.add_argument("--residual", action="store_true",
                   help="conditional model denoises the residual from its first guess")
    p.add_argument("--missing", type=float, nargs=2, default=[0.05, 0.6],
                   help="share of the observed values hidden as training targets (low high)")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--lr-decay", default="constant")
    p.add_argument("--ema", type=float, default=0.99, help="EMA decay")
    p.add_argument("--no-baselines", action="store_true", help="(experiments) skip them")
    p.add_argument("--no-training-free", action="store_true",
                   help="skip the unconditional model (guidance.inpaint)")
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "impute.json")
    a = p.parse_args()
    if a.fill_method == "covariance" and not a.background:
        p.error("--fill-method covariance needs --background (the covariance is that of the "
                "anomalies from the background)")
    if a.steps_fill_method == "temporal_oi" and not a.background:
        p.error("--steps-fill-method temporal_oi needs --background (the lag correlation is "
                "that of the anomalies from the background)")
    if a.minutes <= 0 or (a.minutes_steps is not None and a.minutes_steps <= 0):
        p.error(f"--minutes and --minutes-steps must be > 0, got {a.minutes} and "
                f"{a.minutes_steps}")
    earlier = merge_source(a) if a.merge else None
    torch.set_num_threads(a.threads)
    ds = load_winds(a.field, a.months)
    lat, lon = ds["FNOCY"].values, ds["FNOCX"].values
    years = annual_phase(ds["TIME"].values)  # the classical methods' seasonal cycle
    truth = np.stack([ds[v].values.astype(np.float64) for v in VARS])  # (V, T, Y, X)
    results: dict = {}
    for kind in a.masks:
        hidden = make_mask(kind, truth.shape[1:], a.seed)
        months = eval_months(kind, hidden, a.eval_months)
        gappy = np.where(hidden[None], np.nan, truth)
        gappy_ds = ds.copy(deep=True)
        for i, v in enumerate(VARS):
            gappy_ds[v].values[:] = gappy[i].astype(np.float32)
        where = np.broadcast_to(hidden[months][None], (len(VARS), *hidden[months].shape))
        y = truth[:, months]
        rows: dict = {}
        print(f"== {kind}: {hidden.mean():.1%} hidden; scored on months {months.tolist()}",
              flush=True)
        base = {} if a.no_baselines else run_baselines(gappy, lat, lon, months, kind,
                                                       a.covariance, years)
        for name, res in base.items():
            if res is None:
                rows[name] = None
                continue
            mean, std, secs = res
            rows[name] = {**score(y, where, lat, mean, std=std), "seconds": secs}
            print(f"   {name:22s} {rows[name]}", flush=True)
        seasonal = years if a.background == "seasonal" else None
        if fill_method(kind, a) == "covariance":  # background + OI: the local_oi baseline
            from science_baselines import local_oi
            guess, _, secs = (base.get("local_oi") if seasonal is not None else None) or timed(
                local_oi, gappy, lat, lon, months, radius=a.covariance, years=seasonal)
        elif fill_method(kind, a) == "temporal_oi":  # the temporal_oi baseline
            from science_baselines import temporal_oi
            guess, _, secs = (base.get("temporal_oi") if seasonal is not None else None) or timed(
                lambda g, t, y: np.stack([temporal_oi(v, lat, lon, y)[t] for v in g]),
                gappy, months, seasonal)
        else:
            guess, _, secs = timed(first_guess_fill, gappy, months, kind, fill_method(kind, a),
                                   a.background, years)
        rows["polydiff_first_guess"] = {**score(y, where, lat, guess), "seconds": secs}
        print(f"   {'polydiff_first_guess':22s} {rows['polydiff_first_guess']}", flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "gappy.nc"
            gappy_ds.to_netcdf(path)
            window = 3 if kind == "steps" else None
            kinds = {"random50": ["random"], "random90": ["random"], "clouds": ["blocks"],
                     "steps": ["steps", "random"]}[kind]
            variants = [("polydiff_conditional", True, "inpaint")]
            if not a.no_training_free:
                variants.append(("polydiff_training_free", False, "inpaint"))
            for name, conditional, guidance in variants:
                t0 = time.perf_counter()
                minutes = a.minutes if conditional else (a.minutes_training_free or a.minutes)
                if kind == "steps" and a.minutes_steps is not None:
                    minutes = minutes * a.minutes_steps / a.minutes
                module, n_steps = train(path, conditional, window, minutes, a.seed,
                                        Path(tmp), kinds, a, fill_method(kind, a))
                train_s = time.perf_counter() - t0
                calibrate = a.calibrate and conditional
                at = (calibration_months(hidden, months, a.calibration_months)
                      if kind == "steps" else None)
                samples, infer_s, cal = run_polydiff(
                    module, gappy_ds, months, window, a, guidance, calibrate,
                    a.mean if conditional else "ensemble", at)
                rows[name] = {**score(y, where, lat, samples.mean(0), ensemble=samples),
                              "seconds": train_s + infer_s, "train_seconds": train_s,
                              "train_steps": n_steps, "infer_seconds": infer_s}
                if cal:
                    rows[name]["spread_factor"] = round(cal["factor"], 4)
                    if "months" in cal:  # pooled over the stretches; each stretch alone
                        rows[name]["calibration_months"] = cal["months"]
                        rows[name]["piece_spread_factors"] = cal["piece_factors"]
                print(f"   {name:22s} {rows[name]}", flush=True)
                if cal:  # the same ensemble before calibration (its factor undone)
                    plain = inflate_back(samples, cal["factor"])
                    # other factors on the same members: held-out values counted per cell,
                    # and (more stretches calibrating) the scored stretches' alone
                    other = {"counted_per_cell": cal["cells_factor"]}
                    if len(cal.get("months", [])) > len(months):
                        other["scored_pieces_alone"] = cal["scored_pieces_factor"]
                    for key, f in other.items():
                        wide = inflate_back(plain, 1.0 / f)
                        got = score(y, where, lat, wide.mean(0), ensemble=wide)
                        rows[name][f"calibration_{key}"] = {
                            "spread_factor": round(f, 4), "coverage90": got["coverage90"],
                            "coverage90_cells": got["coverage90_cells"], "crps": got["crps"]}
                    rows[f"{name}_uncalibrated"] = {
                        **score(y, where, lat, plain.mean(0), ensemble=plain),
                        "seconds": rows[name]["seconds"]}
                    print(f"   {name + '_uncalibrated':22s} {rows[f'{name}_uncalibrated']}",
                          flush=True)
        results[kind] = {"hidden_fraction": float(hidden.mean()),
                         "eval_months": months.tolist(), "methods": rows,
                         "targets": targets(rows)}
    write_record(results, a, earlier, MASKS, VARS)
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
