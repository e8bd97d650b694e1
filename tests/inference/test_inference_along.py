"""Windowed inference along an axis: gap windows filled in waves give what one window at a
time gives, continuation windows cover the input with the asked context, and every window's
result is that of a lone call with its seed."""

from __future__ import annotations

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import polydiff
from polydiff.inference.along import (
    continuation_windows,
    continue_along,
    fill_along,
    gap_windows,
)
from polydiff.masks import runs
from polydiff.training import DiffusionModule

NET = {"class_path": "polydiff.nn.UNet",
       "init_args": {"dims": 1, "in_channels": 1, "base_channels": 8, "channel_mult": [1, 2],
                     "num_res_blocks": 1, "attention_heads": 2, "cond_channels": 2}}


def _model():
    torch.manual_seed(0)
    module = DiffusionModule(NET, sample_shape=[1, 16], ema_decay=None, prediction="x0",
                             imputation={"kinds": ["random"]})
    g = torch.Generator().manual_seed(2)
    with torch.no_grad():
        for p in module.net.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=g))
    return polydiff.load(module.eval())


MODEL = _model()


def _one_window_at_a_time(model, x, missing, members, seed, **kw):
    """The oracle: each gap's window filled alone, in order, with seed + k."""
    out = torch.where(missing, 0.0, x).expand(members, *x.shape).clone()
    todo = missing.any(0)
    t = model.sample_shape[-1]
    for k, s, e in gap_windows(todo.clone(), t):
        known = torch.zeros(members, 1, t)
        known[..., :e - s] = out[..., s:e]
        observed = torch.zeros(members, 1, t, dtype=torch.bool)
        observed[..., :e - s] = ~missing[:, s:e] | ~todo[s:e]
        filled = model.sample(members, known=known, observed=observed, seed=seed + k, **kw)
        out[..., s:e] = torch.where(observed[..., :e - s], known[..., :e - s],
                                    filled[..., :e - s])
        todo[s:e] = False
    return out


@settings(max_examples=10, deadline=None)
@given(gaps=st.lists(st.tuples(st.integers(0, 90), st.integers(1, 12)), min_size=1,
                     max_size=5), n=st.integers(20, 100), method=st.sampled_from(
    ["dpmpp_2m", "ddpm"]), seed=st.integers(0, 3))
def test_waves_give_what_one_window_at_a_time_gives(gaps, n, method, seed):
    x = torch.sin(torch.arange(n, dtype=torch.float32) / 4)[None]
    missing = torch.zeros(1, n, dtype=torch.bool)
    for a, w in gaps:
        missing[:, min(a, n - 1):min(a + w, n)] = True
    if missing.all():
        missing[:, 0] = False
    assume(all(b - a <= 16 for a, b in runs(missing[0])))  # every gap fits the window
    out = fill_along(MODEL, x, ~missing, members=2, seed=seed, steps=2, method=method)
    ref = _one_window_at_a_time(MODEL, x, missing, 2, seed, steps=2, method=method)
    # (the same arithmetic on other batch sizes: equal to float32 round-off)
    torch.testing.assert_close(out, ref, rtol=0, atol=1e-5)
    assert torch.equal(out[:, ~missing], x[~missing].expand(2, -1))


def test_a_gap_longer_than_the_window_is_named():
    with pytest.raises(ValueError, match=r"gap 3-30 \(27 entries\) is longer than the model's "
                                         r"window \(16\)"):
        gap_windows(torch.arange(40).ge(3) & torch.arange(40).lt(30), 16)


@settings(max_examples=30, deadline=None)
@given(length=st.integers(1, 200), size=st.integers(2, 40), data=st.data(),
       align=st.booleans())
def test_continuation_windows_cover_the_input_with_the_asked_context(length, size, data,
                                                                     align):
    context = data.draw(st.integers(1, size - 1))
    done = data.draw(st.integers(0, max(0, length - 1)))
    windows = continuation_windows(length, size, context, done, align_end=align)
    end = done
    for s, e in windows:
        assert 0 <= s <= end < e and e - s <= size
        if align:
            assert e <= length
        if end and s > 0 and (not align or e < length):
            assert end - s == context  # exactly the asked context
        end = e
    assert end >= length and (end == length or not align)


def test_continuation_keeps_the_prefix_and_each_window_is_a_lone_call():
    prefix = torch.sin(torch.arange(10.0))[None, None].expand(2, 1, 10)
    windows = continuation_windows(40, 16, 6, 10)
    out = continue_along(MODEL, windows, size=16, prefix=prefix, seed=3, steps=2)
    assert out.shape == (2, 1, 40) and torch.equal(out[:, :, :10], prefix)
    # the second window alone: its known part is what exists before it, seed 3 + 1
    s, e = windows[1]
    known = torch.zeros(2, 1, 16)
    known[..., :windows[0][1] - s] = out[..., s:windows[0][1]]
    observed = torch.zeros(2, 1, 16, dtype=torch.bool)
    observed[..., :windows[0][1] - s] = True
    alone = MODEL.sample(2, known=known, observed=observed, seed=4, steps=2)
    torch.testing.assert_close(out[..., windows[0][1]:e], alone[..., windows[0][1] - s:e - s],
                               rtol=0, atol=1e-5)
    with pytest.raises(ValueError, match="context must lie in 1..15"):
        continuation_windows(40, 16, 16)
