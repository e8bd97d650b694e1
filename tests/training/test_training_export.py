"""Weights-only export + JSON config, and the allow-list that rebuilds networks."""

import json

import pytest
import torch

from polydiff.training import (
    DiffusionModule,
    build_net,
    export,
    instantiate_net,
    load_export_config,
    load_exported,
    register_net,
)

ARGS = dict(base_channels=8, channel_mult=[1, 2], attention_levels=[], dropout=0.0,
            num_classes=3, attention_heads=1)


def _trained_like_module(ema: bool = True) -> DiffusionModule:
    m = DiffusionModule(build_net("polydiff.modalities.image.unet.ImageUNet", **ARGS),
                        schedule="vp_linear", prediction="eps",
                        ema_decay=0.9 if ema else None, sample_shape=[1, 8, 8])
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():  # non-trivial, different raw and EMA weights
        for p in m.net.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
        if ema:
            for p in m.ema_net.parameters():
                p.add_(0.05 * torch.randn(p.shape, generator=g))
    return m


@pytest.mark.parametrize("use_safetensors", [True, False])
def test_export_roundtrip_same_outputs(tmp_path, use_safetensors):
    m = _trained_like_module()
    out = export(m, tmp_path / "exp", use_safetensors=use_safetensors)
    files = sorted(p.name for p in out.iterdir())
    assert files == ["config.json", "model.safetensors" if use_safetensors else "weights.pt"]
    cfg = load_export_config(out)
    assert cfg["net"]["class_path"].endswith("ImageUNet") and cfg["ema"] is True
    assert cfg["schedule"]["name"] == "vp_linear" and cfg["sample_shape"] == [1, 8, 8]
    assert cfg["num_classes"] == 3
    den = load_exported(out)
    x, t, y = torch.randn(2, 1, 8, 8), torch.tensor([0.3, 0.8]), torch.tensor([0, 2])
    ref = m.denoiser(ema=True).eval()
    torch.testing.assert_close(den(x, t, class_labels=y), ref(x, t, class_labels=y))
    raw = m.denoiser(ema=False).eval()(x, t, class_labels=y)
    assert not torch.allclose(den(x, t, class_labels=y), raw)
    if not use_safetensors:  # tensors only: loads with weights_only=True
        state = torch.load(out / "weights.pt", weights_only=True)
        assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_export_without_ema_uses_raw_weights(tmp_path):
    m = _trained_like_module(ema=False)
    den = load_exported(export(m, tmp_path / "e"))
    x, t = torch.randn(1, 1, 8, 8), torch.tensor([0.5])
    torch.testing.assert_close(den(x, t), m.denoiser().eval()(x, t))


def _write_config(tmp_path, m, **changes):
    d = export(m, tmp_path / "e")
    cfg = json.loads((d / "config.json").read_text())
    cfg.update(changes)
    (d / "config.json").write_text(json.dumps(cfg))
    return d


def test_class_outside_polydiff_is_rejected(tmp_path):
    d = _write_config(tmp_path, _trained_like_module(),
                      net={"class_path": "os.system", "init_args": {"command": "echo hi"}})
    with pytest.raises(ValueError, match="only classes inside polydiff.*ImageUNet"):
        load_exported(d)


def test_unknown_class_and_option_list_choices(tmp_path):
    with pytest.raises(ValueError, match=r"unknown network class.*polydiff\.nn\.UNet"):
        instantiate_net({"class_path": "polydiff.nn.NoSuchNet", "init_args": {}})
    with pytest.raises(ValueError, match="not an nn.Module"):
        instantiate_net({"class_path": "polydiff.schedules.get", "init_args": {}})
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['widht'\].*base_channels"):
        build_net("polydiff.nn.UNet", dims=2, in_channels=1, widht=3)
    d = _write_config(tmp_path, _trained_like_module(), format="other")
    with pytest.raises(ValueError, match="polydiff-denoiser"):
        load_exported(d)


def test_register_net_allows_outside_class(tmp_path):
    class Tiny(torch.nn.Module):
        def __init__(self, channels: int = 1):
            super().__init__()
            self.conv = torch.nn.Conv2d(channels, channels, 3, padding=1)

        def forward(self, x, c_noise, **cond):
            return self.conv(x)

    path = register_net(Tiny, "tests.Tiny")
    m = DiffusionModule({"class_path": path, "init_args": {"channels": 1}}, ema_decay=None,
                        sample_shape=[1, 4, 4])
    den = load_exported(export(m, tmp_path / "e"))
    torch.testing.assert_close(den.net.conv.weight, m.net.conv.weight)


def test_export_needs_spec(tmp_path):
    m = DiffusionModule(torch.nn.Identity(), ema_decay=None)
    with pytest.raises(ValueError, match="build_net"):
        export(m, tmp_path / "e")
