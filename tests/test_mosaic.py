"""polydiff.mosaic: tiling a batch into one grid, as the image and video writers did before it
was shared."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polydiff.mosaic import mosaic


def _old_image_grid(x, nrow, padding, pad_value):
    """modalities/image/io.py's make_grid before the core mosaic."""
    b, c, h, w = x.shape
    nrow = min(nrow or math.ceil(math.sqrt(b)), b)
    rows = math.ceil(b / nrow)
    grid = x.new_full((c, rows * (h + padding) + padding, nrow * (w + padding) + padding),
                      pad_value)
    for k in range(b):
        r, col = divmod(k, nrow)
        top, left = padding + r * (h + padding), padding + col * (w + padding)
        grid[:, top:top + h, left:left + w] = x[k]
    return grid


def _old_video_tile(x, nrow, padding):
    """modalities/video/io.py's tile before the core mosaic."""
    b, c, f, h, w = x.shape
    nrow = min(max(1, nrow or math.ceil(math.sqrt(b))), b)
    rows = math.ceil(b / nrow)
    grid = x.new_zeros((f, c, rows * (h + padding) - padding, nrow * (w + padding) - padding))
    for k in range(b):
        r, col = divmod(k, nrow)
        top, left = r * (h + padding), col * (w + padding)
        grid[:, :, top:top + h, left:left + w] = x[k].transpose(0, 1)
    return grid


SIZES = dict(b=st.integers(1, 7), h=st.integers(1, 4), w=st.integers(1, 4),
             nrow=st.one_of(st.none(), st.integers(1, 9)), padding=st.integers(0, 3))


@given(c=st.integers(1, 3), pad_value=st.floats(-2, 2), **SIZES)
@settings(max_examples=30, deadline=None)
def test_bordered_mosaic_is_the_image_grid(b, c, h, w, nrow, padding, pad_value):
    x = torch.randn(b, c, h, w)
    assert torch.equal(mosaic(x, nrow, padding, pad_value, border=True),
                       _old_image_grid(x, nrow, padding, pad_value))


@given(c=st.integers(1, 3), f=st.integers(1, 3), **SIZES)
@settings(max_examples=30, deadline=None)
def test_borderless_mosaic_is_the_video_tile(b, c, f, h, w, nrow, padding):
    x = torch.rand(b, c, f, h, w)
    got = mosaic(x.transpose(1, 2), nrow, padding, 0.0, border=False)
    assert torch.equal(got, _old_video_tile(x, nrow, padding))


def test_layout_dtype_and_a_single_tile():
    x = torch.arange(3, dtype=torch.int64).reshape(3, 1, 1)
    g = mosaic(x, nrow=2, padding=1, pad_value=-5)
    assert g.dtype == torch.int64 and g.shape == (5, 5)
    assert g[1, 1] == 0 and g[1, 3] == 1 and g[3, 1] == 2 and g[3, 3] == -5
    one = torch.randn(1, 2, 3, 4)
    assert torch.equal(mosaic(one, padding=3, border=False), one[0])


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"x must have shape \(B, \*lead, H, W\) with B >= 1, "
                                         r"got \(0, 2, 2\)"):
        mosaic(torch.zeros(0, 2, 2))
    with pytest.raises(ValueError, match=r"x must have shape .* got \(2, 2\)"):
        mosaic(torch.zeros(2, 2))
    with pytest.raises(ValueError, match="nrow must be an integer >= 1 or None, got 0"):
        mosaic(torch.zeros(2, 2, 2), nrow=0)
    with pytest.raises(ValueError, match=r"nrow must be .* got 1\.5"):
        mosaic(torch.zeros(2, 2, 2), nrow=1.5)
    with pytest.raises(ValueError, match="padding must be an integer >= 0, got -1"):
        mosaic(torch.zeros(2, 2, 2), padding=-1)
