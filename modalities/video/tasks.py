"""Video tasks through known frames: prediction, interpolation and longer videos.

Each task fixes some frames and samples the others through the core's inference layer
(:func:`polydiff.load`, :meth:`polydiff.inference.Model.sample` with known frames, or its
posterior mean), so it works with every sampler and returns the given frames exactly.
Tensors are in data units (pixels in [0, 1] for models trained on video files); ``model`` is
anything :func:`polydiff.load` takes (a live ``DiffusionModule``, a checkpoint, an export).

- :func:`predict`: given the first ``k`` frames, the next ``frames - k``.
- :func:`interpolate`: given every ``every``-th frame, the ones between.
- :func:`extend`: a video longer than the training length, window by window, each window
  continuing from the last ``overlap`` frames of the one before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from torch import Tensor

from polydiff.plugin import Model, continuation_windows, continue_along, load, masks

__all__ = ["ESTIMATES", "prediction_mask", "interpolation_mask", "predict", "interpolate", "extend"]


def prediction_mask(frames: int, given: int) -> Tensor:
    """``observed (1, 1, frames, 1, 1)``: True for the first ``given`` frames
    (:func:`polydiff.masks.suffix_mask` along time)."""
    if not 1 <= given < frames:
        raise ValueError(f"prediction needs 1 <= given frames < frames, got given={given}, "
                         f"frames={frames}")
    return masks.suffix_mask((1, 1, frames, 1, 1), given, axis=2)


def interpolation_mask(frames: int, every: int) -> Tensor:
    """``observed (1, 1, frames, 1, 1)``: True for frames ``0, every, 2 * every, ...``
    (:func:`polydiff.masks.strided_mask` along time)."""
    if every < 2 or frames < 2:
        raise ValueError(f"interpolation needs every >= 2 (frames between given ones) and "
                         f"frames >= 2, got every={every}, frames={frames}")
    return masks.strided_mask((1, 1, frames, 1, 1), every, axis=2)


def _check_video(x: Tensor, name: str) -> Tensor:
    if not isinstance(x, Tensor) or x.ndim != 5:
        shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
        raise ValueError(f"{name} must be videos (N, C, F, H, W) in data units, got {shape}")
    return x.float()


ESTIMATES = ("sample", "mean")


def _sample(m: Model, known: Tensor, observed: Tensor, estimate: str = "sample",
            draws: int = 8, **kwargs: Any) -> Tensor:
    n = known.shape[0]
    if estimate == "mean":
        opts = {k: kwargs[k] for k in ("seed", "batch_size") if k in kwargs}
        return m.posterior_mean(known, observed.expand(n, *observed.shape[1:]), draws=draws,
                                **opts)
    if estimate != "sample":
        raise ValueError(f"estimate must be one of {list(ESTIMATES)}, got {estimate!r}")
    return m.sample(n, shape=list(known.shape[1:]), known=known, observed=observed, **kwargs)


def predict(model: Any, context: Tensor, frames: int | None = None, **kwargs: Any) -> Tensor:
    """The next frames after ``context (N, C, k, H, W)``: ``(N, C, frames, H, W)`` whose first
    ``k`` frames are ``context`` exactly.

    ``model``: anything :func:`polydiff.load` takes; ``frames`` defaults to its sample
    length. ``kwargs`` go to :meth:`~polydiff.inference.Model.sample` (``steps``,
    ``method``, ``sampler``, ``class_labels``, ``guidance_scale``, ``seed``, ``resample``,
    ...); with ``estimate="mean"`` a conditional frame model returns its posterior mean
    instead of a sample (:meth:`~polydiff.inference.Model.posterior_mean`: ``draws``,
    ``seed``), the point estimate for PSNR/SSIM.
    """
    m = load(model)
    context = _check_video(context, "context")
    frames = frames or int(m.sample_shape[1])
    n, c, k, h, w = context.shape
    observed = prediction_mask(frames, k)
    known = context.new_zeros(n, c, frames, h, w)
    known[:, :, :k] = context
    return _sample(m, known, observed, **kwargs)


def interpolate(model: Any, keyframes: Tensor, every: int, **kwargs: Any) -> Tensor:
    """The frames between ``keyframes (N, C, K, H, W)``: ``(N, C, (K - 1) * every + 1, H, W)``
    with keyframe ``j`` exactly at frame ``j * every`` (``kwargs`` as in :func:`predict`)."""
    m = load(model)
    keyframes = _check_video(keyframes, "keyframes")
    n, c, k, h, w = keyframes.shape
    if k < 2:
        raise ValueError(f"interpolation needs at least 2 keyframes, got {k}")
    frames = (k - 1) * every + 1
    observed = interpolation_mask(frames, every)
    known = keyframes.new_zeros(n, c, frames, h, w)
    known[:, :, ::every] = keyframes
    return _sample(m, known, observed, **kwargs)


def extend(model: Any, total: int, overlap: int, num: int = 1, first: Tensor | None = None,
           window: int | None = None, seed: int = 0,
           class_labels: Sequence[int] | Tensor | None = None, **kwargs: Any) -> Tensor:
    """A video of ``total`` frames, longer than one window, by overlapping continuation
    (:func:`polydiff.inference.along.continue_along` over the time axis).

    The first window (``window`` frames, default the model's sample length) is sampled, or
    continues ``first (N, C, k, H, W)`` (kept exactly); each further window keeps the last
    ``overlap`` frames so far and adds ``window - overlap`` new frames (window ``i`` uses
    ``seed + i``). Returns ``(N, C, total, H, W)``; ``N`` is ``num``, or ``first``'s batch.
    ``kwargs``: the sampler options of :func:`predict`.
    """
    m = load(model)
    window = window or int(m.sample_shape[1])
    if not 1 <= overlap < window:
        raise ValueError(f"extend: overlap must lie in 1..{window - 1} (the window has {window} "
                         f"frames), got {overlap}")
    if total < window:
        raise ValueError(f"extend: total ({total}) is shorter than one window ({window}); "
                         f"sample or predict directly")
    done = 0
    if first is not None:
        first = _check_video(first, "first")
        if first.shape[2] >= window:
            raise ValueError(f"extend: first has {first.shape[2]} frames; give fewer than one "
                             f"window ({window})")
        done = first.shape[2]
    windows = continuation_windows(total, window, overlap, done, first_context=done,
                                   align_end=False)
    video = continue_along(m, windows, size=window, prefix=first, num=num, seed=seed,
                           class_labels=class_labels, **kwargs)
    return video[:, :, :total]
