"""Video quality metrics: per-frame PSNR and SSIM, temporal consistency, and the Fréchet
distance of video features.

Videos are ``(B, C, F, H, W)`` with intensities in ``[0, data_range]`` (data units; [0, 1] for
the bundled data). Per-frame metrics return ``(B, F)``. The Fréchet distance works on any
features; :mod:`.features` supplies a small network trained on moving digits, since FVD's
I3D weights cannot be downloaded here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from polydiff.plugin import frechet_distance_of

__all__ = ["psnr", "ssim", "frame_change", "temporal_error", "frechet_distance"]


def _pair(x: Tensor, y: Tensor, who: str) -> tuple[Tensor, Tensor]:
    if x.ndim != 5 or x.shape != y.shape:
        raise ValueError(f"{who}: x and y must be videos (B, C, F, H, W) of one shape, got "
                         f"{tuple(x.shape)} and {tuple(y.shape)}")
    return x.double(), y.double()


def psnr(x: Tensor, y: Tensor, data_range: float = 1.0) -> Tensor:
    """Peak signal-to-noise ratio per frame, ``(B, F)`` in dB: ``10 log10(range^2 / MSE)``
    over channels and pixels (``inf`` for identical frames)."""
    x, y = _pair(x, y, "psnr")
    mse = (x - y).square().mean(dim=(1, 3, 4))
    return (10 * torch.log10(data_range ** 2 / mse)).float()


def _window(size: int, sigma: float | None) -> Tensor:
    if sigma is None:
        w = torch.ones(size, dtype=torch.float64)
    else:
        r = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
        w = torch.exp(-r.square() / (2 * sigma ** 2))
    return w / w.sum()


def ssim(x: Tensor, y: Tensor, data_range: float = 1.0, window: int = 11,
         sigma: float | None = 1.5, k1: float = 0.01, k2: float = 0.03) -> Tensor:
    """Structural similarity per frame, ``(B, F)``: the mean over positions (windows inside
    the frame) and channels of Wang et al.'s SSIM with a Gaussian window of ``window`` taps
    and standard deviation ``sigma`` (``None``: uniform), shrunk to the frame's size when
    larger. 1 for identical frames."""
    x, y = _pair(x, y, "ssim")
    b, c, f, h, w = x.shape
    win = min(window, h, w)
    g = _window(win, sigma)
    kernel = (g[:, None] * g[None, :]).expand(1, 1, win, win)
    xf = x.transpose(1, 2).reshape(b * f * c, 1, h, w)
    yf = y.transpose(1, 2).reshape(b * f * c, 1, h, w)

    def mean(z: Tensor) -> Tensor:
        return F.conv2d(z, kernel)

    mx, my = mean(xf), mean(yf)
    vx = mean(xf * xf) - mx * mx
    vy = mean(yf * yf) - my * my
    cxy = mean(xf * yf) - mx * my
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    s = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return s.mean(dim=(1, 2, 3)).reshape(b, f, c).mean(dim=2).float()


def frame_change(x: Tensor) -> Tensor:
    """Mean absolute change between consecutive frames per video, ``(B,)`` (0 for a still
    video): compare a model's samples with real clips to see too static or flickering
    output."""
    if x.ndim != 5 or x.shape[2] < 2:
        raise ValueError(f"frame_change: x must be videos (B, C, F, H, W) with F >= 2, got "
                         f"{tuple(x.shape)}")
    return x.double().diff(dim=2).abs().mean(dim=(1, 2, 3, 4)).float()


def temporal_error(x: Tensor, y: Tensor) -> Tensor:
    """Temporal consistency against a reference, ``(B,)``: the mean absolute difference
    between the frame-to-frame changes of ``x`` and of ``y`` (0 when the motion matches, even
    if the frames are offset by a constant)."""
    x, y = _pair(x, y, "temporal_error")
    if x.shape[2] < 2:
        raise ValueError("temporal_error: needs at least 2 frames")
    return (x.diff(dim=2) - y.diff(dim=2)).abs().mean(dim=(1, 2, 3, 4)).float()


def frechet_distance(a: Tensor, b: Tensor) -> float:
    """Fréchet distance between Gaussians fitted to features ``a (N, D)`` and ``b (M, D)``:
    ``|mu_a - mu_b|^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))``, in float64
    (:func:`polydiff.metrics.frechet_distance_of`, as a Python float).

    The trace of the square root is ``sum sqrt(eig(S_a^(1/2) S_b S_a^(1/2)))`` (a symmetric
    matrix with the eigenvalues of ``S_a S_b``), so no general matrix square root is needed.
    """
    return float(frechet_distance_of(a, b))
