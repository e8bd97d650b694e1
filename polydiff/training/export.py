"""Weights-only export: ``model.safetensors`` (or tensors-only ``weights.pt``) + ``config.json``.

The JSON config rebuilds the denoiser without unpickling code: the network comes from an
allow-listed ``{class_path, init_args}`` spec (see :mod:`polydiff.training.spec`), the schedule
from ``Schedule.config()``, and weights load with ``weights_only=True``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from .. import __version__
from ..denoiser import Denoiser
from .checkpoints import CheckpointError, load_weights, read_torch_file
from .spec import (
    build_conditioner,
    build_pretransform,
    check_json,
    instantiate_net,
    module_spec,
)

__all__ = ["export", "load_exported", "load_export_config", "read_export", "FORMAT"]

FORMAT = "polydiff-denoiser"
#: the weights file's keys of the conditioner's buffers and the pretransform's weights (the
#: network's keys have no prefix)
CONDITIONER_PREFIX = "conditioner."
PRETRANSFORM_PREFIX = "pretransform."
CONFIG_NAME = "config.json"
SAFETENSORS_NAME = "model.safetensors"
TORCH_NAME = "weights.pt"


def _has_safetensors() -> bool:
    try:
        import safetensors.torch  # noqa: F401
    except ImportError:
        return False
    return True


def export(module, directory: str | Path, ema: bool = True,
           use_safetensors: bool | None = None) -> Path:
    """Write ``module``'s network weights (EMA ones when ``ema`` and available) and a
    ``config.json`` to ``directory``; returns the directory.

    ``use_safetensors``: default when the ``safetensors`` package is installed; otherwise a
    tensors-only ``weights.pt``.
    """
    spec = module.hparams.get("net")
    if spec is None:
        raise ValueError(
            "export: the module's network has no {class_path, init_args} spec; build it with "
            "polydiff.training.build_net(...) or DiffusionModule(net={'class_path': ..., "
            "'init_args': ...})"
        )
    use_ema = ema and module.ema_net is not None
    net = module.ema_net if use_ema else module.net
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in net.state_dict().items()}
    conditioner = getattr(module, "conditioner", None)
    pretransform = getattr(module, "pretransform", None)
    for prefix, part in ((CONDITIONER_PREFIX, conditioner), (PRETRANSFORM_PREFIX, pretransform)):
        if part is not None:  # fitted statistics, an autoencoder's weights: with the network's
            state.update({f"{prefix}{k}": v.detach().to("cpu").contiguous().clone()
                          for k, v in part.state_dict().items()})
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if use_safetensors is None:
        use_safetensors = _has_safetensors()
    if use_safetensors:
        from safetensors.torch import save_file

        save_file(state, str(directory / SAFETENSORS_NAME), metadata={"format": "pt"})
        weights = SAFETENSORS_NAME
    else:
        torch.save(state, directory / TORCH_NAME)
        weights = TORCH_NAME
    hp = module.hparams
    config = {
        "format": FORMAT,
        "format_version": 1,
        "polydiff_version": __version__,
        "weights": weights,
        "ema": use_ema,
        "net": spec,
        "schedule": module.schedule.config(),
        "prediction": hp["prediction"],
        "c_noise": hp.get("c_noise"),
        "sigma_data": hp.get("sigma_data", 0.5),
        "input_scale": hp.get("input_scale"),
        "sample_shape": module.sample_shape,
        "num_classes": module.num_classes,
        "data": getattr(module, "data_info", None),
        "imputation": hp.get("imputation"),
        "conditioner": None if conditioner is None else module_spec(conditioner),
        "pretransform": None if pretransform is None else module_spec(pretransform,
                                                                      "pretransform"),
    }
    (directory / CONFIG_NAME).write_text(json.dumps(check_json(config, "export config"),
                                                    indent=2) + "\n")
    return directory


def load_export_config(directory: str | Path) -> dict[str, Any]:
    """The validated ``config.json`` of an export directory (errors are
    :class:`~polydiff.training.checkpoints.CheckpointError` sentences naming the file)."""
    directory = Path(directory)
    path = directory / CONFIG_NAME
    if not directory.is_dir():
        raise CheckpointError(f"export directory {directory} is not a directory")
    if not path.is_file():
        raise CheckpointError(f"{directory} is not a polydiff export directory: no {CONFIG_NAME}")
    try:
        config = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CheckpointError(f"{path} is not valid JSON ({err})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        found = config.get("format") if isinstance(config, dict) else type(config).__name__
        raise CheckpointError(f"{path}: format {found!r} is not {FORMAT!r}")
    missing = sorted({"weights", "net", "schedule", "prediction", "sample_shape"} - set(config))
    if missing:
        raise CheckpointError(f"{path}: missing key(s) {missing}")
    if config["weights"] not in (SAFETENSORS_NAME, TORCH_NAME):
        raise CheckpointError(f"{path}: weights file {config['weights']!r} must be one of "
                              f"{[SAFETENSORS_NAME, TORCH_NAME]}")
    return config


def _read_weights(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        if not path.is_file():
            raise CheckpointError(f"export weights {path} do not exist")
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError) as err:
            raise CheckpointError(f"export weights {path} are truncated or not a safetensors "
                                  f"file ({err})") from None
    state = read_torch_file(path, "export weights")
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor)
                                              for v in state.values()):
        raise CheckpointError(f"export weights {path} are not a dict of tensors")
    return state


def read_export(directory: str | Path
                ) -> tuple[dict[str, Any], torch.nn.Module, torch.nn.Module, torch.nn.Module]:
    """``(config, network, conditioner, pretransform)`` of an export directory: the validated
    ``config.json``, the allow-listed network, conditioner and pretransform with their
    weights and fitted statistics (read with ``weights_only=True`` or safetensors)."""
    directory = Path(directory)
    config = load_export_config(directory)
    net = instantiate_net(config["net"])
    conditioner = build_conditioner(config.get("conditioner"),
                                    config.get("imputation") is not None)
    pretransform = build_pretransform(config.get("pretransform"))
    state = _read_weights(directory / config["weights"])
    prefixes = (CONDITIONER_PREFIX, PRETRANSFORM_PREFIX)

    def part(prefix: str | None) -> dict[str, torch.Tensor]:
        if prefix is None:
            return {k: v for k, v in state.items() if not k.startswith(prefixes)}
        return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}

    for what, module, prefix in (("network", net, None),
                                 ("conditioner", conditioner, CONDITIONER_PREFIX),
                                 ("pretransform", pretransform, PRETRANSFORM_PREFIX)):
        load_weights(module, part(prefix), f"{directory}: the weights do not fit the {what} "
                                           f"in {CONFIG_NAME}")
    return config, net, conditioner, pretransform


def load_exported(directory: str | Path, device: torch.device | str = "cpu") -> Denoiser:
    """Rebuild the exported denoiser (eval mode). Only allow-listed network classes are built and
    weights load with ``weights_only=True``; the config is attached as ``.export_config``.
    (:func:`polydiff.load` gives the whole model: denoiser and data description.)"""
    from ..inference import load

    model = load(directory, device=device)
    den = model.denoiser
    den.export_config = load_export_config(directory)
    return den
