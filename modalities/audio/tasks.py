"""What a trained audio model is for: generation (with classes and timing), gap filling,
continuation, and audio longer than the training crop by overlapping continuation.

Everything goes through the core's sampler plumbing
(:func:`polydiff.training.sampling.sample_with`: seeded noise, any method, CFG, and known
samples kept exactly by :func:`polydiff.guidance.inpaint`; an imputation-trained model also gets
``cond = [known, mask]``). Inputs and outputs are in data units (samples in [-1, 1]), shaped
``(C, N)`` for one recording and ``(num, C, N)`` for results.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from .data import timing_vector
from .gaps import gap_mask, gap_runs

__all__ = [
    "audio_meta",
    "continue_audio",
    "extend",
    "fill_gaps",
    "generate",
    "load_audio_model",
]


def audio_meta(module: Any, where: str = "model") -> dict[str, Any]:
    """The audio metadata of a trained :class:`~polydiff.training.DiffusionModule` (rate,
    channels, crop, classes, timing scale); a ``ValueError`` for a model of another modality."""
    info = getattr(module, "data_info", None) or {}
    if info.get("modality") != "audio":
        raise ValueError(f"{where} is a {info.get('modality') or 'modality-less'} model, not an "
                         f"audio model (its data_info records modality="
                         f"{info.get('modality')!r})")
    return dict(info.get("meta") or {})


def load_audio_model(path: str | Path):
    """A :class:`~polydiff.training.DiffusionModule` from a Lightning checkpoint of an audio
    model (read weights-only); other modalities' checkpoints raise ``ValueError``."""
    from ...training import load_checkpoint

    module = load_checkpoint(path)
    audio_meta(module, f"checkpoint {path}")
    return module.eval()


@contextmanager
def _evaluating(module: Any):
    was = module.training
    module.eval()
    try:
        yield
    finally:
        module.train(was)


def _labels(class_label: int | Sequence[int] | Tensor | None, num: int) -> Tensor | None:
    if class_label is None:
        return None
    labels = torch.as_tensor(class_label, dtype=torch.long).reshape(-1)
    return labels.expand(num).clone() if labels.numel() == 1 else labels


def _timing(module: Any, meta: dict, num: int, start: Sequence[float] | float | None,
            total: float | None) -> Tensor | None:
    scale = meta.get("timing_scale")
    if scale is None:
        if start is not None or total is not None:
            raise ValueError("start/seconds (timing) given, but this model was trained without "
                             "timing conditioning (AudioFolder(timing=True))")
        return None
    if getattr(module.net, "vector_cond_dim", 0) != 2:
        raise ValueError("the data has timing vectors but the network has no vector_cond_dim=2")
    rate, crop = meta["sample_rate"], meta["crop"]
    total = crop / rate if total is None else float(total)
    starts = torch.as_tensor(0.0 if start is None else start, dtype=torch.float64).reshape(-1)
    starts = starts.expand(num)
    return torch.stack([timing_vector(float(s), total, scale) for s in starts])


def _sample(module: Any, num: int, *, known: Tensor | None = None,
            observed: Tensor | None = None, class_label=None, guidance_scale: float = 1.0,
            vector: Tensor | None = None, steps: int = 20, method: str = "dpmpp_2m",
            seed: int = 0, resample: tuple[int, int] | None = None, ema: bool = True,
            progress: bool = False) -> Tensor:
    """``num`` samples ``(num, *sample_shape)`` in data units; ``known`` in data units."""
    from ...training.sampling import sample_with

    shape = list(module.sample_shape)
    den = module.denoiser(ema=ema)
    norm = module.normalizer
    if known is not None and norm is not None:
        known = norm.normalize(known)
    with _evaluating(module):
        x = sample_with(den, module.schedule, num, shape, steps=steps, method=method,
                        guidance_scale=guidance_scale, class_labels=_labels(class_label, num),
                        null_class=module.num_classes, seed=seed, progress=progress,
                        device=module.device, batch_size=num, known=known, observed=observed,
                        resample=resample, conditional=module.imputation is not None,
                        vector=vector)
    return module.to_data_units(x)


def generate(module: Any, num: int, *, class_label=None, guidance_scale: float = 1.0,
             start: float | Sequence[float] | None = None, seconds: float | None = None,
             steps: int = 20, method: str = "dpmpp_2m", seed: int = 0, ema: bool = True,
             progress: bool = False) -> Tensor:
    """``num`` clips ``(num, C, crop)`` in data units.

    ``class_label``: one label or one per clip (class-conditional models; ``guidance_scale``
    != 1 is classifier-free guidance). ``start``/``seconds``: timing conditioning of models
    trained with ``AudioFolder(timing=True)``: where the crop starts in a file of ``seconds``
    (defaults 0 and the crop's duration).
    """
    meta = audio_meta(module)
    vector = _timing(module, meta, num, start, seconds)
    return _sample(module, num, class_label=class_label, guidance_scale=guidance_scale,
                   vector=vector, steps=steps, method=method, seed=seed, ema=ema,
                   progress=progress)


def _check_audio(audio: Tensor, channels: int, what: str) -> Tensor:
    if audio.ndim != 2 or audio.shape[-1] == 0:
        raise ValueError(f"{what} must have shape (C, N) with N >= 1, got {tuple(audio.shape)}")
    if audio.shape[0] != channels:
        kind = {1: "mono", 2: "stereo"}
        raise ValueError(f"{what} has {audio.shape[0]} channel(s) but the model makes "
                         f"{kind.get(channels, channels)} audio ({channels} channel(s))")
    return audio.float()


def check_gap_lengths(missing: Tensor, window: int, rate: int) -> list[tuple[int, int]]:
    """The gaps ``[(start, end), ...]`` (samples) of ``missing (N,)`` bool; a gap longer than
    the model's ``window`` samples raises a ``ValueError`` naming it."""
    runs = gap_runs(missing)
    for a, b in runs:
        if b - a > window:
            raise ValueError(f"gap {a / rate:.3f}-{b / rate:.3f} s ({b - a} samples) is longer "
                             f"than the model's window ({window} samples, "
                             f"{window / rate:.3f} s)")
    return runs


def fill_gaps(module: Any, audio: Tensor, gaps: Sequence[tuple[float, float]] | None = None,
              *, missing: Tensor | None = None, num: int = 1, class_label=None,
              guidance_scale: float = 1.0, steps: int = 20, method: str = "dpmpp_2m",
              seed: int = 0, resample: tuple[int, int] | None = None,
              progress: bool = False) -> Tensor:
    """Fill the gaps of a recording ``audio (C, N)`` (data units, any length): ``(num, C, N)``
    equal to ``audio`` wherever it is known.

    What is missing: ``gaps`` (``(start, end)`` seconds) or ``missing`` (bool ``(N,)`` or
    ``(C, N)``), plus NaN samples. Each gap is filled inside a window of the model's length
    centred on it (gaps that fit one window together are filled together), windows in order,
    so later windows see what earlier ones filled. A gap longer than the window is a
    ``ValueError``; so is a gap past the end of the recording.
    """
    meta = audio_meta(module)
    c, t = (int(v) for v in module.sample_shape)
    audio = _check_audio(audio, c, "audio")
    n = audio.shape[-1]
    hole = torch.isnan(audio)
    if gaps is not None:
        hole |= gap_mask(n, gaps, meta["sample_rate"])[None]
    if missing is not None:
        if missing.shape[-1] != n:
            raise ValueError(f"missing has {missing.shape[-1]} samples, the audio {n}")
        hole |= missing.to(torch.bool).expand_as(audio)
    if not hole.any():
        raise ValueError("fill_gaps: nothing to fill (no gaps, no missing samples, no NaN)")
    if hole.all():
        raise ValueError("fill_gaps: every sample is missing; use generate() instead")
    out = torch.where(hole, 0.0, audio).expand(num, c, n).clone()
    todo = hole.any(0)  # (N,) positions still to fill
    rate = meta["sample_rate"]
    runs = check_gap_lengths(todo, t, rate)  # every gap, before any sampling
    for k, (a, b) in enumerate(runs):
        if not todo[a:b].any():
            continue  # filled with an earlier window
        s = max(0, min(max(n - t, 0), (a + b) // 2 - t // 2))
        e = min(n, s + t)
        known = torch.zeros(num, c, t)
        known[:, :, :e - s] = out[:, :, s:e]
        observed = torch.zeros(num, c, t, dtype=torch.bool)
        observed[:, :, :e - s] = ~hole[:, s:e] | ~todo[s:e]
        vector = _timing(module, meta, num, s / rate, n / rate) if meta.get("timing_scale") \
            else None
        x = _sample(module, num, known=known, observed=observed, class_label=class_label,
                    guidance_scale=guidance_scale, vector=vector, steps=steps, method=method,
                    seed=seed + k, resample=resample, progress=progress)
        out[:, :, s:e] = torch.where(observed[:, :, :e - s], known[:, :, :e - s],
                                     x[:, :, :e - s])
        todo[s:e] = False
    return out


def extend(module: Any, length: int, *, prefix: Tensor | None = None, overlap: float = 0.5,
           num: int = 1, class_label=None, guidance_scale: float = 1.0, steps: int = 20,
           method: str = "dpmpp_2m", seed: int = 0, progress: bool = False) -> Tensor:
    """``(num, C, length)`` audio of any length by overlapping continuation: each window of the
    model's length keeps the last ``overlap`` of what exists as known samples and generates the
    rest (the first window generates everything, or continues ``prefix (C, n)``, which the
    result starts with exactly). Timing models get each window's start and ``length``."""
    meta = audio_meta(module)
    c, t = (int(v) for v in module.sample_shape)
    if length < 1:
        raise ValueError(f"extend: length must be >= 1 samples, got {length}")
    if not 0.0 < overlap < 1.0:
        raise ValueError(f"extend: overlap must lie in (0, 1) (the known share of each window), "
                         f"got {overlap}")
    rate = meta["sample_rate"]
    context = max(1, round(overlap * t))
    out = torch.zeros(num, c, length)
    done = 0
    if prefix is not None:
        prefix = _check_audio(prefix, c, "prefix")
        if prefix.shape[-1] >= length:
            raise ValueError(f"extend: the prefix ({prefix.shape[-1]} samples) is already as long "
                             f"as the requested length ({length})")
        if not torch.isfinite(prefix).all():
            raise ValueError("extend: the prefix holds NaN/Inf samples")
        done = prefix.shape[-1]
        out[:, :, :done] = prefix
    k = 0
    while done < length:
        s = max(0, min(done - context, length - t)) if done else 0
        e = min(length, s + t)
        timing = meta.get("timing_scale") is not None
        vector = _timing(module, meta, num, s / rate, length / rate) if timing else None
        if done > s:
            known = torch.zeros(num, c, t)
            known[:, :, :done - s] = out[:, :, s:done]
            observed = torch.zeros(num, c, t, dtype=torch.bool)
            observed[:, :, :done - s] = True
        else:
            known = observed = None
        x = _sample(module, num, known=known, observed=observed, class_label=class_label,
                    guidance_scale=guidance_scale, vector=vector, steps=steps, method=method,
                    seed=seed + k, progress=progress)
        out[:, :, done:e] = x[:, :, done - s:e - s]
        done, k = e, k + 1
    return out


def continue_audio(module: Any, prefix: Tensor, seconds: float, **kwargs: Any) -> Tensor:
    """Continue ``prefix (C, n)`` to ``seconds`` in total: :func:`extend` with that prefix
    (``kwargs`` as there). The result starts with ``prefix`` exactly."""
    meta = audio_meta(module)
    return extend(module, round(seconds * meta["sample_rate"]), prefix=prefix, **kwargs)
