"""``AudioFolder``: a data module of fixed-length crops from a folder of recordings.

Items are in data units (samples in [-1, 1]); by default the modality's normaliser keeps
silence at 0 and divides by the RMS of the training audio (``normalization="fixed"``), the
base's ``"fit"`` (mean/std) and ``"none"`` work too. Batches are dicts::

    {"x": (B, C, crop) float32, "observed": (B, C, crop) bool    # padding="mask" only
     "class_labels": (B,) long,                                 # labelled data only
     "vector": (B, 2) float32}                                  # timing=True only

``vector`` is the timing conditioning of stable-audio-tools: ``[start, total] / timing_scale``
(seconds): where the crop starts in its file and how long the file is.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset

from polydiff.plugin import (
    DiffusionDataModule,
    Normalizer,
    check_choice,
    resolve_bundled,
    scan_class_folders,
)

from .files import AUDIO_EXTENSIONS, Clip, ScanReport, read_label_csv, scan_audio

__all__ = ["AudioFolder", "CropDataset", "PADDINGS", "bundled_path", "timing_vector"]

#: ``"mask"``: padding after a short clip is ``observed = False`` (the loss ignores it);
#: ``"silence"``: padding is zeros that count (the model learns that sounds end)
PADDINGS = ("mask", "silence")
#: the bundled clip sets (see assets/README.md)
_ASSETS = Path(__file__).resolve().parent / "assets"


def bundled_path(root: str | Path) -> Path:
    """``root`` as a path; ``"bundled:NAME"`` is the bundled clip set ``NAME`` (``speech``,
    ``drums``, ``stereo``: see ``assets/README.md``), so configs work from any directory
    (:func:`polydiff.assets.resolve_bundled`)."""
    return resolve_bundled(root, _ASSETS, "clip set", folders=True)


def timing_vector(start: float, total: float, scale: float) -> Tensor:
    """The timing conditioning ``[start, total] / scale`` (seconds) as a ``(2,)`` tensor."""
    return torch.tensor([start / scale, total / scale], dtype=torch.float32)


class CropDataset(Dataset):
    """Fixed-length crops of decoded clips, items in data units.

    Training (``training=True``): each clip counts ``max(1, ceil(T / crop))`` items per epoch
    (long files are seen more often) and every item is a crop at a random offset (torch's
    global RNG; ``DiffusionModule(seed=...)`` reseeds it per batch). Evaluation: the clips tiled
    into consecutive crops from their start, so every sample is scored once. Clips shorter than
    the crop are padded at the end (see :data:`PADDINGS`).
    """

    def __init__(self, clips: Sequence[Clip], crop: int, training: bool, padding: str = "mask",
                 timing_scale: float | None = None):
        self.clips, self.crop, self.training = list(clips), int(crop), training
        self.padding, self.timing_scale = padding, timing_scale
        self.index: list[tuple[int, int]] = []  # (clip, start); start -1 = random
        for k, clip in enumerate(self.clips):
            n = clip.audio.shape[-1]
            windows = max(1, math.ceil(n / self.crop))
            self.index += [(k, -1 if training else j * self.crop) for j in range(windows)]

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        k, start = self.index[i]
        clip = self.clips[k]
        audio = clip.audio
        n = audio.shape[-1]
        if start < 0:
            start = int(torch.randint(0, max(1, n - self.crop + 1), ()))
        x = audio[:, start:start + self.crop]
        valid = x.shape[-1]
        if valid < self.crop:
            x = torch.nn.functional.pad(x, (0, self.crop - valid))
        item: dict[str, Tensor] = {"x": x.contiguous()}
        if self.padding == "mask":
            observed = torch.zeros_like(x, dtype=torch.bool)
            observed[:, :valid] = True
            item["observed"] = observed
        if clip.label is not None:
            item["class_labels"] = torch.tensor(clip.label, dtype=torch.long)
        if self.timing_scale is not None:
            item["vector"] = timing_vector(start / clip.sample_rate, clip.seconds,
                                           self.timing_scale)
        return item


class AudioFolder(DiffusionDataModule):
    """Recordings from a folder (wav/flac/ogg, read with soundfile) as fixed-length crops.

    Args:
        root: the folder (``"bundled:drums"``, ``"bundled:speech"``, ``"bundled:stereo"``: the
            clips shipped with polydiff). Each immediate sub-folder is a class
            (``labels="folders"``), or all files sit in ``root`` (searched recursively with
            ``labels="none"``).
        sample_rate: resample every file to this rate (Hz) with
            ``torchaudio.functional.resample``; ``None`` keeps the files' rate, which must then
            be the same for all.
        channels: 1 (stereo files are mixed down) or 2 (mono files are duplicated).
        crop: samples per item (16384 = 1.02 s at 16 kHz); the network's length.
        labels: ``"folders"``, ``"none"`` or the path of a CSV with header ``file,label``
            (``file`` relative to ``root``; files it does not list are skipped and reported).
        padding: see :data:`PADDINGS`.
        timing: add the timing vector ``[start, total] / timing_scale`` (seconds) to every
            item (stable-audio-tools' timing conditioning; the network needs
            ``vector_cond_dim=2``).
        timing_scale: seconds that map to 1 in the timing vector.
        min_seconds, min_rate, max_rate, max_seconds, silence, max_peak: plausibility checks;
            failing files are skipped and listed in :attr:`report` (see :func:`scan_audio`).
        level: scale every file to this RMS (e.g. 0.05); ``None`` keeps the recorded levels.
        report_file: also write the report there.
        batch_size, val_fraction, seed, num_workers, normalization: as in
            :class:`~polydiff.training.DiffusionDataModule`; the split is by files.

    Every file is decoded (and resampled) once at ``setup`` and kept in memory, so a bad file
    is found before training starts: 1 hour of 16 kHz mono is 230 MB.
    """

    modality = "audio"
    writer = "wav"

    def __init__(self, root: str | Path, sample_rate: int | None = 16000, channels: int = 1,
                 crop: int = 16384, labels: str = "folders", padding: str = "mask",
                 timing: bool = False, timing_scale: float = 10.0, batch_size: int = 16,
                 val_fraction: float = 0.1, seed: int = 0, num_workers: int = 0,
                 normalization: str = "fixed", min_seconds: float = 0.01, min_rate: int = 4000,
                 max_rate: int = 96000, max_seconds: float = 3600.0, silence: float = 1e-5,
                 max_peak: float = 2.0, level: float | None = None,
                 report_file: str | Path | None = None,
                 extensions: Sequence[str] = AUDIO_EXTENSIONS):
        super().__init__(batch_size=batch_size, val_fraction=val_fraction, seed=seed,
                         num_workers=num_workers, normalization=normalization)
        if channels not in (1, 2):
            raise ValueError(f"AudioFolder: channels must be 1 (mono) or 2 (stereo), got "
                             f"{channels}")
        if crop < 1:
            raise ValueError(f"AudioFolder: crop must be >= 1 samples, got {crop}")
        if sample_rate is not None and sample_rate < 1:
            raise ValueError(f"AudioFolder: sample_rate must be a positive rate in Hz or None, "
                             f"got {sample_rate}")
        if not timing_scale > 0:
            raise ValueError(f"AudioFolder: timing_scale must be > 0 seconds, got {timing_scale}")
        check_choice(padding, PADDINGS, "padding")
        self.save_hyperparameters()
        for key, value in self.hparams.items():  # checkpoints hold plain values only
            if isinstance(value, Path):
                self.hparams[key] = str(value)
        self.root = bundled_path(root)
        self.rate = sample_rate
        self.channels, self.crop, self.labels = channels, int(crop), labels
        self.padding, self.timing, self.timing_scale = padding, bool(timing), float(timing_scale)
        if level is not None and not 0 < level <= 1:
            raise ValueError(f"AudioFolder: level must be an RMS in (0, 1] or None, got {level}")
        self.checks = dict(min_seconds=min_seconds, min_rate=min_rate, max_rate=max_rate,
                           max_seconds=max_seconds, silence=silence, max_peak=max_peak,
                           level=level)
        self.report_file = None if report_file is None else Path(report_file)
        self.extensions = tuple(extensions)
        self.classes: list[str] = []
        self.report: ScanReport | None = None
        self._rms: list[float] | None = None

    # -- what the base asks ----------------------------------------------------------------
    @property
    def num_classes(self) -> int | None:
        """Number of classes (after ``setup``), or ``None`` for unlabelled data."""
        self.setup()
        return len(self.classes) or None

    @property
    def sample_shape(self) -> tuple[int, int]:
        """``(channels, crop)``."""
        return (self.channels, self.crop)

    def metadata(self) -> dict[str, Any]:
        """What the WAV writer and the audio tasks need: rate, channels, crop length, class
        names and the timing scale (``None`` without timing)."""
        self.setup()
        return {"sample_rate": self.rate, "channels": self.channels, "crop": self.crop,
                "classes": list(self.classes),
                "timing_scale": self.timing_scale if self.timing else None}

    def fixed_normalizer(self) -> Normalizer:
        """Shift 0 (silence stays 0), scale = per-channel RMS of the training clips."""
        return Normalizer([0.0] * self.channels, self._rms)

    # -- reading -----------------------------------------------------------------------------
    def _labelled_files(self) -> tuple[list[Path], list[int | None], list[tuple[Path, str]]]:
        """The files to decode, their labels, and what was left out (with the reason)."""
        if self.labels == "folders":
            scan = scan_class_folders(self.root, self.extensions, "audio")
            self.classes = scan.classes
            return scan.files, scan.labels or [None] * len(scan.files), scan.skipped
        scan = scan_class_folders(self.root, self.extensions, "audio", by_class=False)
        paths = scan.files
        if self.labels == "none":
            return paths, [None] * len(paths), scan.skipped
        csv_file = Path(self.labels).resolve()  # the label table itself is not a skipped file
        skipped = [(p, why) for p, why in scan.skipped if p.resolve() != csv_file]
        table, self.classes = read_label_csv(self.labels, self.root)
        kept, labels = [], []
        for p in paths:
            name = table.get(p.resolve())
            if name is None:
                skipped.append((p, f"not listed in the label CSV {self.labels}"))
                continue
            kept.append(p)
            labels.append(self.classes.index(name))
        missing = sorted(set(table) - {p.resolve() for p in paths})
        skipped += [(p, "listed in the label CSV but not found") for p in missing]
        return kept, labels, skipped

    def build(self) -> dict[str, Dataset]:
        paths, labels, skipped = self._labelled_files()
        clips, report = scan_audio(paths, labels, self.root, self.rate, self.channels,
                                   **self.checks)
        report.skipped = skipped + report.skipped
        self.report = report
        if self.report_file is not None:
            self.report_file.parent.mkdir(parents=True, exist_ok=True)
            self.report_file.write_text(report.text() + "\n")
        if report.skipped:
            shown = "; ".join(f"{p.name}: {why}" for p, why in report.skipped[:3])
            more = f" (and {len(report.skipped) - 3} more)" if len(report.skipped) > 3 else ""
            warnings.warn(f"AudioFolder {self.root}: skipped {len(report.skipped)} file(s): "
                          f"{shown}{more}; see .report", stacklevel=2)
        if not clips:
            raise ValueError(f"audio folder {self.root}: no usable audio; every file was "
                             f"skipped:\n{report.text()}")
        if self.rate is None:
            self.rate = clips[0].sample_rate
        train, val = self.split(len(clips), self.val_fraction)
        train_clips = [clips[i] for i in train.tolist()]
        val_clips = [clips[i] for i in val.tolist()]
        audio = torch.cat([c.audio for c in train_clips], dim=-1).double()
        rms = audio.pow(2).mean(-1).sqrt()
        self._rms = [float(v) if v > 1e-12 else 1.0 for v in rms]
        scale = self.timing_scale if self.timing else None
        sets: dict[str, Dataset] = {
            "train": CropDataset(train_clips, self.crop, True, self.padding, scale)}
        if val_clips:
            sets["val"] = CropDataset(val_clips, self.crop, False, self.padding, scale)
        return sets
