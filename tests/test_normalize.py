"""Normalizer: per-channel affine statistics, NaN/mask-aware fitting, exact JSON round trip."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from polydiff.normalize import Normalizer

finite = st.floats(-1e3, 1e3, allow_nan=False)


@given(shift=st.lists(finite, min_size=1, max_size=3), data=st.data())
def test_round_trip_and_json(shift, data):
    scale = data.draw(st.lists(st.floats(1e-2, 1e3), min_size=len(shift), max_size=len(shift)))
    norm = Normalizer(shift, scale)
    x = torch.randn(2, len(shift), 5, dtype=torch.float64) * 10
    torch.testing.assert_close(norm.denormalize(norm.normalize(x)), x)
    again = Normalizer.from_dict(json.loads(json.dumps(norm.to_dict())))
    assert again == norm


@given(st.integers(1, 3), st.integers(2, 6), st.integers(0, 2**31))
def test_fit_matches_mean_and_std_ignoring_nan_and_unobserved(channels, n, seed):
    g = torch.Generator().manual_seed(seed)
    xs = [torch.randn(channels, 7, generator=g) * 3 + 2 for _ in range(n)]
    observed = [torch.rand(channels, 7, generator=g) > 0.3 for _ in range(n)]
    for x, o in zip(xs, observed, strict=True):
        o[:, 0] = True  # every channel keeps a value
        x[~o] = float("nan") if seed % 2 else 1e6  # NaN or masked garbage: never counted
    norm = Normalizer.fit(zip(xs, observed, strict=True))
    stack = torch.stack(xs).transpose(0, 1).reshape(channels, -1).double()
    keep = torch.stack(observed).transpose(0, 1).reshape(channels, -1)
    for c in range(channels):
        vals = stack[c][keep[c]]
        assert norm.shift[c] == pytest.approx(vals.mean().item(), rel=1e-9, abs=1e-9)
        std = vals.std(unbiased=False).item()
        assert norm.scale[c] == pytest.approx(std if std > 1e-12 else 1.0, rel=1e-6)


def test_constant_channel_gets_unit_scale_and_bad_input_is_named():
    norm = Normalizer.fit([torch.full((1, 4), 3.0)])
    assert norm.shift == [3.0] and norm.scale == [1.0]
    with pytest.raises(ValueError, match="scale finite and > 0"):
        Normalizer([0.0], [0.0])
    with pytest.raises(ValueError, match="one entry per channel"):
        Normalizer([0.0, 1.0], [1.0])
    with pytest.raises(ValueError, match=r"channel\(s\) \[0\] have no observed values"):
        Normalizer.fit([torch.full((1, 4), float("nan"))])
    with pytest.raises(ValueError, match=r"expected \(B, 2, \*axes\)"):
        Normalizer([0.0, 0.0], [1.0, 1.0]).normalize(torch.zeros(3, 1, 4))
    with pytest.raises(ValueError, match="no items"):
        Normalizer.fit([])
