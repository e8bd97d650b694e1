"""Batches of different shapes in one run: whole batches from one part of a dataset at a time.

A ``ConcatDataset`` of parts whose items cannot share a batch (clips and images, clips of two
lengths) trains through :class:`MixedBatchSampler`: each epoch uses every part's items once,
in batches of that part's size, and shuffles all batches together; the order is a function of
``(seed, epoch)``, so :class:`~polydiff.training.data.ResumableLoader` resumes it mid-epoch.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import torch
from torch.utils.data import Sampler

from .data import EpochShuffleSampler, _epoch_seed

__all__ = ["MixedBatchSampler"]


class MixedBatchSampler(Sampler[list[int]]):
    """Index batches over parts with ``sizes[k]`` items (in ``ConcatDataset`` order),
    ``batch_sizes[k]`` items per batch of part ``k``.

    Per epoch, part ``k``'s items are permuted (generator seeded by ``(seed, epoch, k)``) and
    cut into ``max(1, sizes[k] // batch_sizes[k])`` batches (a last partial batch is dropped,
    unless it is the part's only one); the batches of all parts come in an order fixed by
    ``(seed, epoch)``. ``self.sampler`` holds the epoch: Lightning calls its ``set_epoch``.
    """

    def __init__(self, sizes: Sequence[int], batch_sizes: Sequence[int], seed: int = 0):
        if len(sizes) != len(batch_sizes) or not sizes:
            raise ValueError(f"MixedBatchSampler: need one batch size per part, got sizes "
                             f"{list(sizes)} and batch sizes {list(batch_sizes)}")
        if any(n < 1 for n in sizes) or any(b < 1 for b in batch_sizes):
            raise ValueError(f"MixedBatchSampler: sizes and batch sizes must be >= 1, got "
                             f"{list(sizes)} and {list(batch_sizes)}")
        self.sizes, self.batch_sizes = [int(n) for n in sizes], [int(b) for b in batch_sizes]
        self.counts = [max(1, n // b) for n, b in zip(self.sizes, self.batch_sizes, strict=True)]
        self.seed = int(seed)
        self.sampler = EpochShuffleSampler(range(sum(self.counts)), seed)

    def __len__(self) -> int:
        return sum(self.counts)

    def __iter__(self) -> Iterator[list[int]]:
        epoch = self.sampler.epoch
        batches, offset = [], 0
        for k, (n, b, count) in enumerate(zip(self.sizes, self.batch_sizes, self.counts,
                                              strict=True)):
            g = torch.Generator().manual_seed(_epoch_seed(self.seed * 1009 + k, epoch))
            perm = (torch.randperm(n, generator=g) + offset).tolist()
            batches += [perm[i * b:(i + 1) * b] for i in range(count)]
            offset += n
        for i in self.sampler:
            yield batches[i]
