"""Property tests of the N-d blocks: shapes for 1-3 axes, zero init, equivariances."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from polydiff.nn import (
    Attention,
    Conv,
    Downsample,
    ResBlock,
    Upsample,
    group_norm,
    num_groups,
    pad_axes,
    zero_init,
)

MAX_SIDE = {1: 7, 2: 5, 3: 3}


@st.composite
def shapes(draw, max_batch: int = 2, max_channels: int = 6):
    dims = draw(st.integers(1, 3))
    b = draw(st.integers(1, max_batch))
    c = draw(st.integers(1, max_channels))
    axes = draw(st.lists(st.integers(1, MAX_SIDE[dims]), min_size=dims, max_size=dims))
    # GroupNorm (torch) needs more than one value per group: not 1 channel at 1 position
    assume(c > 1 or math.prod(axes) > 1)
    return dims, (b, c, *axes)


def randomize_(module: torch.nn.Module, seed: int = 0) -> None:
    """Give every parameter random values (zero-initialised layers included)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.3)


@given(st.integers(1, 512), st.integers(1, 64))
@settings(max_examples=60, deadline=None)
def test_num_groups_divides_channels(channels, max_groups):
    g = num_groups(channels, max_groups)
    assert channels % g == 0
    assert 1 <= g <= max_groups
    gn = group_norm(channels, max_groups)
    assert gn.num_groups == g and gn.num_channels == channels


def test_num_groups_examples():
    assert num_groups(128) == 32
    assert num_groups(32) == 8
    assert num_groups(3) == 1
    with pytest.raises(ValueError, match="channels"):
        num_groups(0)


def test_zero_init_zeros_every_parameter():
    lin = zero_init(torch.nn.Linear(3, 4))
    assert all(torch.count_nonzero(p) == 0 for p in lin.parameters())
    assert torch.equal(lin(torch.randn(2, 3)), torch.zeros(2, 4))


@given(shapes(), st.integers(1, 5), st.data())
@settings(max_examples=25, deadline=None)
def test_conv_shape_and_stride(shape, out_ch, data):
    dims, shp = shape
    stride = tuple(data.draw(st.integers(1, 2)) for _ in range(dims))
    k = data.draw(st.sampled_from([1, 2, 3]))
    periodic = tuple(data.draw(st.booleans()) for _ in range(dims))
    conv = Conv(dims, shp[1], out_ch, k, stride=stride, periodic=periodic)
    y = conv(torch.randn(shp))
    want = tuple(-(-n // s) for n, s in zip(shp[2:], stride, strict=True))
    assert y.shape == (shp[0], out_ch, *want)


_CONV_F = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d,
           3: torch.nn.functional.conv3d}


@pytest.mark.parametrize("periodic", [p for d in (1, 2, 3)
                                      for p in itertools.product([False, True], repeat=d)])
def test_conv_equals_explicit_padding_formulation(periodic):
    """Zero padding by the conv itself gives what padding first (``pad_axes``) and an unpadded
    conv give: outputs and gradients, exactly in float64, for kernels 1-4 and strides 1-2."""
    dims = len(periodic)
    sizes = (7, 6, 5)[:dims]
    for k, stride, dtype in itertools.product((1, 2, 3, 4), (1, 2), (torch.float64,
                                                                     torch.float32)):
        torch.manual_seed(k + 10 * stride)
        conv = Conv(dims, 3, 4, k, stride=stride, periodic=periodic).to(dtype)
        randomize_(conv, seed=k)
        # zero axes are padded by the convolution (symmetric part), not by a copy of x
        assert conv.conv.padding == tuple(0 if c else (k - 1) // 2 for c in periodic)
        x = torch.randn(2, 3, *sizes, dtype=dtype, requires_grad=True)
        ref = _CONV_F[dims](pad_axes(x, conv.padding, conv.periodic), conv.conv.weight,
                            conv.conv.bias, conv.conv.stride)
        out = conv(x)
        assert out.shape == ref.shape
        w = torch.randn_like(ref)
        grads_ref = torch.autograd.grad((ref * w).sum(), (x, conv.conv.weight, conv.conv.bias))
        grads = torch.autograd.grad((out * w).sum(), (x, conv.conv.weight, conv.conv.bias))
        tol = {"rtol": 0, "atol": 0} if dtype == torch.float64 else {}
        msg = f"k={k} stride={stride} {dtype}"
        torch.testing.assert_close(out, ref, **tol, msg=msg)
        for a, b in zip(grads, grads_ref, strict=True):
            # float32 weight gradients are long sums taken in another order: compare them at
            # the gradient's scale (float64 stays exact)
            gtol = tol or {"rtol": 1.3e-6, "atol": 1e-6 * float(b.abs().max())}
            torch.testing.assert_close(a, b, **gtol, msg=msg)


@given(st.integers(1, 5), st.integers(0, 12), st.integers(0, 12))
@settings(max_examples=30, deadline=None)
def test_pad_axes_periodic_wraps_any_amount(n, lo, hi):
    x = torch.arange(float(n)).reshape(1, 1, n)
    y = pad_axes(x, [(lo, hi)], [True])
    want = torch.tensor([float(i % n) for i in range(-lo, n + hi)])
    assert torch.equal(y[0, 0], want)
    z = pad_axes(x, [(lo, hi)], [False])
    assert torch.equal(z[0, 0, lo:lo + n], x[0, 0])
    assert z.abs().sum() == x.abs().sum()  # the padding is zeros


def test_pad_axes_mixed_axes():
    x = torch.arange(12.0).reshape(1, 1, 3, 4)
    y = pad_axes(x, [(1, 1), (1, 1)], [False, True])
    assert y.shape == (1, 1, 5, 6)
    assert torch.equal(y[0, 0, 0], torch.zeros(6))  # zero rows on the non-periodic axis
    assert torch.equal(y[0, 0, 1:-1, 0], x[0, 0, :, -1])  # wrapped column
    assert torch.equal(y[0, 0, 1:-1, -1], x[0, 0, :, 0])


@given(shapes(), st.integers(1, 6), st.booleans())
@settings(max_examples=25, deadline=None)
def test_resblock_shape_and_identity_at_init(shape, out_ch, with_emb):
    dims, shp = shape
    assume(out_ch > 1 or math.prod(shp[2:]) > 1)  # GroupNorm needs > 1 value per group
    emb_dim = 5 if with_emb else None
    block = ResBlock(dims, shp[1], out_ch, emb_dim=emb_dim).eval()
    x = torch.randn(shp)
    emb = torch.randn(shp[0], 5) if with_emb else None
    y = block(x, emb)
    assert y.shape == (shp[0], out_ch, *shp[2:])
    # zero-initialised last conv: the block is exactly its skip path
    assert torch.equal(y, block.skip(x))
    if shp[1] == out_ch:
        assert torch.equal(y, x)


def test_resblock_embedding_modulates_after_training():
    block = ResBlock(2, 4, 6, emb_dim=8)
    randomize_(block)
    x = torch.randn(2, 4, 5, 5)
    e1, e2 = torch.randn(2, 8), torch.randn(2, 8)
    assert not torch.allclose(block(x, e1), block(x, e2))
    assert not torch.allclose(block(x, e1), block.skip(x))
    with pytest.raises(ValueError, match="emb"):
        block(x)


@given(shapes(max_channels=3), st.integers(1, 3))
@settings(max_examples=25, deadline=None)
def test_attention_shape_and_identity_at_init(shape, heads):
    dims, shp = shape
    c = shp[1] * heads
    attn = Attention(c, heads)
    x = torch.randn(shp[0], c, *shp[2:])
    y = attn(x)
    assert y.shape == x.shape
    assert torch.equal(y, x)  # zero-initialised output projection


@given(shapes(max_channels=3), st.integers(1, 2), st.integers(0, 2**16))
@settings(max_examples=20, deadline=None)
def test_attention_permutation_equivariant(shape, heads, seed):
    dims, shp = shape
    c = shp[1] * heads
    attn = Attention(c, heads).double()
    randomize_(attn, seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shp[0], c, *shp[2:], generator=g, dtype=torch.float64)
    n = x[0, 0].numel()
    perm = torch.randperm(n, generator=g)

    def permute(t):
        return t.reshape(*t.shape[:2], n)[..., perm].reshape(t.shape)

    assume(n > 1)
    y = attn(x)
    assert not torch.allclose(y, x)  # the block is not the identity any more
    torch.testing.assert_close(attn(permute(x)), permute(y), rtol=1e-10, atol=1e-10)


def test_attention_rejects_bad_heads():
    with pytest.raises(ValueError, match="divisible"):
        Attention(6, 4)


@pytest.mark.parametrize("dims", [1, 2, 3])
def test_periodic_conv_and_resblock_commute_with_circular_shift(dims):
    torch.manual_seed(dims)
    periodic = tuple([False] * (dims - 1) + [True])
    side = 6
    x = torch.randn(2, 3, *([side] * dims), dtype=torch.float64)
    conv = Conv(dims, 3, 4, 3, periodic=periodic).double()
    block = ResBlock(dims, 3, 4, emb_dim=4, periodic=periodic).double()
    randomize_(block)
    emb = torch.randn(2, 4, dtype=torch.float64)
    ax = x.ndim - 1
    for f in (conv, lambda t: block(t, emb)):
        for s in (1, 2, 5):
            torch.testing.assert_close(f(torch.roll(x, s, ax)), torch.roll(f(x), s, ax))
    # control: with zero padding the same shift does not commute
    zero = Conv(dims, 3, 4, 3, periodic=False).double()
    assert not torch.allclose(zero(torch.roll(x, 1, ax)), torch.roll(zero(x), 1, ax))
    if dims > 1:  # the non-periodic axis is zero-padded, so shifts there do not commute
        assert not torch.allclose(conv(torch.roll(x, 1, 2)), torch.roll(conv(x), 1, 2))


def test_periodic_downsample_commutes_with_shift_by_factor():
    torch.manual_seed(0)
    down = Downsample(2, 3, (1, 2), periodic=(False, True)).double()
    x = torch.randn(1, 3, 4, 8, dtype=torch.float64)
    torch.testing.assert_close(down(torch.roll(x, 2, -1)), torch.roll(down(x), 1, -1))


@given(st.data())
@settings(max_examples=30, deadline=None)
def test_down_then_up_restores_shape(data):
    dims = data.draw(st.integers(1, 3))
    factor = tuple(data.draw(st.integers(1, 3)) for _ in range(dims))
    mult = tuple(data.draw(st.integers(1, 3 if dims < 3 else 2)) for _ in range(dims))
    ch = data.draw(st.integers(1, 4))
    mode = data.draw(st.sampled_from(Downsample.MODES))
    x = torch.randn(2, ch, *(f * m for f, m in zip(factor, mult, strict=True)))
    down = Downsample(dims, ch, factor, mode=mode)
    up = Upsample(dims, ch, factor)
    h = down(x)
    assert h.shape == (2, ch, *mult)
    assert up(h).shape == x.shape


def test_upsample_without_conv_is_nearest():
    x = torch.arange(6.0).reshape(1, 1, 2, 3)
    y = Upsample(2, 1, (1, 2), conv=False)(x)
    assert torch.equal(y[0, 0], torch.tensor([[0, 0, 1, 1, 2, 2], [3, 3, 4, 4, 5, 5.0]]))


def test_avg_downsample_averages_blocks():
    x = torch.arange(8.0).reshape(1, 1, 8)
    y = Downsample(1, 1, 4, mode="avg")(x)
    assert torch.equal(y, torch.tensor([[[1.5, 5.5]]]))


def test_downsample_rejects_non_divisible_size():
    with pytest.raises(ValueError, match=r"size 5 .*multiple of the factor 2"):
        Downsample(2, 1, 2)(torch.randn(1, 1, 4, 5))


@pytest.mark.parametrize("bad", [0, 4, 2.0, "2"])
def test_blocks_reject_bad_dims(bad):
    with pytest.raises(ValueError, match="dims"):
        Conv(bad, 1, 1)


def test_conv_rejects_wrong_periodic_length():
    with pytest.raises(ValueError, match="periodic"):
        Conv(2, 1, 1, periodic=(True, False, True))


def test_unknown_downsample_mode_lists_the_modes():
    with pytest.raises(ValueError, match=r"unknown Downsample mode 'max'; expected one of "
                                         r"\['avg', 'conv'\]"):
        Downsample(1, 4, 2, mode="max")
