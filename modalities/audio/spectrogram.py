"""Log-mel spectrograms (``torchaudio.transforms.MelSpectrogram``) and their Griffin-Lim
inverse.

:class:`LogMel` maps waveforms ``(B, C, T)`` to ``(B, C, n_mels, frames)`` with
``frames = T // hop + 1`` (centred frames) and back. The way back is a *baseline*: the
mel filterbank is inverted by least squares (``InverseMelScale``) and the phase is estimated by
Griffin-Lim (``GriffinLim``, 32 iterations by default), so even the exact spectrogram of a
recording comes back with audible phase artefacts ("phasiness") and an LSD of a few dB; a
neural vocoder would do much better and is not part of polydiff.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

__all__ = ["LogMel"]


@dataclass
class LogMel:
    """Log-mel analysis and Griffin-Lim synthesis at ``sample_rate`` (Hz).

    Args:
        sample_rate: waveform rate in Hz.
        n_fft, hop, n_mels: STFT size, hop (samples) and mel bands.
        f_min, f_max: mel band edges in Hz (``f_max=None``: Nyquist).
        floor: power floor added before the log (``log(mel + floor)``).
        griffin_lim_iters: Griffin-Lim iterations of :meth:`inverse`.
    """

    sample_rate: int = 16000
    n_fft: int = 512
    hop: int = 128
    n_mels: int = 64
    f_min: float = 0.0
    f_max: float | None = None
    floor: float = 1e-5
    griffin_lim_iters: int = 32

    def frames(self, length: int) -> int:
        """Frames of a waveform of ``length`` samples: ``length // hop + 1``."""
        return length // self.hop + 1

    def _mel(self):
        import torchaudio.transforms as T

        return T.MelSpectrogram(sample_rate=self.sample_rate, n_fft=self.n_fft,
                                hop_length=self.hop, n_mels=self.n_mels, f_min=self.f_min,
                                f_max=self.f_max, power=2.0, center=True)

    def __call__(self, wave: Tensor) -> Tensor:
        """``(..., T)`` waveform -> ``(..., n_mels, T // hop + 1)`` natural-log mel power."""
        mel = self._mel().to(wave.device)(wave.float())
        return torch.log(mel + self.floor)

    def inverse(self, log_mel: Tensor, length: int | None = None,
                generator: torch.Generator | None = None) -> Tensor:
        """``(..., n_mels, frames)`` log-mel power -> waveform ``(..., length)`` by least-squares
        mel inversion and Griffin-Lim (a baseline, see the module docstring). ``length``
        defaults to ``(frames - 1) * hop``. Griffin-Lim starts from random phases: pass a
        ``generator`` (seeded) for repeatable output."""
        import torchaudio.transforms as T

        if log_mel.shape[-2] != self.n_mels:
            raise ValueError(f"LogMel.inverse: expected {self.n_mels} mel bands on axis -2, got "
                             f"shape {tuple(log_mel.shape)}")
        frames = log_mel.shape[-1]
        length = (frames - 1) * self.hop if length is None else int(length)
        power = (log_mel.float().exp() - self.floor).clamp(min=0.0)
        inv = T.InverseMelScale(n_stft=self.n_fft // 2 + 1, n_mels=self.n_mels,
                                sample_rate=self.sample_rate, f_min=self.f_min,
                                f_max=self.f_max, driver="gelsd")
        lead = power.shape[:-2]
        flat = power.reshape(-1, self.n_mels, frames)
        spec = inv.to(flat.device, torch.float64)(flat.double()).float()  # (N, freq, frames)
        magnitude = spec.sqrt()
        if generator is not None:  # torchaudio draws random phases from torch's global RNG
            state = torch.random.get_rng_state()
            torch.manual_seed(int(torch.randint(2**62, (), generator=generator)))
        try:
            gl = T.GriffinLim(n_fft=self.n_fft, hop_length=self.hop, power=1.0,
                              n_iter=self.griffin_lim_iters, length=length, rand_init=True)
            wave = gl.to(flat.device)(magnitude)
        finally:
            if generator is not None:
                torch.random.set_rng_state(state)
        return wave.reshape(*lead, length)
