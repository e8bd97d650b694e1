"""FittedBuffers: buffers whose shape comes from the data, saved with the weights and
taking the stored shape when a fresh (unfitted) module loads them."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from polydiff.nn.fitted import FittedBuffers


class _Table(FittedBuffers, nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(2))
        self.register_fitted("table", None)
        self.register_fitted("grid", None)


@settings(max_examples=15, deadline=None)
@given(shape=st.lists(st.integers(1, 4), min_size=0, max_size=3),
       dtype=st.sampled_from([torch.float16, torch.float32, torch.float64]))
def test_a_fresh_module_loads_fitted_buffers_of_any_shape_and_dtype(shape, dtype):
    fitted = _Table()
    fitted.register_fitted("table", torch.randn(shape).to(dtype))
    state = fitted.state_dict()
    assert set(state) == {"weight", "table"}  # an unfitted buffer is not saved
    fresh = _Table()
    fresh.load_state_dict(state, strict=True)
    assert fresh.table.dtype == dtype and torch.equal(fresh.table, fitted.table)
    assert fresh.grid is None and fresh._fitted_names == ("grid", "table")


def test_refitting_replaces_the_buffer_and_it_follows_the_module():
    m = _Table()
    m.register_fitted("table", torch.zeros(3))
    m.register_fitted("table", torch.ones(2, 2))
    assert m.table.shape == (2, 2) and m._fitted_names == ("grid", "table")
    m = m.to(torch.float64)
    assert m.table.dtype == torch.float64
    other = _Table()
    result = other.load_state_dict({"weight": torch.ones(2)}, strict=False)
    assert other.table is None and result.missing_keys == []  # nothing fitted: nothing missing
