"""``DiffusionModule(compile=True)``: real ``torch.compile`` training steps on the CPU.

The compiled run must give the eager run's losses and weights, and its ``state_dict`` and
checkpoint must hold the plain network's keys (no ``_orig_mod.``). Inductor (the default
backend) needs a C++ compiler and compiles each kernel with it: ~1 min for the small U-Net on a
cold cache, ~13 s for a one-conv network. So the U-Net runs through ``aot_eager`` (Dynamo graph
capture and AOTAutograd's forward/backward graphs, executed eagerly) and inductor is checked
on the one-conv network.
"""

import lightning.pytorch as pl
import pytest
import torch
from torch import nn
from torch._dynamo.backends.registry import lookup_backend, register_backend
from torch._dynamo.utils import counters
from torch.utils.data import DataLoader

from polydiff.training import DiffusionModule, build_net, load_checkpoint

NET = dict(base_channels=8, channel_mult=[1, 2], attention_levels=[], dropout=0.0,
           num_classes=3, attention_heads=1)
GRAPHS: list[int] = []  # number of FX nodes of each graph the counting backend compiled


@register_backend(name="polydiff_test_counting")
def _counting_backend(gm: torch.fx.GraphModule, example_inputs):
    """``aot_eager`` that records every graph Dynamo hands it."""
    GRAPHS.append(len(gm.graph.nodes))
    return lookup_backend("aot_eager")(gm, example_inputs)


class _Losses(pl.Callback):
    def __init__(self):
        self.losses: list[float] = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append(float(outputs["loss"]))


class _TinyNet(nn.Module):
    """One conv, scaled by a linear function of ``c_noise``."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.emb = nn.Linear(1, 1)

    def forward(self, x, c_noise, **cond):
        return self.conv(x) * self.emb(c_noise[:, None].to(x.dtype))[:, :, None, None]


def _batches(n=12, labels=True):
    g = torch.Generator().manual_seed(0)
    x = torch.tanh(torch.randn(n, 1, 8, 8, generator=g))
    y = torch.randint(0, 3, (n,), generator=g)
    items = [{"x": x[i], "class_labels": y[i]} if labels else {"x": x[i]} for i in range(n)]
    return DataLoader(items, batch_size=4)


def _fit(tmp_path, make_net, steps, labels=True, **kw):
    pl.seed_everything(0)
    module = DiffusionModule(make_net(), lr=1e-2, ema_decay=0.5, seed=3, **kw)
    init = {f"net.{k}": v.clone() for k, v in module.net.state_dict().items()}
    rec = _Losses()
    trainer = pl.Trainer(accelerator="cpu", max_steps=steps, limit_val_batches=0,
                         logger=False, enable_progress_bar=False, enable_model_summary=False,
                         enable_checkpointing=False, callbacks=[rec], default_root_dir=tmp_path)
    trainer.fit(module, _batches(labels=labels))
    trainer.save_checkpoint(tmp_path / "m.ckpt")
    return module, rec.losses, init


def _assert_same_training(eager, e_losses, comp, c_losses, init, tmp_path_e, tmp_path_c):
    assert len(c_losses) == len(e_losses) >= 2
    torch.testing.assert_close(torch.tensor(c_losses), torch.tensor(e_losses),
                               rtol=1e-5, atol=1e-6)
    sd_e, sd_c = eager.state_dict(), comp.state_dict()
    assert list(sd_c) == list(sd_e)
    assert not any("_orig_mod" in k for k in sd_c)
    for k in sd_e:
        torch.testing.assert_close(sd_c[k], sd_e[k], rtol=1e-4, atol=1e-5, msg=k)
    ck_e = torch.load(tmp_path_e / "m.ckpt", weights_only=True)["state_dict"]
    ck_c = torch.load(tmp_path_c / "m.ckpt", weights_only=True)["state_dict"]
    assert list(ck_c) == list(ck_e) == list(sd_e)
    for k in sd_e:
        torch.testing.assert_close(ck_c[k], sd_c[k], rtol=0, atol=0, msg=k)
    # training moved the weights, so equal weights are not two untouched copies
    assert max((sd_c[k] - v).abs().max().item() for k, v in init.items()) > 1e-3


def test_compile_unet_aot_eager_matches_eager(tmp_path):
    make = lambda: build_net("polydiff.modalities.image.unet.ImageUNet", **NET)  # noqa: E731
    eager, e_losses, _ = _fit(tmp_path / "e", make, 3)
    GRAPHS.clear()
    counters.clear()
    comp, c_losses, init = _fit(tmp_path / "c", make, 3, compile=True,
                          compile_options={"backend": "polydiff_test_counting"})
    # Dynamo really captured the network (not a silent eager fallback) and the module kept it
    assert GRAPHS and max(GRAPHS) > 50 and not counters["graph_break"]
    compiled = comp.__dict__["_compiled_net"]
    assert isinstance(compiled, torch._dynamo.eval_frame.OptimizedModule)
    assert compiled._orig_mod is comp.net
    _assert_same_training(eager, e_losses, comp, c_losses, init, tmp_path / "e", tmp_path / "c")
    # the checkpoint reloads into a plain module (hparams keep the compile options)
    re = load_checkpoint(tmp_path / "c" / "m.ckpt")
    assert re.hparams["compile"] is True
    assert re.hparams["compile_options"] == {"backend": "polydiff_test_counting"}
    for k, v in comp.state_dict().items():
        torch.testing.assert_close(re.state_dict()[k], v, rtol=0, atol=0, msg=k)


def test_compile_default_inductor_matches_eager(tmp_path):
    eager, e_losses, _ = _fit(tmp_path / "e", _TinyNet, 2, labels=False)
    counters.clear()
    comp, c_losses, init = _fit(tmp_path / "c", _TinyNet, 2, labels=False, compile=True)
    assert comp.compile_options == {}  # torch.compile's default backend: inductor
    # inductor produced the forward and backward graphs (compiled now or read from its cache)
    inductor = counters["inductor"]
    assert inductor["fxgraph_cache_miss"] + inductor["fxgraph_cache_hit"] >= 2, dict(inductor)
    assert counters["aot_autograd"]["ok"] >= 1 and not counters["graph_break"]
    _assert_same_training(eager, e_losses, comp, c_losses, init, tmp_path / "e", tmp_path / "c")


def test_compile_options_are_checked():
    with pytest.raises(ValueError, match="unknown compile_options.*backend"):
        DiffusionModule(_TinyNet(), compile=True, compile_options={"bakend": "eager"})
