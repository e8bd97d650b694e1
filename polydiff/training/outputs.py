"""Samples to files through the modality recorded with the model (no shape guessing).

A model's ``data_info`` (written by :meth:`~polydiff.training.DiffusionDataModule.data_info`
into checkpoints and exports) names its modality, the writer its samples go through, the
normaliser and the metadata the writer needs. :func:`write_samples` inverts the normaliser
(and adds the modality's data offset, if any) and calls that writer; ``writer="tensor"``
always writes the raw ``.pt`` tensor.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from torch import Tensor

from ..io import read_tensor, write_tensor
from ..modality import get_modality

__all__ = ["data_units", "model_units", "reader_for", "write_samples", "writer_for"]


def _modality(data_info: Mapping[str, Any] | None):
    name = (data_info or {}).get("modality")
    return None if name is None else get_modality(name)


def writer_for(data_info: Mapping[str, Any] | None, writer: str = "auto"
               ) -> tuple[str, Callable[..., Path]]:
    """``(name, writer)``: ``"auto"`` is the recorded writer of the recorded modality (its
    first writer when none is recorded; the tensor writer without a modality); ``"tensor"``
    the raw ``.pt`` writer; any other name a writer of the recorded modality."""
    if writer == "tensor":
        return "tensor", write_tensor
    modality = _modality(data_info)
    if modality is None:
        if writer != "auto":
            raise ValueError(f"writer {writer!r}: this model records no modality, so only "
                             f"'tensor' (or 'auto') is available")
        return "tensor", write_tensor
    name = (data_info or {}).get("writer") if writer == "auto" else writer
    name = name or next(iter(modality.writers), None)
    if name is None:
        return "tensor", write_tensor
    return name, modality.writer(name)


def reader_for(data_info: Mapping[str, Any] | None, reader: str = "auto"
               ) -> Callable[..., tuple[Tensor, Tensor]]:
    """The reader of conditioning files: ``"auto"`` is the recorded modality's first reader
    (the tensor reader without one); ``"tensor"`` reads ``.pt``/``.npy`` files."""
    if reader == "tensor":
        return read_tensor
    modality = _modality(data_info)
    if modality is None or not modality.readers:
        if reader != "auto":
            raise ValueError(f"reader {reader!r}: this model's modality has no readers; use "
                             f"'tensor'")
        return read_tensor
    return modality.reader(None if reader == "auto" else reader)


def _spec(x: Tensor, data_info: Mapping[str, Any] | None):
    from ..inference.spec import DataSpec

    return DataSpec.from_info(data_info, (data_info or {}).get("sample_shape")
                              or tuple(x.shape[1:]))


def data_units(x: Tensor, data_info: Mapping[str, Any] | None) -> Tensor:
    """Model units -> data units for a recorded ``data_info``:
    :meth:`polydiff.inference.DataSpec.to_data_units` (the normaliser inverted, plus the
    modality's data offset where one applies)."""
    return _spec(x, data_info).to_data_units(x)


def model_units(x: Tensor, data_info: Mapping[str, Any] | None) -> Tensor:
    """Data units -> model units: the inverse of :func:`data_units`."""
    return _spec(x, data_info).to_model_units(x)


def write_samples(x: Tensor, path: str | Path, data_info: Mapping[str, Any] | None = None,
                  writer: str = "auto", nrow: int | None = None) -> Path:
    """Write samples ``x (B, C, *axes)`` in model units: back to data units, then through
    :func:`writer_for`'s writer, with the recorded metadata plus ``nrow``. Returns the path
    written."""
    _, fn = writer_for(data_info, writer)
    meta = {**((data_info or {}).get("meta") or {}), "nrow": nrow}
    return fn(data_units(x.detach().float().cpu(), data_info), Path(path), meta)
