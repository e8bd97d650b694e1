"""``polydiff.load``: one model from a checkpoint, an export directory or a live module (the
same samples from all three), EMA or raw weights, without Lightning, and one line for what
cannot be loaded."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

import polydiff
from polydiff.training import DiffusionModule, export

NET = {"class_path": "polydiff.nn.UNet",
       "init_args": {"dims": 2, "in_channels": 1, "base_channels": 8, "channel_mult": [1, 2],
                     "num_res_blocks": 1, "attention_heads": 2}}
INFO = {"modality": "image", "writer": "png", "normalizer": {"shift": [0.5], "scale": [0.5]},
        "meta": {}, "sample_shape": [1, 8, 8], "num_classes": None}


def _save(module: DiffusionModule, path):
    ckpt = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}
    module.on_save_checkpoint(ckpt)
    torch.save(ckpt, path)
    return path


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("load")
    torch.manual_seed(0)
    module = DiffusionModule(NET, sample_shape=[1, 8, 8], ema_decay=0.9)
    g = torch.Generator().manual_seed(3)
    with torch.no_grad():  # EMA and raw weights that differ
        for p, q in zip(module.net.parameters(), module.ema_net.parameters(), strict=True):
            p.add_(0.1 * torch.randn(p.shape, generator=g))
            q.add_(0.1 * torch.randn(q.shape, generator=g))
    module.data_info = INFO
    return module.eval(), _save(module, tmp / "m.ckpt"), export(module, tmp / "export")


def test_checkpoint_export_and_module_give_the_same_model(sources):
    module, ckpt, exported = sources
    ref = polydiff.load(module).sample(2, steps=3, seed=1)
    for source in (ckpt, exported, polydiff.load(module)):
        model = polydiff.load(source)
        assert model.ema and model.spec.modality == "image" and model.sample_shape == (1, 8, 8)
        torch.testing.assert_close(model.sample(2, steps=3, seed=1), ref, rtol=0, atol=1e-6)


def test_raw_weights_on_request(sources):
    module, ckpt, exported = sources
    raw = polydiff.load(ckpt, ema=False)
    assert not raw.ema and raw.has_ema
    want = polydiff.load(module, ema=False).sample(2, steps=3, seed=1)
    torch.testing.assert_close(raw.sample(2, steps=3, seed=1), want, rtol=0, atol=1e-6)
    assert not torch.allclose(want, polydiff.load(ckpt).sample(2, steps=3, seed=1))
    with pytest.raises(ValueError, match="holds its EMA weights only"):
        polydiff.load(exported, ema=False)


def test_what_cannot_be_loaded_is_named(sources, tmp_path):
    _, ckpt, _ = sources
    with pytest.raises(ValueError, match="absent.ckpt does not exist"):
        polydiff.load(tmp_path / "absent.ckpt")
    with pytest.raises(ValueError, match="m.ckpt is an image model, not an audio model"):
        polydiff.load(ckpt, modality="audio")
    (tmp_path / "junk.ckpt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="junk.ckpt is not a torch file"):
        polydiff.load(tmp_path / "junk.ckpt")


def test_loading_a_checkpoint_imports_no_lightning(sources):
    _, ckpt, exported = sources
    code = ("import sys, polydiff; "
            f"m = polydiff.load({str(ckpt)!r}); e = polydiff.load({str(exported)!r}); "
            "m.sample(1, steps=1); "
            "print('lightning' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
