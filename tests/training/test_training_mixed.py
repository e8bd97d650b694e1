"""``MixedBatchSampler``: whole batches from one part at a time, every item once per epoch,
an order fixed by ``(seed, epoch)``, resumable through ``ResumableLoader``."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import ConcatDataset, TensorDataset

from polydiff.training import MixedBatchSampler, ResumableLoader


@settings(max_examples=30, deadline=None)
@given(sizes=st.lists(st.integers(1, 30), min_size=1, max_size=3),
       batch=st.lists(st.integers(1, 8), min_size=3, max_size=3), seed=st.integers(0, 99),
       epoch=st.integers(0, 5))
def test_batches_come_from_one_part_and_use_each_item_at_most_once(sizes, batch, seed, epoch):
    batch = batch[:len(sizes)]
    s = MixedBatchSampler(sizes, batch, seed)
    s.sampler.set_epoch(epoch)
    batches = list(s)
    assert len(batches) == len(s) == sum(max(1, n // b) for n, b in zip(sizes, batch, strict=True))
    starts = [sum(sizes[:k]) for k in range(len(sizes) + 1)]
    flat = [i for b in batches for i in b]
    assert len(flat) == len(set(flat))  # no item twice in an epoch
    for b in batches:
        part = next(k for k in range(len(sizes)) if starts[k] <= b[0] < starts[k + 1])
        assert all(starts[part] <= i < starts[part + 1] for i in b)  # one part per batch
        assert len(b) == min(batch[part], sizes[part])
    for k, (n, b) in enumerate(zip(sizes, batch, strict=True)):
        used = sum(starts[k] <= i < starts[k + 1] for i in flat)
        assert used == (n if n < b else (n // b) * b)
    again = MixedBatchSampler(sizes, batch, seed)
    again.sampler.set_epoch(epoch)
    assert list(again) == batches  # a function of (seed, epoch)


def test_epochs_differ_and_parts_interleave():
    s = MixedBatchSampler([40, 40], [4, 4], seed=0)
    first = list(s)
    s.sampler.set_epoch(1)
    assert list(s) != first
    parts = [b[0] >= 40 for b in first]
    assert 0 < sum(parts) < len(parts) and parts != sorted(parts)  # shuffled together


def test_resumable_loader_continues_a_mixed_epoch():
    data = ConcatDataset([TensorDataset(torch.arange(12.0)), TensorDataset(torch.arange(100.0,
                                                                                        106.0))])

    def loader():
        return ResumableLoader(data, batch_sampler=MixedBatchSampler([12, 6], [3, 2], seed=1))

    full = loader()
    full.batch_sampler.sampler.set_epoch(2)
    everything = [b[0].tolist() for b in full]
    run = loader()
    run.batch_sampler.sampler.set_epoch(2)
    it = iter(run)
    head = [next(it)[0].tolist() for _ in range(3)]
    state = run.state_dict()
    assert state == {"epoch": 2, "batches": 3}
    resumed = loader()
    resumed.load_state_dict(state)
    resumed.batch_sampler.sampler.set_epoch(2)
    assert head + [b[0].tolist() for b in resumed] == everything


def test_bad_sizes_are_named():
    with pytest.raises(ValueError, match=r"one batch size per part, got sizes \[3, 4\] and "
                                         r"batch sizes \[2\]"):
        MixedBatchSampler([3, 4], [2])
    with pytest.raises(ValueError, match="must be >= 1"):
        MixedBatchSampler([0, 4], [2, 2])
