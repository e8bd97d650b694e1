"""JSON specs ``{"class_path": ..., "init_args": {...}}`` for networks and schedules.

Checkpoints and exports describe the network by such a spec instead of pickling it. Specs are
instantiated only from an allow-list: class paths inside the ``polydiff`` package (or ones
registered with :func:`register_net`), never an arbitrary import named by an untrusted file.
"""

from __future__ import annotations

import importlib
import inspect
import math
import warnings
from typing import Any

from torch import nn

from .. import schedules
from ..schedules import Schedule

__all__ = [
    "DEFAULT_CONDITIONER",
    "DEFAULT_PRETRANSFORM",
    "build_conditioner",
    "build_pretransform",
    "module_spec",
    "known_nets",
    "register_net",
    "build_net",
    "instantiate_net",
    "net_spec",
    "check_json",
    "schedule_from",
    "share_data_info",
    "share_statistics",
]

_REGISTERED: dict[str, type[nn.Module]] = {}
_SPEC_ATTR = "_polydiff_spec"


def register_net(cls: type[nn.Module], class_path: str | None = None) -> str:
    """Allow a network class outside ``polydiff`` to be rebuilt from checkpoints and exports.

    Returns the class path under which it is registered (default ``module.QualName``)."""
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise TypeError(f"register_net expects an nn.Module subclass, got {cls!r}")
    path = class_path or f"{cls.__module__}.{cls.__qualname__}"
    _REGISTERED[path] = cls
    return path


def known_nets() -> list[str]:
    """Network classes offered in error messages: the core U-Net, every registered modality's
    backbones and classes registered with :func:`register_net` (any ``nn.Module`` under
    ``polydiff.`` is allowed)."""
    from ..modality import modalities

    nets = {"polydiff.nn.UNet", *_REGISTERED}
    for modality in modalities().values():
        nets.update(modality.networks)
    return sorted(nets)


def _valid_choices() -> list[str]:
    return known_nets()


def _listed_by_modalities() -> set[str]:
    """Class paths a registered modality lists (its ``networks`` and ``conditioners``): an
    outside modality's backbone is allowed in configs and checkpoints without a second
    registration."""
    from ..modality import modalities

    listed: set[str] = set()
    for modality in modalities().values():
        listed.update(modality.networks)
        listed.update(modality.conditioners)
    return listed


def _resolve(class_path: str) -> type[nn.Module]:
    if not isinstance(class_path, str) or not class_path:
        raise ValueError(f"net class_path must be a non-empty string, got {class_path!r}")
    if class_path in _REGISTERED:
        return _REGISTERED[class_path]
    if not class_path.startswith("polydiff.") and class_path not in _listed_by_modalities():
        raise ValueError(
            f"unknown network class {class_path!r}: only classes inside polydiff, listed by a "
            f"registered modality or registered with polydiff.training.register_net are "
            f"instantiated; expected one of {_valid_choices()}"
        )
    module_name, _, name = class_path.rpartition(".")
    try:
        obj = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError):
        raise ValueError(
            f"unknown network class {class_path!r}; expected one of {_valid_choices()}"
        ) from None
    if not (isinstance(obj, type) and issubclass(obj, nn.Module)):
        raise ValueError(f"{class_path!r} is not an nn.Module subclass; expected one of "
                         f"{_valid_choices()}")
    return obj


def check_json(value: Any, where: str) -> Any:
    """Return ``value`` with tuples as lists; raise if it is not JSON-representable."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: non-finite number {value}")
        return value
    if isinstance(value, (list, tuple)):
        return [check_json(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{where}: keys must be strings, got {k!r}")
            out[k] = check_json(v, f"{where}.{k}")
        return out
    raise ValueError(f"{where}: {type(value).__name__} is not a JSON value (str, number, bool, "
                     f"None, list or dict)")


def _check_init_args(cls: type, class_path: str, init_args: dict) -> None:
    sig = inspect.signature(cls.__init__)
    params = {k: p for k, p in sig.parameters.items() if k != "self"}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    unknown = sorted(set(init_args) - set(params))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for {class_path}; valid options: "
                         f"{sorted(params)}")


def _without_retired(cls: type, class_path: str, init_args: dict) -> dict:
    """``init_args`` without the arguments ``cls`` has retired (``RETIRED_INIT_ARGS``: options
    of an earlier version whose meaning moved elsewhere), with a warning naming them."""
    retired = sorted(set(getattr(cls, "RETIRED_INIT_ARGS", ())) & set(init_args))
    if not retired:
        return init_args
    warnings.warn(f"{class_path}: the stored option(s) {retired} are retired and dropped (the "
                  f"Denoiser now applies the first-guess residual with the module's own "
                  f"prediction and schedule)", stacklevel=3)
    return {k: v for k, v in init_args.items() if k not in retired}


def instantiate_net(spec: dict) -> nn.Module:
    """Build a network from ``{"class_path": ..., "init_args": {...}}`` (allow-listed classes
    only). The spec is attached to the network, so checkpoints and exports can store it."""
    if not isinstance(spec, dict) or "class_path" not in spec:
        raise ValueError(f"a network spec is a dict with 'class_path' and 'init_args', got "
                         f"{spec!r}")
    extra = sorted(set(spec) - {"class_path", "init_args"})
    if extra:
        raise ValueError(f"unknown key(s) {extra} in network spec; valid keys: "
                         f"['class_path', 'init_args']")
    class_path = spec["class_path"]
    init_args = check_json(dict(spec.get("init_args") or {}), f"{class_path} init_args")
    cls = _resolve(class_path)
    init_args = _without_retired(cls, class_path, init_args)
    _check_init_args(cls, class_path, init_args)
    net = cls(**init_args)
    setattr(net, _SPEC_ATTR, {"class_path": class_path, "init_args": init_args})
    return net


def build_net(class_path: str, **init_args: Any) -> nn.Module:
    """``instantiate_net({"class_path": class_path, "init_args": init_args})``."""
    return instantiate_net({"class_path": class_path, "init_args": init_args})


def net_spec(net: nn.Module) -> dict | None:
    """The spec a network was built from (via :func:`instantiate_net`), or ``None``."""
    spec = getattr(net, _SPEC_ATTR, None)
    return None if spec is None else {"class_path": spec["class_path"],
                                      "init_args": dict(spec["init_args"])}


#: the conditioner a module gets when none is given (:class:`polydiff.conditioners.Standard`)
DEFAULT_CONDITIONER = "polydiff.conditioners.Standard"


def build_conditioner(spec: dict | None, imputation: bool = False) -> nn.Module:
    """The conditioner of ``spec`` (allow-listed like networks), or for ``None`` the default
    :class:`~polydiff.conditioners.Standard` (``known=imputation``)."""
    from ..conditioners import Conditioner

    if spec is None:
        spec = {"class_path": DEFAULT_CONDITIONER, "init_args": {"known": bool(imputation)}}
    conditioner = instantiate_net(spec)
    if not isinstance(conditioner, Conditioner):
        raise ValueError(f"conditioner {spec.get('class_path')!r} is not a "
                         f"polydiff.conditioners.Conditioner")
    return conditioner


#: the pretransform a module gets when none is given (:class:`polydiff.pretransforms.Identity`)
DEFAULT_PRETRANSFORM = "polydiff.pretransforms.Identity"


def build_pretransform(spec: dict | None) -> nn.Module:
    """The pretransform of ``spec`` (allow-listed like networks), or for ``None`` the
    identity (:class:`~polydiff.pretransforms.Identity`)."""
    from ..pretransforms import Pretransform

    module = instantiate_net(spec or {"class_path": DEFAULT_PRETRANSFORM, "init_args": {}})
    if not isinstance(module, Pretransform):
        raise ValueError(f"pretransform {spec.get('class_path')!r} is not a "
                         f"polydiff.pretransforms.Pretransform")
    return module


def module_spec(module: nn.Module, what: str = "conditioner") -> dict:
    """The JSON spec a conditioner or pretransform was built from (:func:`build_conditioner`,
    :func:`build_pretransform`)."""
    spec = net_spec(module)
    if spec is None:
        raise ValueError(f"the {what} {type(module).__name__} has no spec; build it with "
                         f"polydiff.training.spec.build_{what}")
    return spec


def share_data_info(net: nn.Module | None, info: dict | None) -> None:
    """Hand the data's description (``data_info``: modality, normaliser, metadata) to a
    network that reads it: one with a ``use_data_info(info)`` method (e.g. a grid model
    whose first guess uses statistics of its training field). Others ignore it."""
    hook = getattr(net, "use_data_info", None)
    if callable(hook):
        hook(info)


def share_statistics(net: nn.Module | None, statistics: dict) -> None:
    """Hand the statistics a data module fitted (``DiffusionDataModule.statistics()``) to a
    network that keeps some as fitted buffers (one with a ``fit_statistics(stats)`` method,
    e.g. the grid model's covariance and lag tables); others ignore them."""
    hook = getattr(net, "fit_statistics", None)
    if callable(hook):
        hook(statistics)


def attach_spec(net: nn.Module, spec: dict) -> None:
    """Record ``spec`` on an already built ``net`` (e.g. one the CLI instantiated)."""
    setattr(net, _SPEC_ATTR, {"class_path": spec["class_path"],
                              "init_args": check_json(dict(spec.get("init_args") or {}),
                                                      "init_args")})


def schedule_from(value: Schedule | str | dict | None) -> Schedule:
    """A schedule from an instance, a name (``"vp_cosine"``), its ``config()`` dict
    (``{"name": ..., ...}``) or a ``{"class_path": "polydiff.schedules.X", "init_args": ...}``
    spec. ``None`` gives :class:`~polydiff.schedules.VPCosine`."""
    if value is None:
        return schedules.VPCosine()
    if isinstance(value, Schedule):
        return value
    if isinstance(value, str):
        return schedules.get(value)
    if isinstance(value, dict):
        if "name" in value:
            cfg = dict(value)
            return schedules.get(cfg.pop("name"), **cfg)
        if "class_path" in value:
            path = value["class_path"]
            name = path.rpartition(".")[2]
            classes = {c: getattr(schedules, c) for c in schedules.__all__
                       if isinstance(getattr(schedules, c), type)
                       and issubclass(getattr(schedules, c), Schedule)
                       and c != "Schedule"}
            if not path.startswith("polydiff.schedules.") or name not in classes:
                raise ValueError(f"unknown schedule class {path!r}; expected one of "
                                 f"{sorted('polydiff.schedules.' + c for c in classes)}")
            return classes[name](**(value.get("init_args") or {}))
    raise ValueError(f"schedule must be a Schedule, a name in {schedules.names()}, a config "
                     f"dict or a class_path spec, got {value!r}")
