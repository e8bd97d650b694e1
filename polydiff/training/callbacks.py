"""Lightning callbacks: periodic sampling written through the modality's writer."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import torch

from ..inference.draw import default_labels
from .outputs import write_samples, writer_for

__all__ = ["LossHistory", "SampleCallback", "is_sharded"]


def is_sharded(module: torch.nn.Module) -> bool:
    """Whether ``module`` holds FSDP units or DTensor parameters: its forward then gathers
    weights from every rank (a collective), so all ranks must run it together."""
    from torch.distributed.fsdp import FullyShardedDataParallel

    if any(isinstance(m, FullyShardedDataParallel) for m in module.modules()):
        return True
    try:
        from torch.distributed.tensor import DTensor
    except ImportError:  # pragma: no cover - torch without DTensor
        return False
    return any(isinstance(p, DTensor) for p in module.parameters())


class SampleCallback(pl.Callback):
    """Every ``every_n_epochs`` training epochs, draw samples with the EMA weights and write them
    to ``out_dir/epoch{E:04d}_step{S:07d}`` through ``writer`` (rank 0 only).

    Args:
        every_n_epochs: sampling period (epochs); the last epoch of a run is always sampled
            when ``on_train_end`` is true.
        num_samples: samples per file; class-conditional networks get labels
            ``0, 1, ..., num_classes - 1, 0, ...`` (rows of a grid with ``nrow = num_classes``).
        steps, method, grid, guidance_scale, seed: passed to the sampler (fixed seed: the same
            noise every time, so files show progress, not noise).
        out_dir: default ``<trainer.log_dir or default_root_dir>/samples``.
        writer: ``"auto"`` (the writer the data module names for its modality), ``"tensor"``
            (``.pt``) or another writer of the model's modality (checked at ``setup``).

    Under DDP only rank 0 samples (with the unwrapped EMA network: no collectives) and writes;
    the other ranks go on. With sharded weights (FSDP) every forward gathers them from all
    ranks, so every rank samples (the same noise) and rank 0 writes. The default directory is
    resolved in ``setup`` on every rank, since ``trainer.log_dir`` is a broadcast from rank 0
    (calling it on rank 0 alone hangs).
    """

    def __init__(self, every_n_epochs: int = 1, num_samples: int = 40, steps: int = 20,
                 method: str = "dpmpp_2m", grid: str = "log_snr", guidance_scale: float = 1.0,
                 seed: int = 0, out_dir: str | None = None, writer: str = "auto",
                 on_train_end: bool = True):
        if every_n_epochs < 1 or num_samples < 1 or steps < 1:
            raise ValueError("every_n_epochs, num_samples and steps must be >= 1")
        self.every_n_epochs, self.num_samples, self.steps = every_n_epochs, num_samples, steps
        self.method, self.grid, self.guidance_scale = method, grid, guidance_scale
        self.seed, self.out_dir, self.writer = seed, out_dir, writer
        self.sample_on_train_end = on_train_end
        self.written: list[Path] = []
        self._last_step: int | None = None
        self._out: Path | None = None

    def _dir(self, trainer: pl.Trainer) -> Path:
        if self.out_dir is not None:
            return Path(self.out_dir)
        return Path(trainer.log_dir or trainer.default_root_dir) / "samples"

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        self._out = self._dir(trainer)  # on every rank: trainer.log_dir is a collective

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        writer_for(getattr(pl_module, "data_info", None), self.writer)  # fail before training
        if self.guidance_scale != 1.0 and getattr(pl_module, "num_classes", None) is None:
            raise ValueError(f"SampleCallback: guidance_scale={self.guidance_scale} needs a "
                             f"class-conditional network; this one is unconditional")

    def _write(self, trainer: pl.Trainer, module) -> None:
        epoch = trainer.current_epoch
        out = self._out if self._out is not None else self._dir(trainer)  # all ranks
        sharded = trainer.world_size > 1 and is_sharded(module)
        if self._last_step == trainer.global_step or not (trainer.is_global_zero or sharded):
            return
        self._last_step = trainer.global_step
        labels = default_labels(self.num_samples, module.num_classes)
        x = module.sample(self.num_samples, steps=self.steps, method=self.method, grid=self.grid,
                          guidance_scale=self.guidance_scale,
                          class_labels=labels, seed=self.seed)
        if not trainer.is_global_zero:
            return
        nrow = module.num_classes
        name = f"epoch{epoch:04d}_step{trainer.global_step:07d}"
        path = write_samples(x, out / name, module.data_info, self.writer, nrow)
        self.written.append(path)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if (trainer.current_epoch + 1) % self.every_n_epochs == 0:
            self._write(trainer, pl_module)

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.sample_on_train_end:
            self._write(trainer, pl_module)


class LossHistory(pl.Callback):
    """Records ``(global_step, train loss)`` per batch and ``(global_step, val/loss,
    val/mse_x0)`` per validation run (rank 0), e.g. for a loss-curve plot."""

    def __init__(self):
        self.train: list[tuple[int, float]] = []
        self.val: list[tuple[int, float, float]] = []

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs,
                           batch, batch_idx: int) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None and trainer.is_global_zero:
            self.train.append((trainer.global_step, float(loss)))

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        m = trainer.callback_metrics
        if trainer.sanity_checking or not trainer.is_global_zero or "val/loss" not in m:
            return
        self.val.append((trainer.global_step, float(m["val/loss"]),
                         float(m.get("val/mse_x0", float("nan")))))
