"""What every ``polydiff demo MODALITY`` shares: a CPU trainer with a time budget, the loss
history and its plot, and the report file. Each modality's demo (declared in its
:class:`~polydiff.modality.Modality`) builds on these."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

__all__ = ["demo_trainer", "fit_demo", "plot_losses", "write_report"]


def plot_losses(history, path: Path) -> Path:
    """Train loss per step (raw and a running mean) and validation loss, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if history.train:
        steps, losses = map(np.asarray, zip(*history.train, strict=True))
        ax.plot(steps, losses, color="0.8", lw=0.8, label="train loss (batch)")
        k = max(1, len(losses) // 30)
        smooth = np.convolve(losses, np.ones(k) / k, mode="valid")
        ax.plot(steps[k - 1:], smooth, color="C0", label=f"train loss (mean of {k})")
    if history.val:
        vs, vl, _ = map(np.asarray, zip(*history.val, strict=True))
        ax.plot(vs, vl, "o-", color="C1", label="val loss (fixed t and noise, EMA)")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def demo_trainer(out: Path, minutes: float, max_steps: int | None, progress: bool,
                 callbacks: Sequence = ()):
    """``(trainer, history)``: a 1-device CPU ``Trainer`` that stops after ``minutes`` (or
    ``max_steps``), logs CSV to ``out/logs``, keeps ``out/checkpoints/last.ckpt`` and records
    the losses in ``history`` (:class:`~polydiff.training.LossHistory`)."""
    import lightning.pytorch as pl
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger

    from .callbacks import LossHistory

    history = LossHistory()
    trainer = pl.Trainer(
        accelerator="cpu", devices=1, max_time={"minutes": minutes},
        max_steps=max_steps if max_steps is not None else -1, max_epochs=-1,
        gradient_clip_val=1.0, logger=CSVLogger(out, name="logs"), log_every_n_steps=10,
        callbacks=[ModelCheckpoint(dirpath=out / "checkpoints", save_last=True), history,
                   *callbacks],
        enable_progress_bar=progress, enable_model_summary=False, num_sanity_val_steps=0,
        default_root_dir=out,
    )
    return trainer, history


def fit_demo(module, data, out: Path, minutes: float, max_steps: int | None,
             progress: bool, callbacks: Sequence = ()):
    """Train ``module`` on ``data`` with :func:`demo_trainer` and save
    ``out/checkpoints/last.ckpt`` at the end: ``(trainer, history, training seconds)``."""
    import time

    trainer, history = demo_trainer(out, minutes, max_steps, progress, callbacks)
    t0 = time.perf_counter()
    trainer.fit(module, data)
    seconds = time.perf_counter() - t0
    trainer.save_checkpoint(out / "checkpoints" / "last.ckpt", weights_only=False)
    return trainer, history, seconds


def write_report(out: Path, lines: Sequence[str]) -> Path:
    """Write ``lines`` to ``out/report.txt``, print them and the report's path."""
    path = out / "report.txt"
    path.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    print(f"report:       {path}")
    return path
