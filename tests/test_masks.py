"""The one mask vocabulary: every generator returns ``observed`` (True = known), shaped or
broadcastable like the data, with the requested share, from torch or numpy generators."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from polydiff import masks


@st.composite
def shapes(draw):
    n_axes = draw(st.integers(1, 3))
    return (draw(st.integers(1, 3)), draw(st.integers(1, 3)),
            *[draw(st.integers(1, 5)) for _ in range(n_axes)])


@given(shape=shapes(), seed=st.integers(0, 9999))
def test_from_nan_marks_exactly_the_nans(shape, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(shape, generator=g)
    holes = torch.rand(shape, generator=g) < 0.3
    x[holes] = float("nan")
    observed, filled = masks.from_nan(x, fill=-5.0)
    assert torch.equal(observed, ~holes)
    assert torch.equal(filled[observed], x[observed])
    assert (filled[~observed] == -5.0).all()
    back = masks.fill_missing(filled, observed)
    assert torch.equal(torch.isnan(back), holes)


@given(shape=shapes(), p=st.floats(0, 1), seed=st.integers(0, 9999))
def test_random_mask_shape_and_extremes(shape, p, seed):
    m = masks.random_mask(shape, p, torch.Generator().manual_seed(seed))
    assert m.shape == shape and m.dtype == torch.bool
    if p == 0:
        assert m.all()
    if p == 1:
        assert not m.any()


@given(shape=shapes(), seed=st.integers(0, 9999), data=st.data())
def test_block_mask_removes_boxes_of_the_given_size(shape, seed, data):
    block = tuple(data.draw(st.integers(1, n)) for n in shape[2:])
    m = masks.block_mask(shape, block, 1, torch.Generator().manual_seed(seed))
    assert m.shape == (shape[0], 1, *shape[2:])
    volume = 1
    for b in block:
        volume *= b
    assert ((~m).flatten(1).sum(1) == volume).all()
    torch.broadcast_shapes(m.shape, shape)


@given(seed=st.integers(0, 9999))
def test_time_step_mask_drops_whole_time_steps(seed):
    shape = (2, 3, 6, 4, 5)
    m = masks.time_step_mask(shape, 0.5, time_axis=2, generator=torch.Generator().manual_seed(seed))
    full = m.expand(shape)
    per_step = full.permute(0, 2, 1, 3, 4).flatten(2)
    assert ((per_step.all(-1)) | (~per_step.any(-1))).all()


def test_generators_give_the_requested_shares_and_shapes():
    rng = np.random.default_rng(0)
    assert abs(masks.random_mask((4, 30, 40), 0.9, rng).float().mean() - 0.1) < 0.02
    seen = masks.cloud_mask((3, 30, 40), 0.4, rng, scale=3.0)
    hidden = ~seen
    assert torch.allclose(hidden.float().mean(dim=(1, 2)), torch.tensor(0.4), atol=0.01)
    # blobs: a hidden cell's neighbour is mostly hidden too (unlike random points)
    assert (hidden[:, :, 1:] & hidden[:, :, :-1]).sum() / hidden[:, :, 1:].sum() > 0.8
    torch_clouds = masks.cloud_mask((2, 16, 20), 0.3, torch.Generator().manual_seed(1))
    assert torch.allclose((~torch_clouds).float().mean(dim=(1, 2)), torch.tensor(0.3),
                          atol=0.01)
    steps = masks.time_step_mask((20, 4, 5), 0.25, time_axis=0, generator=rng, count=5,
                                 keep_ends=True)
    assert steps.shape == (20, 1, 1) and (~steps).sum() == 5
    assert steps[0].all() and steps[-1].all()
    with pytest.raises(ValueError, match="count must lie in 1..18 for 20 steps"):
        masks.time_step_mask((20, 4), 0.1, time_axis=0, count=19, keep_ends=True)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 20), data=st.data())
def test_suffix_and_strided_masks_along_any_axis(n, data):
    axis = data.draw(st.integers(0, 2))
    shape = [2, 3, 4]
    shape[axis] = n
    known = data.draw(st.integers(0, n))
    m = masks.suffix_mask(shape, known, axis)
    assert m.expand(shape).sum() == known * (shape[0] * shape[1] * shape[2] // n)
    assert m.flatten()[:known].all() and not m.flatten()[known:].any()
    every = data.draw(st.integers(1, 5))
    offset = data.draw(st.integers(0, every - 1))
    s = masks.strided_mask(shape, every, axis, offset).flatten()
    assert torch.equal(s.nonzero().flatten(), torch.arange(n)[offset::every])


def test_intervals_and_random_blocks():
    observed = masks.from_intervals(300, [(0.02, 0.05), (0.1, 0.11)], rate=1000)
    assert (~observed).nonzero().flatten().tolist() == [*range(20, 50), *range(100, 110)]
    assert masks.runs(~observed) == [(20, 50), (100, 110)]
    with pytest.raises(ValueError, match=r"gap 0.25-0.5 ends after the input \(300 entries, "
                                         r"0.300\)"):
        masks.from_intervals(300, [(0.25, 0.5)], rate=1000)
    blocks = masks.random_blocks_mask((2, 20, 30), 0.3, [5, 5],
                                      torch.Generator().manual_seed(0))
    assert blocks.shape == (1, 20, 30) and (~blocks).float().mean() >= 0.3


def test_conventions_round_trip():
    observed = torch.tensor([[True, False], [False, True]])
    as255 = masks.to_values(observed, known=255, missing=0, dtype=torch.uint8)
    assert as255.tolist() == [[255, 0], [0, 255]]
    assert torch.equal(masks.from_values(as255, known=255), observed)
    fill_white = masks.to_values(observed, known=0, missing=1)  # diffusers: 1 = repaint
    assert torch.equal(masks.from_values(fill_white, missing=1), observed)


def test_mask_errors_name_the_argument():
    with pytest.raises(ValueError, match="observed must be a bool"):
        masks.check_mask(torch.ones(2, 3), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="does not broadcast"):
        masks.check_mask(torch.ones(2, 4, dtype=torch.bool), torch.zeros(2, 3))
    with pytest.raises(ValueError, match="observed must be a bool tensor.*float32"):
        masks.to_values(torch.ones(2, 3))
    with pytest.raises(ValueError, match="observed must be a bool tensor.*float32"):
        masks.fill_missing(torch.zeros(2, 3), torch.ones(2, 3))
    with pytest.raises(ValueError, match="missing must be a probability"):
        masks.random_mask((2, 2), 1.5)
    with pytest.raises(ValueError, match="Inf"):
        masks.from_nan(torch.tensor([1.0, float("inf")]))
    with pytest.raises(ValueError, match="exactly one"):
        masks.from_values(torch.ones(2), known=1, missing=0)
    with pytest.raises(ValueError, match="block"):
        masks.block_mask((1, 1, 4, 4), (5, 1))
