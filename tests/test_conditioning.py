import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from polydiff import conditioning


@given(dim=st.integers(1, 16).map(lambda k: 2 * k), b=st.integers(1, 4))
def test_embeddings_have_unit_features(dim, b):
    x = torch.linspace(-3, 3, b)
    e = conditioning.sinusoidal_embedding(x, dim)
    assert e.shape == (b, dim)
    half = dim // 2
    assert torch.allclose(e[:, :half] ** 2 + e[:, half:] ** 2, torch.ones(b, half), atol=1e-5)
    f = conditioning.FourierEmbedding(dim)(x)
    assert f.shape == (b, dim)


def test_embedding_separates_noise_levels():
    emb = conditioning.NoiseEmbedding(32, kind="fourier")
    out = emb(torch.tensor([0.1, 0.1, 0.9]))
    assert torch.allclose(out[0], out[1])
    assert not torch.allclose(out[0], out[2])


@given(n_axes=st.integers(0, 3))
def test_film_broadcasts_over_axes(n_axes):
    h = torch.randn(2, 3, *([4] * n_axes))
    ss = torch.randn(2, 6)
    out = conditioning.film(h, ss)
    scale, shift = ss[:, :3], ss[:, 3:]
    idx = (slice(None), slice(None)) + (0,) * n_axes
    assert torch.allclose(out[idx], h[idx] * (1 + scale) + shift)


def test_c_noise_maps():
    t = torch.tensor([0.5])
    a, s = torch.tensor([0.6]), torch.tensor([0.8])
    assert conditioning.c_noise("1000t", t, a, s).item() == pytest.approx(500)
    assert conditioning.c_noise("log_snr", t, a, s).item() == pytest.approx(2 * (-0.2876821), 1e-5)
    assert conditioning.c_noise("edm", t, a, s).item() == pytest.approx(0.25 * 0.2876821, 1e-5)
    with pytest.raises(ValueError, match=r"unknown c_noise map 'sigma'.*'log_snr'"):
        conditioning.c_noise("sigma", t, a, s)
    with pytest.raises(ValueError, match=r"unknown noise embedding kind 'gauss'.*'fourier'"):
        conditioning.NoiseEmbedding(8, kind="gauss")
    with pytest.raises(ValueError, match="dim"):
        conditioning.sinusoidal_embedding(t, 3)
    with pytest.raises(ValueError, match="scale_shift"):
        conditioning.film(torch.zeros(1, 2, 3), torch.zeros(1, 2))
