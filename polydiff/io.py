"""Raw tensor files, the writer and reader every modality has: ``.pt`` (tensors only) and
``.npy`` (no pickles).

- :func:`write_tensor`: samples ``(B, C, *axes)`` in data units -> ``PATH.pt``.
- :func:`read_tensor`: known values for conditioning -> ``(known (N, C, *axes), observed)``.
  NaN marks missing values; a ``.pt`` file may instead hold ``{"known": ..., "observed": ...}``;
  an optional mask file holds ``observed`` (bool, or 0/1 numbers with 1 = known).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ._checks import check_mask

__all__ = ["load_array", "read_tensor", "write_tensor"]


def write_tensor(x: Tensor, path: str | Path, meta: Mapping[str, Any] | None = None) -> Path:
    """Write ``x`` to ``path`` with suffix ``.pt`` (tensors only: ``torch.load(...,
    weights_only=True)`` reads it). Parent folders are created."""
    path = Path(path).with_suffix(".pt")
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(x.detach().cpu().contiguous(), path)
    return path


def load_array(path: str | Path, what: str = "file") -> Tensor | dict[str, Tensor]:
    """A tensor (or a dict of tensors) from ``.pt`` (weights-only) or ``.npy`` (no pickles)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{what} {path}: not found (expected a .pt or .npy file)")
    try:
        if path.suffix == ".npy":
            return torch.from_numpy(np.load(path, allow_pickle=False))
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # truncated, foreign or code-carrying files
        raise ValueError(f"{what} {path}: not a readable tensor file ({type(err).__name__}: "
                         f"{str(err).splitlines()[0] if str(err) else 'no detail'})") from None
    if isinstance(obj, Tensor) or (isinstance(obj, dict)
                                  and all(isinstance(v, Tensor) for v in obj.values())):
        return obj
    raise ValueError(f"{what} {path}: holds a {type(obj).__name__}, expected a tensor or a "
                     f"dict of tensors")


def _batched(x: Tensor, sample_shape: Sequence[int], what: str) -> Tensor:
    shape = tuple(sample_shape)
    if tuple(x.shape) == shape:
        return x[None]
    if x.ndim == len(shape) + 1 and tuple(x.shape[1:]) == shape:
        return x
    raise ValueError(f"{what}: shape {tuple(x.shape)} does not match the model's samples "
                     f"{shape} (expected {shape} or (N, *{shape}))")


def read_tensor(path: str | Path, mask: str | Path | None, sample_shape: Sequence[int],
                meta: Mapping[str, Any] | None = None) -> tuple[Tensor, Tensor]:
    """``(known (N, C, *axes) float32, observed bool)`` from a tensor file (see the module
    docstring); ``N = 1`` when the file holds a single sample."""
    obj = load_array(path, "known values")
    observed = None
    if isinstance(obj, dict):
        if "known" not in obj:
            raise ValueError(f"known values {path}: a dict needs the key 'known' (and optionally "
                             f"'observed'), got keys {sorted(obj)}")
        known, observed = obj["known"], obj.get("observed")
    else:
        known = obj
    known = _batched(known.float(), sample_shape, f"known values {path}")
    if torch.isinf(known).any():
        raise ValueError(f"known values {path}: hold +-Inf; only NaN marks missing values")
    nan_free = ~torch.isnan(known)
    if mask is not None:
        if observed is not None:
            raise ValueError(f"known values {path} already hold 'observed'; drop the mask file "
                             f"{mask}")
        observed = load_array(mask, "mask")
        if isinstance(observed, dict):
            raise ValueError(f"mask {mask}: expected one tensor, got a dict")
    if observed is None:
        observed = nan_free
    else:
        if observed.dtype != torch.bool:
            values = set(torch.unique(observed).tolist())
            if not values <= {0, 1}:
                raise ValueError(f"mask: values {sorted(values)[:5]} are not 0/1 (1 = known) "
                                 f"or bool")
            observed = observed != 0
        observed = check_mask(observed if observed.ndim == known.ndim else observed[None],
                              known, "mask") & nan_free
    if not observed.any():
        raise ValueError(f"known values {path}: no entry is observed (all missing)")
    return torch.where(observed, known, 0.0), observed
