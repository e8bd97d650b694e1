"""Conditioners: the default builds the channels an imputation network sees, a conditioner
is stored with the module (fitted statistics as buffers, through checkpoints and exports),
and training and inference call the same one."""

from __future__ import annotations

import pytest
import torch

import polydiff
from polydiff.conditioners import Conditioner, Standard, known_channels
from polydiff.training import DiffusionModule, export, register_net


def test_standard_builds_known_channels_then_the_datas_own():
    known = torch.randn(2, 3, 5)
    observed = torch.rand(2, 3, 5) > 0.5
    validity = torch.ones(2, 1, 5)
    out = Standard(known=True)({"known": known, "observed": observed, "cond": validity,
                                "class_labels": torch.tensor([0, 1])})
    assert out["cond"].shape == (2, 7, 5)
    torch.testing.assert_close(out["cond"][:, :3], torch.where(observed, known, 0.0))
    torch.testing.assert_close(out["cond"][:, 3:6], observed.float())
    assert torch.equal(out["cond"][:, 6:], validity) and out["class_labels"].tolist() == [0, 1]
    assert Standard()({"known": known, "observed": observed}) == {}  # inpainting only
    with pytest.raises(ValueError, match="trained for imputation .* give known="):
        Standard(known=True)({})
    assert torch.equal(known_channels(known, observed), Standard(True)(
        {"known": known, "observed": observed})["cond"])


class ScaledVector(Conditioner):
    """A conditioner with a fitted statistic: the vector divided by the data's scale."""

    def __init__(self):
        super().__init__()
        self.register_fitted("scale", None)

    def fit(self, statistics):
        self.register_fitted("scale", torch.as_tensor(statistics["scale"]))

    def forward(self, inputs):
        return {"vector": inputs["vector"] / self.scale}


PATH = register_net(ScaledVector, "tests.ScaledVector")
NET = {"class_path": "polydiff.nn.UNet",
       "init_args": {"dims": 1, "in_channels": 1, "base_channels": 8, "channel_mult": [1, 2],
                     "num_res_blocks": 1, "attention_heads": 2, "vector_cond_dim": 3}}


def test_fitted_statistics_travel_with_the_weights(tmp_path):
    torch.manual_seed(0)
    module = DiffusionModule(NET, sample_shape=[1, 8], ema_decay=None,
                             conditioner={"class_path": PATH, "init_args": {}})
    module.conditioner.fit({"scale": [2.0, 4.0, 8.0]})
    with torch.no_grad():
        for p in module.net.parameters():
            p.add_(0.1 * torch.randn(p.shape))
    ckpt = {"state_dict": module.state_dict(), "hyper_parameters": dict(module.hparams)}
    module.on_save_checkpoint(ckpt)
    torch.save(ckpt, tmp_path / "m.ckpt")
    vector = torch.tensor([[1.0, 2.0, 3.0]])
    want = polydiff.load(module).sample(1, vector=vector, steps=2, seed=1)
    for source in (tmp_path / "m.ckpt", export(module, tmp_path / "exp")):
        model = polydiff.load(source)
        assert model.conditioner.scale.tolist() == [2.0, 4.0, 8.0]  # the shape came along
        torch.testing.assert_close(model.sample(1, vector=vector, steps=2, seed=1), want,
                                   rtol=0, atol=1e-6)
    other = polydiff.load(module).sample(1, vector=2 * vector, steps=2, seed=1)
    assert not torch.allclose(other, want)  # the vector reaches the network
    with pytest.raises(ValueError, match="is not a polydiff.conditioners.Conditioner"):
        DiffusionModule(NET, conditioner={"class_path": "polydiff.nn.UNet",
                                          "init_args": {"dims": 1, "in_channels": 1}})


def test_imputation_training_takes_the_datas_own_channels_too():
    """An imputation batch may carry its own cond (a validity channel): the network sees
    [known, mask, validity], in training as in inference."""
    net = {"class_path": "polydiff.nn.UNet",
           "init_args": {"dims": 1, "in_channels": 1, "base_channels": 8, "channel_mult": [1, 2],
                         "num_res_blocks": 1, "attention_heads": 2, "cond_channels": 3}}
    module = DiffusionModule(net, sample_shape=[1, 8], ema_decay=None,
                             imputation={"kinds": ["random"]})
    seen = []
    module.net.register_forward_pre_hook(lambda m, a, kw: seen.append(kw["cond"]),
                                         with_kwargs=True)
    batch = {"x": torch.randn(4, 1, 8), "cond": torch.ones(4, 1, 8)}
    losses, _ = module.level_losses(batch["x"], cond=batch["cond"])
    assert torch.isfinite(losses).all() and seen[0].shape == (4, 3, 8)
    assert torch.equal(seen[0][:, 2:], torch.ones(4, 1, 8))
    known = torch.randn(1, 1, 8)
    observed = torch.rand(1, 1, 8) > 0.5
    seen.clear()
    polydiff.load(module).sample(2, known=known, observed=observed, cond=torch.ones(1, 1, 8),
                                 steps=1, units="model")
    assert seen[0].shape == (2, 3, 8) and torch.equal(seen[0][:, 1:2], observed.float().expand(
        2, 1, 8))
