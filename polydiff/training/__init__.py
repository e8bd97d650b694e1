"""Lightning training for polydiff: :class:`DiffusionModule`, EMA, callbacks, export, CLI.

- :class:`DiffusionModule`: any network + schedule + prediction + weighting as a
  ``LightningModule`` (AdamW with warm-up, EMA, CFG conditioning dropout, fixed-noise validation).
- :class:`DiffusionDataModule`: the base data module of every modality (seeded splits,
  resumable loaders, a fitted :class:`~polydiff.normalize.Normalizer`, the batch dict).
- :class:`SampleCallback`: samples every N epochs, written through the modality's writer
  (:func:`write_samples`).
- :func:`export` / :func:`load_exported`: weights-only files + JSON config;
  :func:`load_checkpoint`: a Lightning checkpoint read with ``weights_only=True``.
- :func:`build_net` / :func:`register_net`: networks described by allow-listed JSON specs.
- :func:`train_loader` (:class:`EpochShuffleSampler` + :class:`ResumableLoader`): training order
  fixed by ``(seed, epoch)``, resumable mid-epoch; :class:`MixedBatchSampler`: whole batches
  from one part at a time, for items of different shapes in one run.
"""

from __future__ import annotations

import importlib
from typing import Any

# reading checkpoints and exports (and the JSON specs they hold) needs no Lightning
from .checkpoints import CheckpointError, latest_checkpoint, load_checkpoint, read_checkpoint
from .export import export, load_export_config, load_exported, read_export
from .spec import build_net, instantiate_net, net_spec, register_net

#: public name -> the module that defines it, loaded on first use (Lightning's)
_LAZY = {
    "LossHistory": "callbacks", "SampleCallback": "callbacks",
    "EpochShuffleSampler": "data", "ResumableLoader": "data", "train_loader": "data",
    "BatchCollate": "datamodule", "DiffusionDataModule": "datamodule",
    "split_indices": "datamodule",
    "MixedBatchSampler": "mixed",
    "DiffusionModule": "module", "NonFiniteLossError": "module",
    "write_samples": "outputs",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "BatchCollate",
    "CheckpointError",
    "DiffusionDataModule",
    "DiffusionModule",
    "EpochShuffleSampler",
    "LossHistory",
    "MixedBatchSampler",
    "NonFiniteLossError",
    "SampleCallback",
    "build_net",
    "export",
    "instantiate_net",
    "latest_checkpoint",
    "load_checkpoint",
    "load_export_config",
    "load_exported",
    "net_spec",
    "read_checkpoint",
    "read_export",
    "register_net",
    "ResumableLoader",
    "split_indices",
    "train_loader",
    "write_samples",
]
