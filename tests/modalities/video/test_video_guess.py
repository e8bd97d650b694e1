"""The temporal first guess of the missing frames: exact at the given frames, linear in time
between them, the held nearest frame outside them (the two baselines), and bad masks named."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from polydiff.modalities.video.baselines import linear_blend, repeat_last
from polydiff.modalities.video.guess import temporal_guess
from polydiff.modalities.video.tasks import interpolation_mask, prediction_mask


@given(frames=st.integers(1, 9), seed=st.integers(0, 2**31), per_pixel=st.booleans(),
       channels=st.sampled_from([1, 3]))
def test_guess_is_exact_at_given_frames_and_linear_between(frames, seed, per_pixel, channels):
    g = torch.Generator().manual_seed(seed)
    known = torch.randn(2, channels, frames, 3, 2, generator=g, dtype=torch.float64)
    shape = (2, channels, frames, 3, 2) if per_pixel else (2, 1, frames, 1, 1)
    mask = torch.rand(shape, generator=g) < 0.5
    out = temporal_guess(known, mask)
    assert out.shape == known.shape
    m = mask.expand_as(known)
    assert torch.equal(out[m], known[m])  # given entries exactly
    for b in range(2):
        for c in range(channels):
            for i in range(3):
                for j in range(2):
                    idx = m[b, c, :, i, j].nonzero().flatten().tolist()
                    series, vals = out[b, c, :, i, j], known[b, c, :, i, j]
                    if not idx:
                        assert torch.equal(series, torch.zeros_like(series))
                        continue
                    for f in range(frames):
                        before = [k for k in idx if k <= f]
                        after = [k for k in idx if k >= f]
                        if before and after:  # linear between the nearest given frames
                            p, n = before[-1], after[0]
                            w = 0.0 if n == p else (f - p) / (n - p)
                            want = (1 - w) * vals[p] + w * vals[n]
                        else:  # the nearest given frame held outside them
                            want = vals[before[-1]] if before else vals[after[0]]
                        assert torch.isclose(series[f], want, atol=1e-12)


@given(keys=st.integers(2, 4), every=st.integers(2, 4), given_frames=st.integers(1, 5),
       extra=st.integers(1, 4))
def test_guess_is_the_linear_blend_and_the_last_frame_hold(keys, every, given_frames, extra):
    x = torch.rand(2, 1, (keys - 1) * every + 1, 4, 4)
    blend = linear_blend(x[:, :, ::every], every)
    assert torch.allclose(temporal_guess(x, interpolation_mask(x.shape[2], every)), blend,
                          atol=1e-6)
    frames = given_frames + extra
    v = torch.rand(1, 3, frames, 2, 2)
    assert torch.equal(temporal_guess(v, prediction_mask(frames, given_frames)),
                       repeat_last(v[:, :, :given_frames], frames))


def test_bad_masks_are_named():
    with pytest.raises(ValueError, match=r"temporal_guess: linear_along: given must broadcast "
                                         r"to known's shape \(1, 1, 5, 4, 4\), got "
                                         r"\(1, 1, 4, 1, 1\)"):
        temporal_guess(torch.zeros(1, 1, 5, 4, 4), torch.ones(1, 1, 4, 1, 1, dtype=torch.bool))
    with pytest.raises(ValueError, match=r"known must be \(B, C, F, \.\.\.\), got shape \(5,\)"):
        temporal_guess(torch.zeros(5), torch.ones(5, dtype=torch.bool))
