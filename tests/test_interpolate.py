"""Linear interpolation along one axis: exact at the given entries, linear between them, held
outside them, 0 on lines with none, along any axis; bad input named."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polydiff.interpolate import linear_along


def _reference(line: np.ndarray, given_: np.ndarray) -> np.ndarray:
    """One line by hand: np.interp between the given entries (it holds the ends)."""
    idx = np.flatnonzero(given_)
    if not len(idx):
        return np.zeros_like(line)
    return np.interp(np.arange(len(line)), idx, line[idx])


@settings(max_examples=25)
@given(shape=st.lists(st.integers(1, 5), min_size=1, max_size=3), data=st.data(),
       seed=st.integers(0, 2**31), share=st.floats(0.0, 1.0))
def test_linear_along_any_axis_matches_interpolation_line_by_line(shape, data, seed, share):
    dim = data.draw(st.integers(-len(shape), len(shape) - 1))
    g = torch.Generator().manual_seed(seed)
    known = torch.randn(shape, generator=g, dtype=torch.float64)
    mask = torch.rand(shape, generator=g, dtype=torch.float64) < share
    out = linear_along(known, mask, dim=dim)
    assert out.shape == known.shape
    assert torch.equal(out[mask], known[mask])
    k = np.moveaxis(known.numpy(), dim, -1).reshape(-1, shape[dim])
    m = np.moveaxis(mask.numpy(), dim, -1).reshape(-1, shape[dim])
    o = np.moveaxis(out.numpy(), dim, -1).reshape(-1, shape[dim])
    for line, given_, got in zip(k, m, o, strict=True):
        np.testing.assert_allclose(got, _reference(line, given_), atol=1e-12)


def test_a_broadcast_mask_gives_the_same_result_as_the_full_one():
    x = torch.randn(2, 3, 6, 4)
    mask = torch.tensor([True, False, False, True, False, False])[None, None, :, None]
    torch.testing.assert_close(linear_along(x, mask, dim=2),
                               linear_along(x, mask.expand_as(x), dim=2))
    # frame 1 is 1/3 of the way from frame 0 to frame 3; frames 4, 5 hold frame 3
    torch.testing.assert_close(linear_along(x, mask, 2)[:, :, 1], (2 * x[:, :, 0] + x[:, :, 3]) / 3)
    torch.testing.assert_close(linear_along(x, mask, 2)[:, :, 5], x[:, :, 3])


def test_bad_input_is_named():
    with pytest.raises(ValueError, match=r"dim must be in \[-2, 1\] for known of shape "
                                         r"\(2, 3\), got 2"):
        linear_along(torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.bool), dim=2)
    with pytest.raises(ValueError, match=r"given must broadcast to known's shape \(2, 3\), "
                                         r"got \(4,\)"):
        linear_along(torch.zeros(2, 3), torch.ones(4, dtype=torch.bool), dim=1)
    with pytest.raises(ValueError, match="at least one axis, got a scalar"):
        linear_along(torch.tensor(1.0), torch.tensor(True))
