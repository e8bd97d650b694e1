"""``polydiff demo audio``: train one class-conditional waveform model on the bundled clips
(kick, snare, cymbal, tabla and speech), then write generated clips, gap fills of speech the
model never saw (with the original, the gapped input and an LPC fill beside them), spectrogram
PNGs, a loss curve and a report with the audio metrics."""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path

__all__ = ["DEMO_NET", "HELD_OUT", "audio_demo", "demo_clips"]

#: the demo's network (about 1.2M parameters)
DEMO_NET = {
    "class_path": "polydiff.modalities.audio.unet.AudioUNet",
    "init_args": {"in_channels": 1, "channels": [16, 32, 64, 128], "factors": [4, 4, 2],
                  "blocks": [1, 2, 2, 2], "patch": 4, "attention_levels": [-2, -1],
                  "num_classes": 5},
}
#: speech clips kept out of training (the gap-filling inputs): short name -> bundled file
HELD_OUT = {"librivox-0930": "librivox_sense_and_sensibility_01_austen_64kb-0930.flac",
            "cards-005": "cards_005.flac"}
CROP = 4096          # 0.256 s at 16 kHz
GAP_MS = 50.0


def demo_clips(folder: Path) -> Path:
    """Link the bundled clips into ``folder/<class>/``: the four drum classes and ``speech``
    (without :data:`HELD_OUT`). Returns ``folder``."""
    from . import ASSETS

    for d in sorted((ASSETS / "drums").iterdir()):
        (folder / d.name).mkdir(parents=True, exist_ok=True)
        for f in sorted(d.glob("*.flac")):
            (folder / d.name / f.name).symlink_to(f)
    (folder / "speech").mkdir(parents=True, exist_ok=True)
    for f in sorted((ASSETS / "speech").glob("*.flac")):
        if f.name not in HELD_OUT.values():
            (folder / "speech" / f.name).symlink_to(f)
    return folder


def _gap_cases(seed: int, rate: int):
    """``(clip name, window (1, CROP), observed (CROP,))``: four windows of each held-out clip
    centred on loud (voiced) frames, each with one ``GAP_MS`` gap (``observed`` False) in its
    middle."""
    import torch

    from . import ASSETS
    from .files import load_audio

    g = torch.Generator().manual_seed(seed)
    gap = round(GAP_MS * rate / 1000)
    cases = []
    for name, file in HELD_OUT.items():
        audio, _ = load_audio(ASSETS / "speech" / file)
        n = audio.shape[-1]
        frames = audio[0, : n // 256 * 256].reshape(-1, 256).pow(2).mean(1)
        loud = (frames > frames.quantile(0.7)).nonzero().flatten()
        picks = loud[torch.randperm(len(loud), generator=g)[:4]].tolist()
        for f in picks:
            centre = min(max(f * 256 + 128, CROP // 2), n - CROP // 2)
            window = audio[:, centre - CROP // 2: centre + CROP // 2]
            observed = torch.ones(CROP, dtype=torch.bool)
            observed[CROP // 2 - gap // 2: CROP // 2 - gap // 2 + gap] = False
            cases.append((name, window, observed))
    return cases


def audio_demo(out: str | Path = "polydiff-demo-audio", minutes: float = 2.0,
               max_steps: int | None = None, seed: int = 0, steps: int = 20,
               method: str = "dpmpp_2m", guidance_scale: float = 2.0,
               progress: bool = True, batch_size: int = 16) -> dict:
    """Train for ``minutes`` (or ``max_steps``), then write to ``out``: ``generated/`` (two
    clips per class, CFG ``guidance_scale``; ``generated.png``), ``gap_filling/`` (for each
    held-out speech window: original, gapped, model fill and LPC fill WAVs;
    ``gap_filling.png``), ``loss.png``, ``report.txt`` and ``checkpoints/last.ckpt``. Returns the
    report as a dict."""
    import lightning.pytorch as pl
    import torch

    from polydiff.plugin import DiffusionModule, fit_demo, nfe, plot_losses, write_report

    from . import baselines, metrics
    from .data import AudioFolder
    from .io import plot_spectrograms, save_wav
    from .spectrogram import LogMel
    from .tasks import fill_gaps, generate

    t_start = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(seed, verbose=False)
    with tempfile.TemporaryDirectory(prefix="polydiff-audio-demo-") as tmp:
        data = AudioFolder(demo_clips(Path(tmp)), crop=CROP, batch_size=batch_size,
                           val_fraction=0.1, seed=seed)
        data.setup()
        module = DiffusionModule(DEMO_NET, prediction="v", weighting="min_snr", lr=2e-3,
                                 warmup_steps=50, ema_decay=0.995, cond_dropout=0.1, seed=seed)
        trainer, history, train_s = fit_demo(module, data, out, minutes, max_steps, progress)
        train_crops = torch.stack([data.train_set[i]["x"] for i in range(len(data.train_set))])
        train_labels = [data.train_set.clips[k].label for k, _ in data.train_set.index]
    classes = data.classes
    rate = data.rate
    module.eval()

    # -- generation ------------------------------------------------------------------------
    t1 = time.perf_counter()
    labels = torch.arange(len(classes)).repeat_interleave(2)
    gen = generate(module, len(labels), class_label=labels, guidance_scale=guidance_scale,
                   steps=steps, method=method, seed=seed)
    gen_s = time.perf_counter() - t1
    names = [f"{classes[k]}_{i % 2}" for i, k in enumerate(labels.tolist())]
    for name, clip in zip(names, gen, strict=True):
        save_wav(clip, out / "generated" / f"{name}.wav", rate)
    mel = LogMel(sample_rate=rate)
    db = 10 / math.log(10)
    plot_spectrograms(mel(gen[:, 0]) * db, CROP / rate, out / "generated", names)

    drums = [k for k, c in enumerate(classes) if c != "speech"]
    gen_drums = gen[torch.isin(labels, torch.tensor(drums))]
    is_drum = torch.tensor([lbl in drums for lbl in train_labels])
    ref = train_crops[is_drum]
    half = ref.shape[0] // 2
    fad = {"generated drums vs training drums": metrics.fad_like(gen_drums, ref, rate),
           "training drums (half vs half)": metrics.fad_like(ref[:half], ref[half:], rate),
           "white noise vs training drums": metrics.fad_like(
               0.1 * torch.randn(gen_drums.shape, generator=torch.Generator().manual_seed(seed)),
               ref, rate)}

    # -- gap filling on held-out speech -----------------------------------------------------
    t2 = time.perf_counter()
    speech = classes.index("speech")
    scores: dict[str, dict[str, list[float]]] = {}
    shown = []
    for k, (name, window, observed) in enumerate(_gap_cases(seed, rate)):
        fills = {
            "model": fill_gaps(module, window, sample_rate=rate, observed=observed,
                               class_label=speech, steps=steps, method=method,
                               seed=seed + k)[0],
            "zeros": baselines.fill_zeros(window, observed),
            "linear": baselines.fill_linear(window, observed),
            "lpc": baselines.fill_lpc(window, observed),
        }
        for method_name, fill in fills.items():
            s = scores.setdefault(method_name, {"lsd": [], "snr": [], "mrstft": []})
            s["lsd"].append(float(metrics.lsd(fill, window, observed[None])))
            s["snr"].append(float(metrics.gap_snr(fill, window, observed)))
            s["mrstft"].append(float(metrics.multi_resolution_stft(fill, window,
                                                                    observed[None])))
        if k % 4 == 0:  # the first window of each clip is written out
            stem = out / "gap_filling" / name
            save_wav(window, f"{stem}_original.wav", rate)
            save_wav(fills["zeros"], f"{stem}_gapped.wav", rate)
            save_wav(fills["model"], f"{stem}_filled.wav", rate)
            save_wav(fills["lpc"], f"{stem}_lpc.wav", rate)
            shown += [(f"{name} {what}", x) for what, x in
                      (("original", window), ("gapped", fills["zeros"]),
                       ("model fill", fills["model"]), ("LPC fill", fills["lpc"]))]
    fill_s = time.perf_counter() - t2
    plot_spectrograms(mel(torch.stack([x[0] for _, x in shown])) * db, CROP / rate,
                      out / "gap_filling", [t for t, _ in shown])
    loss_png = plot_losses(history, out / "loss.png")

    mean = {m: {k: sum(v) / len(v) for k, v in s.items()} for m, s in scores.items()}
    report = {
        "steps": trainer.global_step, "train_seconds": round(train_s, 1),
        "generate_seconds": round(gen_s, 1), "gap_fill_seconds": round(fill_s, 1),
        "total_seconds": round(time.perf_counter() - t_start, 1),
        "params": sum(p.numel() for p in module.net.parameters()),
        "classes": classes, "gap_ms": GAP_MS, "gap_cases": len(scores["model"]["lsd"]),
        "gap_filling": mean, "fad_like": {k: float(v) for k, v in fad.items()},
        "train_loss": history.train[-1][1] if history.train else float("nan"),
        "val_loss": history.val[-1][1] if history.val else float("nan"),
        "nfe": nfe(method, steps), "checkpoint": str(out / "checkpoints" / "last.ckpt"),
    }
    lines = [
        "polydiff demo audio: one class-conditional waveform model on the bundled clips",
        f"data:         {len(data.train_set.clips)} training clips ({', '.join(classes)}), "
        f"{rate} Hz mono, {CROP}-sample crops ({CROP / rate:.3f} s); speech "
        f"{', '.join(HELD_OUT)} held out",
        f"network:      AudioUNet, {report['params']:,} parameters, v-prediction, min-SNR, "
        f"VPCosine, EMA 0.995, 10% class dropout",
        f"training:     {report['steps']} steps (batch {batch_size}) in {report['train_seconds']} "
        f"s on {torch.get_num_threads()} CPU thread(s); train loss {report['train_loss']:.4f}, "
        f"val loss {report['val_loss']:.4f}",
        f"generated:    {len(names)} clips (2 per class, CFG {guidance_scale}, {method} "
        f"{steps} steps, {report['nfe']} evaluations) in {report['generate_seconds']} s -> "
        f"{out / 'generated'}/, generated.png",
        f"gap filling:  {report['gap_cases']} windows of held-out speech, one {GAP_MS:.0f} ms "
        f"gap each, in {report['gap_fill_seconds']} s -> {out / 'gap_filling'}/ (original, "
        f"gapped, filled, lpc), gap_filling.png",
        "              method   LSD dB (lower)  SNR dB (higher)  MR-STFT (lower)",
    ]
    for m, v in mean.items():
        lines.append(f"              {m:<8} {v['lsd']:>14.2f}  {v['snr']:>15.2f}  "
                     f"{v['mrstft']:>15.3f}")
    lines.append("FAD-like:     (Frechet distance of log-mel frame statistics; not FAD, lower = "
                 "closer)")
    lines += [f"              {k}: {float(v):.1f}" for k, v in fad.items()]
    lines += [f"loss curve:   {loss_png}",
              f"checkpoint:   {report['checkpoint']} (polydiff sample --checkpoint ...)",
              f"total time:   {report['total_seconds']} s"]
    write_report(out, lines)
    return report
