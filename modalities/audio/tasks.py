"""What a trained audio model is for: generation (with classes and timing), gap filling,
continuation, and audio longer than the training crop by overlapping continuation.

Each is a thin wrapper over the core's inference layer: :func:`polydiff.load` (a checkpoint,
an export directory or a live module), :meth:`polydiff.inference.Model.sample` and the
windowed routines :func:`polydiff.inference.along.fill_along` and
:func:`~polydiff.inference.along.continue_along` (seeded noise per window, any method, CFG,
known samples kept exactly). Inputs and outputs are in data units (samples in [-1, 1]),
shaped ``(C, N)`` for one recording and ``(num, C, N)`` for results, at the model's sample
rate: a recording given as a tensor says its rate (``sample_rate=``) and is resampled to the
model's when it differs; a path is read and resampled.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from polydiff.plugin import (
    Model,
    check_mask,
    continuation_windows,
    continue_along,
    fill_along,
    from_intervals,
    load,
    runs,
)

from .data import timing_vector

__all__ = [
    "audio_meta",
    "audio_model",
    "check_gap_lengths",
    "continue_audio",
    "extend",
    "fill_gaps",
    "generate",
    "load_audio_model",
]

Recording = Tensor | str | Path


def audio_model(model: Any, where: str | None = None) -> Model:
    """``model`` (a ``.ckpt`` path, an export directory, a ``DiffusionModule`` or a
    :class:`~polydiff.inference.Model`) as an audio :class:`~polydiff.inference.Model`; a
    ``ValueError`` for another modality's."""
    m = load(model, modality="audio")
    if m.spec.sample_rate is None or len(m.sample_shape) != 2:
        raise ValueError(f"{where or m.source} records no sample rate or a sample shape "
                         f"{list(m.sample_shape)} other than (channels, samples)")
    return m


def load_audio_model(path: str | Path) -> Model:
    """The audio model of a checkpoint or export directory (read weights-only); other
    modalities' models raise ``ValueError``."""
    return audio_model(path)


def audio_meta(model: Any, where: str = "model") -> dict[str, Any]:
    """The audio metadata of a trained model (rate, channels, crop, classes, timing scale)."""
    return dict(audio_model(model, where).spec.meta)


def _labels(class_label: int | Sequence[int] | Tensor | None, num: int) -> Tensor | None:
    if class_label is None:
        return None
    labels = torch.as_tensor(class_label, dtype=torch.long).reshape(-1)
    return labels.expand(num).clone() if labels.numel() == 1 else labels


def _timing(m: Model, num: int, start: Sequence[float] | float | None,
            total: float | None) -> Tensor | None:
    meta = m.spec.meta
    scale = meta.get("timing_scale")
    if scale is None:
        if start is not None or total is not None:
            raise ValueError("start/seconds (timing) given, but this model was trained without "
                             "timing conditioning (AudioFolder(timing=True))")
        return None
    if getattr(m.net, "vector_cond_dim", 0) != 2:
        raise ValueError("the data has timing vectors but the network has no vector_cond_dim=2")
    rate, crop = meta["sample_rate"], meta["crop"]
    total = crop / rate if total is None else float(total)
    starts = torch.as_tensor(0.0 if start is None else start, dtype=torch.float64).reshape(-1)
    starts = starts.expand(num)
    return torch.stack([timing_vector(float(s), total, scale) for s in starts])


def _sampler_args(steps, method, resample=None, sampler=None) -> dict[str, Any]:
    """The model's sampler options: a :class:`~polydiff.inference.Sampler`, or its fields."""
    if sampler is not None:
        return {"sampler": sampler, "resample": resample}
    return {"steps": steps, "method": method, "resample": resample}


def generate(model: Any, num: int, *, class_label=None, guidance_scale: float = 1.0,
             start: float | Sequence[float] | None = None, seconds: float | None = None,
             steps: int | None = None, method: str | None = None, sampler=None,
             seed: int = 0, progress: bool = False) -> Tensor:
    """``num`` clips ``(num, C, crop)`` in data units.

    ``class_label``: one label or one per clip (class-conditional models; ``guidance_scale``
    != 1 is classifier-free guidance). The sampler: ``steps``/``method`` or ``sampler`` (a
    :class:`~polydiff.inference.Sampler`), as in every task here. ``start``/``seconds``:
    timing conditioning of models trained with ``AudioFolder(timing=True)``: where the crop
    starts in a file of ``seconds`` (defaults 0 and the crop's duration).
    """
    m = audio_model(model)
    return m.sample(num, class_labels=_labels(class_label, num), guidance_scale=guidance_scale,
                    vector=_timing(m, num, start, seconds), seed=seed, progress=progress,
                    batch_size=num, **_sampler_args(steps, method, sampler=sampler))


def _check_audio(audio: Tensor, channels: int, what: str) -> Tensor:
    if audio.ndim != 2 or audio.shape[-1] == 0:
        raise ValueError(f"{what} must have shape (C, N) with N >= 1, got {tuple(audio.shape)}")
    if audio.shape[0] != channels:
        kind = {1: "mono", 2: "stereo"}
        raise ValueError(f"{what} has {audio.shape[0]} channel(s) but the model makes "
                         f"{kind.get(channels, channels)} audio ({channels} channel(s))")
    return audio.float()


def _at_model_rate(m: Model, audio: Recording, sample_rate: int | None,
                   what: str) -> tuple[Tensor, Tensor]:
    """``(audio (C, N), observed (C, N))`` at the model's rate (``observed``: True where the
    sample is not NaN): a path read (and resampled) by
    :func:`~polydiff.modalities.audio.io.read_recording`, a tensor at ``sample_rate``
    resampled (a resampled sample is missing where its nearest source sample was NaN)."""
    from .files import resample
    from .io import read_recording

    rate, channels = m.spec.sample_rate, m.sample_shape[0]
    if isinstance(audio, (str, Path)):
        if sample_rate is not None:
            raise ValueError(f"{what} {audio} is a file, which says its own rate; drop "
                             f"sample_rate={sample_rate}")
        wave, observed = read_recording(audio, rate, channels)
        return wave, observed.expand_as(wave)
    if sample_rate is None:
        raise ValueError(f"{what} is a tensor of samples: give its sample_rate= in Hz (the "
                         f"model makes {rate} Hz audio; another rate is resampled), or pass "
                         f"the file's path")
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int) or sample_rate < 1:
        raise ValueError(f"sample_rate must be a whole number of Hz >= 1, got {sample_rate!r}")
    audio = _check_audio(torch.as_tensor(audio), channels, what)
    observed = ~torch.isnan(audio)
    if sample_rate != rate:
        source = (torch.arange(round(audio.shape[-1] * rate / sample_rate)) * sample_rate
                  // rate).clamp(max=audio.shape[-1] - 1)
        audio = resample(torch.nan_to_num(audio), sample_rate, rate)
        observed = observed[:, source[:audio.shape[-1]]]
        audio = torch.where(observed, audio, float("nan"))
    return audio, observed


def check_gap_lengths(observed: Tensor, window: int, rate: int) -> list[tuple[int, int]]:
    """The gaps ``[(start, end), ...]`` (samples; the runs of False) of ``observed (N,)`` bool
    (True = known); a gap longer than the model's ``window`` samples raises a ``ValueError``
    naming it."""
    found = runs(~observed.to(torch.bool))
    for a, b in found:
        if b - a > window:
            raise ValueError(f"gap {a / rate:.3f}-{b / rate:.3f} s ({b - a} samples) is longer "
                             f"than the model's window ({window} samples, "
                             f"{window / rate:.3f} s)")
    return found


def fill_gaps(model: Any, audio: Recording, gaps: Sequence[tuple[float, float]] | None = None,
              *, sample_rate: int | None = None, observed: Tensor | None = None, num: int = 1,
              class_label=None, guidance_scale: float = 1.0, steps: int | None = None,
              method: str | None = None, sampler=None, seed: int = 0,
              resample: tuple[int, int] | None = None, progress: bool = False) -> Tensor:
    """Fill the gaps of a recording (any length; a ``(C, N)`` tensor at ``sample_rate`` Hz in
    data units, or a file's path): ``(num, C, N')`` at the model's rate, equal to the
    recording wherever it is known.

    What is missing: ``gaps`` (``(start, end)`` seconds) and the False entries of
    ``observed`` (bool ``(N',)`` or ``(C, N')`` at the model's rate, True = known), plus NaN
    samples. Each gap is filled inside a window of the model's length centred on it (gaps
    that fit one window together are filled together;
    :func:`~polydiff.inference.along.fill_along`), windows in order, so later windows see
    what earlier ones filled. A gap longer than the window is a ``ValueError``; so is a gap
    past the end of the recording.
    """
    m = audio_model(model)
    rate = m.spec.sample_rate
    c, t = m.sample_shape
    audio, known = _at_model_rate(m, audio, sample_rate, "audio")
    n = audio.shape[-1]
    if gaps is not None:
        known = known & from_intervals(n, gaps, rate, "s", "the recording")[None]
    if observed is not None:
        if observed.shape[-1] != n:
            raise ValueError(f"observed has {observed.shape[-1]} samples, the audio {n} (at "
                             f"the model's {rate} Hz)")
        known = known & check_mask(observed, audio)
    if known.all():
        raise ValueError("fill_gaps: nothing to fill (no gaps, no missing samples, no NaN)")
    if not known.any():
        raise ValueError("fill_gaps: every sample is missing; use generate() instead")
    check_gap_lengths(known.all(0), t, rate)  # every gap, before any sampling

    def timing(s: int, e: int) -> dict[str, Any]:
        return {"vector": _timing(m, num, s / rate, n / rate)}

    return fill_along(m, torch.where(known, audio, 0.0), known, members=num, seed=seed,
                      cond_of=timing if m.spec.meta.get("timing_scale") else None,
                      class_labels=_labels(class_label, num), guidance_scale=guidance_scale,
                      progress=progress, **_sampler_args(steps, method, resample, sampler))


def extend(model: Any, length: int, *, prefix: Recording | None = None,
           sample_rate: int | None = None, overlap: float = 0.5, num: int = 1,
           class_label=None, guidance_scale: float = 1.0, steps: int | None = None,
           method: str | None = None, sampler=None, seed: int = 0,
           progress: bool = False) -> Tensor:
    """``(num, C, length)`` audio of any length (samples at the model's rate) by overlapping
    continuation: each window of the model's length keeps the last ``overlap`` of what
    exists as known samples and generates the rest (the first window generates everything,
    or continues ``prefix``: a ``(C, n)`` tensor at ``sample_rate`` Hz or a file's path,
    which the result starts with exactly, at the model's rate). Timing models get each
    window's start and ``length``."""
    m = audio_model(model)
    rate = m.spec.sample_rate
    c, t = m.sample_shape
    if length < 1:
        raise ValueError(f"extend: length must be >= 1 samples, got {length}")
    if not 0.0 < overlap < 1.0:
        raise ValueError(f"extend: overlap must lie in (0, 1) (the known share of each window), "
                         f"got {overlap}")
    context = max(1, round(overlap * t))
    done = 0
    if prefix is not None:
        prefix, known = _at_model_rate(m, prefix, sample_rate, "prefix")
        if prefix.shape[-1] >= length:
            raise ValueError(f"extend: the prefix ({prefix.shape[-1]} samples) is already as long "
                             f"as the requested length ({length})")
        if not known.all() or not torch.isfinite(prefix).all():
            raise ValueError("extend: the prefix holds NaN/Inf samples")
        done = prefix.shape[-1]
        prefix = prefix.expand(num, c, done)

    def timing(s: int, e: int) -> dict[str, Any]:
        return {"vector": _timing(m, num, s / rate, length / rate)}

    windows = continuation_windows(length, t, min(context, t - 1), done)
    return continue_along(m, windows, size=t, prefix=prefix, num=num, seed=seed,
                          cond_of=timing if m.spec.meta.get("timing_scale") else None,
                          class_labels=_labels(class_label, num),
                          guidance_scale=guidance_scale, progress=progress,
                          **_sampler_args(steps, method, sampler=sampler))


def continue_audio(model: Any, prefix: Recording, seconds: float, **kwargs: Any) -> Tensor:
    """Continue ``prefix`` (a ``(C, n)`` tensor with ``sample_rate=``, or a file's path) to
    ``seconds`` in total: :func:`extend` with that prefix (``kwargs`` as there). The result
    starts with the prefix exactly (at the model's rate)."""
    m = audio_model(model)
    return extend(m, round(seconds * m.spec.sample_rate), prefix=prefix, **kwargs)
