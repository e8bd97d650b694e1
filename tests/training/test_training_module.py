"""DiffusionModule: options, EMA, fixed-noise validation, masks, checkpoints, NaN guard."""

import math

import lightning.pytorch as pl
import pytest
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import DataLoader, Dataset

from polydiff.training import DiffusionModule, NonFiniteLossError, build_net, load_checkpoint
from polydiff.training.ema import ema_decay, ema_update_

NET = {"class_path": "polydiff.modalities.image.unet.ImageUNet",
       "init_args": {"base_channels": 8, "channel_mult": [1, 2], "attention_levels": [],
                     "dropout": 0.0, "num_classes": 3, "attention_heads": 1}}


class _Images(Dataset):
    """Smooth random 8x8 images with labels; ``nan_at`` puts NaN into one item."""

    def __init__(self, n: int = 48, nan_at: int | None = None):
        g = torch.Generator().manual_seed(0)
        self.x = torch.tanh(torch.randn(n, 1, 8, 8, generator=g))
        self.y = torch.randint(0, 3, (n,), generator=g)
        if nan_at is not None:
            self.x[nan_at, 0, 0, 0] = float("nan")

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "class_labels": self.y[i]}


def _trainer(tmp_path, **kw):
    opts = dict(accelerator="cpu", logger=False, enable_progress_bar=False,
                enable_model_summary=False, enable_checkpointing=False,
                default_root_dir=tmp_path, num_sanity_val_steps=0)
    opts.update(kw)
    return pl.Trainer(**opts)


def _module(**kw):
    return DiffusionModule(build_net(NET["class_path"], **NET["init_args"]), **kw)


@pytest.mark.parametrize("bad, match", [
    ({"prediction": "nope"}, "prediction"),
    ({"weighting": "nope"}, "min_snr"),
    ({"noise_sampler": "nope"}, "logit_normal"),
    ({"lr_decay": "nope"}, "cosine"),
    ({"schedule": "nope"}, "vp_cosine"),
])
def test_unknown_option_lists_choices(bad, match):
    with pytest.raises(ValueError, match=match):
        _module(**bad)


def test_cond_dropout_needs_null_class():
    net = build_net("polydiff.nn.UNet", dims=2, in_channels=1, base_channels=8,
                    channel_mult=[1], attention_levels=[], mid_attention=False)
    with pytest.raises(ValueError, match="null_class"):
        DiffusionModule(net, cond_dropout=0.1)


def test_hparams_are_json_and_net_spec_rebuilds():
    m = _module(schedule="vp_linear", ema_decay=0.99)
    hp = dict(m.hparams)
    assert hp["net"] == NET
    assert hp["schedule"]["name"] == "vp_linear"
    m2 = DiffusionModule(**hp)
    assert type(m2.net) is type(m.net)
    assert sum(p.numel() for p in m2.net.parameters()) == sum(p.numel()
                                                              for p in m.net.parameters())


def test_ema_decay_and_update():
    assert ema_decay(1, 0.999) == pytest.approx(2 / 11)
    assert ema_decay(10_000, 0.999) == 0.999
    assert ema_decay(1, 0.9, warmup=False) == 0.9
    a, b = torch.nn.Linear(2, 2), torch.nn.Linear(2, 2)
    expect = 0.75 * a.weight.detach() + 0.25 * b.weight.detach()
    ema_update_(a, b, 0.75)
    torch.testing.assert_close(a.weight.detach(), expect)


def test_ema_update_rejects_differently_sharded_copies():
    # FSDP shards: same parameter count, different local shapes -> a clear error, no lerp
    ema, net = torch.nn.Linear(4, 2), torch.nn.Linear(2, 4)
    ema.bias.data = torch.zeros(4)
    net.bias.data = torch.zeros(2)
    with pytest.raises(ValueError, match="sharded differently.*auto_wrap_policy=.Linear"):
        ema_update_(ema, net, 0.5)


def test_cosine_decay_needs_finite_training(tmp_path):
    m = _module(lr_decay="cosine")
    tr = _trainer(tmp_path, max_epochs=-1, max_steps=-1, limit_val_batches=0)
    with pytest.raises(ValueError, match="finite Trainer max_steps"):
        tr.fit(m, DataLoader(_Images(8), batch_size=4))


def test_validation_loss_fixed_noise_and_mask():
    m = _module().eval()
    x = torch.tanh(torch.randn(4, 1, 8, 8))
    labels = torch.tensor([0, 1, 2, 0])
    l1, e1 = m.level_losses(x, class_labels=labels)
    l2, e2 = m.level_losses(x, class_labels=labels)
    assert l1.shape == (5,) and torch.equal(l1, l2) and torch.equal(e1, e2)
    l3, _ = m.level_losses(x, batch_idx=1, class_labels=labels)
    assert not torch.equal(l1, l3)
    # entries outside the mask do not change the loss, even NaN
    obs = torch.ones_like(x, dtype=torch.bool)
    obs[..., :3] = False
    x_bad = x.clone()
    x_bad[..., :3] = float("nan")
    la, _ = m.level_losses(torch.where(obs, x, 0.0), obs, class_labels=labels)
    lb, _ = m.level_losses(x_bad, obs, class_labels=labels)
    torch.testing.assert_close(la, lb)


def test_warmup_and_ema_in_training(tmp_path):
    m = _module(lr=1e-2, warmup_steps=10, ema_decay=0.9, cond_dropout=0.5)
    before = [p.detach().clone() for p in m.net.parameters()]
    tr = _trainer(tmp_path, max_epochs=1, limit_val_batches=1)
    tr.fit(m, DataLoader(_Images(), batch_size=8, shuffle=True),
           DataLoader(_Images(16), batch_size=8))
    assert tr.global_step == 6
    sched = tr.lr_scheduler_configs[0].scheduler
    assert sched.get_last_lr()[0] == pytest.approx(1e-2 * 7 / 10)
    changed = [not torch.equal(b, p) for b, p in zip(before, m.net.parameters(), strict=True)]
    assert any(changed)
    # the EMA differs from both the initial and the current weights
    diffs = [(e - p).abs().max().item() for e, p in
             zip(m.ema_net.parameters(), m.net.parameters(), strict=True)]
    assert max(diffs) > 0
    assert not any(p.requires_grad for p in m.ema_net.parameters())
    metrics = tr.callback_metrics
    assert math.isfinite(float(metrics["val/loss"])) and "val/mse_x0@t=0.50" in metrics
    assert m.sample_shape == [1, 8, 8]


def test_bf16_mixed_precision_runs(tmp_path):
    m = _module()
    tr = _trainer(tmp_path, max_steps=2, precision="bf16-mixed", limit_val_batches=0)
    tr.fit(m, DataLoader(_Images(16), batch_size=8))
    assert math.isfinite(float(tr.callback_metrics["train/loss"]))
    assert all(p.dtype == torch.float32 for p in m.net.parameters())


def test_checkpoint_weights_only_and_reload(tmp_path):
    m = _module(ema_decay=0.5)
    ck = ModelCheckpoint(dirpath=tmp_path / "ck", save_last=True)
    tr = _trainer(tmp_path, max_steps=3, limit_val_batches=0, enable_checkpointing=True,
                  callbacks=[ck])
    tr.fit(m, DataLoader(_Images(24), batch_size=8))
    path = tmp_path / "ck" / "last.ckpt"
    raw = torch.load(path, weights_only=True)
    assert raw["polydiff"]["sample_shape"] == [1, 8, 8]
    assert any(k.startswith("ema_net.") for k in raw["state_dict"])
    m2 = load_checkpoint(path)
    for a, b in zip(m.state_dict().values(), m2.state_dict().values(), strict=True):
        torch.testing.assert_close(a, b)
    assert m2.sample_shape == [1, 8, 8]


def test_bare_net_checkpoint_needs_net(tmp_path):
    net = torch.nn.Conv2d(1, 1, 3, padding=1)

    class Wrap(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = net

        def forward(self, x, c_noise, **cond):
            return self.conv(x)

    m = DiffusionModule(Wrap(), ema_decay=None)
    assert m.hparams["net"] is None
    tr = _trainer(tmp_path, max_steps=1, limit_val_batches=0)
    tr.fit(m, DataLoader(torch.tanh(torch.randn(8, 1, 8, 8)), batch_size=4))
    tr.save_checkpoint(tmp_path / "m.ckpt")
    with pytest.raises(ValueError, match="pass net="):
        load_checkpoint(tmp_path / "m.ckpt")
    m2 = load_checkpoint(tmp_path / "m.ckpt", net=Wrap())
    torch.testing.assert_close(m2.net.conv.weight, m.net.conv.weight)


def test_non_finite_stops_with_step_and_keeps_checkpoint(tmp_path):
    m = _module()
    ck = ModelCheckpoint(dirpath=tmp_path / "ck", every_n_train_steps=1, save_last=True)
    tr = _trainer(tmp_path, max_steps=20, limit_val_batches=0, enable_checkpointing=True,
                  callbacks=[ck])
    # batch size 4, no shuffle: item 21 is in the 6th batch (global step 5)
    loader = DataLoader(_Images(48, nan_at=21), batch_size=4)
    with pytest.raises(NonFiniteLossError, match="global step 5"):
        tr.fit(m, loader)
    raw = torch.load(tmp_path / "ck" / "last.ckpt", weights_only=True)
    assert raw["global_step"] == 5
    assert all(torch.isfinite(v).all() for v in raw["state_dict"].values())
    assert load_checkpoint(tmp_path / "ck" / "last.ckpt").sample_shape == [1, 8, 8]


def test_non_finite_loss_from_weights(tmp_path):
    m = _module()
    with torch.no_grad():
        next(m.net.parameters()).fill_(float("inf"))
    tr = _trainer(tmp_path, max_steps=2, limit_val_batches=0)
    with pytest.raises(NonFiniteLossError, match="non-finite loss .* global step 0"):
        tr.fit(m, DataLoader(_Images(8), batch_size=4))
