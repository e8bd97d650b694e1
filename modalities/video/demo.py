"""``polydiff demo video``: train a class-conditional generator and a conditional frame model
on moving digits, then write generated, predicted, interpolated and extended clips (mp4, GIF,
frame strips), a loss curve and a short report with PSNR/SSIM against the training-free
baselines."""

from __future__ import annotations

import time
from pathlib import Path

__all__ = ["video_demo", "video_module", "frame_module", "frame_net", "demo_data", "DEMO_NET",
           "FRAME_MASKS"]

#: the demo's network (about 0.4M parameters: quick on 2 CPU cores at 8 x 16 x 16)
DEMO_NET = {
    "class_path": "polydiff.modalities.video.unet.VideoUNet",
    "init_args": {"in_channels": 1, "base_channels": 16, "channel_mult": [1, 2, 2],
                  "num_res_blocks": 1, "attention_levels": [-1], "attention_heads": 2,
                  "num_classes": 10, "max_relative_distance": 7},
}


def demo_data(frames: int = 8, batch_size: int = 8, seed: int = 0, test_videos: int = 64,
              labels: bool = True):
    """Moving digits for the CPU demo: the 8x8 digits on a 16x16 canvas, 0.5-1.5 px/frame,
    1024 training videos per epoch (validation every 1024 / batch_size steps)."""
    from .data import MovingDigitsDataModule

    return MovingDigitsDataModule(frames=frames, size=16, digit_size=8, speed=(0.5, 1.5),
                                  train_videos=1024, val_videos=32, test_videos=test_videos,
                                  labels=labels, batch_size=batch_size, seed=seed)


def video_module(seed: int = 0, net: dict | None = None, cond_dropout: float = 0.1):
    """The demo's :class:`~polydiff.training.DiffusionModule` (v-prediction, min-SNR, EMA
    0.995, ``cond_dropout`` conditioning dropout (0 for unconditional ``net``), lr 2e-3 with
    50 warm-up steps); ``net`` defaults to :data:`DEMO_NET`."""
    from polydiff.plugin import DiffusionModule

    return DiffusionModule(net or DEMO_NET, prediction="v", weighting="min_snr", lr=2e-3,
                           warmup_steps=50, ema_decay=0.995, cond_dropout=cond_dropout,
                           seed=seed)


#: training targets of the conditional frame model (core imputation training along time):
#: a suffix of 10-60% of the frames (prediction) or all but every 2nd/3rd/4th frame
#: (interpolation), half the samples each
FRAME_MASKS = {"kinds": ["suffix", "strided"], "missing": [0.1, 0.6], "strides": [2, 3, 4],
               "axis": 0}


def frame_net(net: dict | None = None) -> dict:
    """The spec of a conditional frame model: ``net`` (default :data:`DEMO_NET`) without
    classes, with ``conditional``, the temporal first guess and ``residual`` on, for
    x0-prediction on the default schedule (so an untrained model returns the first guess)."""
    net = net or DEMO_NET
    args = {**net["init_args"], "num_classes": None, "conditional": True, "guess": True,
            "residual": True}
    return {"class_path": net["class_path"], "init_args": args}


def frame_module(seed: int = 0, net: dict | None = None, masks: dict | None = None):
    """A conditional frame model for prediction and interpolation: :func:`frame_net` of
    ``net`` trained with the core's imputation training (targets :data:`FRAME_MASKS` or
    ``masks``), x0-prediction, uniform weighting (the highest noise levels, where the
    conditional mean is learned, count as much as the others; min-SNR gives them almost no
    weight), VPCosine, EMA 0.995, lr 2e-3 with 50 warm-up steps.
    :func:`~.tasks.predict` / :func:`~.tasks.interpolate` give it the known frames."""
    from polydiff.plugin import DiffusionModule

    return DiffusionModule(frame_net(net), prediction="x0", weighting="uniform", lr=2e-3,
                           warmup_steps=50, ema_decay=0.995, seed=seed,
                           imputation=dict(masks or FRAME_MASKS))


def _write_all(x, path: Path, meta: dict) -> list[Path]:
    from .io import write_gif, write_mp4, write_strip

    return [w(x, path, meta) for w in (write_mp4, write_gif, write_strip)]


def _interleave(*videos):
    """Rows ``a_0, b_0, a_1, b_1, ...`` from equally shaped batches (truth above output)."""
    import torch

    return torch.stack(videos, dim=1).flatten(0, 1)


def video_demo(out: str | Path = "polydiff-demo-video", minutes: float = 2.5,
               max_steps: int | None = None, seed: int = 0, steps: int = 20,
               method: str = "dpmpp_2m", guidance_scale: float = 2.0, progress: bool = True,
               batch_size: int = 8, clips: int = 8, frame_share: float = 0.4) -> dict:
    """Train two models on moving digits for ``minutes`` together (or ``max_steps`` each): a
    class-conditional generator (``1 - frame_share`` of the time; 8 frames) and a conditional
    frame model (:func:`frame_module`, ``frame_share``; 9 frames). Then write to ``out``:
    ``samples.*`` (the generator, one clip per class, CFG ``guidance_scale``), ``long.*`` (the
    generator, 16 frames by overlapping continuation), ``predicted.*`` (the frame model on
    held-out clips: truth row above its continuation of the first 5 frames),
    ``interpolated.*`` (every 2nd frame given) and ``interpolated4.*`` (every 4th), each as
    mp4, GIF and frame-strip PNG, plus ``loss.png`` (``frames/loss.png``), ``report.txt``
    (PSNR/SSIM against the baselines) and the checkpoints ``checkpoints/last.ckpt`` (generator) and
    ``frames/checkpoints/last.ckpt`` (frame model). Returns the report as a dict."""
    import lightning.pytorch as pl
    import torch

    from polydiff.plugin import fit_demo, nfe, plot_losses, write_report

    from .evaluate import score, task_outputs
    from .io import write_strip
    from .tasks import extend

    if not 0.0 < frame_share < 1.0:
        raise ValueError(f"frame_share must lie in (0, 1) (the frame model's share of the "
                         f"training time), got {frame_share}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(seed, verbose=False)
    data = demo_data(batch_size=batch_size, seed=0)
    module = video_module(seed)
    trainer, history, train_s = fit_demo(module, data, out, minutes * (1 - frame_share),
                                         max_steps, progress)

    pl.seed_everything(seed, verbose=False)
    frame_data = demo_data(frames=9, batch_size=batch_size, seed=0, labels=False)
    frames = frame_module(seed)
    f_trainer, f_history, frame_s = fit_demo(frames, frame_data, out / "frames",
                                             minutes * frame_share, max_steps, progress)
    meta = data.metadata()
    sample = dict(steps=steps, method=method, seed=seed, progress=progress)

    t1 = time.perf_counter()
    labels = torch.arange(10)
    x = module.sample(10, class_labels=labels, guidance_scale=guidance_scale, **sample)
    files = {"samples": _write_all(module.to_data_units(x), out / "samples",
                                   {**meta, "nrow": 5})}
    held_out = torch.stack([frame_data.test_set[i]["x"] for i in range(clips)])  # data units
    scores = {}
    for name, task, arg in (("predicted", "predict", 4), ("interpolated", "interpolate", 2),
                            ("interpolated4", "interpolate", 4)):
        truth, pred, baselines, missing = task_outputs(frames, held_out, task, arg, **sample)
        files[name] = _write_all(_interleave(truth, pred.clamp(0, 1)), out / name,
                                 {**meta, "nrow": 4})
        _, mean, _, _ = task_outputs(frames, held_out, task, arg, estimate="mean", draws=8,
                                     seed=seed)
        files[f"{name}_mean"] = [write_strip(_interleave(truth, mean.clamp(0, 1)),
                                             out / f"{name}_mean", {**meta, "nrow": 4})]
        scores[f"{task}_{arg}"] = {"model": score(pred, truth, missing),
                                   "model_posterior_mean": score(mean, truth, missing),
                                   **{b: score(v, truth, missing) for b, v in baselines.items()}}
    long = extend(module, total=16, overlap=4, num=4, class_labels=[0, 3, 6, 9],
                  guidance_scale=guidance_scale, **sample)
    files["long"] = _write_all(long, out / "long", {**meta, "nrow": 4})
    sample_s = time.perf_counter() - t1
    loss_png = plot_losses(history, out / "loss.png")
    frame_loss_png = plot_losses(f_history, out / "frames" / "loss.png")

    report = {
        "steps": trainer.global_step, "frame_steps": f_trainer.global_step,
        "epochs": round(trainer.global_step * batch_size / len(data.train_set), 1),
        "train_seconds": round(train_s, 1), "frame_train_seconds": round(frame_s, 1),
        "sample_seconds": round(sample_s, 1),
        "train_loss": history.train[-1][1] if history.train else float("nan"),
        "frame_train_loss": f_history.train[-1][1] if f_history.train else float("nan"),
        "params": sum(p.numel() for p in module.net.parameters()),
        "frame_params": sum(p.numel() for p in frames.net.parameters()),
        "nfe": nfe(method, steps), "scores": scores,
        "files": {k: [str(p) for p in v] for k, v in files.items()},
        "checkpoint": str(out / "checkpoints" / "last.ckpt"),
        "frame_checkpoint": str(out / "frames" / "checkpoints" / "last.ckpt"),
    }

    def line(task: str, base: str) -> str:
        m, pm, b = (scores[task][k] for k in ("model", "model_posterior_mean", base))
        return (f"{task:14s} sample PSNR {m['psnr']:.2f} dB, SSIM {m['ssim']:.3f} | posterior "
                f"mean {pm['psnr']:.2f} dB, {pm['ssim']:.3f} | {base} {b['psnr']:.2f} dB, "
                f"{b['ssim']:.3f}")

    threads = torch.get_num_threads()
    lines = [
        "polydiff demo video: moving digits (16x16 canvas, scikit-learn digits)",
        f"generator:    class-conditional VideoUNet, {report['params']:,} parameters (per-frame "
        f"2-D U-Net + temporal conv/attention), v-prediction, min-SNR, VPCosine, EMA 0.995; "
        f"{report['steps']} steps (batch {batch_size}, ~{report['epochs']} epochs of 8 frames) "
        f"in {report['train_seconds']} s on {threads} CPU thread(s)",
        f"frame model:  conditional VideoUNet ([known frames, mask] + temporal first guess "
        f"in, residual from it out), {report['frame_params']:,} parameters, x0-prediction, "
        f"uniform weighting, "
        f"imputation training (suffix / every 2nd-4th frame given); "
        f"{report['frame_steps']} steps in {report['frame_train_seconds']} s (9 frames)",
        f"sampler:      {method}, {steps} steps ({report['nfe']} evaluations), CFG "
        f"{guidance_scale} for generation; {report['sample_seconds']} s for all the clips",
        f"held-out:     {clips} test clips (digits never seen in training), missing frames only: "
        f"one sample each, and the posterior mean (the frame model at the highest noise "
        f"level, averaged over 8 draws; *_mean.png):",
        "  " + line("predict_4", "repeat_last"),
        "  " + line("interpolate_2", "linear_blend"),
        "  " + line("interpolate_4", "linear_blend"),
        f"samples:      {files['samples'][0]} (+ .gif, .png frame strip; one clip per class)",
        f"predicted:    {files['predicted'][0]} (rows: truth, then the frame model from 5 "
        f"frames)",
        f"interpolated: {files['interpolated'][0]}, {files['interpolated4'][0]} (rows: truth, "
        f"then every 2nd / 4th frame given)",
        f"long:         {files['long'][0]} (16 frames, windows of 8 overlapping by 4)",
        f"loss curves:  {loss_png} (generator), {frame_loss_png} (frame model)",
        f"checkpoints:  {report['checkpoint']} (polydiff sample --checkpoint ...), "
        f"{report['frame_checkpoint']} (polydiff sample --checkpoint ... --known clip.mp4)",
    ]
    write_report(out, lines)
    return report
