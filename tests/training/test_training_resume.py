"""Exact resume: a run resumed from a checkpoint repeats the uninterrupted run.

End-of-epoch checkpoints: 2N steps in one run equal N steps, a checkpoint, a resume and N more
steps, with the digits loader (order a function of ``(seed, epoch)``) and with a plain
``DataLoader(shuffle=True)`` (order from torch's global RNG, re-seeded per epoch by the module).
Mid-epoch checkpoints (``ModelCheckpoint(every_n_train_steps=1)``): exact with the digits
loader, a :class:`polydiff.training.data.ResumableLoader`.
"""

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader

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


class _Batches(pl.Callback):
    """Records ``(epoch, batch_idx) -> labels`` of every training batch."""

    def __init__(self):
        self.seen: dict[tuple[int, int], list[int]] = {}

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.seen[(trainer.current_epoch, batch_idx)] = batch["class_labels"].tolist()


def _plain_loader_data():
    """The digits training split in a plain shuffling DataLoader (torch's global RNG)."""
    dm = DigitsDataModule(batch_size=16, size=8)
    dm.setup()
    return {"train_dataloaders": DataLoader(dm.train_set, batch_size=16, shuffle=True,
                                            collate_fn=dm.collate()),
            "val_dataloaders": dm.val_dataloader()}


def _digits_data():
    return {"datamodule": DigitsDataModule(batch_size=16, size=8)}


def _run(root, init_seed, data, callbacks=(), ckpt_path=None, max_epochs=4):
    pl.seed_everything(init_seed)
    module = DiffusionModule(build_net("polydiff.modalities.image.unet.ImageUNet", **NET),
                             lr=2e-3, warmup_steps=5, ema_decay=0.9, cond_dropout=0.2,
                             lr_decay="cosine", seed=7)
    trainer = pl.Trainer(accelerator="cpu", max_epochs=max_epochs, limit_train_batches=3,
                         limit_val_batches=1, num_sanity_val_steps=1, logger=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         callbacks=list(callbacks), gradient_clip_val=1.0, default_root_dir=root)
    trainer.fit(module, **data(), ckpt_path=ckpt_path)
    return module, trainer


def _assert_same_state(full, tr_full, resumed, tr_res):
    assert tr_full.global_step == tr_res.global_step
    sd_full, sd_res = full.state_dict(), resumed.state_dict()
    assert sd_full.keys() == sd_res.keys()
    assert any(k.startswith("ema_net.") for k in sd_full)
    for k in sd_full:
        torch.testing.assert_close(sd_res[k], sd_full[k], rtol=1e-5, atol=1e-6, msg=k)
    opt_full = tr_full.optimizers[0].state_dict()
    opt_res = tr_res.optimizers[0].state_dict()
    for i, s in opt_full["state"].items():
        for name in ("exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(opt_res["state"][i][name], s[name], rtol=1e-5, atol=1e-7)
    assert tr_res.optimizers[0].param_groups[0]["lr"] == tr_full.optimizers[0].param_groups[0]["lr"]
    # the weights did move, so the comparison is not vacuous
    fresh = DiffusionModule(build_net("polydiff.modalities.image.unet.ImageUNet", **NET))
    moved = max((a - b).abs().max().item()
                for a, b in zip(fresh.net.parameters(), full.net.parameters(), strict=True))
    assert moved > 1e-3


@pytest.mark.parametrize("data", [_digits_data, _plain_loader_data], ids=["digits", "plain"])
def test_two_n_steps_equal_n_resume_n(tmp_path, data):
    full, tr_full = _run(tmp_path / "full", 0, data, [ModelCheckpoint(dirpath=tmp_path / "f")])
    half = ModelCheckpoint(dirpath=tmp_path / "half", save_last=True)
    _run(tmp_path / "half", 0, data, [half, _StopAfter(2)])
    last = tmp_path / "half" / "last.ckpt"
    assert torch.load(last, weights_only=True)["global_step"] == 6
    resumed, tr_res = _run(tmp_path / "half", 123, data,
                           [ModelCheckpoint(dirpath=tmp_path / "half")], ckpt_path=last)
    assert tr_full.global_step == 12
    _assert_same_state(full, tr_full, resumed, tr_res)


def test_mid_epoch_resume_is_exact(tmp_path):
    every = ModelCheckpoint(dirpath=tmp_path / "ck", every_n_train_steps=1, save_top_k=-1,
                            filename="{step}")
    seen_full = _Batches()
    full, tr_full = _run(tmp_path / "full", 0, _digits_data, [every, seen_full], max_epochs=3)
    assert tr_full.global_step == 9
    # step 4: epoch 1 after its first batch; step 8: epoch 2 after two batches
    for step, (epoch, done) in {4: (1, 1), 8: (2, 2)}.items():
        ckpt = tmp_path / "ck" / f"step={step}.ckpt"
        raw = torch.load(ckpt, weights_only=True)
        assert raw["epoch"] == epoch
        assert raw["loops"]["fit_loop"]["state_dict"]["combined_loader"] == [
            {"epoch": epoch, "batches": done}]
        seen_res = _Batches()
        resumed, tr_res = _run(tmp_path / f"res{step}", 123, _digits_data, [seen_res],
                               ckpt_path=ckpt, max_epochs=3)
        # the resumed run trains on exactly the batches the full run had left
        assert seen_res.seen == {k: v for k, v in seen_full.seen.items()
                                 if k >= (epoch, done)}
        _assert_same_state(full, tr_full, resumed, tr_res)
