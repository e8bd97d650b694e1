"""End to end on the digits: Lightning steps, the sampling callback's PNG, and a checkpoint
reload that gives the same samples for the same seed."""

import lightning.pytorch as pl
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from PIL import Image

from polydiff.modalities.image import DigitsDataModule
from polydiff.training import DiffusionModule, SampleCallback, build_net, load_checkpoint

NET = dict(base_channels=8, channel_mult=[1, 2], attention_levels=[-1], dropout=0.1,
           num_classes=10, attention_heads=2)


def test_digits_fit_sample_png_and_reload(tmp_path):
    pl.seed_everything(0)
    module = DiffusionModule(build_net("polydiff.modalities.image.unet.ImageUNet", **NET),
                             lr=2e-3, warmup_steps=2, ema_decay=0.9, cond_dropout=0.1)
    sampler_cb = SampleCallback(every_n_epochs=1, num_samples=20, steps=4,
                                guidance_scale=2.0, out_dir=str(tmp_path / "samples"))
    ck = ModelCheckpoint(dirpath=tmp_path / "ck", save_last=True)
    trainer = pl.Trainer(accelerator="cpu", max_epochs=1, limit_train_batches=5,
                         limit_val_batches=1, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, callbacks=[sampler_cb, ck],
                         default_root_dir=tmp_path)
    trainer.fit(module, DigitsDataModule(batch_size=32, size=16))
    assert trainer.global_step == 5
    assert torch.isfinite(trainer.callback_metrics["val/loss"])

    # the callback wrote one 20-sample grid (2 rows of the 10 classes) of 16x16 tiles
    assert len(sampler_cb.written) == 1
    png = sampler_cb.written[0]
    assert png.suffix == ".png" and png.parent == tmp_path / "samples"
    with Image.open(png) as img:
        assert img.mode == "L" and img.size == (10 * 18 + 2, 2 * 18 + 2)

    # reloading the checkpoint (weights_only) gives the same samples for the same seed
    labels = torch.arange(8) % 10
    a = module.sample(8, steps=4, class_labels=labels, guidance_scale=2.0, seed=3)
    reloaded = load_checkpoint(tmp_path / "ck" / "last.ckpt")
    b = reloaded.sample(8, steps=4, class_labels=labels, guidance_scale=2.0, seed=3)
    c = reloaded.sample(8, steps=4, class_labels=labels, guidance_scale=2.0, seed=4)
    assert a.shape == (8, 1, 16, 16) and torch.isfinite(a).all()
    torch.testing.assert_close(a, b)
    assert not torch.allclose(a, c)
    # EMA and raw weights differ after training, and sampling uses the EMA by default
    raw = reloaded.sample(8, steps=4, class_labels=labels, guidance_scale=2.0, seed=3, ema=False)
    assert not torch.allclose(a, raw)
