"""``DataSpec``: the typed, frozen description of the data a model was trained on.

What a data module records (:meth:`polydiff.training.DiffusionDataModule.data_info`, stored in
checkpoints and exports) becomes one object: the modality, the shape of one sample, the
classes, the normaliser between data units and model units, the writer, the metadata
(sample rate, fps, variables and units, the grid, ...) and the conditioning the network
takes. :meth:`DataSpec.to_data_units` / :meth:`DataSpec.to_model_units` are the one
conversion between the units files are in and the units the network works in.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from torch import Tensor

from ..normalize import Normalizer

__all__ = ["CONDITIONING", "DataSpec"]

#: the conditioning a model can take besides ``x_t`` and ``t``: class labels (class-conditional
#: networks), the known values and their mask as network input (imputation models), a vector
#: per sample (timing, a patch's corner coordinates)
CONDITIONING = ("class_labels", "known", "vector")


def _frozen(meta: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(copy.deepcopy(dict(meta or {})))


@dataclass(frozen=True)
class DataSpec:
    """The data a model works on.

    Args:
        modality: registry name (:mod:`polydiff.modality`), or ``None`` for a model trained
            on plain tensors.
        sample_shape: ``(C, *axes)`` of one sample.
        num_classes: classes of a class-conditional model (``None``: unconditional).
        normalizer: data units -> model units (``None``: the identity).
        writer: the modality's writer its samples go through by default.
        meta: the data module's metadata (read-only), e.g. ``sample_rate``, ``fps``,
            ``variables``/``units`` and the grid of a field.
        conditioning: what the network takes besides ``x_t`` and ``t``, a subset of
            :data:`CONDITIONING`.
    """

    modality: str | None
    sample_shape: tuple[int, ...]
    num_classes: int | None = None
    normalizer: Normalizer | None = None
    writer: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)
    conditioning: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        shape = tuple(int(v) for v in self.sample_shape)
        if not shape or min(shape) < 1:
            raise ValueError(f"DataSpec: sample_shape must be (C, *axes) sizes >= 1, got "
                             f"{list(self.sample_shape)}")
        object.__setattr__(self, "sample_shape", shape)
        object.__setattr__(self, "meta", _frozen(self.meta))
        unknown = sorted(set(self.conditioning) - set(CONDITIONING))
        if unknown:
            raise ValueError(f"DataSpec: unknown conditioning {unknown}; expected some of "
                             f"{list(CONDITIONING)}")
        object.__setattr__(self, "conditioning", frozenset(self.conditioning))
        if self.normalizer is not None and self.normalizer.channels != shape[0]:
            raise ValueError(f"DataSpec: the normaliser has {self.normalizer.channels} "
                             f"channel(s), the samples {shape[0]}")

    @classmethod
    def from_info(cls, info: Mapping[str, Any] | None, sample_shape: Sequence[int],
                  num_classes: int | None = None,
                  conditioning: Sequence[str] = ()) -> DataSpec:
        """From a recorded ``data_info`` dict (``None``: plain tensors in model units)."""
        info = dict(info or {})
        norm = info.get("normalizer")
        return cls(modality=info.get("modality"), sample_shape=tuple(sample_shape),
                   num_classes=num_classes if num_classes is not None
                   else info.get("num_classes"),
                   normalizer=None if norm is None else Normalizer.from_dict(dict(norm)),
                   writer=info.get("writer"), meta=info.get("meta") or {},
                   conditioning=frozenset(conditioning))

    def to_info(self) -> dict[str, Any]:
        """The ``data_info`` dict this spec stands for (JSON; what checkpoints record)."""
        return {"modality": self.modality, "writer": self.writer,
                "normalizer": None if self.normalizer is None else self.normalizer.to_dict(),
                "meta": copy.deepcopy(dict(self.meta)),
                "sample_shape": list(self.sample_shape), "num_classes": self.num_classes}

    # -- typed metadata ------------------------------------------------------------------------
    @property
    def sample_rate(self) -> int | None:
        """Samples per second (audio), or ``None``."""
        rate = self.meta.get("sample_rate")
        return None if rate is None else int(rate)

    @property
    def fps(self) -> float | None:
        """Frames per second (video), or ``None``."""
        fps = self.meta.get("fps")
        return None if fps is None else float(fps)

    @property
    def classes(self) -> list[str] | None:
        """Class names (class folders), or ``None``."""
        classes = self.meta.get("classes")
        return None if classes is None else [str(c) for c in classes]

    @property
    def units(self) -> dict[str, str]:
        """Units of the variables (fields): name -> units; empty when not recorded."""
        return dict(self.meta.get("units") or {})

    @property
    def variables(self) -> list[str]:
        """Variable names (fields), or ``[]``."""
        return list(self.meta.get("variables") or [])

    def takes(self, name: str) -> bool:
        """Whether the network takes the conditioning ``name`` (see :data:`CONDITIONING`)."""
        return name in self.conditioning

    # -- units -------------------------------------------------------------------------------
    def _offset(self, x: Tensor) -> Tensor | None:
        if self.modality is None:
            return None
        from ..modality import get_modality

        off = get_modality(self.modality).offset(dict(self.meta), tuple(x.shape))
        return None if off is None else off.to(device=x.device, dtype=x.dtype)

    def to_data_units(self, x: Tensor) -> Tensor:
        """Model units -> data units, ``x (B, C, *axes)``: the normaliser inverted (identity
        without one), plus the modality's data offset where one applies
        (:attr:`polydiff.modality.Modality.data_offset`)."""
        x = x if self.normalizer is None else self.normalizer.denormalize(x)
        off = self._offset(x)
        return x if off is None else x + off

    def to_model_units(self, x: Tensor) -> Tensor:
        """Data units -> model units: the inverse of :meth:`to_data_units`."""
        off = self._offset(x)
        x = x if off is None else x - off
        return x if self.normalizer is None else self.normalizer.normalize(x)
