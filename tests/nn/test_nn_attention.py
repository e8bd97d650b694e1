"""Attention layouts: full vs factorised attention, relative-position bias, EmbBlock routing."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from polydiff.nn import (
    Attention,
    EmbBlock,
    EmbSequential,
    FactorisedAttention,
    RelativePositionBias,
    ResBlock,
    attention_block,
    parse_attention_axes,
)

MAX_SIDE = {1: 5, 2: 3, 3: 3}


def randomize_(module: torch.nn.Module, seed: int = 0, scale: float = 0.3) -> None:
    """Give every parameter random values (zero-initialised layers and bias tables included)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)


@st.composite
def layouts(draw):
    """``(sizes, groups, relative_axes)``: tiny spatial sizes for 1-3 axes and a random
    factorisation of (some of) the axes into groups, in random order."""
    dims = draw(st.integers(1, 3))
    sizes = tuple(draw(st.integers(1, MAX_SIDE[dims])) for _ in range(dims))
    order = draw(st.permutations(range(dims)))
    cuts = sorted(draw(st.sets(st.integers(1, dims - 1), max_size=dims - 1))) if dims > 1 else []
    bounds = [0, *cuts, dims]
    groups = [list(order[a:b]) for a, b in zip(bounds, bounds[1:], strict=False)]
    if len(groups) > 1 and draw(st.booleans()):
        groups.pop()  # an axis without attention
    covered = sorted(a for g in groups for a in g)
    relative = sorted(draw(st.sets(st.sampled_from(covered))))
    return sizes, groups, relative


@given(layouts(), st.integers(1, 2), st.integers(1, 2), st.integers(0, 2**16))
@settings(max_examples=20, deadline=None)
def test_factorised_attention_keeps_shape_and_is_identity_at_init(layout, batch, heads, seed):
    sizes, groups, relative = layout
    c = 2 * heads
    block = FactorisedAttention(c, heads, groups, relative, max_distance=2)
    assert len(block) == len(groups)
    x = torch.randn(batch, c, *sizes)
    assert torch.equal(block(x), x)  # zero-initialised output projections
    randomize_(block, seed)
    y = block(x)
    assert y.shape == x.shape
    assert torch.isfinite(y).all()


@given(st.integers(1, 3), st.integers(1, 2), st.integers(0, 2**16))
@settings(max_examples=15, deadline=None)
def test_one_group_of_all_axes_equals_full_attention(dims, heads, seed):
    g = torch.Generator().manual_seed(seed)
    sizes = [int(s) for s in torch.randint(1, MAX_SIDE[dims] + 1, (dims,), generator=g)]
    c = 2 * heads
    full = Attention(c, heads).double()
    randomize_(full, seed)
    # the group's axes in any order: groups are sorted, so the flattening order is the same
    group = list(range(dims))[::-1]
    factorised = FactorisedAttention(c, heads, [group]).double()
    factorised[0].load_state_dict(full.state_dict())  # same parameter names, same weights
    x = torch.randn(2, c, *sizes, generator=g, dtype=torch.float64)
    torch.testing.assert_close(factorised(x), full(x), rtol=1e-12, atol=1e-12)


def test_default_attention_is_the_original_computation():
    """The full layout keeps its parameter names and its exact arithmetic (bit for bit)."""
    attn = Attention(4, 2)
    assert list(attn.state_dict()) == ["norm.weight", "norm.bias", "qkv.weight", "qkv.bias",
                                       "proj.weight", "proj.bias"]
    assert list(attention_block(4, 2).state_dict()) == list(attn.state_dict())
    randomize_(attn, 3)
    x = torch.randn(2, 4, 3, 5)
    b, c, n = 2, 4, 15
    qkv = attn.qkv(attn.norm(x).reshape(b, c, n)).reshape(b, 3, 2, c // 2, n).transpose(-1, -2)
    q, k, v = qkv.unbind(1)
    ref = x + attn.proj(F.scaled_dot_product_attention(q, k, v).transpose(-1, -2)
                        .reshape(b, c, n)).reshape(x.shape)
    assert torch.equal(attn(x), ref)


def test_spatial_then_temporal_on_a_single_frame():
    """``[[1, 2], [0]]`` on ``(B, C, 1, H, W)``: the spatial layer is image attention on the
    frame; the temporal layer attends over one frame, so its attention returns ``v`` and the
    layer is ``x + proj(v)``, whatever q, k and the relative bias are."""
    torch.manual_seed(0)
    c, heads = 4, 2
    block = FactorisedAttention(c, heads, [[1, 2], [0]], relative_axes=[0]).double()
    randomize_(block, 1)
    spatial, temporal = block
    assert spatial.axes == (1, 2) and temporal.axes == (0,) and temporal.relative_axes == (0,)
    x = torch.randn(2, c, 1, 3, 4, dtype=torch.float64)

    image = Attention(c, heads).double()
    image.load_state_dict(spatial.state_dict())
    h = spatial(x)
    torch.testing.assert_close(h, image(x[:, :, 0]).unsqueeze(2), rtol=1e-12, atol=1e-12)

    v = temporal.qkv(temporal.norm(h).reshape(2, c, -1))[:, 2 * c:]
    want = h + temporal.proj(v).reshape(h.shape)
    out = block(x)
    torch.testing.assert_close(out, want, rtol=1e-12, atol=1e-12)
    with torch.no_grad():  # q, k and the bias do not matter over a length-1 axis
        temporal.qkv.weight[: 2 * c].mul_(-3.0)
        temporal.relative_bias[0].table.add_(5.0)
    torch.testing.assert_close(block(x), out, rtol=1e-12, atol=1e-12)
    # at initialisation (zero output projections) the block is the identity, also on one frame
    fresh = FactorisedAttention(c, heads, [[1, 2], [0]], relative_axes=[0])
    x1 = torch.randn(2, c, 1, 3, 4)
    assert torch.equal(fresh(x1), x1)


def test_relative_bias_matches_a_manual_softmax_and_reaches_sdpa_as_attn_mask(monkeypatch):
    torch.manual_seed(0)
    c, heads, n = 4, 2, 6
    attn = Attention(c, heads, axes=[0], relative_axes=[0], max_distance=2).double()
    randomize_(attn, 2, scale=0.5)
    x = torch.randn(1, c, n, dtype=torch.float64)
    qkv = attn.qkv(attn.norm(x)).reshape(3, heads, c // heads, n).transpose(-1, -2)
    q, k, v = qkv.unbind(0)  # (heads, n, head_dim)
    table = attn.relative_bias[0].table
    dist = torch.arange(n)[None, :] - torch.arange(n)[:, None]
    bias = table[:, dist.clamp(-2, 2) + 2]
    scores = q @ k.transpose(-1, -2) / math.sqrt(c // heads) + bias
    ref = (scores.softmax(-1) @ v).transpose(-1, -2).reshape(1, c, n)
    masks = []
    sdpa = F.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, **kw):
        masks.append(attn_mask)
        return sdpa(q, k, v, attn_mask=attn_mask, **kw)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    torch.testing.assert_close(attn(x), x + attn.proj(ref), rtol=1e-10, atol=1e-10)
    assert len(masks) == 1 and masks[0].shape == (heads, n, n)
    torch.testing.assert_close(masks[0], bias)


def test_relative_bias_generalises_to_unseen_lengths():
    """Trained at 8 (distances 0..7), evaluated at 16: the table does not depend on the length,
    nearby pairs get the same bias, and farther ones share the clipped edge entries."""
    rel = RelativePositionBias(heads=3, max_distance=7)
    randomize_(rel, 4)
    b8, b16 = rel(8), rel(16)
    assert b8.shape == (3, 8, 8) and b16.shape == (3, 16, 16)
    torch.testing.assert_close(b16[:, :8, :8], b8, rtol=0, atol=0)
    torch.testing.assert_close(b16[:, 8:, 8:], b8, rtol=0, atol=0)  # depends on j - i only
    torch.testing.assert_close(b16[:, 0, 15], rel.table[:, -1], rtol=0, atol=0)
    torch.testing.assert_close(b16[:, 15, 0], rel.table[:, 0], rtol=0, atol=0)
    assert rel(1).shape == (3, 1, 1)
    # a temporal layer trained at 8 frames runs at 16 and 1 frames
    temporal = FactorisedAttention(4, 2, [[1, 2], [0]], relative_axes=[0], max_distance=7)
    randomize_(temporal, 5)
    for frames in (8, 16, 1):
        x = torch.randn(1, 4, frames, 2, 2)
        y = temporal(x)
        assert y.shape == x.shape and torch.isfinite(y).all()


def test_relative_bias_over_two_axes_is_the_sum_of_per_axis_biases():
    attn = Attention(2, 1, axes=[0, 1], relative_axes=[0, 1], max_distance=1)
    randomize_(attn, 6)
    bias = attn._bias((0, 1), [2, 3])  # (1, 6, 6) over the row-major (2, 3) positions
    b0, b1 = attn.relative_bias[0](2), attn.relative_bias[1](3)
    for p in range(6):
        for q in range(6):
            want = b0[0, p // 3, q // 3] + b1[0, p % 3, q % 3]
            torch.testing.assert_close(bias[0, p, q], want)


def test_factorised_attention_is_not_quadratic_in_all_positions(monkeypatch):
    """Per-call sequence lengths are those of the groups (H*W and F), never F*H*W."""
    calls = []
    sdpa = F.scaled_dot_product_attention

    def spy(q, k, v, attn_mask=None, **kw):
        calls.append((q.shape[0] * q.shape[1], q.shape[-2], k.shape[-2], attn_mask))
        return sdpa(q, k, v, attn_mask=attn_mask, **kw)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    f, h, w = 4, 3, 5
    x = torch.randn(1, 2, f, h, w)
    FactorisedAttention(2, 1, [[1, 2], [0]], relative_axes=[0])(x)
    assert [(n, m) for _, n, m, _ in calls] == [(h * w, h * w), (f, f)]
    assert calls[0][3] is None and calls[1][3].shape == (1, f, f)
    scores = sum(batch * n * m for batch, n, m, _ in calls)  # entries of all score matrices
    assert scores == f * (h * w) ** 2 + h * w * f**2 < (f * h * w) ** 2
    calls.clear()
    Attention(2, 1)(x)
    assert [(n, m) for _, n, m, _ in calls] == [(f * h * w, f * h * w)]


@pytest.mark.parametrize(("value", "match"), [
    ([[0], [3]], r"attention_axes\[1\].*0\.\.2"),
    ([[0, 0]], r"attention_axes\[0\].*distinct"),
    ([[]], r"attention_axes\[0\].*at least one"),
    ([], "non-empty"),
    ("0", "non-empty"),
    ([[-1]], "ints >= 0"),
])
def test_parse_attention_axes_rejects_bad_layouts(value, match):
    with pytest.raises(ValueError, match=match):
        parse_attention_axes(value, 3)


def test_parse_attention_axes_sorts_groups():
    assert parse_attention_axes(None, 2) is None
    assert parse_attention_axes([[2, 1], [0]], 3) == ((1, 2), (0,))


def test_attention_rejects_bad_axes():
    with pytest.raises(ValueError, match="relative_axes"):
        Attention(2, 1, axes=[1], relative_axes=[0])
    with pytest.raises(ValueError, match="relative"):
        FactorisedAttention(2, 1, [[1]], relative_axes=[0])
    with pytest.raises(ValueError, match="spatial axes"):
        Attention(2, 1, axes=[2])(torch.randn(1, 2, 3, 3))
    with pytest.raises(ValueError, match="max_distance"):
        RelativePositionBias(1, -1)


class Shift(EmbBlock):
    """A custom conditioned block: adds the embedding's mean per sample."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor | None) -> torch.Tensor:
        return x + emb.mean(1).reshape(-1, *([1] * (x.ndim - 1)))


class Double(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 2 * x


def test_emb_sequential_passes_emb_to_emb_blocks_only():
    seq = EmbSequential([Shift(), Double(), Shift()])
    x, emb = torch.randn(2, 3, 4), torch.randn(2, 5)
    m = emb.mean(1).reshape(2, 1, 1)
    torch.testing.assert_close(seq(x, emb), 2 * (x + m) + m)
    assert issubclass(ResBlock, EmbBlock)
    with pytest.raises(NotImplementedError, match="forward"):
        EmbBlock()(x, emb)
