"""Random flips and crops: what they return, and that both outcomes occur."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polydiff.augment import random_crop, random_flip


@settings(max_examples=20, deadline=None)
@given(dim=st.integers(-3, 2), seed=st.integers(0, 10_000))
def test_random_flip_returns_the_input_or_its_reverse(dim, seed):
    x = torch.randn(2, 3, 4)
    torch.manual_seed(seed)
    y = random_flip(x, dim)
    assert torch.equal(y, x) or torch.equal(y, x.flip(dim))
    assert torch.equal(random_flip(x, dim, enabled=False), x)


def test_random_flip_flips_about_half_the_time():
    torch.manual_seed(0)
    x = torch.arange(4.0)
    flips = sum(not torch.equal(random_flip(x, 0), x) for _ in range(400))
    assert 150 < flips < 250


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 6), w=st.integers(1, 7), seed=st.integers(0, 10_000))
def test_random_crop_is_a_window_of_the_frames(h, w, seed):
    x = torch.arange(2 * 6 * 7.0).reshape(2, 6, 7)
    torch.manual_seed(seed)
    y = random_crop(x, (h, w))
    assert y.shape == (2, h, w)
    top, left = divmod(int(y[0, 0, 0]), 7)
    assert torch.equal(y, x[:, top:top + h, left:left + w])
    c = random_crop(x, (h, w), random=False)
    assert torch.equal(c, x[:, (6 - h) // 2:(6 - h) // 2 + h, (7 - w) // 2:(7 - w) // 2 + w])


def test_random_crop_reaches_every_offset():
    torch.manual_seed(0)
    x = torch.arange(16.0).reshape(4, 4)
    corners = {int(random_crop(x, (3, 3))[0, 0]) for _ in range(200)}
    assert corners == {0, 1, 4, 5}


def test_random_crop_too_large_is_named():
    with pytest.raises(ValueError, match=r"the crop 5x2 \(HxW\) must fit in the frames 4x4"):
        random_crop(torch.zeros(4, 4), (5, 2))
