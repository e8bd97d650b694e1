"""``.npy`` in and out: the modality's writer and reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch


def write_npy(x, path: Path, meta: dict) -> Path:
    """Samples ``(B, 1, T)`` in data units -> ``PATH.npy``."""
    out = Path(path).with_suffix(".npy")
    np.save(out, x.detach().cpu().numpy())
    return out


def read_npy(path: Path, mask, sample_shape, meta):
    """A series ``(T,)`` (NaN = missing) -> ``(known (1, 1, T), observed)``."""
    values = torch.from_numpy(np.load(path)).float()
    if values.shape != tuple(sample_shape[1:]):
        raise ValueError(f"{path}: a series of {tuple(values.shape)} samples; the model takes "
                         f"{tuple(sample_shape[1:])}")
    known = values[None, None]
    return torch.nan_to_num(known), ~torch.isnan(known)
