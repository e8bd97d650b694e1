"""Does windowed inference run the network at its full speed? Network evaluations per second
of science imputation and audio gap filling against the bare network's forward pass at its
best batch size, measured in the same run.

    flock /tmp/polydiff-heavy.lock .venv/bin/python benchmarks/inference_speed.py \
        [--months 360] [--samples 16] [--steps 10] [--seconds 60] [--threads 2]

- **impute**: ``polydiff.modalities.science.impute`` with ``calibrate=True`` (the held-out
  known values filled like the gaps, then the gaps) and the posterior mean, on a ``--months``
  monthly record of a small regional grid (20 x 24 cells of the bundled navy winds, the
  record repeated to that length; 30 % of the values missing at random and a cloud-like
  blob per map), ``--samples`` members, ``--steps`` steps, with the default map model
  (``FieldUNet``: conditional, biharmonic first guess, 16 x 16 patches);
- **fill-gaps**: ``polydiff.modalities.audio.fill_gaps`` on ``--seconds`` of the bundled
  speech at 16 kHz with a 50 ms gap every 0.4 s and 4 alternative fills, with the shipped
  gap-filling network (``configs/gaps.yaml``'s ``AudioUNet``, 1.0 s windows).

Both models have random weights (speed does not depend on training). A network evaluation is
one sample (row) through the network; the task's count comes from a forward hook, so it
includes everything the task ran (calibration, posterior mean, every window). The bare
network runs on the same inputs (the first guess computed once, as a sampling run reuses it)
at batch sizes 1, 2, 4, ... up to 1024 rows; its best rate is the reference. The ratios are
written to ``benchmarks/results/inference_speed.json`` with the target (>= 0.7); nothing is
asserted here.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

RESULTS = Path(__file__).resolve().parent / "results" / "inference_speed.json"
TARGET = 0.7


class Counter:
    """Counts the rows through a network (a forward pre-hook)."""

    def __init__(self, net: torch.nn.Module):
        self.rows = 0
        self.calls = 0
        self.handle = net.register_forward_pre_hook(self._hook)

    def _hook(self, module, args) -> None:
        self.rows += int(args[0].shape[0])
        self.calls += 1

    def close(self) -> None:
        self.handle.remove()


def best_rate(call, make, sizes, seconds: float = 1.5) -> dict:
    """``{"rate": rows/s, "batch": b, "rates": {b: rows/s}}`` of ``call(*make(b))``."""
    rates = {}
    for b in sizes:
        args = make(b)
        call(*args)  # warm-up
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds or n < 2:
            call(*args)
            n += 1
        rates[b] = round(n * b / (time.perf_counter() - t0), 1)
    best = max(rates, key=rates.get)
    return {"rate": rates[best], "batch": best, "rates": rates}


# -- science ----------------------------------------------------------------------------------
def regional_record(months: int, seed: int = 0):
    """A ``months``-long monthly record of UWND/VWND on 20 x 24 cells with gaps."""
    import xarray as xr

    from polydiff.masks import cloud_mask
    from polydiff.modalities.science.data import ASSETS

    with xr.open_dataset(ASSETS / "navy_winds_5deg.nc") as ds:
        part = ds.isel(lat=slice(8, 28), lon=slice(20, 44)).load()
    reps = -(-months // part.sizes["time"])
    values = {v: np.concatenate([part[v].values] * reps)[:months] for v in part.data_vars}
    rng = np.random.default_rng(seed)
    shape = next(iter(values.values())).shape
    hidden = (rng.random(shape) < 0.3) | ~cloud_mask(shape, 0.15, rng, periodic=False).numpy()
    dims = ("time", "lat", "lon")
    out = xr.Dataset({v: (dims, np.where(hidden, np.nan, a).astype(np.float32),
                          dict(part[v].attrs)) for v, a in values.items()},
                     coords={"time": ("time", np.arange(months, dtype=np.float64),
                                      {"units": "days since 1982-01-01"}),
                             "lat": part["lat"], "lon": part["lon"]})
    return out


def science_model(record, tmp: Path):
    """The default conditional map model (random weights) on ``record``'s description."""
    from polydiff.modalities.science import FieldData
    from polydiff.training import DiffusionModule

    path = tmp / "record.nc"
    record.to_netcdf(path)
    data = FieldData(str(path), patch=[16, 16], min_observed=0)
    torch.manual_seed(0)
    module = DiffusionModule({"class_path": "polydiff.modalities.science.FieldUNet",
                              "init_args": {"variables": 2, "conditional": True,
                                            "fill_method": "biharmonic"}},
                             sample_shape=list(data.sample_shape), ema_decay=None,
                             imputation={"kinds": ["random"]})
    module.data_info = data.data_info()
    return module.eval()


def bench_impute(a, tmp: Path) -> dict:
    from polydiff.modalities.science import impute

    record = regional_record(a.months)
    module = science_model(record, tmp)
    net = module.net
    shape = module.sample_shape

    def make(b):
        x = torch.randn(b, *shape)
        known = torch.randn(b, *shape)
        mask = torch.rand(b, *shape) > 0.3
        cond = torch.cat([known * mask, mask.float()], 1)
        vec = torch.tensor([[0.0, 37.5, 100.0, 215.0]]).expand(b, 4).contiguous()
        return x, torch.full((b,), 500.0), cond, vec

    @torch.no_grad()
    def call(x, t, cond, vec):
        net(x, t, cond=cond, vector=vec)

    bare = best_rate(call, make, [2 ** k for k in range(11)])
    counter = Counter(net)
    t0 = time.perf_counter()
    out = impute(record, module, n_samples=a.samples, steps=a.steps, calibrate=True,
                 progress=False, **({} if a.batch_size is None else {"batch_size": a.batch_size}))
    seconds = time.perf_counter() - t0
    counter.close()
    rate = counter.rows / seconds
    return {"months": a.months, "grid": list(record["UWND"].shape[1:]),
            "windows": int(out.attrs["polydiff_windows"]), "samples": a.samples,
            "steps": a.steps, "batch_size": a.batch_size, "seconds": round(seconds, 1),
            "evaluations": counter.rows, "network_calls": counter.calls,
            "rate": round(rate, 1), "bare": bare, "ratio": round(rate / bare["rate"], 3)}


# -- audio ------------------------------------------------------------------------------------
def bench_fill_gaps(a) -> dict:
    import yaml

    from polydiff.modalities.audio import ASSETS, fill_gaps, load_audio
    from polydiff.modalities.audio.files import resample
    from polydiff.training import DiffusionModule

    config = yaml.safe_load((Path(ASSETS).parent / "configs" / "gaps.yaml").read_text())
    net_spec = config["model"]["net"]
    clips = sorted((ASSETS / "speech").glob("*.flac"))
    parts = []
    for path in clips:
        audio, rate = load_audio(path)
        parts.append(resample(audio.mean(0, keepdim=True), rate, 16000))
    audio = torch.cat(parts, dim=-1)
    n = int(a.seconds * 16000)
    audio = audio.repeat(1, -(-n // audio.shape[-1]))[:, :n]
    crop = int(config["data"]["init_args"].get("crop", 16000))
    torch.manual_seed(0)
    module = DiffusionModule(net_spec, sample_shape=[1, crop], ema_decay=None,
                             imputation={"kinds": ["blocks"]})
    module.data_info = {"modality": "audio", "writer": "wav",
                        "normalizer": {"shift": [0.0], "scale": [0.1]},
                        "meta": {"sample_rate": 16000, "channels": 1, "crop": crop,
                                 "classes": None, "timing_scale": None},
                        "sample_shape": [1, crop], "num_classes": None}
    module.eval()
    missing = torch.zeros(n, dtype=torch.bool)
    width = 800  # 50 ms
    for start in range(3200, n - width, 6400):
        missing[start:start + width] = True
    net = module.net

    def make(b):
        x = torch.randn(b, 1, crop)
        mask = torch.rand(b, 1, crop) > 0.05
        return x, torch.full((b,), 500.0), torch.cat([x * mask, mask.float()], 1)

    @torch.no_grad()
    def call(x, t, cond):
        net(x, t, cond=cond)

    bare = best_rate(call, make, [2 ** k for k in range(7)])
    counter = Counter(net)
    t0 = time.perf_counter()
    fill_gaps(module, audio, sample_rate=16000, observed=~missing, num=4, steps=a.steps)
    seconds = time.perf_counter() - t0
    counter.close()
    rate = counter.rows / seconds
    return {"seconds_of_audio": a.seconds, "gaps": int(len(range(3200, n - width, 6400))),
            "fills": 4, "steps": a.steps, "window": crop, "seconds": round(seconds, 1),
            "evaluations": counter.rows, "network_calls": counter.calls,
            "rate": round(rate, 1), "bare": bare, "ratio": round(rate / bare["rate"], 3)}


def main() -> None:
    import tempfile

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--months", type=int, default=360)
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--seconds", type=float, default=60.0)
    p.add_argument("--batch-size", type=int, default=None,
                   help="impute's batch size (default: its own)")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--only", choices=["impute", "fill-gaps"], default=None)
    p.add_argument("--out", default=str(RESULTS))
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    record = {"threads": a.threads, "target": TARGET,
              "date": time.strftime("%Y-%m-%d")}
    with tempfile.TemporaryDirectory() as tmp:
        if a.only in (None, "impute"):
            record["impute"] = bench_impute(a, Path(tmp))
            r = record["impute"]
            print(f"impute: {r['evaluations']} evaluations in {r['seconds']} s = {r['rate']}/s; "
                  f"bare network {r['bare']['rate']}/s at batch {r['bare']['batch']}: "
                  f"ratio {r['ratio']} (target >= {TARGET})")
        if a.only in (None, "fill-gaps"):
            record["fill_gaps"] = bench_fill_gaps(a)
            r = record["fill_gaps"]
            print(f"fill-gaps: {r['evaluations']} evaluations in {r['seconds']} s = "
                  f"{r['rate']}/s; bare network {r['bare']['rate']}/s at batch "
                  f"{r['bare']['batch']}: ratio {r['ratio']} (target >= {TARGET})")
    for key in ("impute", "fill_gaps"):
        if key in record:
            record[key]["met"] = record[key]["ratio"] >= TARGET
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    Path(a.out).write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
