"""Audio metrics: log-spectral distance, multi-resolution STFT distance, SNR over filled gaps and
a Fréchet distance between log-mel frame statistics ("FAD-like").

Waveforms are ``(..., T)`` tensors (any leading axes, e.g. ``(B, C, T)``); every metric returns
a 0-d float64 tensor. Masks follow the library's one convention: ``observed`` is bool
``(..., T)``, True = known, False = was missing (i.e. filled). The gap-scored metrics score
the filled samples (``~observed``): the spectral ones over the STFT frames that overlap a
filled sample, so the untouched parts of a recording do not dilute a gap's score.

**FAD-like is not FAD.** The Fréchet Audio Distance compares Gaussians fitted to embeddings of
a pretrained classifier (VGGish, PANNs), which capture timbre and sound-event identity. No
pretrained embedding can be downloaded here, so :func:`fad_like` fits the Gaussians to raw
log-mel frames (64 bands): it sees spectral envelope and loudness statistics per frame, and
nothing about temporal structure beyond one frame, phase, or semantics. Use it to rank models
trained on the same data against reference points measured the same way (training clips,
noise), not to compare with published FAD numbers.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from polydiff.plugin import feature_stats, frechet_distance

__all__ = [
    "fad_like",
    "frechet_distance",
    "gap_frames",
    "gap_snr",
    "log_mel_frames",
    "lsd",
    "multi_resolution_stft",
]


def _pair(pred: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    if pred.shape != target.shape or pred.shape[-1] == 0:
        raise ValueError(f"pred and target must have the same shape (..., T) with T >= 1, got "
                         f"{tuple(pred.shape)} and {tuple(target.shape)}")
    return pred.double().reshape(-1, pred.shape[-1]), target.double().reshape(-1, pred.shape[-1])


def _power(x: Tensor, n_fft: int, hop: int) -> Tensor:
    """``(N, T) -> (N, freq, frames)`` STFT power (Hann window, centred frames)."""
    window = torch.hann_window(n_fft, dtype=x.dtype, device=x.device)
    spec = torch.stft(x, n_fft, hop, window=window, center=True, pad_mode="constant",
                      return_complex=True)
    return spec.abs() ** 2


def gap_frames(observed: Tensor, n_fft: int, hop: int) -> Tensor:
    """``observed (..., T)`` bool (True = known) -> ``(N, frames)``: the centred STFT frames
    (window ``n_fft``, hop ``hop``) that contain at least one missing (False) sample."""
    m = (~observed.to(torch.bool)).reshape(-1, observed.shape[-1]).double()
    kernel = torch.ones(1, 1, n_fft, dtype=m.dtype)
    padded = torch.nn.functional.pad(m[:, None], (n_fft // 2, n_fft // 2))
    counts = torch.nn.functional.conv1d(padded, kernel, stride=hop)[:, 0]
    frames = m.shape[-1] // hop + 1
    return counts[:, :frames] > 0


def lsd(pred: Tensor, target: Tensor, observed: Tensor | None = None, n_fft: int = 512,
        hop: int = 128, eps: float = 1e-10) -> Tensor:
    """Log-spectral distance in dB: per frame ``sqrt(mean_f (10 log10 P_pred - 10 log10
    P_target)^2)`` with ``P = |STFT|^2 + eps``, averaged over frames (over the frames touching
    a missing sample, False in ``observed``, when given). Identical signals give 0;
    ``pred = a * target`` gives ``|20 log10 a|`` wherever ``P_target >> eps``."""
    p, t = _pair(pred, target)
    diff = 10 * (torch.log10(_power(p, n_fft, hop) + eps) - torch.log10(_power(t, n_fft, hop)
                                                                        + eps))
    per_frame = diff.pow(2).mean(dim=1).sqrt()  # (N, frames)
    if observed is None:
        return per_frame.mean()
    keep = gap_frames(observed.expand_as(pred), n_fft, hop)
    if not keep.any():
        raise ValueError("lsd: `observed` has no missing samples to score")
    return per_frame[keep].mean()


def multi_resolution_stft(pred: Tensor, target: Tensor, observed: Tensor | None = None,
                          resolutions: Sequence[tuple[int, int]] = ((256, 64), (512, 128),
                                                                     (1024, 256)),
                          eps: float = 1e-7) -> Tensor:
    """Multi-resolution STFT distance (Parallel WaveGAN's auxiliary loss): the mean over
    ``(n_fft, hop)`` resolutions of spectral convergence ``||S_t - S_p||_F / ||S_t||_F`` plus
    the mean absolute log-magnitude difference ``|ln S_t - ln S_p|`` (``S = |STFT| + eps``),
    over the frames touching a missing sample (False in ``observed``) when given.
    ``pred = a * target`` gives ``|1 - a| + |ln a|``."""
    p, t = _pair(pred, target)
    total = torch.zeros((), dtype=torch.float64)
    for n_fft, hop in resolutions:
        sp, st = _power(p, n_fft, hop).sqrt(), _power(t, n_fft, hop).sqrt()
        if observed is not None:
            keep = gap_frames(observed.expand_as(pred), n_fft, hop)  # (N, frames)
            if not keep.any():
                raise ValueError("multi_resolution_stft: `observed` has no missing samples to "
                                 "score")
            sp, st = sp.transpose(1, 2)[keep], st.transpose(1, 2)[keep]  # (frames, freq)
        sc = torch.linalg.norm(st - sp) / torch.linalg.norm(st).clamp(min=eps)
        mag = (torch.log(st + eps) - torch.log(sp + eps)).abs().mean()
        total = total + sc + mag
    return total / len(resolutions)


def gap_snr(pred: Tensor, target: Tensor, observed: Tensor) -> Tensor:
    """SNR over the filled samples in dB: ``10 log10(sum target^2 / sum (target - pred)^2)``
    over the missing samples (``~observed``). Filling with zeros scores 0 dB; higher is
    better."""
    p, t = _pair(pred, target)
    m = (~observed.to(torch.bool)).expand_as(pred).reshape(p.shape)
    if not m.any():
        raise ValueError("gap_snr: `observed` has no missing samples to score")
    signal = t[m].pow(2).sum()
    noise = (t[m] - p[m]).pow(2).sum()
    return 10 * torch.log10(signal / noise.clamp(min=1e-30))


def log_mel_frames(audio: Tensor, sample_rate: int, n_mels: int = 64, n_fft: int = 1024,
                   hop: int = 256) -> Tensor:
    """``(..., T)`` waveforms -> ``(frames, n_mels)``: every log-mel frame of every clip (and
    channel), ``log(mel power + 1e-5)``."""
    from .spectrogram import LogMel

    mel = LogMel(sample_rate=sample_rate, n_fft=n_fft, hop=hop, n_mels=n_mels)
    flat = audio.reshape(-1, audio.shape[-1]).float()
    return mel(flat).transpose(1, 2).reshape(-1, n_mels).double()


def _stats(frames: Tensor) -> tuple[Tensor, Tensor]:
    if frames.shape[0] < 2:
        raise ValueError(f"fad_like: need at least 2 frames per set, got {frames.shape[0]}")
    return feature_stats(frames)


def fad_like(audio: Tensor, reference: Tensor, sample_rate: int, n_mels: int = 64) -> Tensor:
    """Fréchet distance between Gaussians fitted to the log-mel frames of ``audio`` and of
    ``reference`` (both ``(..., T)``, any lengths). Not FAD: see the module docstring."""
    mu1, cov1 = _stats(log_mel_frames(audio, sample_rate, n_mels))
    mu2, cov2 = _stats(log_mel_frames(reference, sample_rate, n_mels))
    return frechet_distance(mu1, cov1, mu2, cov2)
