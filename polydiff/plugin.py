"""The plugin API: the public names a modality may use, bundled or an outside package's.

A modality imports the core only from here (``from polydiff.plugin import DiffusionDataModule,
Modality, load``), so what it depends on is one declared list (:data:`API`), kept stable and
documented in ``docs/modalities.md``; ``tests/test_package.py`` checks that the bundled
modalities import nothing else of the core. Names are loaded on first use, so importing this
module imports neither Lightning nor the networks.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__: list[str] = []  # filled from API below

#: module -> the names a modality may import from it (through this module)
API: dict[str, tuple[str, ...]] = {
    # the registry (a modality's __init__.py declares MODALITY = Modality(...))
    "polydiff.modality": ("Command", "Modality", "get_modality", "register_modality",
                          "unregister_modality"),
    # data: the base data module, normalisation, the batch dict, augmentation, loaders
    "polydiff.training.datamodule": ("DiffusionDataModule",),
    "polydiff.training.data": ("ResumableLoader", "train_loader"),
    "polydiff.training.mixed": ("MixedBatchSampler",),
    "polydiff.normalize": ("Normalizer",),
    "polydiff.typing": ("Batch",),
    "polydiff.augment": ("random_crop", "random_flip"),
    "polydiff.folders": ("FolderScan", "MissingFolderError", "scan_class_folders"),
    "polydiff.assets": ("resolve_bundled",),
    "polydiff.seeding": ("mix", "text_seed"),
    # training and demos
    "polydiff.training.module": ("DiffusionModule",),
    "polydiff.training.demo": ("fit_demo", "plot_losses", "write_report"),
    # networks: the generic U-Net and its blocks
    "polydiff.nn": ("Attention", "ConditionedInputs", "Conv", "EmbBlock", "EmbSequential",
                    "ResBlock", "UNet", "VectorEmbedding", "group_norm", "zero_init"),
    "polydiff.nn.fitted": ("FittedBuffers",),
    "polydiff.conditioning": ("NoiseEmbedding", "film"),
    "polydiff.conditioners": ("Conditioner", "Standard", "known_channels"),
    "polydiff.pretransforms": ("Fold", "Identity", "Pretransform"),
    # inference: the loaded model, the sampler settings, windowed routines
    "polydiff.inference": ("DataSpec", "Model", "Sampler", "load"),
    "polydiff.inference.along": ("continuation_windows", "continue_along", "fill_along",
                                 "gap_windows"),
    "polydiff.inference.tiles": ("Blend", "Tiles", "fill_tiles", "ramp", "tile_starts"),
    "polydiff.samplers": ("DEFAULT_METHOD", "DEFAULT_STEPS", "nfe"),
    # masks, measures, interpolation, calibration, mosaics
    "polydiff.masks": ("check_mask", "cloud_mask", "from_intervals", "from_nan", "random_mask",
                       "runs", "strided_mask", "suffix_mask", "time_step_mask"),
    "polydiff.metrics": ("crps_ensemble", "feature_stats", "frechet_distance",
                         "frechet_distance_of", "interval_coverage", "latitude_weight", "mae",
                         "rmse", "spread_skill"),
    "polydiff.interpolate": ("FILL_METHODS", "first_guess", "linear_along"),
    "polydiff.conformal": ("Calibration", "conformal_factor", "covering_factors", "inflate"),
    "polydiff.mosaic": ("mosaic",),
    "polydiff.io": ("read_tensor", "write_tensor"),
    "polydiff._checks": ("check_choice",),
    # commands: argument types, path checks and the shared option groups
    "polydiff.cli.checks": ("UserError", "check_device", "check_out_dir", "check_out_file",
                            "finite_float", "nonnegative_int", "positive_float",
                            "positive_int"),
    "polydiff.cli.options": ("add_model_options", "add_sampler_options", "load_model",
                             "sampler_from"),
}
#: modules a modality may use as a whole (``from polydiff.plugin import masks``)
MODULES = {"masks": "polydiff.masks", "metrics": "polydiff.metrics"}

_WHERE = {name: module for module, names in API.items() for name in names}
__all__ = sorted([*_WHERE, *MODULES, "version"])


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(_WHERE[name]), name)
    if name in MODULES:
        return importlib.import_module(MODULES[name])
    if name == "version":
        from . import __version__

        return __version__
    raise AttributeError(f"polydiff.plugin has no {name!r}: the plugin API is {__all__} "
                         f"(docs/modalities.md)")


def __dir__() -> list[str]:
    return list(__all__)
