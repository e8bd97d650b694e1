"""Audio files out and in: WAV writing through soundfile, spectrogram PNGs, and the reader of
known audio for gap filling and continuation.

- :func:`write_wav` (the modality's writer ``"wav"``): samples ``(B, C, T)`` in [-1, 1] ->
  ``PATH/000.wav ...`` at the data's rate, plus ``PATH/spectrograms.png``.
- :func:`write_spectrogram_png` (writer ``"spectrogram"``): one log-mel panel per sample.
- :func:`read_wav` (reader ``"wav"``): a recording plus ``observed`` (True = known) for the
  samples it knows; missing are the intervals of a gap file (``start,end`` in seconds per
  line), the non-zero samples of a mask WAV, NaN samples in a float WAV, or - with no mask -
  everything after the end of a recording shorter than the model's length (continuation).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from polydiff.plugin import from_intervals

from .files import load_audio, resample

__all__ = ["observed_from", "plot_spectrograms", "read_gaps", "read_recording", "read_wav",
           "save_wav", "write_spectrogram_png", "write_wav"]


def _rate(meta: Mapping[str, Any] | None) -> int:
    rate = (meta or {}).get("sample_rate")
    if not isinstance(rate, int) or rate < 1:
        raise ValueError(f"audio writer/reader: meta needs the sample rate in Hz "
                         f"('sample_rate'), got {rate!r}")
    return rate


def save_wav(audio: Tensor, path: str | Path, sample_rate: int, subtype: str = "PCM_16") -> Path:
    """One waveform ``(C, T)`` (values in [-1, 1]; clipped) as a WAV file via soundfile."""
    import soundfile as sf

    audio = audio.detach().float().cpu()
    if audio.ndim != 2 or audio.shape[-1] == 0:
        raise ValueError(f"save_wav: audio must have shape (C, T) with T >= 1, got "
                         f"{tuple(audio.shape)}")
    if not torch.isfinite(audio).all():
        raise ValueError(f"save_wav: audio for {path} holds NaN/Inf samples")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, audio.clamp(-1.0, 1.0).numpy().T, int(sample_rate), subtype=subtype,
             format="WAV")
    return path


def plot_spectrograms(db: Tensor, seconds: float, path: str | Path,
                      titles: Sequence[str] | None = None) -> Path:
    """Spectrograms ``db (B, bands, frames)`` in dB as one PNG: up to 4 panels per row, time in
    seconds (``seconds`` per panel), the colour range the top 80 dB."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    b, bands = db.shape[0], db.shape[1]
    cols = min(4, b)
    rows = math.ceil(b / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), dpi=100,
                             squeeze=False)
    vmax = float(db.max())
    for k, ax in enumerate(axes.flat):
        if k >= b:
            ax.axis("off")
            continue
        ax.imshow(db[k].numpy(), origin="lower", aspect="auto", cmap="magma",
                  vmin=vmax - 80, vmax=vmax, extent=(0, seconds, 0, bands))
        ax.set_title(titles[k] if titles else f"sample {k}", fontsize=8)
        ax.set_xlabel("time (s)", fontsize=7)
        ax.set_ylabel("mel band", fontsize=7)
        ax.tick_params(labelsize=6)
    fig.tight_layout()
    path = Path(path).with_suffix(".png")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def write_spectrogram_png(x: Tensor, path: str | Path, meta: Mapping[str, Any] | None = None,
                          titles: Sequence[str] | None = None) -> Path:
    """Samples ``(B, C, T)`` in [-1, 1] as ``PATH.png``: one log-mel panel (dB, mean over the
    channels) per sample, time in seconds, ``ceil(B / 4)`` rows of up to 4."""
    from .spectrogram import LogMel

    rate = _rate(meta)
    x = x.detach().float().cpu()
    if x.ndim != 3 or x.shape[0] == 0:
        raise ValueError(f"write_spectrogram_png: x must have shape (B, C, T), got "
                         f"{tuple(x.shape)}")
    wide = rate > 24000
    lm = LogMel(sample_rate=rate, n_fft=1024 if wide else 512, hop=256 if wide else 128,
                n_mels=64)
    db = lm(x.mean(1)) * (10 / math.log(10))  # (B, mels, frames) in dB
    return plot_spectrograms(db, x.shape[-1] / rate, path, titles)


def write_wav(x: Tensor, path: str | Path, meta: Mapping[str, Any] | None = None) -> Path:
    """The audio modality's writer: samples ``(B, C, T)`` in data units ([-1, 1]) ->
    ``PATH/000.wav``, ``PATH/001.wav``, ... at ``meta["sample_rate"]`` (16-bit PCM, clipped to
    [-1, 1]) and ``PATH/spectrograms.png``. Returns the folder."""
    rate = _rate(meta)
    if x.ndim != 3:
        raise ValueError(f"write_wav: x must have shape (B, C, T), got {tuple(x.shape)}")
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    width = max(3, len(str(x.shape[0] - 1)))
    for k in range(x.shape[0]):
        save_wav(x[k], folder / f"{k:0{width}d}.wav", rate)
    write_spectrogram_png(x[:16], folder / "spectrograms", meta)
    return folder


def read_gaps(path: str | Path) -> list[tuple[float, float]]:
    """Gaps from a text/CSV file: one ``start,end`` (seconds) per line; ``#`` comments and a
    ``start,end`` header are allowed."""
    gaps = []
    for i, line in enumerate(Path(path).read_text().splitlines(), start=1):
        line = line.split("#", 1)[0].strip()
        if not line or line.replace(" ", "") == "start,end":
            continue
        try:
            start, end = (float(v) for v in line.split(","))
        except ValueError:
            raise ValueError(f"gap file {path}, line {i}: expected 'start,end' in seconds, got "
                             f"{line!r}") from None
        if not (math.isfinite(start) and math.isfinite(end)) or not 0 <= start < end:
            raise ValueError(f"gap file {path}, line {i}: need 0 <= start < end (seconds), got "
                             f"{start}, {end}")
        gaps.append((start, end))
    if not gaps:
        raise ValueError(f"gap file {path} lists no gaps ('start,end' in seconds per line)")
    return gaps


def observed_from(mask: str | Path, n: int, rate: int) -> Tensor:
    """``observed (1, n)`` bool (True = known) for a recording of ``n`` samples at ``rate`` Hz:
    False inside the intervals of a gap file (``.txt``/``.csv``, ``start,end`` seconds per
    line; :func:`polydiff.masks.from_intervals`) or at the non-zero samples of a mask recording
    of ``n`` samples at ``rate`` Hz. A gap past the end of the recording raises a
    ``ValueError`` naming the gap file."""
    mask = Path(mask)
    if mask.suffix.lower() in (".txt", ".csv"):
        gaps = read_gaps(mask)
        try:
            return from_intervals(n, gaps, rate, "s", "the recording")[None]
        except ValueError as err:
            raise ValueError(f"gap file {mask}: {err}") from None
    m, m_rate = load_audio(mask)
    if m_rate != rate or m.shape[-1] != n:
        raise ValueError(f"mask {mask} has {m.shape[-1]} samples at {m_rate} Hz; expected {n} "
                         f"at {rate} Hz like the recording")
    return (m == 0).all(0, keepdim=True)


def read_recording(path: str | Path, rate: int, channels: int) -> tuple[Tensor, Tensor]:
    """A recording for a model of ``channels`` channels at ``rate`` Hz: ``(audio (C, N) at
    rate, NaN samples set to 0; observed (1, N) bool, True where no channel is NaN)``,
    resampled when the file's rate differs (a resampled sample is missing when its nearest
    source sample was NaN). Other channel counts or an empty file raise a ``ValueError``
    naming the file."""
    path = Path(path)
    audio, file_rate = load_audio(path)
    if audio.shape[0] != channels:
        kind = {1: "mono", 2: "stereo"}
        raise ValueError(f"recording {path} has {audio.shape[0]} channel(s) but the model makes "
                         f"{kind.get(channels, channels)} audio ({channels} channel(s)); convert "
                         f"it first (e.g. mix stereo down to mono)")
    if audio.shape[-1] == 0:
        raise ValueError(f"recording {path} is empty")
    observed = ~torch.isnan(audio).any(0, keepdim=True)  # (1, T) at the file's rate
    audio = torch.nan_to_num(audio, nan=0.0)
    if file_rate != rate:
        audio = resample(audio, file_rate, rate)
        source = (torch.arange(audio.shape[-1]) * file_rate // rate).clamp(
            max=observed.shape[-1] - 1)
        observed = observed[:, source]
    return audio, observed


def read_wav(path: str | Path, mask: str | Path | None, sample_shape: Sequence[int],
             meta: Mapping[str, Any] | None = None) -> tuple[Tensor, Tensor]:
    """The audio modality's reader: ``known (1, C, T)`` in [-1, 1] and ``observed (1, C, T)``.

    ``path``: a recording (wav/flac/ogg) with the model's channels, resampled to the model's
    rate when it differs. What is missing:

    - ``mask`` a ``.txt``/``.csv`` gap file: those intervals (``start,end`` seconds per line);
    - ``mask`` a recording of the same length: its non-zero samples;
    - no mask: NaN samples of a float WAV, or - for a recording shorter than the model's ``T``
      samples - everything after its end (continuation).

    A recording longer than ``T`` samples, with other channels than the model, a gap past its
    end, or nothing (or everything) to fill raises a ``ValueError`` naming the file.
    """
    c, t = (int(v) for v in sample_shape)
    rate = _rate(meta)
    path = Path(path)
    audio, known = read_recording(path, rate, c)
    n = audio.shape[-1]
    if n > t:
        raise ValueError(f"recording {path} is {n} samples ({n / rate:.3f} s at {rate} Hz) but "
                         f"the model makes {t} ({t / rate:.3f} s); cut it, or use "
                         f"polydiff.modalities.audio.fill_gaps for longer recordings")
    if mask is not None:
        known = known & observed_from(mask, n, rate)
    observed = torch.zeros(1, t, dtype=torch.bool)
    observed[:, :n] = known
    samples = torch.zeros(1, c, t)
    samples[0, :, :n] = torch.where(known, audio, 0.0)
    observed = observed[None].expand(1, c, t).clone()
    if observed.all():
        raise ValueError(f"nothing to fill in {path}: give a gap file or mask with --mask, NaN "
                         f"samples, or a recording shorter than the model's {t} samples")
    if not observed.any():
        raise ValueError(f"the mask for {path} marks every sample missing; nothing is known")
    return samples, observed
