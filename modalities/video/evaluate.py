"""Scoring frame prediction and interpolation against the training-free baselines.

Scores are per-frame PSNR and SSIM (:mod:`.metrics`) on the *missing* frames only (the given
ones are exact for every method), in data units ([0, 1]).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .baselines import linear_blend, repeat_last
from .metrics import ssim
from .tasks import interpolate, predict

__all__ = ["score", "task_outputs"]


def score(pred: Tensor, truth: Tensor, missing: Tensor) -> dict[str, Any]:
    """PSNR and SSIM of ``pred`` vs ``truth`` ``(N, C, F, H, W)`` in [0, 1] over the frames
    where ``missing (F,)`` is True. PSNR is that of the mean squared error over all scored
    frames (per frame index: over the clips), so frames predicted exactly do not make it
    infinite; SSIM is the mean of the per-frame SSIMs."""
    pred = pred.clamp(0, 1)
    err = (pred - truth).double().square().mean(dim=(1, 3, 4))[:, missing]  # (N, F_missing)
    s = ssim(pred, truth)[:, missing]

    def db(mse: Tensor) -> float:
        return round(float(10 * torch.log10(1.0 / mse.clamp(min=1e-10))), 3)

    return {"psnr": db(err.mean()), "ssim": round(float(s.mean()), 4),
            "psnr_per_frame": [db(v) for v in err.mean(0)],
            "ssim_per_frame": [round(float(v), 4) for v in s.mean(0)]}


def task_outputs(module, clips: Tensor, task: str, arg: int, **sample: Any
                 ) -> tuple[Tensor, Tensor, dict[str, Tensor], Tensor]:
    """``(truth, model output, {baseline: output}, missing)`` in data units for one task on
    ``clips (N, C, F, H, W)`` in [0, 1]: ``("predict", k)`` gives the first ``F - k`` frames
    and predicts ``k``; ``("interpolate", m)`` gives every ``m``-th frame of the first
    ``(K - 1) m + 1`` frames (``K`` as many as fit)."""
    f = clips.shape[2]
    if task == "predict":
        given = f - arg
        truth = clips
        out = predict(module, clips[:, :, :given], f, **sample)
        baselines = {"repeat_last": repeat_last(clips[:, :, :given], f)}
        missing = torch.arange(f) >= given
    elif task == "interpolate":
        keys = (f - 1) // arg + 1
        truth = clips[:, :, :(keys - 1) * arg + 1]
        keyframes = truth[:, :, ::arg]
        out = interpolate(module, keyframes, arg, **sample)
        baselines = {"linear_blend": linear_blend(keyframes, arg),
                     "repeat_last": keyframes.repeat_interleave(arg, dim=2)[:, :, :truth.shape[2]]}
        missing = torch.arange(truth.shape[2]) % arg != 0
    else:
        raise ValueError(f"task must be 'predict' or 'interpolate', got {task!r}")
    return truth, out, baselines, missing
