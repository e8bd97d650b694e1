"""Seeded per-epoch shuffling and the mid-epoch resumable loader (without Lightning)."""

import torch

from polydiff.training.data import EpochShuffleSampler, ResumableLoader, train_loader


def _labels(batches):
    return [b.tolist() for b in batches]


def test_epoch_shuffle_sampler_is_a_function_of_seed_and_epoch():
    data = list(range(50))
    s = EpochShuffleSampler(data, seed=3)
    torch.manual_seed(0)
    e0 = list(s)
    torch.manual_seed(1)  # the global RNG plays no part
    assert list(s) == e0 and sorted(e0) == data and len(s) == 50
    s.set_epoch(1)
    e1 = list(s)
    assert sorted(e1) == data and e1 != e0
    s.set_epoch(0)
    assert list(s) == e0
    assert list(EpochShuffleSampler(data, seed=4)) != e0


def test_resumable_loader_skips_the_batches_of_the_saved_epoch():
    data = torch.arange(22)
    loader = train_loader(data, batch_size=4, seed=0)
    assert isinstance(loader, ResumableLoader) and len(loader) == 6
    loader.sampler.set_epoch(2)
    it = iter(loader)
    first = [next(it) for _ in range(2)]
    state = loader.state_dict()
    assert state == {"epoch": 2, "batches": 2}
    rest = list(it)
    assert loader.state_dict() == {"epoch": 2, "batches": 6}
    full = first + rest
    assert sorted(torch.cat(full).tolist()) == data.tolist()

    # a new loader (a resumed run) continues with batch 2 of epoch 2, skipping indices only
    again = train_loader(data, batch_size=4, seed=0)
    again.load_state_dict(state)
    again.sampler.set_epoch(2)
    assert _labels(again) == _labels(full[2:])
    assert again.state_dict() == {"epoch": 2, "batches": 6}
    assert _labels(again) == _labels(full)  # the skip applies to one pass only

    # a checkpoint of an earlier epoch (written at its end) does not skip in the next one
    later = train_loader(data, batch_size=4, seed=0)
    later.load_state_dict({"epoch": 1, "batches": 3})
    later.sampler.set_epoch(2)
    assert _labels(later) == _labels(full)


def test_resumable_loader_reads_the_epoch_at_the_first_batch():
    # Lightning creates the iterator first and calls set_epoch afterwards
    data = torch.arange(12)
    ref = train_loader(data, batch_size=4, seed=5)
    ref.sampler.set_epoch(3)
    want = _labels(ref)
    loader = train_loader(data, batch_size=4, seed=5)
    loader.load_state_dict({"epoch": 3, "batches": 1})
    it = iter(loader)
    loader.sampler.set_epoch(3)
    assert _labels(it) == want[1:]
