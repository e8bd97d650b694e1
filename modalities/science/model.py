"""A trained science model, from a checkpoint, an export directory or a live module."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from polydiff.normalize import Normalizer

__all__ = ["FieldModel"]


@dataclass
class FieldModel:
    """What filling gaps needs from a model: its denoiser (eval mode), schedule, sample shape,
    data description (``data_info``: modality, normaliser, metadata) and whether it is a
    conditional imputation model. ``source`` names it in messages and provenance."""

    denoiser: Any
    schedule: Any
    sample_shape: list[int]
    data_info: dict
    conditional: bool
    source: str

    @classmethod
    def load(cls, model: Any, device: torch.device | str = "cpu", ema: bool = True
             ) -> FieldModel:
        """From a ``.ckpt`` path, a ``polydiff export`` directory, a
        :class:`~polydiff.training.DiffusionModule` or a :class:`FieldModel` (returned as it
        is). A model of another modality, or one without its data description, is refused."""
        from polydiff.training import DiffusionModule, load_checkpoint, load_exported

        if isinstance(model, FieldModel):
            return model
        if isinstance(model, DiffusionModule):
            fm = cls(model.denoiser(ema=ema).eval(), model.schedule, list(model.sample_shape),
                     model.data_info or {}, model.imputation is not None,
                     type(model).__name__)
        else:
            path = Path(model)
            if not path.exists():
                raise ValueError(f"checkpoint {path} does not exist; expected a .ckpt file or a "
                                 f"`polydiff export` directory")
            if path.is_dir():
                den = load_exported(path, device=device)
                cfg = den.export_config
                fm = cls(den, den.schedule, list(cfg["sample_shape"]), cfg.get("data") or {},
                         cfg.get("imputation") is not None, str(path))
            else:
                module = load_checkpoint(path, map_location=device)
                fm = cls(module.denoiser(ema=ema and module.ema_net is not None).eval(),
                         module.schedule, list(module.sample_shape or []),
                         module.data_info or {}, module.imputation is not None, str(path))
        fm.denoiser.to(device)
        fm._check()
        return fm

    def _check(self) -> None:
        modality = self.data_info.get("modality")
        if modality != "science":
            raise ValueError(f"checkpoint {self.source} is a {modality or 'modality-less'} "
                             f"model, not a science model (trained on FieldData)")
        if len(self.sample_shape) not in (3, 4):
            raise ValueError(f"checkpoint {self.source} records the sample shape "
                             f"{self.sample_shape}; expected (variables, [time,] lat, lon)")

    @property
    def meta(self) -> dict[str, Any]:
        """The training data's metadata (variables, units, attributes, grid)."""
        return dict(self.data_info.get("meta") or {})

    @property
    def variables(self) -> list[str]:
        return list(self.meta.get("variables") or [])

    @property
    def normalizer(self) -> Normalizer:
        return Normalizer.from_dict(self.data_info["normalizer"])

    @property
    def net(self) -> nn.Module:
        return self.denoiser.net

    @property
    def window(self) -> tuple[int, int, int]:
        """``(time, lat, lon)`` size of one sample (time 1 for a 2-D model)."""
        s = self.sample_shape
        return (s[1], s[2], s[3]) if len(s) == 4 else (1, s[1], s[2])

    @property
    def time_axis(self) -> bool:
        return len(self.sample_shape) == 4

    @property
    def periodic(self) -> bool:
        """Whether the network pads longitude circularly."""
        periodic = getattr(self.net, "periodic", (False,))
        return bool(periodic[-1]) if isinstance(periodic, tuple) else bool(periodic)

    @property
    def coords(self) -> bool:
        return bool(getattr(self.net, "coords", False))

    @property
    def validity(self) -> bool:
        return bool(getattr(self.net, "validity", False))
