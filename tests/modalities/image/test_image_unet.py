"""The 2D image U-Net preset."""

from __future__ import annotations

import inspect

import pytest
import torch

from polydiff.modalities.image import ImageUNet
from polydiff.nn import Attention, FactorisedAttention, UNet
from polydiff.training import build_net


def test_default_preset_is_small_and_zero_at_init():
    net = ImageUNet(num_classes=10)
    assert isinstance(net, UNet) and net.dims == 2
    n_params = sum(p.numel() for p in net.parameters())
    assert 2e5 < n_params < 1.5e6, n_params
    x = torch.randn(3, 1, 16, 16)
    y = net(x, torch.rand(3) * 1000, torch.tensor([0, 5, net.null_class]))
    assert y.shape == x.shape
    assert torch.count_nonzero(y) == 0
    # attention at the lowest resolution by default (plus the middle)
    assert net.attention_levels == (2,)
    assert any(isinstance(m, Attention) for m in net.down[-1].modules())


def test_attention_resolutions_map_to_levels():
    net = ImageUNet(in_channels=3, image_size=16, attention_resolutions=(8, 4), base_channels=8)
    assert net.attention_levels == (1, 2)
    assert net.in_channels == net.out_channels == 3
    with pytest.raises(ValueError, match="attention_resolutions"):
        ImageUNet(image_size=16, attention_resolutions=(5,))
    with pytest.raises(ValueError, match="image_size"):
        ImageUNet(attention_resolutions=(8,))


def test_rgb_conditional_forward_and_size_check():
    net = ImageUNet(in_channels=3, base_channels=8, num_classes=2, attention_heads=2).eval()
    torch.manual_seed(0)
    with torch.no_grad():  # un-zero the zero-initialised layers, as training would
        for p in net.parameters():
            if torch.count_nonzero(p) == 0:
                p.normal_(0, 0.1)
    x, c = torch.randn(2, 3, 8, 12), torch.rand(2)
    a = net(x, c, torch.tensor([0, 0]))
    b = net(x, c, torch.tensor([1, 1]))
    assert a.shape == b.shape == x.shape
    assert not torch.allclose(a, b)
    with pytest.raises(ValueError, match="multiple of 4"):
        net(torch.randn(1, 3, 10, 12), torch.rand(1))


def unzero_(net: torch.nn.Module, seed: int = 0) -> None:
    """Give the zero-initialised layers random values, as training would."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            if torch.count_nonzero(p) == 0:
                p.copy_(torch.randn(p.shape, generator=g) * 0.1)


def test_forwards_any_unet_keyword():
    plain = ImageUNet(base_channels=8, dropout=0.0).eval()
    unzero_(plain)
    periodic = ImageUNet(base_channels=8, dropout=0.0, periodic=True).eval()
    assert periodic.periodic == (True, True)
    periodic.load_state_dict(plain.state_dict())  # same parameters, only the padding differs
    x, c = torch.randn(2, 1, 8, 8), torch.rand(2)
    assert not torch.allclose(plain(x, c), periodic(x, c))
    # the preset's own defaults stay, other UNet keywords pass through
    net = ImageUNet(base_channels=8, emb_dim=16, mid_attention=False, resample="avg",
                    down_factors=(1, 2), attention_axes=[[1], [0]])
    assert net.emb_dim == 16 and net.size_multiple == (1, 4)
    assert net.channel_mult == (1, 2, 2) and net.attention_levels == (2,)
    assert isinstance(net.down[-1][1], FactorisedAttention)
    assert net(torch.randn(1, 1, 3, 8), torch.rand(1)).shape == (1, 1, 3, 8)


def test_signature_lists_unet_keywords_and_unknown_ones_fail():
    params = inspect.signature(ImageUNet).parameters
    assert not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    unet = set(inspect.signature(UNet).parameters) - {"dims", "input_size"}
    assert unet | {"image_size"} == set(params)
    assert params["base_channels"].default == 32 and params["periodic"].default is False
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['widht'\].*valid options.*"
                                         r"periodic"):
        ImageUNet(widht=3)
    with pytest.raises(ValueError, match=r"\['dims'\].*fixed to 2"):
        ImageUNet(dims=3)
    # the spec system (configs, checkpoints) rejects it too, naming it
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['widht'\]"):
        build_net("polydiff.modalities.image.unet.ImageUNet", widht=3)
    net = build_net("polydiff.modalities.image.unet.ImageUNet", base_channels=8, periodic=True)
    assert net.periodic == (True, True)
