"""Video metrics: PSNR/SSIM per frame, temporal consistency, the Fréchet distance, and the
baselines the benchmark measures against."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from polydiff.metrics import frechet_distance_of
from polydiff.modalities.video.baselines import linear_blend, repeat_last
from polydiff.modalities.video.evaluate import score
from polydiff.modalities.video.metrics import (
    frame_change,
    frechet_distance,
    psnr,
    ssim,
    temporal_error,
)

videos = st.integers(0, 10_000).map(
    lambda s: torch.rand(2, 1, 3, 12, 12, generator=torch.Generator().manual_seed(s)))


def test_psnr_known_values():
    x = torch.rand(2, 3, 4, 8, 8) * 0.5
    assert torch.isinf(psnr(x, x)).all()
    torch.testing.assert_close(psnr(x, x + 0.1), torch.full((2, 4), 20.0))
    with pytest.raises(ValueError, match="one shape"):
        psnr(x, x[:, :, :2])


@given(x=videos, y=videos)
def test_ssim_is_symmetric_bounded_and_one_on_identity(x, y):
    s = ssim(x, y)
    assert s.shape == (2, 3)
    torch.testing.assert_close(s, ssim(y, x))
    assert (s <= 1 + 1e-6).all() and (s >= -1 - 1e-6).all()
    torch.testing.assert_close(ssim(x, x), torch.ones(2, 3))
    assert (ssim(x, (x + 0.3 * y).clamp(0, 1)) < 1).all()


@given(x=videos, y=videos)
def test_ssim_with_one_uniform_window_is_the_global_formula(x, y):
    s = ssim(x, y, window=12, sigma=None)
    a, b = x[0, 0, 1].double().numpy(), y[0, 0, 1].double().numpy()
    c1, c2 = 0.01 ** 2, 0.03 ** 2
    cov = ((a - a.mean()) * (b - b.mean())).mean()
    ref = ((2 * a.mean() * b.mean() + c1) * (2 * cov + c2)) / (
        (a.mean() ** 2 + b.mean() ** 2 + c1) * (a.var() + b.var() + c2))
    assert float(s[0, 1]) == pytest.approx(ref, rel=1e-5)


def test_temporal_measures():
    still = torch.rand(1, 1, 1, 6, 6).expand(2, 1, 5, 6, 6)
    assert torch.equal(frame_change(still), torch.zeros(2))
    ramp = torch.linspace(0, 0.4, 5)[None, None, :, None, None].expand(1, 1, 5, 4, 4)
    torch.testing.assert_close(frame_change(ramp), torch.tensor([0.1]))
    x = torch.rand(3, 1, 4, 6, 6)
    torch.testing.assert_close(temporal_error(x, x + 0.2), torch.zeros(3), atol=1e-6, rtol=0)
    assert (temporal_error(x, torch.rand(3, 1, 4, 6, 6)) > 0.1).all()
    with pytest.raises(ValueError, match="F >= 2"):
        frame_change(torch.rand(1, 1, 1, 4, 4))


def test_frechet_distance_against_the_matrix_square_root():
    from scipy import linalg

    g = torch.Generator().manual_seed(0)
    a = torch.randn(400, 5, generator=g, dtype=torch.float64)
    b = torch.randn(300, 5, generator=g, dtype=torch.float64) @ torch.rand(5, 5, generator=g,
                                                                          dtype=torch.float64)
    b = b + 0.5
    sa, sb = np.cov(a.numpy(), rowvar=False), np.cov(b.numpy(), rowvar=False)
    root = np.real(linalg.sqrtm(sa @ sb))
    mu = a.numpy().mean(0) - b.numpy().mean(0)
    ref = mu @ mu + np.trace(sa + sb - 2 * root)
    assert frechet_distance(a, b) == pytest.approx(ref, rel=1e-6)
    assert frechet_distance(a, b) == float(frechet_distance_of(a, b))  # the core's, as a float
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    with pytest.raises(ValueError, match=r"\(N, D\) and \(M, D\)"):
        frechet_distance(a, b[:, :3])


def test_baselines_and_scores():
    keys = torch.rand(2, 1, 3, 4, 4)
    blend = linear_blend(keys, 4)
    assert blend.shape == (2, 1, 9, 4, 4)
    assert torch.equal(blend[:, :, ::4], keys)
    torch.testing.assert_close(blend[:, :, 1], 0.75 * keys[:, :, 0] + 0.25 * keys[:, :, 1])
    held = repeat_last(keys, 5)
    assert torch.equal(held[:, :, 2:], keys[:, :, 2:3].expand(-1, -1, 3, -1, -1))
    truth = torch.rand(2, 1, 5, 12, 12)
    missing = torch.tensor([False, True, False, True, True])
    perfect = score(truth, truth, missing)
    assert perfect["ssim"] == pytest.approx(1.0) and perfect["psnr"] == pytest.approx(100.0)
    noisy = score((truth + 0.1).clamp(0, 1), truth, missing)
    assert len(noisy["psnr_per_frame"]) == 3 and noisy["psnr"] > 19
