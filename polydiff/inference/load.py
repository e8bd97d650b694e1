"""``load``: a :class:`~polydiff.inference.Model` from a Lightning checkpoint, a ``polydiff
export`` directory or a live :class:`~polydiff.training.DiffusionModule`.

Checkpoints are read with ``torch.load(weights_only=True)`` and exports from safetensors (or
a tensors-only file); the network is rebuilt from its allow-listed JSON spec
(:mod:`polydiff.training.spec`), never unpickled, and Lightning is not imported.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ..denoiser import Denoiser
from .model import Model, conditioning_of
from .spec import DataSpec

__all__ = ["load"]


def load(source: Any, *, device: torch.device | str = "cpu", ema: bool = True,
         modality: str | None = None) -> Model:
    """The model in ``source``: a ``.ckpt`` path, an export directory, a
    :class:`~polydiff.training.DiffusionModule` (sharing its weights) or a :class:`Model`
    (returned as it is).

    ``ema``: the EMA weights where the source has them (else the raw ones); ``False`` asks for
    the raw weights, which an export of EMA weights does not hold (a ``ValueError`` says so).
    ``modality``: refuse a model of another modality (one line naming both). Errors are
    ``ValueError`` sentences naming the source.
    """
    if isinstance(source, Model):
        model = source
    elif _is_module(source):
        model = Model.from_module(source, ema=ema)
    else:
        path = Path(source)
        if not path.exists():
            raise ValueError(f"{path} does not exist; expected a .ckpt file or a `polydiff "
                             f"export` directory")
        model = _from_export(path, ema) if path.is_dir() else _from_checkpoint(path, ema)
        model.to(device)
    if modality is not None and model.spec.modality != modality:
        found = model.spec.modality or "modality-less"
        raise ValueError(f"{model.source} is {_a(found)} {found} model, not {_a(modality)} "
                         f"{modality} model (its data description records modality="
                         f"{model.spec.modality!r})")
    return model


def _a(word: str) -> str:
    return "an" if word[:1].lower() in "aeiou" else "a"


def _is_module(obj: Any) -> bool:
    # a DiffusionModule without importing Lightning for every other source
    return type(obj).__name__ == "DiffusionModule" or any(
        c.__name__ == "DiffusionModule" for c in type(obj).__mro__)


def _model(net: torch.nn.Module, config: dict, info: dict | None, shape, source: str,
           ema: bool, has_ema: bool, conditioner: torch.nn.Module,
           pretransform: torch.nn.Module) -> Model:
    from ..training.spec import schedule_from, share_data_info

    shape = shape or (info or {}).get("sample_shape")
    if not shape:
        raise ValueError(f"{source} does not record the sample shape")
    share_data_info(net, info)
    den = Denoiser(net, schedule_from(config["schedule"]), config["prediction"],
                   c_noise=config.get("c_noise"), sigma_data=config.get("sigma_data", 0.5),
                   input_scale=config.get("input_scale"))
    conditional = config.get("imputation") is not None
    spec = DataSpec.from_info(info, shape, getattr(net, "null_class", None),
                              conditioning_of(net, conditional))
    return Model(den.eval(), spec, conditional=conditional, source=source, ema=ema,
                 has_ema=has_ema, conditioner=conditioner.eval(),
                 pretransform=pretransform.eval())


def _from_checkpoint(path: Path, ema: bool) -> Model:
    from ..training.checkpoints import CheckpointError, load_weights, read_checkpoint
    from ..training.spec import build_conditioner, build_pretransform, instantiate_net

    ckpt = read_checkpoint(path)
    hparams = ckpt["hyper_parameters"]
    if hparams.get("net") is None:
        raise CheckpointError(f"{path} records no network spec (the module was built from a "
                              f"bare nn.Module); load it with polydiff.training."
                              f"load_checkpoint(path, net=...)")
    net = instantiate_net(hparams["net"])
    state = ckpt["state_dict"]
    has_ema = any(k.startswith("ema_net.") for k in state)
    prefix = "ema_net." if ema and has_ema else "net."
    conditioner = build_conditioner(hparams.get("conditioner"),
                                    hparams.get("imputation") is not None)
    pretransform = build_pretransform(hparams.get("pretransform"))
    for what, module, start in (("network", net, prefix),
                                ("conditioner", conditioner, "conditioner."),
                                ("pretransform", pretransform, "pretransform.")):
        weights = {k[len(start):]: v for k, v in state.items() if k.startswith(start)}
        load_weights(module, weights, f"{path}: its weights do not fit the {what} it describes")
    stored = ckpt.get("polydiff") or {}
    shape = stored.get("sample_shape") or hparams.get("sample_shape")
    return _model(net, hparams, stored.get("data"), shape, str(path), prefix == "ema_net.",
                  has_ema, conditioner, pretransform)


def _from_export(path: Path, ema: bool) -> Model:
    from ..training.export import read_export

    config, net, conditioner, pretransform = read_export(path)
    if not ema and config.get("ema"):
        raise ValueError(f"the export {path} holds its EMA weights only; export the "
                         f"checkpoint again with `polydiff export --no-ema` for the raw ones")
    return _model(net, config, config.get("data"), config["sample_shape"], str(path),
                  bool(config.get("ema")), bool(config.get("ema")), conditioner, pretransform)
