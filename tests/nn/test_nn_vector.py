"""Vector conditioning (``UNet(vector_cond_dim=D)``, ``forward(..., vector=(B, D))``): it changes
the output per sample, is inert at initialisation, and leaves the default network untouched."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polydiff.nn import UNet, VectorEmbedding


def randomize_(module: torch.nn.Module, seed: int = 0, scale: float = 0.2) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=p.dtype) * scale)


def small(dims: int = 1, **kw) -> UNet:
    return UNet(dims, 2, base_channels=8, channel_mult=(1, 2), num_res_blocks=1,
                attention_levels=(-1,), attention_heads=2, **kw)


def test_default_unet_has_no_vector_parameters():
    plain, explicit = small(), small(vector_cond_dim=0)
    assert list(plain.state_dict()) == list(explicit.state_dict())
    assert not any(k.startswith("vector_emb") for k in plain.state_dict())
    with pytest.raises(ValueError, match=r"vector must have shape \(1, 0\) \(vector_cond_dim=0\)"):
        plain(torch.randn(1, 2, 8), torch.rand(1), vector=torch.zeros(1, 2))


@given(dims=st.integers(1, 3), d=st.integers(1, 4), seed=st.integers(0, 100))
@settings(max_examples=6, deadline=None)
def test_vector_changes_the_output_per_sample(dims, d, seed):
    net = small(dims, vector_cond_dim=d).eval()
    randomize_(net, seed)
    x, c = torch.randn(2, 2, *([4] * dims)), torch.rand(2)
    v0, v1 = torch.zeros(2, d), torch.rand(2, d) + 0.5
    y0, y1 = net(x, c, vector=v0), net(x, c, vector=v1)
    assert y0.shape == x.shape
    assert not torch.allclose(y0, y1)
    mixed = net(x, c, vector=torch.stack([v0[0], v1[1]]))
    torch.testing.assert_close(mixed[0], y0[0])
    torch.testing.assert_close(mixed[1], y1[1])


def test_vector_is_inert_at_init_and_none_adds_nothing():
    net = small(vector_cond_dim=2).eval()
    randomize_(net, 3)
    torch.nn.init.zeros_(net.vector_emb.mlp[2].weight)
    torch.nn.init.zeros_(net.vector_emb.mlp[2].bias)
    x, c = torch.randn(2, 2, 8), torch.rand(2)
    torch.testing.assert_close(net(x, c, vector=torch.rand(2, 2)), net(x, c), rtol=0, atol=0)
    fresh = VectorEmbedding(2, 16)
    assert not fresh(torch.rand(3, 2)).any()  # zero-initialised last layer


def test_vector_embedding_features_and_errors():
    emb = VectorEmbedding(2, 8, frequencies=3)
    assert emb.mlp[0].in_features == 2 * (1 + 2 * 3)
    randomize_(emb)
    a, b = emb(torch.tensor([[0.1, 0.2]])), emb(torch.tensor([[0.1, 0.3]]))
    assert a.shape == (1, 8) and not torch.allclose(a, b)
    with pytest.raises(ValueError, match=r"vector must be real with shape \(B, 2\)"):
        emb(torch.zeros(3))
    with pytest.raises(ValueError, match="vector_cond_dim must be an int >= 0"):
        small(vector_cond_dim=-1)
    assert "vector_emb.mlp.0.weight" in small(vector_cond_dim=2).state_dict()
