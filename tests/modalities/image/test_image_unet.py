"""The 2D image U-Net preset."""

from __future__ import annotations

import pytest
import torch

from polydiff.modalities.image import ImageUNet, image_unet
from polydiff.nn import Attention, UNet


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
    net = image_unet(in_channels=3, image_size=16, attention_resolutions=(8, 4), base_channels=8)
    assert net.attention_levels == (1, 2)
    assert net.in_channels == net.out_channels == 3
    with pytest.raises(ValueError, match="attention_resolutions"):
        image_unet(image_size=16, attention_resolutions=(5,))
    with pytest.raises(ValueError, match="image_size"):
        image_unet(attention_resolutions=(8,))


def test_rgb_conditional_forward_and_size_check():
    net = image_unet(in_channels=3, base_channels=8, num_classes=2, attention_heads=2).eval()
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
