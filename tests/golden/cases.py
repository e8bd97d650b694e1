"""Golden cases: every modality's task on a small fixed case with a fixed seed.

Each case builds a small random-weight model (float64 weights from a CPU generator, so the
network's sums do not depend on the machine's vector width), runs one public task and returns
its outputs as a dict of tensors. ``test_golden.py`` compares them with the outputs stored in
``data/`` (tolerance 1e-6); they were written before the inference layer moved code around,
so they pin the behaviour every refactor must keep.

    python tests/golden/cases.py --write [--overwrite] [NAME ...]   # store the outputs
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

DATA = Path(__file__).resolve().parent / "data"
CASES: dict[str, Callable[[Path], dict[str, torch.Tensor]]] = {}


def case(fn: Callable[[Path], dict[str, torch.Tensor]]):
    CASES[fn.__name__] = fn
    return fn


def perturb_(module: torch.nn.Module, seed: int = 0, scale: float = 0.1) -> None:
    """Add ``scale * N(0, 1)`` (a CPU generator seeded with ``seed``) to every parameter, so
    a fresh network (zero output layer) does something."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype))


def _module(net: dict, seed: int = 0, **kwargs):
    from polydiff.training import DiffusionModule

    torch.manual_seed(seed)  # the networks' initial weights come from the global generator
    module = DiffusionModule(net, ema_decay=None, **kwargs).double()
    perturb_(module.net, seed)
    return module.eval()


# -- the core: sampling, CFG, inpainting, posterior mean ---------------------------------------
IMAGE_NET = {"class_path": "polydiff.nn.UNet",
             "init_args": {"dims": 2, "in_channels": 1, "base_channels": 8,
                           "channel_mult": [1, 2], "num_res_blocks": 1, "attention_heads": 2,
                           "num_classes": 3}}


@case
def core_sample(tmp: Path) -> dict[str, torch.Tensor]:
    m = _module(IMAGE_NET, sample_shape=[1, 8, 8])
    out = {"cfg": m.sample(4, steps=4, guidance_scale=2.0, class_labels=[0, 1, 2, 0], seed=3),
           "ddpm": m.sample(2, steps=3, method="ddpm", seed=1),
           "heun_karras": m.sample(2, steps=3, method="heun", grid="karras", seed=2)}
    known = torch.randn(1, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    observed = torch.zeros(1, 1, 8, 8, dtype=torch.bool)
    observed[..., :4] = True
    out["inpaint"] = m.sample(2, steps=3, known=known, observed=observed, seed=4)
    out["repaint"] = m.sample(2, steps=3, known=known, observed=observed, seed=4,
                              resample=(1, 2), method="ddim")
    return out


@case
def core_imputation(tmp: Path) -> dict[str, torch.Tensor]:
    net = {"class_path": "polydiff.nn.UNet",
           "init_args": {"dims": 1, "in_channels": 2, "base_channels": 8, "channel_mult": [1, 2],
                         "num_res_blocks": 1, "attention_heads": 2, "cond_channels": 4}}
    m = _module(net, sample_shape=[2, 16], prediction="x0", weighting="uniform",
                imputation={"kinds": ["random"], "missing": [0.2, 0.8]})
    g = torch.Generator().manual_seed(7)
    known = torch.randn(3, 2, 16, generator=g)
    observed = torch.rand(3, 2, 16, generator=g) < 0.6
    return {"posterior_mean": m.posterior_mean(known, observed, draws=3, seed=2),
            "sample": m.sample(3, steps=3, known=known, observed=observed, seed=1)}


# -- audio --------------------------------------------------------------------------------------
RATE = 1000
AUDIO_NET = {"class_path": "polydiff.modalities.audio.AudioUNet",
             "init_args": {"channels": [8, 16], "factors": [2], "blocks": 1, "patch": 2,
                           "attention_heads": 2}}


def _audio_info(length: int, classes: int | None, timing: bool) -> dict:
    return {"modality": "audio", "writer": "wav",
            "normalizer": {"shift": [0.01], "scale": [0.5]},
            "meta": {"sample_rate": RATE, "channels": 1, "crop": length,
                     "classes": None if classes is None else [f"c{i}" for i in range(classes)],
                     "timing_scale": 10.0 if timing else None},
            "sample_shape": [1, length], "num_classes": classes}


def audio_model(length: int = 64, classes: int | None = 2, timing: bool = False,
                imputation: bool = False):
    args = dict(AUDIO_NET["init_args"])
    if classes:
        args["num_classes"] = classes
    if timing:
        args["vector_cond_dim"] = 2
    extra = {}
    if imputation:
        args["cond_channels"] = 2
        extra = dict(prediction="x0", weighting="uniform",
                     imputation={"kinds": ["blocks"], "missing": [0.1, 0.5]})
    m = _module({"class_path": AUDIO_NET["class_path"], "init_args": args},
                sample_shape=[1, length], **extra)
    m.data_info = _audio_info(length, classes, timing)
    return m


def recording(n: int, seed: int = 0) -> torch.Tensor:
    """``(1, n)``: a decaying chirp plus a little noise (data units)."""
    t = torch.arange(n, dtype=torch.float64) / RATE
    g = torch.Generator().manual_seed(seed)
    x = 0.6 * torch.sin(2 * np.pi * (40 + 60 * t) * t) * torch.exp(-t)
    return (x + 0.02 * torch.randn(n, generator=g, dtype=torch.float64)).float()[None]


@case
def audio_generate(tmp: Path) -> dict[str, torch.Tensor]:
    from polydiff.modalities.audio import generate

    plain = audio_model()
    timed = audio_model(timing=True)
    return {"cfg": generate(plain, 3, class_label=[0, 1, 1], guidance_scale=2.0, steps=3,
                            seed=1),
            "timing": generate(timed, 2, start=[0.5, 2.0], seconds=4.0, class_label=1,
                               steps=3, seed=2)}


@case
def audio_fill_gaps(tmp: Path) -> dict[str, torch.Tensor]:
    from polydiff.modalities.audio import fill_gaps

    audio = recording(300)
    audio[:, 150:156] = float("nan")
    out = {}
    for name, model in (("conditional", audio_model(classes=None, imputation=True)),
                        ("inpaint", audio_model(classes=2))):
        kw = {} if name == "conditional" else {"class_label": 1, "guidance_scale": 1.5}
        out[name] = fill_gaps(model, audio, gaps=[(0.02, 0.05), (0.08, 0.09), (0.25, 0.28)],
                              sample_rate=RATE, num=2, steps=3, seed=4, **kw)
    out["repaint"] = fill_gaps(audio_model(classes=None, imputation=True), audio,
                               gaps=[(0.1, 0.12)], sample_rate=RATE, steps=2, seed=1,
                               resample=(1, 2), method="ddim")
    return out


@case
def audio_continue(tmp: Path) -> dict[str, torch.Tensor]:
    from polydiff.modalities.audio import continue_audio, extend

    model = audio_model(classes=2, timing=True)
    prefix = recording(40)
    return {"continue": continue_audio(model, prefix, 0.15, sample_rate=RATE, num=2, steps=3,
                                       seed=2, class_label=0),
            "extend": extend(model, 170, overlap=0.25, steps=3, seed=5, class_label=1,
                             guidance_scale=2.0)}


# -- video --------------------------------------------------------------------------------------
VIDEO_NET = {"class_path": "polydiff.modalities.video.VideoUNet",
             "init_args": {"in_channels": 1, "base_channels": 8, "channel_mult": [1, 2],
                           "attention_heads": 2}}


def video_model(conditional: bool = False, classes: int | None = None):
    args = dict(VIDEO_NET["init_args"])
    extra = {}
    if classes:
        args["num_classes"] = classes
    if conditional:
        args.update(conditional=True, residual=True)
        extra = dict(prediction="x0", weighting="uniform",
                     imputation={"kinds": ["suffix", "strided"], "missing": [0.2, 0.6]})
    return _module({"class_path": VIDEO_NET["class_path"], "init_args": args},
                   sample_shape=[1, 5, 8, 8], **extra)


def clips(n: int, frames: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(n, 1, 1, 8, 8, generator=g)
    drift = torch.linspace(0, 1, frames).reshape(1, 1, frames, 1, 1)
    return base + drift * torch.randn(n, 1, 1, 8, 8, generator=g)


@case
def video_tasks(tmp: Path) -> dict[str, torch.Tensor]:
    from polydiff.modalities.video.tasks import extend, interpolate, predict

    plain, frame = video_model(classes=2), video_model(conditional=True)
    ctx, keys = clips(2, 2, 1), clips(1, 3, 2)
    return {
        "predict": predict(plain, ctx, steps=3, seed=1, class_labels=[0, 1],
                           guidance_scale=1.5),
        "predict_conditional": predict(frame, ctx, steps=3, seed=2),
        "predict_mean": predict(frame, ctx, estimate="mean", draws=3, seed=3),
        "interpolate": interpolate(frame, keys, 2, steps=3, seed=4),
        "interpolate_mean": interpolate(frame, keys, 2, estimate="mean", draws=2, seed=4),
        "repaint": predict(plain, ctx, steps=2, seed=5, resample=(1, 2), method="ddim"),
        "extend": extend(frame, 12, overlap=2, first=ctx, seed=6, steps=2),
        "extend_first": extend(plain, 9, overlap=3, first=ctx[:1], seed=7, steps=2,
                               class_labels=[1]),
    }


# -- science ------------------------------------------------------------------------------------
def field(n_time: int = 4, n_lat: int = 10, n_lon: int = 16, gaps: float = 0.3, seed: int = 0):
    """A smooth global two-variable field with NaN gaps, ``(time, lat, lon)``, monthly dates."""
    import xarray as xr

    g = np.random.default_rng(seed)
    lat = np.linspace(-80, 80, n_lat)
    lon = np.arange(n_lon) * 360.0 / n_lon
    t = np.arange(n_time, dtype=np.float64)
    la, lo = np.deg2rad(lat)[None, :, None], np.deg2rad(lon)[None, None, :]
    base = 20 * np.cos(la) + 3 * np.sin(2 * lo + 0.3 * t[:, None, None])
    sst = (base + 0.1 * g.standard_normal(base.shape)).astype(np.float32)
    air = (base - 2 + 0.1 * g.standard_normal(base.shape)).astype(np.float32)
    sst[g.random(sst.shape) < gaps] = np.nan
    air[g.random(air.shape) < gaps] = np.nan
    sst[1, 2:6, 3:9] = np.nan  # a cloud
    dims = ("time", "lat", "lon")
    return xr.Dataset(
        {"SST": (dims, sst, {"units": "degC"}), "AIRT": (dims, air, {"units": "degC"})},
        coords={"time": ("time", t * 30.0, {"units": "days since 2000-01-01",
                                            "calendar": "noleap"}),
                "lat": ("lat", lat, {"units": "degrees_north"}),
                "lon": ("lon", lon, {"units": "degrees_east"})})


def science_model(tmp: Path, time_window: int | None = None, conditional: bool = True,
                  fill_method: str = "biharmonic", residual: bool = False,
                  background: bool | str = False, validity: bool = False, seed: int = 0,
                  n_time: int = 4):
    """A random-weight science model with the data description of :func:`field`'s file."""
    from polydiff.modalities.science import FieldData

    path = tmp / f"field_{n_time}.nc"
    if not path.exists():
        field(n_time=n_time).to_netcdf(path, engine="scipy")
    data = FieldData(str(path), patch=[8, 8], time_window=time_window, min_observed=0,
                     validity=validity, background=background)
    info = data.data_info()
    args = {"variables": 2, "conditional": conditional, "time_axis": time_window is not None,
            "validity": validity, "base_channels": 8, "channel_mult": [1, 2],
            "attention_heads": 2, "fill_method": fill_method, "residual": residual}
    extra = {"prediction": "x0", "weighting": "uniform"} if residual else {}
    if conditional:
        extra["imputation"] = {"kinds": ["random"], "missing": [0.2, 0.8]}
    m = _module({"class_path": "polydiff.modalities.science.FieldUNet", "init_args": args},
                seed=seed, sample_shape=list(data.sample_shape), **extra)
    m.data_info = info
    return m


def _impute_out(ds, names=("SST", "AIRT")) -> dict[str, torch.Tensor]:
    out = {}
    for v in names:
        for key in (v, f"{v}_std", f"{v}_quantiles"):
            out[key] = torch.from_numpy(np.nan_to_num(np.asarray(ds[key].values), nan=-999.0))
    return out


@case
def science_impute_maps(tmp: Path) -> dict[str, torch.Tensor]:
    from polydiff.modalities.science import impute

    ds = field()
    model = science_model(tmp)
    out = _impute_out(impute(ds, model, n_samples=3, steps=3, seed=1, progress=False))
    ens = impute(ds.isel(time=slice(0, 2)), model, n_samples=2, steps=2, seed=2,
                 mean="ensemble", progress=False, return_samples=True)
    out["ensemble_samples"] = torch.from_numpy(np.nan_to_num(ens["SST_samples"].values, nan=-9))
    return out


@case
def science_impute_time(tmp: Path) -> dict[str, torch.Tensor]:
    from polydiff.modalities.science import impute

    model = science_model(tmp, time_window=2, fill_method="temporal", residual=True)
    return _impute_out(impute(field(), model, n_samples=2, steps=3, seed=3, progress=False))


@case
def science_calibrate(tmp: Path) -> dict[str, torch.Tensor]:
    from polydiff.modalities.science import calibrate, impute

    ds, model = field(n_time=6), science_model(tmp, n_time=6)
    cal = calibrate(ds, model, n_samples=3, steps=2, seed=1, progress=False)
    out = _impute_out(impute(ds, model, n_samples=3, steps=2, seed=1, calibrate=True,
                             progress=False))
    assert np.isinf(cal.k_hi).all()  # wide enough always covers: only k_lo says anything
    out.update(k_lo=torch.from_numpy(cal.k_lo),
               weight=torch.from_numpy(cal.weight),
               factor=torch.tensor(cal.factor, dtype=torch.float64))
    return out


@case
def science_guidance(tmp: Path) -> dict[str, torch.Tensor]:
    from polydiff.modalities.science import impute

    ds = field().isel(time=slice(0, 2))
    model = science_model(tmp, conditional=False, validity=True)
    out = {}
    for guidance, extra in (("dps", {"dps_step": 0.5}), ("repaint", {"resample": (1, 2)})):
        res = impute(ds, model, n_samples=2, steps=2, seed=4, guidance=guidance,
                     method="ddim", progress=False, **extra)
        out.update({f"{guidance}_{k}": v for k, v in _impute_out(res, ["SST"]).items()})
    return out


@case
def science_background(tmp: Path) -> dict[str, torch.Tensor]:
    from polydiff.modalities.science import impute

    model = science_model(tmp, background=True, n_time=6)
    res = impute(field(n_time=6), model, n_samples=2, steps=2, seed=5, progress=False)
    return _impute_out(res)


# -- checkpoints for the command line -----------------------------------------------------------
def save_checkpoint(module, path: Path) -> Path:
    """``module`` as a Lightning checkpoint (what ``Trainer.save_checkpoint`` keeps of it)."""
    ckpt = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams),
            "epoch": 0, "global_step": 0}
    module.on_save_checkpoint(ckpt)
    torch.save(ckpt, path)
    return path


# -- storing and comparing ----------------------------------------------------------------------
def run(name: str, tmp: Path) -> dict[str, torch.Tensor]:
    torch.set_num_threads(1)
    out = CASES[name](tmp)
    return {k: v.detach().cpu() for k, v in out.items()}


def path_of(name: str) -> Path:
    return DATA / f"{name}.pt"


def main(argv: list[str]) -> int:
    import tempfile

    overwrite = "--overwrite" in argv
    names = [a for a in argv if not a.startswith("--")] or list(CASES)
    if "--write" not in argv:
        print("usage: python tests/golden/cases.py --write [--overwrite] [NAME ...]")
        return 2
    DATA.mkdir(exist_ok=True)
    for name in names:
        path = path_of(name)
        if path.exists() and not overwrite:
            print(f"{path} exists (earlier golden outputs); pass --overwrite to replace it")
            return 2
        with tempfile.TemporaryDirectory() as tmp:
            out = run(name, Path(tmp))
        torch.save(out, path)
        print(f"wrote {path}: {', '.join(f'{k} {tuple(v.shape)}' for k, v in out.items())}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
