"""Audio: training speed of the waveform U-Net against audio-diffusion-pytorch's UNetV0 and
diffusers' UNet1DModel; gap filling of held-out speech against zeros, linear interpolation and
LPC; FAD-like distance of generated speech.

    pip install --no-deps audio-diffusion-pytorch a-unet      # the speed anchors (diffusers too)
    apt-get install -y --no-install-recommends klettres-data  # held-out voices (GPL: not bundled)
    flock /tmp/polydiff-heavy.lock python benchmarks/audio.py [--parts speed gaps]
        [--train-minutes 12] [--threads 2] [--work /tmp/polydiff-audio-bench] [--reuse]

**speed**: one training step (forward, MSE loss, backward, AdamW) on ``(8, 1, 16384)`` in a fresh
subprocess per run (peak RSS = VmHWM; "+MB" its growth over the process after building the
network and optimiser); the three networks alternate, ``--repeats`` runs each, best time; ratios
against UNetV0. Parameter counts are printed: all three are sized to 7.5-8.7M.

**gaps**: two models trained for ``--train-minutes`` each on the bundled pocketsphinx speech plus
the klettres-data voices of every language but en, fr and de (16 kHz mono, 8192-sample crops,
every file scaled to RMS 0.05; AudioFolder skips and reports klettres' 29 files whose header
claims 128 kHz and the ones that decode far beyond full scale): an imputation
model (``DiffusionModule(imputation=...)``: CSDI-style gaps of up to 150 ms drawn inside the
observed audio, conditioned on [known, mask]) and an unconditional model (gaps filled by
``guidance.inpaint``). Test: ``--windows`` 8192-sample windows of the held-out en/fr/de voices
(speakers never seen), centred on active frames, with one gap of 20, 50 or 100 ms in the middle;
the same windows for every method; dpmpp_2m, 20 steps, fixed seeds. Scores over the gap: LSD (dB,
STFT frames touching the gap), SNR (dB), multi-resolution STFT distance.

**generation**: FAD-like (Fréchet distance of log-mel frame statistics; see
``polydiff.modalities.audio.metrics``) of up to 64 clips from the unconditional model to as
many held-out windows, with training windows and white noise (speech RMS) as reference points.

**mel**: the spectrogram path's floor: exact log-mels of the bundled speech turned back into
sound by least-squares mel inversion + Griffin-Lim (8, 32, 128 iterations), scored against the
recordings.

Prints tables and writes ``benchmarks/results/audio_speed.json`` / ``audio_gaps.json`` /
``audio_mel.json``; it asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
KLETTRES = Path("/usr/share/klettres")
HELD_OUT_LANGUAGES = ("en", "fr", "de")
CROP = 8192
GAPS_MS = (20, 50, 100)
LEVEL = 0.05  # every recording scaled to this RMS (training and held-out alike)

#: the three networks of the speed part (all about 8M parameters)
SPEED_NETS = {
    "polydiff AudioUNet": "AudioUNet()  # channels (32, 64, 128, 256, 256), factors (4, 4, 2, 2), "
                          "patch 4, 2 blocks per level, attention at the last two levels",
    "a-unet UNetV0": "UNetV0(dim=1, in_channels=1, channels=[8, 32, 64, 128, 192, 256], "
                     "factors=[1, 4, 4, 4, 2, 2], items=[1, 2, 2, 2, 2, 2], "
                     "attentions=[0, 0, 0, 0, 1, 1], attention_heads=8, attention_features=64, "
                     "modulation_features=256)",
    "diffusers UNet1DModel": "UNet1DModel(block_out_channels=(32, 32, 64, 64, 128, 128, 128, "
                             "160), DownBlock1DNoSkip + 5 DownBlock1D + 2 AttnDownBlock1D, "
                             "fourier time features (16) as extra input channels)",
}

SPEED_CHILD = r"""
import json, resource, sys, time
import torch
kind, steps, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
torch.set_num_threads(threads)
torch.manual_seed(0)
if kind == "polydiff AudioUNet":
    from polydiff.modalities.audio import AudioUNet
    net = AudioUNet()
    for p in net.out_conv.parameters():  # leave the zero-initialised output layer's exact 0
        torch.nn.init.normal_(p, std=0.01)
    call = lambda x, t: net(x, t)
elif kind == "a-unet UNetV0":
    from audio_diffusion_pytorch import UNetV0
    net = UNetV0(dim=1, in_channels=1, channels=[8, 32, 64, 128, 192, 256],
                 factors=[1, 4, 4, 4, 2, 2], items=[1, 2, 2, 2, 2, 2],
                 attentions=[0, 0, 0, 0, 1, 1], attention_heads=8, attention_features=64,
                 modulation_features=256)
    call = lambda x, t: net(x, time=t)
else:
    from diffusers import UNet1DModel
    down = ["DownBlock1DNoSkip"] + ["DownBlock1D"] * 5 + ["AttnDownBlock1D"] * 2
    up = ["AttnUpBlock1D"] * 2 + ["UpBlock1D"] * 5 + ["UpBlock1DNoSkip"]
    net = UNet1DModel(sample_size=16384, in_channels=1, out_channels=1, extra_in_channels=16,
                      time_embedding_type="fourier", time_embedding_dim=16,
                      flip_sin_to_cos=True, use_timestep_embedding=False,
                      block_out_channels=(32, 32, 64, 64, 128, 128, 128, 160),
                      down_block_types=tuple(down), up_block_types=tuple(up),
                      mid_block_type="UNetMidBlock1D", act_fn=None, layers_per_block=1,
                      downsample_each_block=False)
    call = lambda x, t: net(x, t).sample
opt = torch.optim.AdamW(net.parameters(), lr=1e-4)
x, target = torch.randn(8, 1, 16384), torch.randn(8, 1, 16384)
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
def step():
    loss = (call(x, torch.rand(8)) - target).square().mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
base = rss()
step()  # warm-up (allocates gradients and AdamW state)
times = []
for _ in range(steps):
    t0 = time.perf_counter()
    step()
    times.append(time.perf_counter() - t0)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"seconds": min(times), "median": sorted(times)[len(times) // 2],
                  "peak_mb": peak, "grow_mb": peak - base,
                  "params": sum(p.numel() for p in net.parameters())}))
"""


def speed(a: argparse.Namespace) -> dict:
    """Alternating fresh-process runs of each network; best time per network."""
    runs: dict[str, list[dict]] = {k: [] for k in SPEED_NETS}
    for _ in range(a.repeats):
        for kind in runs:  # alternate: this machine is noisy
            out = subprocess.run([sys.executable, "-c", SPEED_CHILD, kind, str(a.steps),
                                  str(a.threads)], capture_output=True, text=True, check=True,
                                 cwd=ROOT)
            runs[kind].append(json.loads(out.stdout.strip().splitlines()[-1]))
    best = {k: min(v, key=lambda r: r["seconds"]) for k, v in runs.items()}
    anchor = best["a-unet UNetV0"]
    print(f"\ntraining step on (8, 1, 16384), {a.threads} threads, best of {a.repeats} runs x "
          f"{a.steps} steps")
    print(f"{'network':24s} {'params':>10s} {'s/step':>7s} {'samples/s':>9s} {'vs UNetV0':>9s} "
          f"{'peak MB':>8s} {'+MB':>7s}")
    for k, r in best.items():
        r["samples_per_s"] = 8 / r["seconds"]
        r["speed_vs_unetv0"] = anchor["seconds"] / r["seconds"]
        print(f"{k:24s} {r['params']:10,d} {r['seconds']:7.3f} {r['samples_per_s']:9.2f} "
              f"{r['speed_vs_unetv0']:8.2f}x {r['peak_mb']:8.0f} {r['grow_mb']:7.0f}")
    ours = best["polydiff AudioUNet"]
    target = {"speed_ratio": ours["speed_vs_unetv0"],
              "params_ratio": ours["params"] / anchor["params"],
              "peak_ratio": ours["peak_mb"] / anchor["peak_mb"],
              "grow_ratio": ours["grow_mb"] / anchor["grow_mb"]}
    target["met"] = (target["speed_ratio"] >= 1.0 and target["params_ratio"] <= 1.0
                     and target["peak_ratio"] <= 1.0)
    print(f"AudioUNet vs UNetV0: {target['speed_ratio']:.2f}x samples/s, "
          f"{target['params_ratio']:.2f}x params, {target['peak_ratio']:.2f}x peak RSS "
          f"({target['grow_ratio']:.2f}x growth); target (>= 1x at no more params and peak "
          f"memory) {'met' if target['met'] else 'NOT met'}")
    return {"networks": SPEED_NETS, "best": best, "runs": runs, "target": target}


# -- gap filling and generation ----------------------------------------------------------------
def split_voices(work: Path) -> tuple[Path, Path]:
    """Symlink folders ``train/`` (bundled speech + klettres voices of the other languages) and
    ``test/`` (klettres en, fr, de)."""
    from polydiff.modalities.audio import ASSETS

    if not KLETTRES.is_dir():
        raise SystemExit(f"{KLETTRES} not found: apt-get install -y --no-install-recommends "
                         f"klettres-data")
    train, test = work / "voices" / "train", work / "voices" / "test"
    if train.is_dir() and test.is_dir():
        return train, test
    for folder in (train, test):
        folder.mkdir(parents=True, exist_ok=True)
    for f in sorted(KLETTRES.glob("*/*/*.ogg")):
        lang = f.relative_to(KLETTRES).parts[0]
        dest = test if lang in HELD_OUT_LANGUAGES else train
        (dest / f"{lang}_{f.parent.name}_{f.name}").symlink_to(f)
    for f in sorted((ASSETS / "speech").glob("*.flac")):
        (train / f"sphinx_{f.name}").symlink_to(f)
    return train, test


GAP_NET = {"class_path": "polydiff.modalities.audio.AudioUNet",
           "init_args": {"channels": [32, 64, 128, 256], "factors": [4, 4, 2],
                         "blocks": [1, 2, 2, 2], "patch": 4, "attention_levels": [-2, -1]}}


def train(kind: str, data, minutes: float, work: Path, reuse: bool):
    """Train (or, with ``reuse``, load) the ``imputation`` or ``generative`` model."""
    import lightning.pytorch as pl

    from polydiff.modalities.audio import load_audio_model
    from polydiff.training import DiffusionModule

    ckpt = work / f"{kind}.ckpt"
    if reuse and ckpt.is_file():
        module = load_audio_model(ckpt)
        return module, json.loads((work / f"{kind}.json").read_text())
    pl.seed_everything(0, verbose=False)
    net = json.loads(json.dumps(GAP_NET))
    options = {}
    if kind == "imputation":
        net["init_args"]["cond_channels"] = 2
        options["imputation"] = {"kinds": ["blocks"], "missing": [0.02, 0.3],
                                 "max_block": [2400]}
    module = DiffusionModule(net, prediction="v", weighting="min_snr", lr=1e-3,
                             warmup_steps=100, ema_decay=0.999, seed=0, **options)
    trainer = pl.Trainer(accelerator="cpu", devices=1, max_time={"minutes": minutes},
                         max_epochs=-1, gradient_clip_val=1.0, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False,
                         enable_model_summary=False, limit_val_batches=0,
                         default_root_dir=work)
    t0 = time.perf_counter()
    trainer.fit(module, data)
    info = {"steps": trainer.global_step, "seconds": round(time.perf_counter() - t0, 1),
            "batch_size": data.batch_size, "crop": CROP,
            "params": sum(p.numel() for p in module.net.parameters()), "options": options}
    trainer.save_checkpoint(ckpt, weights_only=False)
    (work / f"{kind}.json").write_text(json.dumps(info))
    return module.eval(), info


def windows(clips, count: int, seed: int):
    """``(count, 1, CROP)`` windows of clips at least CROP long, centred on active frames
    (256-sample frames with at least a tenth of the clip's loudest frame energy)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    long = [c for c in clips if c.audio.shape[-1] >= CROP]
    out = []
    for _ in range(count):
        clip = long[int(torch.randint(len(long), (), generator=g))].audio
        n = clip.shape[-1] // 256 * 256
        energy = clip[0, :n].reshape(-1, 256).pow(2).mean(1)
        voiced = (energy >= 0.1 * energy.max()).nonzero().flatten()
        f = int(voiced[int(torch.randint(len(voiced), (), generator=g))])
        centre = min(max(f * 256 + 128, CROP // 2), clip.shape[-1] - CROP // 2)
        out.append(clip[:, centre - CROP // 2:centre + CROP // 2])
    return torch.stack(out)


def gaps(a: argparse.Namespace) -> dict:
    import torch

    from polydiff.modalities.audio import AudioFolder, baselines, fill_gaps, metrics

    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    train_dir, test_dir = split_voices(work)
    data = AudioFolder(train_dir, crop=CROP, labels="none", batch_size=a.batch_size,
                       val_fraction=0.0, seed=0, level=LEVEL,
                       report_file=work / "train_report.txt")
    test = AudioFolder(test_dir, crop=CROP, labels="none", val_fraction=0.0, level=LEVEL,
                       report_file=work / "test_report.txt")
    test.setup()
    data.setup()
    skipped = [f"{p.name}: {why}" for p, why in data.report.skipped + test.report.skipped]
    minutes = sum(c.seconds for c in data.train_set.clips) / 60
    print(f"voices: {data.report.kept} training files ({minutes:.1f} min), "
          f"{test.report.kept} held-out ({', '.join(HELD_OUT_LANGUAGES)}); skipped "
          f"{len(skipped)} (e.g. {skipped[0] if skipped else '-'})")
    models = {}
    for kind in a.gap_models:
        models[kind], info = train(kind, data, a.train_minutes, work, a.reuse)
        print(f"model {kind}: {info['steps']} steps in {info['seconds']} s ({info['params']:,} "
              f"parameters, batch {info['batch_size']} x {CROP} samples)")
        models[kind].train_info = info
    cases = windows(test.train_set.clips, a.windows, seed=1)
    methods = ["zeros", "linear", "lpc"] + [f"model ({k})" for k in models]
    table: dict[str, dict[str, dict[str, float]]] = {}
    t0 = time.perf_counter()
    for ms in GAPS_MS:
        width = round(ms * 16000 / 1000)
        observed = torch.ones(CROP, dtype=torch.bool)
        observed[CROP // 2 - width // 2:CROP // 2 - width // 2 + width] = False
        scores = {m: {"lsd": [], "snr": [], "mrstft": []} for m in methods}
        for k, window in enumerate(cases):
            fills = {"zeros": baselines.fill_zeros(window, observed),
                     "linear": baselines.fill_linear(window, observed),
                     "lpc": baselines.fill_lpc(window, observed, order=32, context=1024)}
            for kind, module in models.items():
                fills[f"model ({kind})"] = fill_gaps(module, window, sample_rate=16000,
                                                     observed=observed, steps=20,
                                                     seed=1000 * ms + k)[0]
            for m, fill in fills.items():
                scores[m]["lsd"].append(float(metrics.lsd(fill, window, observed[None])))
                scores[m]["snr"].append(float(metrics.gap_snr(fill, window, observed)))
                scores[m]["mrstft"].append(float(metrics.multi_resolution_stft(
                    fill, window, observed[None])))
        table[f"{ms} ms"] = {m: {k: _mean_se(v) for k, v in s.items()} for m, s in
                             scores.items()}
    print(f"\ngap filling, {a.windows} held-out windows per gap length "
          f"({time.perf_counter() - t0:.0f} s); mean +- standard error")
    print(f"{'gap':>7s} {'method':22s} {'LSD dB':>14s} {'SNR dB':>14s} {'MR-STFT':>14s}")
    for gap, rows in table.items():
        for m, r in rows.items():
            print(f"{gap:>7s} {m:22s} " + " ".join(
                f"{r[k]['mean']:8.2f}+-{r[k]['se']:4.2f}" for k in ("lsd", "snr", "mrstft")))
    model_rows = [m for m in methods if m.startswith("model")]
    target = {}
    for gap in ("50 ms", "100 ms"):
        best_baseline = min(table[gap][m]["lsd"]["mean"] for m in ("zeros", "linear", "lpc"))
        target[gap] = {m: table[gap][m]["lsd"]["mean"] < best_baseline for m in model_rows}
    print(f"target (lower LSD than every baseline at 50 and 100 ms): {target}")
    result = {"table": table, "target": target, "windows": a.windows,
              "held_out_languages": HELD_OUT_LANGUAGES, "skipped_files": skipped,
              "models": {k: m.train_info for k, m in models.items()}}
    if "generative" in models:
        result["generation"] = generation(models["generative"], data, cases, a)
    return result


def _mean_se(v: list[float]) -> dict[str, float]:
    m = sum(v) / len(v)
    var = sum((x - m) ** 2 for x in v) / max(1, len(v) - 1)
    return {"mean": m, "se": math.sqrt(var / len(v))}


def generation(module, data, held_out, a: argparse.Namespace) -> dict:
    import torch

    from polydiff.modalities.audio import generate, metrics

    n = min(64, held_out.shape[0])
    reference = held_out[:n]
    t0 = time.perf_counter()
    generated = generate(module, n, steps=20, seed=7)
    training = windows(data.train_set.clips, n, seed=2)
    rms = float(reference.pow(2).mean().sqrt())
    noise = rms * torch.randn(n, 1, CROP, generator=torch.Generator().manual_seed(3))
    fad = {"generated": metrics.fad_like(generated, reference, 16000),
           "training windows": metrics.fad_like(training, reference, 16000),
           "white noise": metrics.fad_like(noise, reference, 16000)}
    fad = {k: float(v) for k, v in fad.items()}
    print(f"\nFAD-like to {n} held-out windows ({time.perf_counter() - t0:.0f} s; lower = "
          f"closer): " + ", ".join(f"{k} {v:.1f}" for k, v in fad.items()))
    return {"fad_like_to_held_out": fad, "clips": n, "sampler": "dpmpp_2m, 20 steps"}


def mel_round_trip(a: argparse.Namespace) -> dict:
    """The spectrogram path's floor: exact log-mels of the bundled speech back to sound by
    least-squares mel inversion + Griffin-Lim (what ``write_mel`` does to generated ones)."""
    import torch

    from polydiff.modalities.audio import ASSETS, LogMel, load_audio, metrics

    rows = []
    for iters in (8, 32, 128):
        mel = LogMel(griffin_lim_iters=iters)
        scores = {"lsd": [], "mrstft": [], "snr": []}
        for f in sorted((ASSETS / "speech").glob("*.flac")):
            x, _ = load_audio(f)
            x = x[:, : x.shape[-1] // mel.hop * mel.hop]
            y = mel.inverse(mel(x), x.shape[-1], generator=torch.Generator().manual_seed(0))
            none_known = torch.zeros(x.shape[-1], dtype=torch.bool)  # score every sample
            scores["lsd"].append(float(metrics.lsd(y, x)))
            scores["mrstft"].append(float(metrics.multi_resolution_stft(y, x)))
            scores["snr"].append(float(metrics.gap_snr(y, x, none_known)))
        rows.append({"griffin_lim_iters": iters, **{k: _mean_se(v) for k, v in scores.items()}})
    print("\nlog-mel (64 bands, n_fft 512, hop 128) -> mel inversion + Griffin-Lim, bundled speech")
    print(f"{'iterations':>10s} {'LSD dB':>14s} {'MR-STFT':>14s} {'SNR dB':>14s}")
    for r in rows:
        print(f"{r['griffin_lim_iters']:10d} " + " ".join(
            f"{r[k]['mean']:8.2f}+-{r[k]['se']:4.2f}" for k in ("lsd", "mrstft", "snr")))
    return {"mel_round_trip": rows}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--parts", nargs="+", default=["speed", "gaps", "mel"],
                   choices=["speed", "gaps", "mel"])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", type=int, default=3, help="timed steps per speed run")
    p.add_argument("--train-minutes", type=float, default=12.0, help="per gap model")
    p.add_argument("--gap-models", nargs="+", default=["imputation", "generative"],
                   choices=["imputation", "generative"])
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--windows", type=int, default=48, help="held-out windows per gap length")
    p.add_argument("--work", default="/tmp/polydiff-audio-bench")
    p.add_argument("--reuse", action="store_true", help="load trained models from --work")
    a = p.parse_args()
    import torch

    torch.set_num_threads(a.threads)
    stamp = {"date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
             "args": vars(a), "torch": torch.__version__}
    RESULTS.mkdir(parents=True, exist_ok=True)
    if "speed" in a.parts:
        (RESULTS / "audio_speed.json").write_text(
            json.dumps({**stamp, **speed(a)}, indent=1) + "\n")
    if "mel" in a.parts:
        (RESULTS / "audio_mel.json").write_text(
            json.dumps({**stamp, **mel_round_trip(a)}, indent=1) + "\n")
    if "gaps" in a.parts:
        (RESULTS / "audio_gaps.json").write_text(
            json.dumps({**stamp, **gaps(a)}, indent=1) + "\n")


if __name__ == "__main__":
    main()
