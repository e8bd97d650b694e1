"""Tests of the generic N-d UNet: shapes, zero init, conditioning, dtypes, periodicity."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polydiff.nn import UNet, parse_down_factors


def randomize_(module: torch.nn.Module, seed: int = 0, scale: float = 0.2) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)


def small_unet(dims: int = 2, **kw) -> UNet:
    cfg = dict(in_channels=2, base_channels=8, channel_mult=(1, 2), num_res_blocks=1,
               attention_levels=(-1,), attention_heads=2)
    cfg.update(kw)
    return UNet(dims, **cfg)


@given(st.data())
@settings(max_examples=12, deadline=None)
def test_unet_output_shape_equals_input_shape(data):
    dims = data.draw(st.integers(1, 3), label="dims")
    levels = data.draw(st.integers(1, 3 if dims < 3 else 2), label="levels")
    factors = tuple(data.draw(st.sampled_from([1, 2]), label=f"factor{i}") for i in range(dims))
    in_ch = data.draw(st.integers(1, 3), label="in_ch")
    out_ch = data.draw(st.sampled_from([None, 1, 2]), label="out_ch")
    cond_ch = data.draw(st.integers(0, 2), label="cond_ch")
    mult = tuple(f ** (levels - 1) for f in factors)
    k = tuple(data.draw(st.integers(1, 2 if dims < 3 else 1), label=f"k{i}") for i in range(dims))
    size = tuple(m * kk for m, kk in zip(mult, k, strict=True))
    net = UNet(dims, in_ch, out_ch, base_channels=4, channel_mult=(1, 2, 2)[:levels],
               num_res_blocks=1, attention_levels=(levels - 1,), attention_heads=2,
               down_factors=factors, cond_channels=cond_ch, num_classes=3)
    assert net.size_multiple == mult
    x = torch.randn(2, in_ch, *size)
    cond = torch.randn(2, cond_ch, *size) if cond_ch else None
    y = net(x, torch.rand(2), torch.tensor([0, 2]), cond)
    assert y.shape == (2, out_ch or in_ch, *size)
    assert torch.count_nonzero(y) == 0  # zero-initialised output conv


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_unet_output_is_zero_at_init_and_trainable(dims):
    net = small_unet(dims)
    x = torch.randn(2, 2, *([4] * dims))
    y = net(x, torch.tensor([0.1, 500.0]))
    assert torch.equal(y, torch.zeros_like(x))
    (y - x).pow(2).mean().backward()
    assert net.out_conv.conv.weight.grad.abs().sum() > 0  # gradients reach the zero layer


def test_unet_rejects_non_divisible_size():
    net = small_unet(2, channel_mult=(1, 2, 2))
    assert net.size_multiple == (4, 4)
    with pytest.raises(ValueError, match=r"size 6 .*multiple of 4"):
        net(torch.randn(1, 2, 8, 6), torch.rand(1))
    net3 = small_unet(3, down_factors=(1, 2, 2))
    assert net3.size_multiple == (1, 2, 2)
    net3(torch.randn(1, 2, 3, 4, 4), torch.rand(1))  # odd time axis is fine with factor 1
    with pytest.raises(ValueError, match=r"size 3 along spatial axis 1"):
        net3(torch.randn(1, 2, 4, 3, 4), torch.rand(1))


def test_unet_rejects_bad_inputs():
    net = small_unet(2, num_classes=3, cond_channels=1)
    x = torch.randn(2, 2, 4, 4)
    with pytest.raises(ValueError, match="c_noise"):
        net(x, torch.rand(3))
    with pytest.raises(ValueError, match="class_labels"):
        net(x, torch.rand(2), torch.tensor([0, 4]))
    with pytest.raises(ValueError, match="cond"):
        net(x, torch.rand(2), cond=torch.randn(2, 2, 4, 4))
    with pytest.raises(ValueError, match="x must have shape"):
        net(torch.randn(2, 3, 4, 4), torch.rand(2))
    with pytest.raises(ValueError, match="num_classes"):
        small_unet(2)(x, torch.rand(2), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="attention_levels"):
        small_unet(2, attention_levels=(2,))


def test_parse_down_factors():
    assert parse_down_factors(2, 2, 2) == ((2, 2), (2, 2))
    assert parse_down_factors((1, 2, 2), 3, 1) == ((1, 2, 2),)
    assert parse_down_factors([(1, 2), (2, 2)], 2, 2) == ((1, 2), (2, 2))
    with pytest.raises(ValueError, match="down_factors"):
        parse_down_factors([(1, 2)], 2, 2)
    with pytest.raises(ValueError, match="down_factors"):
        parse_down_factors((2, 2, 2), 2, 1)


def test_class_conditioning_and_null_class():
    torch.manual_seed(0)
    net = small_unet(2, num_classes=3).eval()
    assert net.null_class == 3
    assert net.class_emb.num_embeddings == 4
    randomize_(net)
    x, c = torch.randn(2, 2, 4, 4), torch.rand(2)
    y0 = net(x, c, torch.tensor([0, 0]))
    y1 = net(x, c, torch.tensor([1, 1]))
    y_null = net(x, c, torch.full((2,), net.null_class))
    assert not torch.allclose(y0, y1)
    assert not torch.allclose(y0, y_null)
    torch.testing.assert_close(net(x, c), y_null, rtol=0, atol=0)  # None means null class
    # per-sample labels act per sample
    mixed = net(x, c, torch.tensor([0, 1]))
    torch.testing.assert_close(mixed[0], y0[0])
    torch.testing.assert_close(mixed[1], y1[1])


def test_cond_channels_change_output_and_default_to_zeros():
    net = small_unet(2, cond_channels=2).eval()
    randomize_(net, 1)
    x, c = torch.randn(2, 2, 4, 4), torch.rand(2)
    zeros = torch.zeros(2, 2, 4, 4)
    torch.testing.assert_close(net(x, c), net(x, c, cond=zeros), rtol=0, atol=0)
    assert not torch.allclose(net(x, c), net(x, c, cond=torch.randn(2, 2, 4, 4)))


def test_noise_level_changes_output():
    for kind in ("sinusoidal", "fourier"):
        net = small_unet(1, emb_kind=kind).eval()
        randomize_(net, 2)
        x = torch.randn(1, 2, 8)
        assert not torch.allclose(net(x, torch.tensor([1.0])), net(x, torch.tensor([900.0])))


def test_float64_and_bf16_autocast():
    net = small_unet(2, num_classes=2).eval()
    randomize_(net, 3)
    x, c, lab = torch.randn(2, 2, 8, 8), torch.rand(2) * 1000, torch.tensor([0, 1])
    ref = net(x, c, lab)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        yb = net(x, c, lab)
    assert torch.isfinite(yb).all()
    assert yb.shape == ref.shape
    rel = (yb.float() - ref).norm() / ref.norm()
    assert rel < 0.1, rel
    net64 = net.double()
    y64 = net64(x.double(), c.double(), lab)
    assert y64.dtype == torch.float64
    assert torch.isfinite(y64).all()
    torch.testing.assert_close(y64.float(), ref, rtol=1e-4, atol=1e-4)


def test_periodic_unet_commutes_with_shift_along_periodic_axis():
    net = small_unet(2, in_channels=1, periodic=(False, True), attention_levels=()).double()
    randomize_(net, 4)
    net.eval()
    x = torch.randn(1, 1, 4, 8, dtype=torch.float64)
    c = torch.tensor([3.0], dtype=torch.float64)
    shift = net.size_multiple[1]  # shifts by the total down factor commute exactly
    torch.testing.assert_close(net(torch.roll(x, shift, -1), c), torch.roll(net(x, c), shift, -1))
    plain = small_unet(2, in_channels=1, attention_levels=()).double()
    randomize_(plain, 4)
    shifted = plain(torch.roll(x, shift, -1), c)
    assert not torch.allclose(shifted, torch.roll(plain(x, c), shift, -1))


def test_avg_resample_and_per_level_factors():
    net = UNet(1, 1, base_channels=4, channel_mult=(1, 1, 1), num_res_blocks=1,
               down_factors=[(4,), (2,)], resample="avg", attention_heads=1)
    assert net.size_multiple == (8,)
    assert net(torch.randn(2, 1, 16), torch.rand(2)).shape == (2, 1, 16)
