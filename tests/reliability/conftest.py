"""Small real checkpoints and exports for the fault-injection tests (built once per session)."""

from __future__ import annotations

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import DataLoader

from polydiff.training import DiffusionModule, build_net, export

NET = dict(in_channels=1, base_channels=8, channel_mult=[1, 2], attention_levels=[],
           attention_heads=1)


def _train(module, data, root):
    trainer = pl.Trainer(accelerator="cpu", max_steps=1, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, default_root_dir=root,
                         enable_checkpointing=False, limit_val_batches=0)
    trainer.fit(module, data)
    trainer.save_checkpoint(root / "model.ckpt")
    return root / "model.ckpt"


@pytest.fixture(scope="session")
def models(tmp_path_factory):
    """``{"cond": ckpt, "uncond": ckpt, "export": dir, "export_raw": dir}``: a class-conditional
    digits model with EMA, an unconditional one without EMA, and their exports."""
    from polydiff.modalities.image import DigitsDataModule

    root = tmp_path_factory.mktemp("models")
    (root / "cond").mkdir()
    (root / "uncond").mkdir()
    cond = DiffusionModule(build_net("polydiff.modalities.image.ImageUNet", num_classes=10,
                                     **NET), ema_decay=0.9)
    cond_ckpt = _train(cond, DigitsDataModule(batch_size=8, size=8), root / "cond")
    uncond = DiffusionModule(build_net("polydiff.modalities.image.ImageUNet", **NET),
                             ema_decay=None, sample_shape=[1, 8, 8])
    loader = DataLoader(torch.rand(16, 1, 8, 8) * 2 - 1, batch_size=8)
    uncond_ckpt = _train(uncond, loader, root / "uncond")
    return {"cond": cond_ckpt, "uncond": uncond_ckpt,
            "export": export(cond, root / "export"),
            "export_raw": export(cond, root / "export_raw", ema=False)}
