"""End to end on the bundled fields: the shipped fit config trains an imputation model on the
gappy COADS file itself; Lightning training, checkpoint, and sampling that keeps known values."""

from __future__ import annotations

from pathlib import Path

import lightning.pytorch as pl
import torch

from polydiff.cli import main
from polydiff.modalities.science import MODALITY, FieldData
from polydiff.training import DiffusionModule, build_net, load_checkpoint

TINY = {"base_channels": 8, "channel_mult": [1, 2], "attention_heads": 2}


def test_shipped_config_fits_on_the_gappy_bundled_file(tmp_path):
    cfg = MODALITY.config()
    assert main(["fit", "--config", str(cfg), "--trainer.max_steps=2",
                 "--trainer.accelerator=cpu", f"--trainer.default_root_dir={tmp_path}",
                 "--trainer.limit_val_batches=1", "--trainer.enable_progress_bar=false",
                 "--data.init_args.patch=[16, 32]", "--data.init_args.batch_size=2",
                 "--model.net.init_args.base_channels=8",
                 "--model.net.init_args.channel_mult=[1, 2]",
                 "--model.net.init_args.attention_heads=2"]) == 0
    ckpt = next(Path(tmp_path).rglob("last.ckpt"))
    module = load_checkpoint(ckpt)
    info = module.data_info
    assert module.imputation is not None and module.sample_shape == [2, 16, 32]
    assert info["modality"] == "science" and info["meta"]["variables"] == ["SST", "AIRT"]
    assert info["meta"]["units"] == {"SST": "degC", "AIRT": "degC"}


def test_lightning_trains_on_bundled_winds_and_keeps_known_values(tmp_path):
    pl.seed_everything(0)
    data = FieldData("bundled:navy_winds_5deg.nc", patch=[16, 32], batch_size=4,
                     val_fraction=0.1)
    net = build_net("polydiff.modalities.science.FieldUNet", variables=2, conditional=True,
                    **TINY)
    finite = []
    net.register_forward_pre_hook(
        lambda m, args, kwargs: finite.append(all(torch.isfinite(v).all() for v in
                                                  (*args, *kwargs.values())
                                                  if isinstance(v, torch.Tensor))),
        with_kwargs=True)
    module = DiffusionModule(net, ema_decay=0.9, lr=1e-3, seed=0,
                             imputation={"kinds": ["random", "blocks"], "missing": [0.2, 0.8]})
    trainer = pl.Trainer(accelerator="cpu", max_steps=3, logger=False,
                         enable_progress_bar=False, enable_model_summary=False,
                         default_root_dir=tmp_path, limit_val_batches=1,
                         num_sanity_val_steps=0)
    trainer.fit(module, data)
    assert finite and all(finite)
    assert trainer.callback_metrics["train/loss"].isfinite()
    batch = next(iter(data.val_dataloader()))
    observed = torch.rand(batch["x"][:1].shape, generator=torch.Generator().manual_seed(0)) > 0.5
    x = module.sample(2, steps=3, known=batch["x"][:1], observed=observed, seed=1,
                      vector=batch["vector"][0])
    torch.testing.assert_close(x[:, observed[0]], batch["x"][:1][observed].expand(2, -1))
    assert not torch.allclose(x[0][~observed[0]], x[1][~observed[0]])  # two different draws
