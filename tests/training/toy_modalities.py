"""Two toy modalities registered by the tests: proof that "any modality" works before the real
audio, video and science modalities land.

- ``toy1d``: 2-channel 1-D signals ``(B, 2, 32)``, three classes (sines of three frequencies),
  data units far from unit scale (offset 5, amplitude 3) so the normaliser matters; writer:
  CSV, one row per sample and channel; reader: the core tensor reader.
- ``toy3d``: unlabelled 3-D volumes ``(B, 1, 4, 8, 8)`` (a bright blob moving along the first
  axis); writer: ``.npy``; element weights per entry (like cos(latitude)).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from polydiff.io import read_tensor
from polydiff.modality import Modality
from polydiff.training import DiffusionDataModule


class _Items(Dataset):
    def __init__(self, items: list[dict]):
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def _signals(n: int, seed: int) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    t = torch.linspace(0, 1, 32)
    items = []
    for i in range(n):
        k = i % 3
        phase = float(torch.rand((), generator=g)) * 2 * math.pi
        x = torch.stack([torch.sin(2 * math.pi * (k + 1) * t + phase),
                         torch.cos(2 * math.pi * (k + 1) * t + phase)])
        items.append({"x": 5.0 + 3.0 * x, "class_labels": torch.tensor(k)})
    return items


class Toy1DData(DiffusionDataModule):
    """``(2, 32)`` labelled signals in data units (mean 5, amplitude 3)."""

    modality = "toy1d"
    writer = "csv"

    def __init__(self, n: int = 48, batch_size: int = 8, seed: int = 0,
                 val_fraction: float = 0.25):
        super().__init__(batch_size=batch_size, val_fraction=val_fraction, seed=seed)
        self.n = n

    @property
    def num_classes(self) -> int:
        return 3

    def metadata(self) -> dict:
        return {"step_seconds": 0.5}

    def build(self) -> dict:
        items = _signals(self.n, self.seed)
        train, val = self.split(len(items), self.val_fraction)
        return {"train": _Items([items[i] for i in train]),
                "val": _Items([items[i] for i in val])}


def write_csv(x: torch.Tensor, path: Path, meta: dict) -> Path:
    """One row per (sample, channel); the first line records the metadata."""
    path = Path(path).with_suffix(".csv")
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = x.reshape(-1, x.shape[-1]).numpy()
    header = f"step_seconds={meta['step_seconds']} samples={x.shape[0]} channels={x.shape[1]}"
    np.savetxt(path, rows, delimiter=",", header=header)
    return path


def _volumes(n: int, seed: int) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    zz, yy, xx = torch.meshgrid(torch.arange(4.0), torch.arange(8.0), torch.arange(8.0),
                                indexing="ij")
    weight = torch.cos(torch.linspace(-1.2, 1.2, 8))[None, None, :, None].expand(1, 4, 8, 8)
    items = []
    for _ in range(n):
        cy, cx = (float(v) for v in torch.rand(2, generator=g) * 4 + 2)
        vy = float(torch.rand((), generator=g)) - 0.5
        blob = torch.exp(-((yy - cy - vy * zz) ** 2 + (xx - cx) ** 2) / 3.0)
        items.append({"x": (100.0 + 20.0 * blob)[None], "weight": weight.clone()})
    return items


class Toy3DData(DiffusionDataModule):
    """``(1, 4, 8, 8)`` unlabelled volumes around 100 with element weights."""

    modality = "toy3d"

    def __init__(self, n: int = 16, batch_size: int = 4, seed: int = 0):
        super().__init__(batch_size=batch_size, val_fraction=0.25, seed=seed)
        self.n = n

    def build(self) -> dict:
        items = _volumes(self.n, self.seed)
        train, val = self.split(len(items), self.val_fraction)
        return {"train": _Items([items[i] for i in train]),
                "val": _Items([items[i] for i in val])}


def write_npy(x: torch.Tensor, path: Path, meta: dict) -> Path:
    path = Path(path).with_suffix(".npy")
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, x.numpy())
    return path


TOY1D = Modality(name="toy1d", description="(B, 2, T) toy signals", writers={"csv": write_csv},
                 readers={"tensor": read_tensor},
                 data_modules=("toy_modalities.Toy1DData",))
TOY3D = Modality(name="toy3d", description="(B, 1, F, H, W) toy volumes",
                 writers={"npy": write_npy}, data_modules=("toy_modalities.Toy3DData",))

NET1D = {"class_path": "polydiff.nn.UNet",
         "init_args": {"dims": 1, "in_channels": 2, "base_channels": 8, "channel_mult": [1, 2],
                       "num_res_blocks": 1, "attention_levels": [-1], "attention_heads": 2,
                       "num_classes": 3}}
NET3D = {"class_path": "polydiff.nn.UNet",
         "init_args": {"dims": 3, "in_channels": 1, "base_channels": 8, "channel_mult": [1, 2],
                       "num_res_blocks": 1, "attention_levels": [], "attention_heads": 1,
                       "down_factors": [1, 2, 2]}}
