"""Frame prediction, interpolation and longer videos: the given frames come back exactly, with
any sampler, and the sampled ones are sampled."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_video_unet import unzero_

from polydiff.modalities.video.tasks import (
    extend,
    interpolate,
    interpolation_mask,
    predict,
    prediction_mask,
)
from polydiff.training import DiffusionModule

NET = {"class_path": "polydiff.modalities.video.VideoUNet",
       "init_args": {"in_channels": 1, "base_channels": 8, "channel_mult": [1, 2],
                     "attention_heads": 2, "num_classes": 4}}


@pytest.fixture(scope="module")
def module():
    torch.manual_seed(0)
    m = DiffusionModule(NET, ema_decay=None, sample_shape=[1, 5, 8, 8])
    unzero_(m.net)  # a network that does something (not the zero output of a fresh one)
    return m.eval()


@settings(max_examples=8)
@given(k=st.integers(1, 4), method=st.sampled_from(["dpmpp_2m", "euler", "heun", "ddpm"]),
       seed=st.integers(0, 9))
def test_prediction_returns_the_given_frames_exactly(module, k, method, seed):
    context = torch.randn(2, 1, k, 8, 8, generator=torch.Generator().manual_seed(seed))
    out = predict(module, context, steps=2, method=method, seed=seed,
                  class_labels=[0, 3], guidance_scale=1.5)
    assert out.shape == (2, 1, 5, 8, 8)
    assert torch.equal(out[:, :, :k], context)
    assert torch.isfinite(out).all() and out[:, :, k:].abs().sum() > 0


@settings(max_examples=6)
@given(keys=st.integers(2, 3), every=st.integers(2, 4), method=st.sampled_from(
    ["dpmpp_2m", "unipc", "ddim"]))
def test_interpolation_returns_the_keyframes_exactly(module, keys, every, method):
    keyframes = torch.randn(1, 1, keys, 8, 8)
    out = interpolate(module, keyframes, every, steps=2, method=method)
    assert out.shape == (1, 1, (keys - 1) * every + 1, 8, 8)  # any frame count works
    assert torch.equal(out[:, :, ::every], keyframes)
    between = torch.ones(out.shape[2], dtype=torch.bool)
    between[::every] = False
    assert out[:, :, between].abs().sum() > 0


def test_resampling_keeps_the_frames_too(module):
    context = torch.randn(1, 1, 2, 8, 8)
    out = predict(module, context, steps=2, resample=(1, 2))
    assert torch.equal(out[:, :, :2], context)


def test_extend_continues_window_by_window(module):
    first = torch.randn(2, 1, 2, 8, 8)
    video = extend(module, total=12, overlap=2, first=first, steps=2, seed=3)
    assert video.shape == (2, 1, 12, 8, 8)
    assert torch.equal(video[:, :, :2], first)
    # window 2 is a prediction from frames 3..4 of window 1: redo it and compare exactly
    again = predict(module, video[:, :, 3:5], 5, steps=2, seed=4)
    assert torch.equal(again[:, :, 2:], video[:, :, 5:8])
    free = extend(module, total=9, overlap=1, num=2, steps=2, class_labels=[1, 2])
    assert free.shape == (2, 1, 9, 8, 8) and not torch.equal(free[0], free[1])


def test_masks_and_bad_arguments(module):
    assert prediction_mask(4, 1)[0, 0, :, 0, 0].tolist() == [True, False, False, False]
    assert interpolation_mask(5, 2)[0, 0, :, 0, 0].tolist() == [True, False, True, False, True]
    with pytest.raises(ValueError, match="given frames < frames, got given=5, frames=5"):
        predict(module, torch.zeros(1, 1, 5, 8, 8))
    with pytest.raises(ValueError, match="every >= 2"):
        interpolate(module, torch.zeros(1, 1, 3, 8, 8), every=1)
    with pytest.raises(ValueError, match="at least 2 keyframes"):
        interpolate(module, torch.zeros(1, 1, 1, 8, 8), every=2)
    with pytest.raises(ValueError, match=r"overlap must lie in 1..4 \(the window has 5"):
        extend(module, total=10, overlap=5)
    with pytest.raises(ValueError, match="shorter than one window"):
        extend(module, total=3, overlap=1)
    with pytest.raises(ValueError, match=r"context must be videos \(N, C, F, H, W\)"):
        predict(module, torch.zeros(1, 5, 8, 8))
