"""Pretransforms: the slot between the data and the diffusion space. Fold is exact and folds
masks along; a module with a pretransform trains in the encoded space, samples come back in
the data's shape with known values exact, and the pretransform travels with the weights."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import polydiff
from polydiff.pretransforms import Fold, Identity, Pretransform
from polydiff.training import DiffusionModule, export, register_net


@settings(max_examples=25, deadline=None)
@given(axes=st.integers(1, 3), factor=st.integers(1, 3), data=st.data())
def test_fold_is_exact_and_carries_masks(axes, factor, data):
    axis = data.draw(st.integers(0, axes - 1))
    shape = [data.draw(st.integers(1, 3))] + [factor * data.draw(st.integers(1, 3))
                                              if a == axis else data.draw(st.integers(1, 4))
                                              for a in range(axes)]
    x = torch.randn(2, *shape)
    fold = Fold(factor, axis)
    z = fold.encode(x)
    assert z.shape == (2, *fold.encoded_shape(shape))
    assert torch.equal(fold.decode(z), x)
    observed = torch.rand(x.shape) > 0.5
    assert torch.equal(fold.decode(fold.encode_mask(observed).float()) > 0.5, observed)
    with pytest.raises(ValueError, match="spatial axis 0 has 3 entries, not a multiple of 2"):
        Fold(2, 0).encode(torch.zeros(1, 1, 3))


class Blur(Pretransform):
    """An inexact pretransform: a smoothing along the last axis (decode is the identity)."""

    exact = False

    def encode(self, x):
        return (x + x.roll(1, -1)) / 2


BLUR = register_net(Blur, "tests.Blur")
NET = {"class_path": "polydiff.nn.UNet",
       "init_args": {"dims": 1, "in_channels": 2, "base_channels": 8, "channel_mult": [1, 2],
                     "num_res_blocks": 1, "attention_heads": 2, "cond_channels": 4}}


def _module(pretransform=None):
    torch.manual_seed(0)
    module = DiffusionModule(NET, sample_shape=[1, 16], ema_decay=None, prediction="x0",
                             imputation={"kinds": ["random"]}, pretransform=pretransform)
    with torch.no_grad():
        for p in module.net.parameters():
            p.add_(0.1 * torch.randn(p.shape))
    return module.eval()


def test_a_module_with_a_pretransform_trains_and_samples_in_the_encoded_space(tmp_path):
    module = _module({"class_path": "polydiff.pretransforms.Fold",
                      "init_args": {"factor": 2, "axis": 0}})
    assert isinstance(module.pretransform, Fold)
    seen = []
    module.net.register_forward_pre_hook(lambda m, a: seen.append(a[0].shape))
    batch = {"x": torch.randn(3, 1, 16), "observed": torch.rand(3, 1, 16) > 0.2}
    loss = module.validation_step(batch, 0)
    assert torch.isfinite(loss) and seen[-1] == (3, 2, 8)  # the network sees (2, 8)
    model = polydiff.load(module)
    known = torch.randn(2, 1, 16)
    known[:, :, 5:9] = float("nan")
    out = model.impute(known, steps=2, seed=1)
    seen_known = ~torch.isnan(known)
    assert out.shape == (2, 1, 16) and torch.equal(out[seen_known], known[seen_known])
    mean = model.posterior_mean(known, draws=2)
    assert mean.shape == (2, 1, 16) and torch.equal(mean[seen_known], known[seen_known])
    edited = model.edit(torch.nan_to_num(known), 0.5, steps=4, known=torch.nan_to_num(known),
                        observed=seen_known)
    assert edited.shape == (2, 1, 16)
    # the pretransform's spec comes back from a checkpoint and an export
    ckpt = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}
    module.on_save_checkpoint(ckpt)
    torch.save(ckpt, tmp_path / "m.ckpt")
    for source in (tmp_path / "m.ckpt", export(module, tmp_path / "exp")):
        again = polydiff.load(source)
        assert isinstance(again.pretransform, Fold) and again.pretransform.factor == 2
        torch.testing.assert_close(again.impute(known, steps=2, seed=1), out, rtol=0,
                                   atol=1e-6)


def test_an_inexact_pretransform_refuses_known_values():
    model = polydiff.load(_module({"class_path": BLUR, "init_args": {}}))
    with pytest.raises(ValueError, match="Blur is not exact: known values cannot be kept"):
        model.impute(torch.randn(1, 1, 16))
    assert isinstance(polydiff.load(_module()).pretransform, Identity)
    with pytest.raises(ValueError, match="is not a polydiff.pretransforms.Pretransform"):
        DiffusionModule(NET, pretransform={"class_path": "polydiff.conditioners.Standard",
                                           "init_args": {}})
