"""Tests of the generic N-d UNet: shapes, zero init, conditioning, dtypes, periodicity,
attention layouts and levels, and the default layout's unchanged parameter names."""

from __future__ import annotations

import hashlib

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from polydiff.nn import Attention, FactorisedAttention, UNet, parse_down_factors


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


# Parameter names of UNet(1, 1, base_channels=4, channel_mult=(1, 2), num_res_blocks=1,
# attention_levels=(-1,), attention_heads=2, num_classes=2), recorded before attention layouts
# existed: each module has a weight and a bias, except class_emb (weight only).
DEFAULT_MODULES = """
noise_emb.mlp.0 noise_emb.mlp.2 class_emb input_conv.conv
down.0.0.norm1 down.0.0.conv1.conv down.0.0.norm2 down.0.0.emb_proj.1 down.0.0.conv2.conv
down.1.0.op.conv
down.2.0.norm1 down.2.0.conv1.conv down.2.0.norm2 down.2.0.emb_proj.1 down.2.0.conv2.conv
down.2.0.skip.conv down.2.1.norm down.2.1.qkv down.2.1.proj
mid.0.norm1 mid.0.conv1.conv mid.0.norm2 mid.0.emb_proj.1 mid.0.conv2.conv
mid.1.norm mid.1.qkv mid.1.proj
mid.2.norm1 mid.2.conv1.conv mid.2.norm2 mid.2.emb_proj.1 mid.2.conv2.conv
up.0.0.norm1 up.0.0.conv1.conv up.0.0.norm2 up.0.0.emb_proj.1 up.0.0.conv2.conv
up.0.0.skip.conv up.0.1.norm up.0.1.qkv up.0.1.proj
up.1.0.norm1 up.1.0.conv1.conv up.1.0.norm2 up.1.0.emb_proj.1 up.1.0.conv2.conv
up.1.0.skip.conv up.1.1.norm up.1.1.qkv up.1.1.proj up.1.2.conv.conv
up.2.0.norm1 up.2.0.conv1.conv up.2.0.norm2 up.2.0.emb_proj.1 up.2.0.conv2.conv
up.2.0.skip.conv
up.3.0.norm1 up.3.0.conv1.conv up.3.0.norm2 up.3.0.emb_proj.1 up.3.0.conv2.conv
up.3.0.skip.conv
out_norm out_conv.conv
""".split()

# sha256 of "name:shape" lines of the state_dict, recorded before attention layouts existed
DEFAULT_DIGESTS = [
    ((1, 1), dict(base_channels=4, channel_mult=(1, 2), num_res_blocks=1,
                  attention_levels=(-1,), attention_heads=2, num_classes=2),
     "337157455250edde8de2688a1f79ba58b167b32c21272ac939583d4bc5f3b7a1"),
    ((2, 1), {}, "2beed5ced1a21211890446bd231910a9bb5b2ddbb357d7c0bf765403bc8638ad"),
    ((3, 2), dict(down_factors=(1, 2, 2)),
     "87b0ec32be94b4548c36efc39bdef6342fdc6ffa2ca6c56c7188f3fa78a76390"),
    ((2, 3), dict(base_channels=32, channel_mult=(1, 2, 2), num_res_blocks=1,
                  attention_levels=(-1,), dropout=0.1, num_classes=10),
     "5f574f0e7224655e4cf9c2bedee88d833d168dc98c2ac047a6c9a6bc4a0e2ae0"),
]


def state_digest(net: torch.nn.Module) -> str:
    lines = (f"{k}:{tuple(v.shape)}" for k, v in net.state_dict().items())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def test_default_layout_keeps_state_dict_keys():
    """Checkpoints of the full-attention default still load: same names, same shapes."""
    net = UNet(1, 1, base_channels=4, channel_mult=(1, 2), num_res_blocks=1,
               attention_levels=(-1,), attention_heads=2, num_classes=2)
    want = [f"{m}.{p}" for m in DEFAULT_MODULES
            for p in (("weight",) if m == "class_emb" else ("weight", "bias"))]
    assert list(net.state_dict()) == want
    for args, kw, digest in DEFAULT_DIGESTS:
        assert state_digest(UNet(*args, **kw)) == digest, (args, kw)
    explicit = UNet(1, 1, base_channels=4, channel_mult=(1, 2), num_res_blocks=1,
                    attention_levels=(-1,), attention_heads=2, num_classes=2,
                    attention_axes=None, relative_position_axes=[])
    assert list(explicit.state_dict()) == want


@given(st.data())
@settings(max_examples=8, deadline=None)
def test_factorised_unet_output_shape_equals_input_shape(data):
    dims = data.draw(st.integers(1, 3), label="dims")
    order = data.draw(st.permutations(range(dims)), label="order")
    split = data.draw(st.integers(1, dims), label="split")
    groups = [list(order[:split])] + ([list(order[split:])] if split < dims else [])
    relative = data.draw(st.sets(st.sampled_from(range(dims))), label="relative")
    size = tuple(data.draw(st.sampled_from([2, 4]), label=f"size{i}") for i in range(dims))
    net = UNet(dims, 1, base_channels=4, channel_mult=(1, 1), num_res_blocks=1,
               attention_levels=(0, 1), attention_heads=2, attention_axes=groups,
               relative_position_axes=sorted(relative), max_relative_distance=2)
    assert isinstance(net.mid[1], FactorisedAttention)
    randomize_(net, data.draw(st.integers(0, 2**16), label="seed"))
    x = torch.randn(2, 1, *size)
    y = net(x, torch.rand(2))
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


def test_video_unet_spatial_then_temporal_attention(monkeypatch):
    """A video preset's layout: frames keep their count, attention is per frame then per pixel,
    the temporal bias handles unseen frame counts (8 -> 16) and a single frame."""
    net = UNet(3, 1, base_channels=4, channel_mult=(1, 2), num_res_blocks=1,
               attention_levels=(0,), attention_heads=2, down_factors=(1, 2, 2),
               attention_axes=[[1, 2], [0]], relative_position_axes=[0],
               max_relative_distance=7)
    assert net.attention_axes == ((1, 2), (0,)) and net.relative_position_axes == (0,)
    randomize_(net, 7)
    calls = []
    sdpa = F.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, **kw):
        calls.append(q.shape[-2])
        return sdpa(q, k, v, attn_mask=attn_mask, **kw)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    for frames in (8, 16, 1):
        calls.clear()
        x = torch.randn(1, 1, frames, 4, 4)
        y = net(x, torch.rand(1))
        assert y.shape == x.shape and torch.isfinite(y).all()
        # per-frame (4*4 at level 0, 2*2 in the middle) and per-pixel (frames) sequences only
        assert set(calls) <= {16, 4, frames}
        assert frames in calls


def test_full_attention_with_relative_bias():
    net = UNet(1, 1, base_channels=4, channel_mult=(1,), num_res_blocks=1,
               attention_levels=(0,), attention_heads=2, relative_position_axes=[0])
    assert isinstance(net.mid[1], Attention) and net.mid[1].axes is None
    assert "mid.1.relative_bias.0.table" in net.state_dict()
    randomize_(net, 8)
    assert net(torch.randn(2, 1, 6), torch.rand(2)).shape == (2, 1, 6)


def test_unet_rejects_bad_attention_layouts():
    with pytest.raises(ValueError, match=r"attention_axes\[1\]"):
        small_unet(2, attention_axes=[[0], [2]])
    with pytest.raises(ValueError, match=r"relative_position_axes \[1\] are in no"):
        small_unet(2, attention_axes=[[0]], relative_position_axes=[1])
    with pytest.raises(ValueError, match="relative_position_axes"):
        small_unet(2, relative_position_axes=[2])


def test_attention_resolutions_choose_levels_per_axis():
    # 2-D: an int is that size on every axis
    net = small_unet(2, channel_mult=(1, 1, 1), attention_levels=(), input_size=16,
                     attention_resolutions=[8, 4])
    assert net.attention_levels == (1, 2)
    # 3-D video, time kept: per-axis sizes (F, H, W) = (4, 8, 8), (4, 4, 4), (4, 2, 2)
    video = small_unet(3, channel_mult=(1, 1, 1), attention_levels=(), down_factors=(1, 2, 2),
                       input_size=[4, 8, 8], attention_resolutions=[[4, 4, 4], [4, 2, 2]])
    assert video.attention_levels == (1, 2)
    # down: level-0 block, downsample, level-1 block, downsample, level-2 block
    assert [any(isinstance(m, Attention) for m in stage.modules()) for stage in video.down] == [
        False, False, True, False, True]
    with pytest.raises(ValueError, match=r"attention_resolutions \[5\] .*\[16, 8, 4\]"):
        small_unet(2, channel_mult=(1, 1, 1), attention_levels=(), input_size=16,
                   attention_resolutions=[5])
    with pytest.raises(ValueError, match=r"\[\[4, 8, 8\], \[4, 4, 4\]\]"):
        small_unet(3, attention_levels=(), down_factors=(1, 2, 2), input_size=[4, 8, 8],
                   attention_resolutions=[8])
    with pytest.raises(ValueError, match="needs input_size"):
        small_unet(2, attention_levels=(), attention_resolutions=[8])
    with pytest.raises(ValueError, match="not both"):
        small_unet(2, attention_levels=(0,), input_size=8, attention_resolutions=[8])
    with pytest.raises(ValueError, match=r"attention_resolutions\[0\]"):
        small_unet(3, attention_levels=(), input_size=8, attention_resolutions=[[8, 8]])
