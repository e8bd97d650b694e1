"""Audio files: finding them, decoding them with soundfile, and checking they are plausible.

Decoding is :func:`load_audio` (soundfile; ``torchaudio.load`` needs FFmpeg and is never used),
resampling :func:`resample` (``torchaudio.functional.resample``). :func:`scan_audio` reads every
file of a folder once and sorts out the ones no model should train on - unreadable, empty,
non-finite, silent, with an implausible header (a 128 kHz one-second speech clip) - into a
:class:`ScanReport` instead of raising, so a bad file never stops a run mid-epoch.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from polydiff.plugin import scan_class_folders

__all__ = [
    "AUDIO_EXTENSIONS",
    "Clip",
    "ScanReport",
    "find_audio",
    "load_audio",
    "mix_channels",
    "read_label_csv",
    "resample",
    "scan_audio",
]

#: file suffixes read as audio (soundfile: WAV, FLAC, Ogg Vorbis/Opus as .ogg or .oga)
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga")


@dataclass
class Clip:
    """One decoded file: ``audio (C, T)`` float32 at ``sample_rate`` (Hz), its ``label``
    (index into the class names, or ``None``) and where it came from."""

    path: Path
    audio: Tensor
    sample_rate: int
    label: int | None = None

    @property
    def seconds(self) -> float:
        """Duration in seconds."""
        return self.audio.shape[-1] / self.sample_rate


@dataclass
class ScanReport:
    """What :func:`scan_audio` kept and skipped: ``skipped`` is a list of ``(path, reason)``,
    ``converted`` of ``(path, what was done)`` (resampled, mixed down, duplicated)."""

    root: Path
    kept: int = 0
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    converted: list[tuple[Path, str]] = field(default_factory=list)

    def text(self) -> str:
        """A human-readable report, one line per skipped file."""
        lines = [f"audio folder {self.root}: {self.kept} file(s) kept, {len(self.skipped)} "
                 f"skipped, {len(self.converted)} converted"]
        lines += [f"skipped {p}: {why}" for p, why in self.skipped]
        lines += [f"converted {p}: {what}" for p, what in self.converted]
        return "\n".join(lines)


def find_audio(root: str | Path, extensions: Sequence[str] = AUDIO_EXTENSIONS
               ) -> tuple[list[Path], list[int] | None, list[str]]:
    """Audio files under ``root``: ``(paths, labels or None, class names)``.

    With sub-folders holding audio, each immediate sub-folder is a class (sorted names -> 0, 1,
    ...; files searched recursively); otherwise the files directly in ``root`` are unlabelled.
    Raises ``ValueError`` for a missing folder, a folder without audio, or files both in
    ``root`` and in class folders (:func:`polydiff.folders.scan_class_folders`, whose
    ``skipped`` lists the files and folders left out).
    """
    scan = scan_class_folders(root, extensions, "audio")
    return scan.files, scan.labels, scan.classes


def read_label_csv(path: str | Path, root: str | Path) -> tuple[dict[Path, str], list[str]]:
    """Labels from a CSV with a header ``file,label`` (``file`` relative to ``root``):
    ``({absolute path: label name}, sorted class names)``."""
    path, root = Path(path), Path(root)
    if not path.is_file():
        raise ValueError(f"label CSV {path} does not exist")
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or not {"file", "label"} <= set(rows[0]):
        raise ValueError(f"label CSV {path} needs a header 'file,label' and at least one row")
    labels = {}
    for i, row in enumerate(rows, start=2):
        name, label = (row.get("file") or "").strip(), (row.get("label") or "").strip()
        if not name or not label:
            raise ValueError(f"label CSV {path}, line {i}: empty file or label")
        labels[(root / name).resolve()] = label
    return labels, sorted(set(labels.values()))


def load_audio(path: str | Path) -> tuple[Tensor, int]:
    """Decode a file with soundfile: ``(audio (C, T) float32 in [-1, 1], sample_rate)``.

    Raises ``ValueError`` naming the file when soundfile cannot read it.
    """
    import soundfile as sf

    path = Path(path)
    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
    except Exception as err:  # soundfile raises LibsndfileError/RuntimeError/TypeError
        detail = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"cannot read audio file {path}: {detail}") from None
    return torch.from_numpy(np.ascontiguousarray(data.T)), int(rate)


def resample(audio: Tensor, rate: int, target: int) -> Tensor:
    """``audio (..., T)`` from ``rate`` to ``target`` Hz (``torchaudio.functional.resample``,
    windowed sinc): ``(..., ceil(T * target / rate))``; the same tensor when the rates agree."""
    if rate == target:
        return audio
    import torchaudio.functional as AF

    g = math.gcd(int(rate), int(target))
    return AF.resample(audio, int(rate) // g, int(target) // g)


def mix_channels(audio: Tensor, channels: int) -> tuple[Tensor, str | None]:
    """``audio (C, T)`` with ``channels`` channels: stereo (or more) to mono by the mean, mono
    to ``channels`` by duplication; returns ``(audio, what was done or None)``. Other channel
    counts raise ``ValueError``."""
    c = audio.shape[0]
    if c == channels:
        return audio, None
    if channels == 1:
        return audio.mean(0, keepdim=True), f"mixed {c} channels to mono"
    if c == 1:
        return audio.expand(channels, -1).clone(), f"mono duplicated to {channels} channels"
    raise ValueError(f"cannot turn {c} channels into {channels}")


def _plausibility(info, min_rate: int, max_rate: int, max_seconds: float) -> str | None:
    """Why a header is implausible, or ``None``."""
    if info.frames <= 0:
        return "empty (no audio frames)"
    if not min_rate <= info.samplerate <= max_rate:
        return (f"implausible sample rate {info.samplerate} Hz in the header (accepted: "
                f"{min_rate}-{max_rate} Hz; pass max_rate= to accept it)")
    if info.frames / info.samplerate > max_seconds:
        return (f"implausibly long: {info.frames / info.samplerate:.1f} s (max_seconds="
                f"{max_seconds})")
    return None


def scan_audio(paths: Sequence[Path], labels: Sequence[int | None], root: Path,
               sample_rate: int | None, channels: int, min_seconds: float = 0.01,
               min_rate: int = 4000, max_rate: int = 96000, max_seconds: float = 3600.0,
               silence: float = 1e-5, max_peak: float = 2.0, level: float | None = None
               ) -> tuple[list[Clip], ScanReport]:
    """Decode ``paths`` into :class:`Clip`\\ s at ``sample_rate`` with ``channels`` channels.

    Skipped (with the reason in the report): unreadable files, empty files, headers outside
    ``[min_rate, max_rate]`` Hz or longer than ``max_seconds``, clips shorter than
    ``min_seconds``, non-finite samples, silent clips (peak below ``silence``) and clips that
    decode far beyond full scale (peak above ``max_peak``: klettres-data has Setswana clips
    peaking at 40x full scale, a broken gain). ``level``: scale every kept clip to this RMS
    (e.g. 0.05, about -26 dBFS), so quiet and loud recordings train alike.
    ``sample_rate=None`` keeps the files' rate, which must then be the same for all (else a
    ``ValueError`` names two files and their rates).
    """
    import soundfile as sf

    report = ScanReport(Path(root))
    clips: list[Clip] = []
    first: tuple[Path, int] | None = None
    for path, label in zip(paths, labels, strict=True):
        try:
            info = sf.info(path)
        except Exception as err:
            report.skipped.append((path, f"unreadable ({str(err).splitlines()[0]})"))
            continue
        why = _plausibility(info, min_rate, max_rate, max_seconds)
        if why is not None:
            report.skipped.append((path, why))
            continue
        try:
            audio, rate = load_audio(path)
        except ValueError as err:
            report.skipped.append((path, f"unreadable ({err})"))
            continue
        if audio.shape[-1] == 0:
            report.skipped.append((path, "empty (no audio frames decoded)"))
            continue
        if not torch.isfinite(audio).all():
            report.skipped.append((path, "non-finite samples (NaN/Inf)"))
            continue
        peak = float(audio.abs().max())
        if peak < silence:
            report.skipped.append((path, f"silent (peak below {silence})"))
            continue
        if peak > max_peak:
            report.skipped.append((path, f"implausible level: peak {peak:.1f} x full scale "
                                         f"(max_peak={max_peak})"))
            continue
        if sample_rate is None:
            if first is None:
                first = (path, rate)
            elif rate != first[1]:
                raise ValueError(f"audio files differ in sample rate: {first[0]} is {first[1]} "
                                 f"Hz but {path} is {rate} Hz; pass sample_rate= to resample "
                                 f"them all to one rate")
        done = []
        target = rate if sample_rate is None else int(sample_rate)
        if rate != target:
            audio = resample(audio, rate, target)
            done.append(f"resampled {rate} -> {target} Hz")
        audio, mixed = mix_channels(audio, channels)
        if mixed:
            done.append(mixed)
        if audio.shape[-1] < min_seconds * target:
            report.skipped.append((path, f"too short: {audio.shape[-1] / target:.4f} s "
                                         f"(min_seconds={min_seconds})"))
            continue
        if level is not None:
            gain = level / float(audio.double().pow(2).mean().sqrt())
            audio = audio * gain
            done.append(f"gain {20 * math.log10(gain):+.1f} dB to RMS {level}")
        if done:
            report.converted.append((path, ", ".join(done)))
        clips.append(Clip(Path(path), audio.contiguous(), target, label))
    report.kept = len(clips)
    return clips, report
