"""N-d tiles: they cover every cell, read what lies under them (wrapping on periodic axes,
NaN beyond other edges), blend to the identity, and fill_tiles gives each tile what a lone
call with its seed gives, whatever the batch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import polydiff
from polydiff.inference.tiles import Blend, Tiles, fill_tiles, ramp, tile_starts
from polydiff.training import DiffusionModule


@st.composite
def grids(draw):
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.integers(1, 12)) for _ in range(ndim))
    periodic = tuple(draw(st.booleans()) for _ in range(ndim))
    size = tuple(draw(st.integers(1, n if p else n + 3)) for n, p in
                 zip(shape, periodic, strict=True))
    overlap = tuple(draw(st.integers(0, s - 1)) for s in size)
    return Tiles.with_overlap(shape, size, overlap, periodic)


@settings(max_examples=40, deadline=None)
@given(tiles=grids(), seed=st.integers(0, 3))
def test_tiles_cover_the_grid_and_blend_to_the_identity(tiles, seed):
    values = np.random.default_rng(seed).standard_normal((2, *tiles.shape)).astype(np.float32)
    blend = Blend(tiles, (2,))
    for start in tiles.positions():
        tile = tiles.read(values, start)
        assert tile.shape == (2, *tiles.size)
        for axis, (cells, _) in enumerate(tiles.index(start)):
            assert cells.min() >= 0 and cells.max() < tiles.shape[axis]
        blend.add(np.nan_to_num(tile), start)
    np.testing.assert_allclose(blend.result(), values, rtol=0, atol=1e-5)


def test_reading_wraps_periodic_axes_and_pads_the_others_with_nan():
    values = np.arange(4 * 6, dtype=np.float32).reshape(4, 6)
    tiles = Tiles.with_overlap((4, 6), (5, 4), (1, 1), (False, True))
    tile = tiles.read(values, (0, 4))
    np.testing.assert_array_equal(tile[:4], np.roll(values, -4, axis=1)[:, :4])
    assert np.isnan(tile[4]).all()
    assert tile_starts(6, 4, 3, periodic=True) == [0, 3]
    assert tile_starts(6, 6, 3, periodic=True) == [0]
    assert tile_starts(5, 8, 2) == [0] and tile_starts(10, 4, 3) == [0, 3, 6]
    assert tile_starts(11, 4, 3) == [0, 3, 6, 7] and tile_starts(8, 4, 4, periodic=True) == [0, 4]
    np.testing.assert_allclose(ramp(6, 2), [1 / 3, 2 / 3, 1, 1, 2 / 3, 1 / 3])
    np.testing.assert_array_equal(ramp(4, 0), np.ones(4))
    with pytest.raises(ValueError, match="a tile of 7 cells is larger than periodic axis 1"):
        Tiles((4, 6), (2, 7), (1, 1), (False, True))
    with pytest.raises(ValueError, match="overlap in \\[0, size\\)"):
        Tiles.with_overlap((4, 6), (2, 2), (2, 0), (False, False))
    assert Tiles((10,), (4,), (6,), (False,)).positions() == [(0,), (6,)]  # cells between


def test_fill_tiles_gives_each_tile_a_lone_calls_result_whatever_the_batch():
    net = {"class_path": "polydiff.nn.UNet",
           "init_args": {"dims": 2, "in_channels": 1, "base_channels": 8,
                         "channel_mult": [1, 2], "num_res_blocks": 1, "attention_heads": 2,
                         "cond_channels": 2}}
    torch.manual_seed(0)
    module = DiffusionModule(net, sample_shape=[1, 8, 8], ema_decay=None,
                             imputation={"kinds": ["random"]})
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in module.net.parameters():
            p.add_(0.1 * torch.randn(p.shape, generator=g))
    model = polydiff.load(module.eval())
    values = np.random.default_rng(0).standard_normal((1, 12, 20)).astype(np.float32)
    values[:, 3:6, 4:9] = np.nan
    tiles = Tiles.with_overlap((12, 20), (8, 8), (2, 2), (False, True))
    outs = [fill_tiles(model, values, tiles, members=2, seeds=lambda k: 10 + k,
                       batch_size=b, steps=2, method="ddpm") for b in (2, 6, 64)]
    for out in outs[1:]:
        np.testing.assert_allclose(out, outs[0], rtol=0, atol=1e-6)
    seen = np.isfinite(values)
    np.testing.assert_allclose(outs[0][:, seen], np.broadcast_to(values[seen], (2, seen.sum())),
                               rtol=0, atol=1e-5)
    # the first tile: a lone call with seed 10
    start = tiles.positions()[0]
    tile = torch.from_numpy(tiles.read(values, start))[None].expand(2, 1, 8, 8)
    alone = model.sample(2, known=torch.nan_to_num(tile), observed=torch.isfinite(tile),
                         seed=10, steps=2, method="ddpm", units="model")
    single = Tiles((8, 8), (8, 8), (8, 8), (False, False))
    mine = fill_tiles(model, tiles.read(values, start), single, members=2,
                      seeds=lambda k: 10 + k, steps=2, method="ddpm")
    np.testing.assert_allclose(mine, alone.numpy(), rtol=0, atol=1e-6)
