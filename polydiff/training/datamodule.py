"""``DiffusionDataModule``: the base ``LightningDataModule`` of every modality.

A modality's data module says only what is its own: how to read its files into datasets
(:meth:`DiffusionDataModule.build`) and, optionally, fixed normalisation statistics and the
metadata its writers need. The base class adds the rest:

- seeded splits (:meth:`split`), a resumable training loader shuffled by ``(seed, epoch)``
  (:func:`~polydiff.training.data.train_loader`) and ordered evaluation loaders;
- a :class:`~polydiff.normalize.Normalizer` fitted on the training split (or fixed by the
  modality), applied to every batch; NaN in ``x`` becomes ``observed = False`` with a zero in
  model units, so NaN never reaches a network;
- ``sample_shape``, ``num_classes`` and :meth:`data_info` (modality, writer, normaliser and
  metadata), which :class:`~polydiff.training.DiffusionModule` reads at ``setup`` and stores in
  checkpoints and exports.

Dataset items are dicts in *data units*: ``{"x": (C, *axes)}`` plus optional ``class_labels``
(a long scalar), ``observed`` (bool), ``cond``, ``weight`` (element weights) and ``meta``;
batches are the :class:`polydiff.typing.Batch` dict in model units.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import torch
from lightning.pytorch import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, default_collate

from .._checks import check_choice
from ..normalize import Normalizer
from .data import ResumableLoader, train_loader

__all__ = ["BatchCollate", "DiffusionDataModule", "NORMALIZATIONS", "split_indices"]

#: ``"fit"``: statistics of the training split; ``"fixed"``: the modality's
#: (:meth:`DiffusionDataModule.fixed_normalizer`); ``"none"``: identity
NORMALIZATIONS = ("fit", "fixed", "none")


def split_indices(n: int, fractions: Sequence[float], seed: int) -> list[Tensor]:
    """A seeded random split of ``range(n)``: the rest first, then one part per fraction.

    ``split_indices(1797, (0.1, 0.1), 0)`` -> ``[train (1437,), val (180,), test (180,)]``.
    """
    if any(f < 0 for f in fractions) or sum(fractions) >= 1:
        raise ValueError(f"split fractions must be >= 0 and sum to < 1, got {tuple(fractions)}")
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    sizes = [int(round(f * n)) for f in fractions]
    n_rest = n - sum(sizes)
    if n_rest < 1:
        raise ValueError(f"split of {n} items by {tuple(fractions)} leaves no training items")
    parts, start = [perm[:n_rest]], n_rest
    for s in sizes:
        parts.append(perm[start:start + s])
        start += s
    return parts


class BatchCollate:
    """Stack items (``default_collate``), then bring ``x`` to model units: NaN entries become
    ``observed = False`` (combined with any ``observed`` of the items) and 0 after
    normalisation. Picklable, so loader workers can use it."""

    def __init__(self, normalizer: Normalizer):
        self.normalizer = normalizer

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        batch = default_collate(items)
        x = batch["x"]
        missing = torch.isnan(x)
        if missing.any():
            observed = ~missing
            if "observed" in batch:
                observed &= batch["observed"].expand_as(x)
            batch["observed"] = observed
        x = self.normalizer.normalize(x)
        if "observed" in batch:
            x = torch.where(batch["observed"], x, torch.zeros((), dtype=x.dtype))
        batch["x"] = x
        return batch


class DiffusionDataModule(LightningDataModule):
    """Base data module (see the module docstring).

    Args:
        batch_size: batch size of every loader.
        val_fraction: share of the items held out for validation (subclasses split with
            :meth:`split`).
        seed: seed of the split and of the training order (a permutation per epoch).
        num_workers: DataLoader workers (exact resume needs 0).
        normalization: one of :data:`NORMALIZATIONS`.
        normalizer_items: at most this many training items (a seeded subset) fit the
            normaliser.

    Subclasses implement :meth:`build`, and may set the class attributes ``modality`` (the
    registry name) and ``writer`` (which of the modality's writers samples go through), and
    override :meth:`fixed_normalizer`, :meth:`metadata`, ``num_classes`` and ``sample_shape``.
    """

    modality: ClassVar[str | None] = None
    writer: ClassVar[str | None] = None

    def __init__(self, batch_size: int = 32, val_fraction: float = 0.1, seed: int = 0,
                 num_workers: int = 0, normalization: str = "fit",
                 normalizer_items: int = 4096):
        super().__init__()
        if batch_size < 1 or num_workers < 0 or normalizer_items < 1:
            raise ValueError(f"need batch_size >= 1, num_workers >= 0, normalizer_items >= 1; "
                             f"got {batch_size}, {num_workers}, {normalizer_items}")
        if not 0.0 <= val_fraction < 1.0:
            raise ValueError(f"val_fraction must lie in [0, 1), got {val_fraction}")
        self.batch_size, self.val_fraction, self.seed = batch_size, val_fraction, seed
        self.num_workers = num_workers
        self.normalization = check_choice(normalization, NORMALIZATIONS, "normalization")
        self.normalizer_items = normalizer_items
        self.train_set: Dataset | None = None
        self.val_set: Dataset | None = None
        self.test_set: Dataset | None = None
        self.normalizer: Normalizer | None = None

    # -- what a modality implements ---------------------------------------------------------
    def build(self) -> dict[str, Dataset]:
        """The datasets: ``{"train": ..., "val": ..., "test": ...}`` (``val``/``test``
        optional), items in data units (see the module docstring)."""
        raise NotImplementedError(f"{type(self).__name__} must implement build()")

    def fixed_normalizer(self) -> Normalizer | None:
        """Statistics known in advance (``normalization="fixed"``), e.g. images in [0, 1]."""
        return None

    def metadata(self) -> dict[str, Any]:
        """JSON-able facts writers need (e.g. ``{"sample_rate": 16000}``)."""
        return {}

    def statistics(self) -> dict[str, Any]:
        """Statistics fitted on the training data that the model's conditioner keeps as
        buffers (saved with the weights, not in the JSON description), name -> array; the
        module hands them to ``conditioner.fit`` at the start of training. Default: none."""
        return {}

    @property
    def num_classes(self) -> int | None:
        """Number of classes of labelled data (``None``: unlabelled)."""
        return None

    @property
    def sample_shape(self) -> tuple[int, ...]:
        """Shape ``(C, *axes)`` of one sample (from the first training item)."""
        self.setup()
        return tuple(self.train_set[0]["x"].shape)

    # -- provided --------------------------------------------------------------------------
    def split(self, n: int, *fractions: float) -> list[Tensor]:
        """Seeded split of ``range(n)`` (:func:`split_indices` with this module's seed)."""
        return split_indices(n, fractions, self.seed)

    def setup(self, stage: str | None = None) -> None:
        if self.train_set is not None:
            return
        sets = self.build()
        unknown = sorted(set(sets) - {"train", "val", "test"})
        if "train" not in sets or unknown:
            raise ValueError(f"{type(self).__name__}.build() must return 'train' (and optionally "
                             f"'val', 'test'), got {sorted(sets)}")
        if len(sets["train"]) == 0:
            raise ValueError(f"{type(self).__name__}: the training split is empty")
        self.train_set, self.val_set = sets["train"], sets.get("val")
        self.test_set = sets.get("test")
        self.normalizer = self._make_normalizer()

    def _make_normalizer(self) -> Normalizer:
        if self.normalization == "fixed":
            fixed = self.fixed_normalizer()
            if fixed is None:
                raise ValueError(f"{type(self).__name__} has no fixed normaliser; use "
                                 f"normalization='fit' or 'none'")
            return fixed
        if self.normalization == "none":
            return Normalizer.identity(self.train_set[0]["x"].shape[0])
        n = len(self.train_set)
        idx = range(n)
        if n > self.normalizer_items:
            g = torch.Generator().manual_seed(self.seed)
            idx = torch.randperm(n, generator=g)[:self.normalizer_items].tolist()
        items = (self.train_set[i] for i in idx)
        return Normalizer.fit((it["x"], it.get("observed")) for it in items)

    def collate(self) -> BatchCollate:
        self.setup()
        return BatchCollate(self.normalizer)

    def _eval_loader(self, ds: Dataset | None, which: str) -> DataLoader:
        if ds is None or len(ds) == 0:
            raise ValueError(f"{type(self).__name__} has no {which} split (val_fraction="
                             f"{self.val_fraction})")
        return DataLoader(ds, batch_size=self.batch_size, shuffle=False,
                          num_workers=self.num_workers, collate_fn=self.collate(),
                          persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> ResumableLoader:
        self.setup()
        return train_loader(self.train_set, self.batch_size, self.seed, self.num_workers,
                            collate_fn=self.collate())

    def val_dataloader(self) -> DataLoader | list:
        """Ordered validation batches; ``[]`` (Lightning then skips validation) without a
        validation split."""
        self.setup()
        if self.val_set is None or len(self.val_set) == 0:
            return []
        return self._eval_loader(self.val_set, "validation")

    def test_dataloader(self) -> DataLoader:
        self.setup()
        return self._eval_loader(self.test_set, "test")

    def data_info(self) -> dict[str, Any]:
        """What checkpoints and exports record about the data (JSON)."""
        self.setup()
        return {"modality": self.modality, "writer": self.writer,
                "normalizer": self.normalizer.to_dict(), "meta": dict(self.metadata()),
                "sample_shape": list(self.sample_shape), "num_classes": self.num_classes}
