"""Audio metrics against closed forms, and the classical gap fillers on signals they solve."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polydiff.modalities.audio.baselines import (
    fill_linear,
    fill_lpc,
    fill_zeros,
    lpc_coefficients,
    stable_lpc,
)
from polydiff.modalities.audio.metrics import (
    fad_like,
    frechet_distance,
    gap_frames,
    gap_snr,
    lsd,
    multi_resolution_stft,
)


def noise(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@given(a=st.floats(0.1, 10.0), seed=st.integers(0, 50))
@settings(max_examples=10, deadline=None)
def test_lsd_and_mrstft_of_a_scaled_signal(a, seed):
    x = noise(2, 1, 2048, seed=seed)
    assert float(lsd(x, x)) == 0.0 and float(multi_resolution_stft(x, x)) == pytest.approx(0)
    assert float(lsd(a * x, x, eps=1e-30)) == pytest.approx(abs(20 * math.log10(a)), rel=1e-6)
    assert float(multi_resolution_stft(a * x, x, eps=1e-30)) == pytest.approx(
        abs(1 - a) + abs(math.log(a)), rel=1e-6)


def test_gap_metrics_only_see_frames_touching_the_gap():
    x = noise(1, 4096)
    observed = torch.ones(4096, dtype=torch.bool)
    observed[2000:2100] = False
    frames = gap_frames(observed, 512, 128)[0]
    centres = torch.arange(frames.shape[0]) * 128
    want = (centres + 256 > 2000) & (centres - 256 < 2100)
    assert torch.equal(frames, want)
    y = x.clone()
    y[0, :1000] *= 5.0  # far from the gap: must not count
    assert float(lsd(y, x, observed[None])) == 0.0
    assert float(multi_resolution_stft(y, x, observed[None])) == pytest.approx(0)
    assert float(lsd(y, x)) > 1.0
    with pytest.raises(ValueError, match="has no missing samples"):
        lsd(y, x, torch.ones(1, 4096, dtype=torch.bool))


@given(k=st.floats(0.01, 100.0))
@settings(max_examples=10, deadline=None)
def test_gap_snr_closed_form(k):
    x = noise(1, 1000)
    observed = torch.ones(1000, dtype=torch.bool)
    observed[100:400] = False
    assert float(gap_snr(torch.zeros_like(x), x, observed)) == pytest.approx(0.0, abs=1e-12)
    err = torch.zeros_like(x)
    err[0, 100:400] = x[0, 100:400] * k
    assert float(gap_snr(x + err, x, observed)) == pytest.approx(-20 * math.log10(k), abs=1e-9)


@given(d=st.integers(1, 5), a=st.floats(0.1, 4.0), b=st.floats(0.1, 4.0), seed=st.integers(0, 9))
@settings(max_examples=15, deadline=None)
def test_frechet_distance_closed_forms(d, a, b, seed):
    mu = noise(d, seed=seed)
    eye = torch.eye(d, dtype=torch.float64)
    assert float(frechet_distance(mu, eye, torch.zeros(d), eye)) == pytest.approx(
        float(mu.pow(2).sum()), rel=1e-9, abs=1e-9)
    want = d * (math.sqrt(a) - math.sqrt(b)) ** 2
    assert float(frechet_distance(mu, a * eye, mu, b * eye)) == pytest.approx(want, abs=1e-9)
    q, _ = torch.linalg.qr(noise(d, d, seed=seed + 1))  # any rotation of the same Gaussian
    cov = q @ torch.diag(torch.linspace(0.5, 2.0, d, dtype=torch.float64)) @ q.T
    assert float(frechet_distance(mu, cov, mu, cov)) == pytest.approx(0.0, abs=1e-9)


def test_fad_like_ranks_what_it_should():
    rate = 8000
    t = torch.arange(8000) / rate
    tones = torch.stack([0.3 * torch.sin(2 * math.pi * f * t) for f in (300, 320, 340, 360)])
    more_tones = torch.stack([0.3 * torch.sin(2 * math.pi * f * t) for f in (310, 330, 350)])
    white = 0.3 * noise(4, 8000).float()
    same = float(fad_like(tones, tones, rate))
    near = float(fad_like(more_tones, tones, rate))
    far = float(fad_like(white, tones, rate))
    assert same < 1e-3 and 0.1 < near < far


def test_zeros_and_linear_fill():
    x = torch.linspace(-1, 1, 100)[None].repeat(2, 1)
    observed = torch.ones(100, dtype=torch.bool)
    observed[30:50] = False
    observed[95:] = False
    assert torch.equal(fill_zeros(x, observed)[:, ~observed], torch.zeros(2, 25))
    lin = fill_linear(x, observed)
    torch.testing.assert_close(lin[:, 30:50], x[:, 30:50], rtol=0, atol=1e-6)  # a line is exact
    assert torch.equal(lin[:, observed], x[:, observed])
    assert torch.equal(lin[:, 95:], x[:, 94:95].expand(2, 5))  # the end holds its last value


def test_lpc_fills_a_sinusoid_almost_exactly():
    t = torch.arange(4000, dtype=torch.float64)
    x = (0.5 * torch.sin(2 * math.pi * t / 37.3) + 0.2 * torch.sin(2 * math.pi * t / 11.1))[None]
    observed = torch.ones(4000, dtype=torch.bool)
    observed[2000:2400] = False
    filled = fill_lpc(x, observed, order=16, context=1024)
    assert torch.equal(filled[:, observed], x[:, observed])
    assert float(gap_snr(filled, x, observed)) > 60.0  # a sum of two sines is predicted exactly
    assert float(gap_snr(fill_linear(x, observed), x, observed)) < 3.0
    ar2 = lpc_coefficients(torch.sin(0.3 * t[:200] + 0.1), 2, ridge=0.0)
    torch.testing.assert_close(ar2, torch.tensor([2 * math.cos(0.3), -1.0],
                                                 dtype=torch.float64), rtol=0, atol=1e-9)


def test_stable_lpc_reflects_poles_outside_the_unit_circle():
    # 1 - 2.5 z^-1 + z^-2 has poles 2 and 0.5; reflected: both at 0.5 -> 1 - z^-1 + 0.25 z^-2
    a = stable_lpc(torch.tensor([2.5, -1.0], dtype=torch.float64))
    torch.testing.assert_close(a, torch.tensor([1.0, -0.25], dtype=torch.float64))
    tone = torch.tensor([2 * math.cos(0.3), -1.0], dtype=torch.float64)  # poles on the circle
    assert stable_lpc(tone) is tone


def test_lpc_fill_of_a_rising_onset_stays_bounded():
    # speech onsets rise; the covariance fit extrapolates the rise (a pole at 1.02) over the gap
    t = torch.arange(3000, dtype=torch.float64)
    x = (torch.sin(0.2 * t) * 1.02 ** (t.clamp(max=1000) - 1000))[None]
    observed = torch.ones(3000, dtype=torch.bool)
    observed[1000:2600] = False
    raw = lpc_coefficients(x[0, 990 - 64:1000], 8)
    assert np.abs(np.roots(np.concatenate([[1.0], -raw.numpy()]))).max() > 1.01
    filled = fill_lpc(x, observed, order=8, context=64)
    assert torch.isfinite(filled).all()
    assert float(filled[:, ~observed].abs().max()) <= 2 * float(x[:, observed].abs().max())


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 10_000), start=st.integers(0, 700), length=st.integers(1, 300))
def test_lpc_fill_is_finite_and_keeps_known_samples(seed, start, length):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(1, 1000, generator=g).cumsum(-1) * 0.05
    observed = torch.ones(1000, dtype=torch.bool)
    observed[start:start + length] = False
    filled = fill_lpc(x, observed, order=16, context=256)
    assert torch.isfinite(filled).all()
    assert torch.equal(filled[:, observed], x[:, observed])
