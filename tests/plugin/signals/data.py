"""``SignalFolder``: windows of the ``.npy`` series of a folder, NaN = missing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from polydiff.plugin import DiffusionDataModule


class _Windows(Dataset):
    def __init__(self, series: list[np.ndarray], length: int):
        self.items = [s[i:i + length] for s in series
                      for i in range(0, len(s) - length + 1, length // 2)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return {"x": torch.from_numpy(self.items[i]).float()[None]}


class SignalFolder(DiffusionDataModule):
    """Every ``*.npy`` series (1-D) in ``root``, cut into half-overlapping windows of
    ``length``; ``rate`` (Hz) is recorded for the writers."""

    modality = "signals"
    writer = "npy"

    def __init__(self, root: str, length: int = 32, rate: float = 100.0, batch_size: int = 8,
                 val_fraction: float = 0.2, seed: int = 0):
        super().__init__(batch_size=batch_size, val_fraction=val_fraction, seed=seed)
        self.root, self.length, self.rate = Path(root), int(length), float(rate)

    def build(self) -> dict:
        files = sorted(self.root.glob("*.npy"))
        if not files:
            raise ValueError(f"root {self.root}: no .npy series")
        data = _Windows([np.load(f) for f in files], self.length)
        train, val = self.split(len(data), self.val_fraction)
        return {"train": Subset(data, train.tolist()), "val": Subset(data, val.tolist())}

    def metadata(self) -> dict:
        return {"rate": self.rate}
