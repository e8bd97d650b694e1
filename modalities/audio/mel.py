"""The spectrogram path: log-mel crops for a 2D U-Net, and the writer that turns generated
spectrograms back into sound with Griffin-Lim (a baseline: see :mod:`.spectrogram`).

:class:`LogMelFolder` is :class:`~.data.AudioFolder` with each waveform crop mapped to
``log(mel power + floor)`` of shape ``(C, n_mels, frames)``; the normaliser (``"fixed"``) is the
per-channel mean and standard deviation of the training clips' log-mel values. Samples of a
model trained on it go through :func:`write_mel` (writer ``"mel"``).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from polydiff.plugin import Normalizer

from .data import AudioFolder, CropDataset
from .spectrogram import LogMel

__all__ = ["LogMelFolder", "write_mel"]


class _MelCrops(Dataset):
    """Items of a :class:`~.data.CropDataset` with ``x`` (and ``observed``) as log-mel frames."""

    def __init__(self, crops: CropDataset, mel: LogMel):
        self.crops, self.mel = crops, mel

    def __len__(self) -> int:
        return len(self.crops)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        item = dict(self.crops[i])
        wave = item["x"]
        spec = self.mel(wave)  # (C, n_mels, frames)
        item["x"] = spec
        if "observed" in item:  # a frame is observed when its centre lies in the clip
            valid = int(item["observed"][0].sum())
            centres = torch.arange(spec.shape[-1]) * self.mel.hop
            item["observed"] = (centres < valid).expand_as(spec).clone()
        return item


class LogMelFolder(AudioFolder):
    """Log-mel spectrogram crops ``(C, n_mels, frames)`` of the recordings in ``root``.

    Args:
        root, sample_rate, channels, labels, padding, timing, ...: as :class:`~.data.AudioFolder`
            (every keyword but ``crop``, which follows from ``frames``).
        frames: spectrogram frames per item; the waveform crop is ``(frames - 1) * hop``
            samples (a multiple of the 2D U-Net's size multiple, e.g. 64).
        n_fft, hop, n_mels, f_min, f_max, floor: the :class:`~.spectrogram.LogMel` analysis.
        griffin_lim_iters: iterations when samples are written back as sound.
    """

    writer = "mel"

    def __init__(self, root: str | Path, frames: int = 64, n_fft: int = 512, hop: int = 128,
                 n_mels: int = 64, f_min: float = 0.0, f_max: float | None = None,
                 floor: float = 1e-5, griffin_lim_iters: int = 32, **kwargs: Any):
        if "crop" in kwargs:
            raise ValueError("LogMelFolder: give frames= (the crop is (frames - 1) * hop "
                             "samples), not crop=")
        if frames < 2:
            raise ValueError(f"LogMelFolder: frames must be >= 2, got {frames}")
        super().__init__(root, crop=(frames - 1) * hop, **kwargs)
        self.frames = frames
        self.mel_options = dict(n_fft=n_fft, hop=hop, n_mels=n_mels, f_min=f_min, f_max=f_max,
                                floor=floor, griffin_lim_iters=griffin_lim_iters)
        self._stats: tuple[list[float], list[float]] | None = None

    def log_mel(self) -> LogMel:
        """The analysis at the data's rate (known after ``setup`` when ``sample_rate=None``)."""
        return LogMel(sample_rate=self.rate, **self.mel_options)

    @property
    def sample_shape(self) -> tuple[int, int, int]:
        """``(channels, n_mels, frames)``."""
        return (self.channels, self.mel_options["n_mels"], self.frames)

    def metadata(self) -> dict[str, Any]:
        """The audio metadata plus ``"mel"``: the analysis options (the writer inverts them)."""
        return {**super().metadata(), "mel": dict(self.mel_options)}

    def fixed_normalizer(self) -> Normalizer:
        """Per-channel mean and standard deviation of the training clips' log-mel values."""
        return Normalizer(*self._stats)

    def build(self) -> dict[str, Dataset]:
        sets = super().build()
        mel = self.log_mel()
        specs = torch.cat([mel(c.audio).flatten(1) for c in sets["train"].clips], dim=1)
        specs = specs.double()
        std = specs.std(1)
        self._stats = (specs.mean(1).tolist(),
                       [float(s) if s > 1e-12 else 1.0 for s in std])
        return {name: _MelCrops(ds, mel) for name, ds in sets.items()}


def write_mel(x: Tensor, path: str | Path, meta: Mapping[str, Any] | None = None) -> Path:
    """Writer ``"mel"``: log-mel samples ``(B, C, n_mels, frames)`` (data units) ->
    ``PATH/spectrograms.png`` (the generated spectrograms) and ``PATH/000.wav ...``, the sound
    from least-squares mel inversion + Griffin-Lim (a baseline reconstruction, seeded)."""
    from .io import plot_spectrograms, save_wav

    meta = dict(meta or {})
    if "mel" not in meta or not isinstance(meta.get("sample_rate"), int):
        raise ValueError("write_mel: meta needs 'sample_rate' and the 'mel' analysis options "
                         "(a LogMelFolder model)")
    if x.ndim != 4:
        raise ValueError(f"write_mel: x must have shape (B, C, n_mels, frames), got "
                         f"{tuple(x.shape)}")
    mel = LogMel(sample_rate=meta["sample_rate"], **meta["mel"])
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    x = x.detach().float().cpu()
    wave = mel.inverse(x, generator=torch.Generator().manual_seed(0))  # (B, C, T)
    peak = wave.abs().amax(dim=(1, 2), keepdim=True).clamp(min=1.0)
    wave = wave / peak  # Griffin-Lim can overshoot [-1, 1]; keep the shape, avoid clipping
    width = max(3, len(str(x.shape[0] - 1)))
    for k in range(x.shape[0]):
        save_wav(wave[k], folder / f"{k:0{width}d}.wav", meta["sample_rate"])
    seconds = (x.shape[-1] - 1) * mel.hop / mel.sample_rate
    plot_spectrograms(x[:16].mean(1) * (10 / math.log(10)), seconds, folder / "spectrograms")
    return folder
