"""``polydiff fit`` / ``polydiff validate``: LightningCLI over ``DiffusionModule`` and any data
module, with polydiff's checks first.

- Config files are checked before anything is built (:func:`check_config`): unknown model
  options, network classes/options and data classes fail with the valid choices.
- Results are never overwritten silently: a run whose checkpoint folder already holds
  checkpoints (or whose ``config.yaml`` exists) stops unless ``--overwrite`` is given or it
  resumes with ``--ckpt_path``.
- With ``--ckpt_path``, model options given on the command line or in a config that differ from
  the checkpoint's stop the run: LightningCLI would otherwise replace them with the
  checkpoint's values without a word.
"""

from __future__ import annotations

import importlib
import inspect
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .checks import UserError

__all__ = ["check_config", "known_data", "run_lightning"]

SPECIAL_CKPT = ("best", "last", "hpc", "registry")


def known_data() -> list[str]:
    """Data modules offered in error messages: every registered modality's (any
    ``LightningDataModule`` class path works)."""
    from ..modality import modalities

    return sorted(d for m in modalities().values() for d in m.data_modules)


def shipped_configs() -> list[str]:
    """``"modality/name: path"`` for every shipped fit config."""
    from ..modality import modalities

    return [f"{m.name}/{k}: {v}" for m in modalities().values() for k, v in m.configs.items()]


def check_config(config: dict, source: str = "config") -> None:
    """Fail early, listing the valid choices, on an unknown model option, network class or
    network option, or data-module class in a ``polydiff fit`` config."""
    from ..training import DiffusionModule
    from ..training.spec import _check_init_args, _resolve

    if not isinstance(config, dict):
        raise ValueError(f"{source}: a config is a YAML mapping (trainer:, model:, data:), got "
                         f"a {type(config).__name__}")
    model = config.get("model") or {}
    if isinstance(model, dict):
        valid = sorted(k for k in inspect.signature(DiffusionModule.__init__).parameters
                       if k != "self")
        unknown = sorted(set(model) - set(valid))
        if unknown:
            raise ValueError(f"{source}: unknown model option(s) {unknown}; valid options: "
                             f"{valid}")
        net = model.get("net")
        if isinstance(net, dict) and "class_path" in net:
            try:
                cls = _resolve(net["class_path"])
                _check_init_args(cls, net["class_path"], dict(net.get("init_args") or {}))
            except ValueError as e:
                raise ValueError(f"{source}: model.net: {e}") from None
    data = config.get("data")
    if isinstance(data, dict) and "class_path" in data:
        path = data["class_path"]
        module_name, _, name = path.rpartition(".")
        try:
            getattr(importlib.import_module(module_name), name)
        except (ImportError, AttributeError, ValueError):
            raise ValueError(f"{source}: unknown data class {path!r}; expected one of "
                             f"{known_data()} or another LightningDataModule") from None


def _flag_values(args: Sequence[str], flag: str) -> list[str]:
    """Values of ``--flag V`` / ``--flag=V`` in ``args``."""
    out = []
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            out.append(args[i + 1])
        elif arg.startswith(flag + "="):
            out.append(arg.split("=", 1)[1])
    return out


def _config_files(args: Sequence[str]) -> list[Path]:
    return [Path(v) for v in _flag_values(args, "--config")]


def _check_ckpt_path(args: Sequence[str]) -> None:
    """A ``--ckpt_path`` file must be a readable polydiff checkpoint (Lightning's special
    values ``best``/``last``/... pass)."""
    from ..training.checkpoints import CheckpointError, read_checkpoint

    for value in _flag_values(args, "--ckpt_path"):
        if value in SPECIAL_CKPT or value in ("null", "None"):
            continue
        try:
            read_checkpoint(value)
        except CheckpointError as err:
            raise UserError(f"--ckpt_path: {err}") from None


def _read_configs(args: Sequence[str]) -> list[tuple[Path, dict]]:
    import yaml

    out = []
    for path in _config_files(args):
        if not path.is_file():
            raise UserError(f"--config {path}: " + ("is a directory" if path.is_dir()
                                                    else "does not exist"))
        try:
            cfg = yaml.safe_load(path.read_text()) or {}
        except (yaml.YAMLError, UnicodeDecodeError) as err:
            raise UserError(f"--config {path} is not valid YAML "
                            f"({' '.join(str(err).split())})") from None
        check_config(cfg, str(path))
        out.append((path, cfg))
    return out


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    if not isinstance(d, dict) or not d:
        return {prefix: d} if prefix else {}
    out: dict[str, Any] = {}
    for k, v in d.items():
        out.update(_flatten(v, f"{prefix}.{k}" if prefix else str(k)))
    return out


def _explicit_model_keys(args: Sequence[str], configs: list[tuple[Path, dict]]) -> set[str]:
    """Dotted model option paths the user set (``--model.x.y`` or a config's ``model:``)."""
    keys = set()
    for _, cfg in configs:
        keys.update(_flatten(cfg.get("model") or {}))
    for arg in args:
        if arg.startswith("--model."):
            keys.add(arg[len("--model."):].split("=", 1)[0])
    return keys


def _lookup(d: Any, dotted: str) -> tuple[bool, Any]:
    for part in dotted.split("."):
        if not isinstance(d, dict) or part not in d:
            return False, None
        d = d[part]
    return True, d


def _json(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def _make_cli_class():
    from lightning.pytorch.callbacks import ModelCheckpoint
    from lightning.pytorch.cli import LightningCLI

    class PolydiffCLI(LightningCLI):
        """LightningCLI with the checks of this module's docstring."""

        def __init__(self, *args: Any, overwrite: bool = False,
                     explicit_model_keys: set[str] | None = None, **kwargs: Any):
            self.overwrite = overwrite
            self.explicit_model_keys = explicit_model_keys or set()
            super().__init__(*args, **kwargs)

        def _parse_ckpt_path(self) -> None:
            sub = self.config.get("subcommand")
            ckpt_path = self.config[sub].get("ckpt_path") if sub else None
            if ckpt_path and ckpt_path not in SPECIAL_CKPT:
                from ..training.checkpoints import read_checkpoint

                ckpt = read_checkpoint(ckpt_path)
                given = self.config[sub].get("model")
                given = given.as_dict() if hasattr(given, "as_dict") else dict(given or {})
                stored = ckpt["hyper_parameters"]
                conflicts = []
                for key in sorted(self.explicit_model_keys):
                    has_given, value = _lookup(given, key)
                    has_stored, old = _lookup(stored, key)
                    if has_given and has_stored and _json(value) != _json(old):
                        conflicts.append(f"model.{key}={value!r} (checkpoint: {old!r})")
                if conflicts:
                    raise UserError(
                        f"--ckpt_path {ckpt_path}: the checkpoint's model settings would replace "
                        f"{', '.join(conflicts)}; drop these options, or train a new model "
                        f"without --ckpt_path")
            super()._parse_ckpt_path()

        def before_fit(self) -> None:
            if self.overwrite or self.config[self.subcommand].get("ckpt_path"):
                return
            trainer = self.trainer
            for cb in trainer.callbacks:
                if not isinstance(cb, ModelCheckpoint):
                    continue
                folder = cb.dirpath
                if folder is None and not trainer.loggers:
                    folder = Path(trainer.default_root_dir) / "checkpoints"
                if folder is not None and Path(folder).is_dir() and any(
                        Path(folder).glob("*.ckpt")):
                    raise UserError(
                        f"checkpoint folder {folder} already holds checkpoints of an earlier "
                        f"run; resume it with --ckpt_path {Path(folder) / 'last.ckpt'}, choose "
                        f"another --trainer.default_root_dir, or pass --overwrite")
            config = Path(trainer.log_dir or trainer.default_root_dir) / "config.yaml"
            if config.exists():
                raise UserError(f"{config} exists (an earlier run's config); choose another "
                                f"--trainer.default_root_dir, or pass --overwrite")

    return PolydiffCLI


def run_lightning(args: Sequence[str]):
    """``polydiff fit|validate ARGS`` (see the module docstring); ``--overwrite`` is polydiff's
    own flag, everything else goes to LightningCLI."""
    import lightning.pytorch as pl

    from ..training import DiffusionModule

    args = list(args)
    overwrite = "--overwrite" in args
    args = [a for a in args if a != "--overwrite"]
    configs = _read_configs(args)
    _check_ckpt_path(args)
    cli = _make_cli_class()
    return cli(
        DiffusionModule, pl.LightningDataModule, subclass_mode_data=True, args=args,
        overwrite=overwrite, explicit_model_keys=_explicit_model_keys(args, configs),
        save_config_kwargs={"overwrite": True},
        parser_kwargs={"exit_on_error": False,
                       "description": "polydiff training through LightningCLI (plus "
                                      "--overwrite: replace an earlier run's results); shipped "
                                      f"configs: {'; '.join(shipped_configs())}"},
    )
