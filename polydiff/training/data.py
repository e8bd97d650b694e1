"""Training loaders whose order is a function of ``(seed, epoch)`` and that resume mid-epoch.

- :class:`EpochShuffleSampler`: a fresh permutation per epoch drawn from its own generator
  seeded by ``(seed, epoch)`` (Lightning calls ``set_epoch``); torch's global RNG is not used.
- :class:`ResumableLoader`: a ``DataLoader`` with ``state_dict`` / ``load_state_dict``, which
  Lightning stores in checkpoints (``fit_loop`` state). After resuming from a checkpoint written
  in the middle of an epoch it skips the batches that epoch had already produced (skipping
  indices, not loading data), so training continues with the batch an uninterrupted run would
  have seen next.

Together (``train_loader``) they make a resumed run repeat an uninterrupted one from any
checkpoint, mid-epoch included, with ``num_workers=0``. Random augmentations inside a dataset
still draw from torch's global RNG when a batch is loaded and are not covered.
"""

from __future__ import annotations

from collections.abc import Iterator, Sized
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from ..seeding import text_seed

__all__ = ["EpochShuffleSampler", "ResumableLoader", "train_loader"]


def _epoch_seed(seed: int, epoch: int) -> int:
    return text_seed(f"shuffle/{int(seed)}/{int(epoch)}")


class EpochShuffleSampler(Sampler[int]):
    """A permutation of ``range(len(data_source))`` fixed by ``(seed, epoch)``.

    ``set_epoch(e)`` selects the epoch (Lightning calls it at every epoch start); the same
    ``(seed, epoch)`` always gives the same order, whatever torch's global RNG holds.
    """

    def __init__(self, data_source: Sized, seed: int = 0):
        self.data_source, self.seed, self.epoch = data_source, int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        """Use the order of epoch ``epoch``."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.data_source)

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(_epoch_seed(self.seed, self.epoch))
        return iter(torch.randperm(len(self.data_source), generator=g).tolist())


class _ResumeSkip:
    """The loader's batch (or index) sampler; each pass asks the loader, when its first batch is
    requested, how many leading batches a resume skips (their indices are dropped, no data is
    loaded). ``len`` is the full length: Lightning counts the skipped batches as fetched."""

    def __init__(self, loader: ResumableLoader, base: Any):
        self.loader, self.base = loader, base

    def __len__(self) -> int:
        return len(self.base)

    def __iter__(self) -> Iterator[Any]:
        skip = self.loader._start_pass()
        it = iter(self.base)
        for _ in range(skip):
            next(it, None)
        yield from it


class ResumableLoader(DataLoader):
    """A ``DataLoader`` that Lightning resumes mid-epoch.

    ``state_dict()`` is ``{"epoch": e, "batches": k}``: the current pass is epoch ``e`` (the
    sampler's ``epoch``) and has produced ``k`` batches. After ``load_state_dict``, the next pass
    over the same epoch starts at batch ``k``; a pass over another epoch (the checkpoint was
    written at the end of epoch ``e``) starts at 0. The epoch is read when a pass's first batch
    is requested, after Lightning's ``set_epoch``. The order must be a function of the epoch
    (:class:`EpochShuffleSampler`, Lightning's ``DistributedSampler``, or no shuffling) for the
    skipped batches to be the ones already trained on. Exact with ``num_workers=0``; with
    workers, the first pass after a resume prefetches before ``set_epoch`` is called.
    """

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._epoch: int | None = None
        self._yielded = 0
        self._resume: tuple[int | None, int] | None = None

    def state_dict(self) -> dict[str, Any]:
        """``{"epoch": e, "batches": k}`` of the current pass."""
        return {"epoch": self._epoch, "batches": self._yielded}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume the pass described by ``state`` (see the class docstring)."""
        self._resume = (state.get("epoch"), int(state.get("batches", 0)))

    def _start_pass(self) -> int:
        """Called at the first batch of a pass: the number of batches to skip."""
        epoch = getattr(self.sampler, "epoch", None)
        if epoch is None:  # a batch sampler that holds the epoch (MixedBatchSampler)
            epoch = getattr(getattr(self.batch_sampler, "sampler", None), "epoch", None)
        skip = 0
        if self._resume is not None:
            saved_epoch, batches = self._resume
            self._resume = None
            if saved_epoch == epoch and 0 < batches < len(self):
                skip = batches
        self._epoch, self._yielded = epoch, skip
        return skip

    @property
    def _index_sampler(self) -> Any:
        # DataLoader and its iterators read the batch (or index) sampler through this property
        return _ResumeSkip(self, super()._index_sampler)

    def __iter__(self) -> Iterator[Any]:
        return self._count(super().__iter__())

    def _count(self, batches: Iterator[Any]) -> Iterator[Any]:
        for batch in batches:
            self._yielded += 1
            yield batch


def train_loader(dataset: Dataset, batch_size: int, seed: int, num_workers: int = 0,
                 **kwargs: Any) -> ResumableLoader:
    """A shuffling :class:`ResumableLoader` over ``dataset`` with an
    :class:`EpochShuffleSampler` seeded by ``seed`` (workers persist across epochs)."""
    return ResumableLoader(dataset, batch_size=batch_size,
                           sampler=EpochShuffleSampler(dataset, seed), num_workers=num_workers,
                           persistent_workers=num_workers > 0, **kwargs)
