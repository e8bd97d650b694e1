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

from .callbacks import LossHistory, SampleCallback
from .checkpoints import CheckpointError, latest_checkpoint, load_checkpoint, read_checkpoint
from .data import EpochShuffleSampler, ResumableLoader, train_loader
from .datamodule import BatchCollate, DiffusionDataModule, split_indices
from .export import export, load_export_config, load_exported
from .mixed import MixedBatchSampler
from .module import DiffusionModule, NonFiniteLossError
from .outputs import write_samples
from .spec import build_net, instantiate_net, net_spec, register_net

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
    "register_net",
    "ResumableLoader",
    "split_indices",
    "train_loader",
    "write_samples",
]
