"""Exact resume: 2N steps in one run equal N steps, a checkpoint, a resume and N more steps."""

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint

from polydiff.modalities.image import DigitsDataModule
from polydiff.training import DiffusionModule, build_net

NET = dict(base_channels=8, channel_mult=[1, 2], attention_levels=[], dropout=0.2,
           num_classes=10, attention_heads=1)


class _StopAfter(pl.Callback):
    """Simulates an interruption: stop after ``epochs`` epochs (same config otherwise)."""

    def __init__(self, epochs):
        self.epochs = epochs

    def on_train_epoch_end(self, trainer, pl_module):
        if trainer.current_epoch + 1 >= self.epochs:
            trainer.should_stop = True


def _run(root, stop_after: int | None, init_seed: int, ckpt_path=None):
    pl.seed_everything(init_seed)
    module = DiffusionModule(build_net("polydiff.modalities.image.unet.ImageUNet", **NET),
                             lr=2e-3, warmup_steps=5, ema_decay=0.9, cond_dropout=0.2,
                             lr_decay="cosine", seed=7)
    data = DigitsDataModule(batch_size=16, size=8)  # shuffled with torch's global RNG
    ck = ModelCheckpoint(dirpath=root, save_last=True)
    callbacks = [ck] + ([_StopAfter(stop_after)] if stop_after else [])
    trainer = pl.Trainer(accelerator="cpu", max_epochs=4, limit_train_batches=3,
                         limit_val_batches=1, num_sanity_val_steps=1, logger=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         callbacks=callbacks, gradient_clip_val=1.0, default_root_dir=root)
    trainer.fit(module, data, ckpt_path=ckpt_path)
    opt = trainer.optimizers[0].state_dict()
    return module, opt, trainer


def test_two_n_steps_equal_n_resume_n(tmp_path):
    full, opt_full, tr_full = _run(tmp_path / "full", None, init_seed=0)
    _run(tmp_path / "half", 2, init_seed=0)
    last = tmp_path / "half" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 6
    resumed, opt_res, tr_res = _run(tmp_path / "half", None, init_seed=123, ckpt_path=last)
    assert tr_full.global_step == tr_res.global_step == 12

    sd_full, sd_res = full.state_dict(), resumed.state_dict()
    assert sd_full.keys() == sd_res.keys()
    assert any(k.startswith("ema_net.") for k in sd_full)
    for k in sd_full:
        torch.testing.assert_close(sd_res[k], sd_full[k], rtol=1e-5, atol=1e-6, msg=k)
    for i, s in opt_full["state"].items():
        for name in ("exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(opt_res["state"][i][name], s[name], rtol=1e-5, atol=1e-7)
    assert tr_res.optimizers[0].param_groups[0]["lr"] == tr_full.optimizers[0].param_groups[0]["lr"]
    # the weights did move, so the comparison is not vacuous
    fresh = DiffusionModule(build_net("polydiff.modalities.image.unet.ImageUNet", **NET))
    moved = max((a - b).abs().max().item()
                for a, b in zip(fresh.net.parameters(), full.net.parameters(), strict=True))
    assert moved > 1e-3
