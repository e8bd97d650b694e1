"""The waveform U-Net: shapes for any accepted channel count and length, folding, conditioning
(class with a null class, vector, channels), CFG, and clear errors."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polydiff import Denoiser, guidance, schedules
from polydiff.modalities.audio.unet import AudioUNet, fold, unfold
from polydiff.training import build_net


def randomize_(module: torch.nn.Module, seed: int = 0, scale: float = 0.1) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)


def tiny(**kw) -> AudioUNet:
    cfg = dict(channels=(8, 16, 16), factors=(2, 2), blocks=1, patch=2, attention_heads=2)
    cfg.update(kw)
    return AudioUNet(**cfg)


@given(c=st.integers(1, 3), t=st.integers(1, 12), patch=st.sampled_from([1, 2, 4]),
       factors=st.lists(st.sampled_from([2, 4]), min_size=0, max_size=2), b=st.integers(1, 3))
@settings(max_examples=15, deadline=None)
def test_any_accepted_channel_count_and_length_keeps_its_shape(c, t, patch, factors, b):
    net = AudioUNet(in_channels=c, channels=(8,) * (len(factors) + 1), factors=factors,
                    blocks=1, patch=patch, attention_levels=(-1,), attention_heads=2)
    randomize_(net)
    length = t * net.size_multiple[0]
    x = torch.randn(b, c, length)
    y = net(x, torch.rand(b))
    assert y.shape == x.shape and torch.isfinite(y).all()


@given(c=st.integers(1, 3), n=st.integers(1, 6), patch=st.integers(1, 5))
@settings(max_examples=20, deadline=None)
def test_fold_is_lossless(c, n, patch):
    x = torch.randn(2, c, n * patch)
    folded = fold(x, patch)
    assert folded.shape == (2, c * patch, n)
    assert torch.equal(folded[:, 0], x[:, 0, ::patch])
    assert torch.equal(unfold(folded, patch), x)


def test_output_is_zero_at_init_and_lengths_must_divide():
    net = tiny()
    assert net.size_multiple == (8,)
    assert not net(torch.randn(2, 1, 32), torch.rand(2)).any()
    with pytest.raises(ValueError, match="length 30 must be a multiple of 8"):
        net(torch.randn(1, 1, 30), torch.rand(1))


def test_stereo_model_and_mono_input_are_named():
    net = tiny(in_channels=2)
    assert net(torch.randn(1, 2, 16), torch.rand(1)).shape == (1, 2, 16)
    with pytest.raises(ValueError, match=r"shape \(B, 2, T\) \(stereo audio\), got \(1, 1, 16\)"):
        net(torch.randn(1, 1, 16), torch.rand(1))
    with pytest.raises(ValueError, match=r"\(mono audio\), got \(1, 2, 16\)"):
        tiny()(torch.randn(1, 2, 16), torch.rand(1))


def test_class_conditioning_null_class_and_cfg():
    net = tiny(num_classes=3).eval()
    randomize_(net, 1)
    assert net.null_class == 3
    x, c = torch.randn(2, 1, 32), torch.rand(2)
    y0, y1 = net(x, c, torch.tensor([0, 0])), net(x, c, torch.tensor([1, 1]))
    assert not torch.allclose(y0, y1)
    torch.testing.assert_close(net(x, c), net(x, c, torch.tensor([3, 3])), rtol=0, atol=0)
    den = Denoiser(net, schedules.VPCosine(), "v")
    t = torch.full((2,), 0.5)
    labels = torch.tensor([0, 1])
    cond = den(x, t, class_labels=labels)
    uncond = den(x, t, class_labels=torch.full((2,), 3))
    guided = guidance.cfg(den, 2.0, uncond={"class_labels": torch.tensor(3)})(
        x, t, class_labels=labels)
    torch.testing.assert_close(guided, uncond + 2.0 * (cond - uncond), rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"class_labels must lie in \[0, 3\]"):
        net(x, c, torch.tensor([4, 0]))


def test_vector_and_channel_conditioning_change_the_output():
    net = tiny(vector_cond_dim=2, cond_channels=2).eval()
    randomize_(net, 2)
    x, c = torch.randn(2, 1, 32), torch.rand(2)
    base = net(x, c)
    assert not torch.allclose(base, net(x, c, vector=torch.tensor([[0.1, 0.5], [0.2, 0.5]])))
    torch.testing.assert_close(base, net(x, c, cond=torch.zeros(2, 2, 32)), rtol=0, atol=0)
    assert not torch.allclose(base, net(x, c, cond=torch.randn(2, 2, 32)))
    with pytest.raises(ValueError, match=r"vector must have shape \(2, 2\)"):
        net(x, c, vector=torch.zeros(2, 3))
    with pytest.raises(ValueError, match=r"cond must have shape \(2, 2, 32\)"):
        net(x, c, cond=torch.zeros(2, 1, 32))


def test_options_are_checked_and_specs_rebuild_it():
    with pytest.raises(ValueError, match="factors must be an int >= 1 or 2 of them"):
        AudioUNet(channels=(8, 8, 8), factors=(2,))
    with pytest.raises(ValueError, match="attention_heads=3 must divide the 8 channels"):
        tiny(channels=(8, 8, 8), attention_heads=3)
    with pytest.raises(ValueError, match="attention_levels entry 5 is out of range"):
        tiny(attention_levels=(5,))
    net = build_net("polydiff.modalities.audio.unet.AudioUNet", channels=[8, 16], factors=[2],
                    blocks=1, patch=2, attention_heads=2, num_classes=2)
    assert isinstance(net, AudioUNet) and net.null_class == 2
