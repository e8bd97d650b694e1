"""Scores of a video model on held-out clips for several tasks, for ``benchmarks/video.py``
(benchmark code, not part of the library): every task's model output, the mean of several
samples, the posterior mean and the baselines, scored by
:func:`polydiff.modalities.video.evaluate.score`."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from polydiff.modalities.video.evaluate import score, task_outputs

__all__ = ["task_scores"]


def task_scores(module, clips: Tensor, tasks=(("predict", 4), ("interpolate", 2),
                                              ("interpolate", 4)), samples: int = 1,
                draws: int = 0, **sample: Any) -> dict:
    """``{"predict_4": {"model": score, "repeat_last": score}, "interpolate_2": {...}, ...}``
    (see :func:`score`); ``sample`` goes to ``module.sample`` (steps, method, seed, ...).

    ``"model"`` scores one sample (``seed``); with ``samples > 1`` also ``"model_mean_N"``:
    the mean of ``N`` samples (seeds ``seed .. seed + N - 1``, the first being ``"model"``'s),
    a point estimate of the posterior mean (which PSNR and SSIM reward over any one sample);
    with ``draws > 0`` also ``"model_posterior_mean"``: ``module.posterior_mean`` over
    ``draws`` noise draws (conditional frame models only)."""
    if samples < 1:
        raise ValueError(f"samples must be >= 1, got {samples}")
    seed = int(sample.pop("seed", 0))
    results = {}
    for task, arg in tasks:
        outs = []
        for i in range(samples):
            truth, out, baselines, missing = task_outputs(module, clips, task, arg,
                                                          seed=seed + i, **sample)
            outs.append(out.clamp(0, 1))
        entry = {"model": score(outs[0], truth, missing)}
        if samples > 1:
            entry[f"model_mean_{samples}"] = score(torch.stack(outs).mean(0), truth, missing)
        if draws > 0:
            _, out, _, _ = task_outputs(module, clips, task, arg, estimate="mean", draws=draws,
                                        seed=seed)
            entry["model_posterior_mean"] = score(out.clamp(0, 1), truth, missing)
        entry.update({name: score(b, truth, missing) for name, b in baselines.items()})
        results[f"{task}_{arg}"] = entry
    return results
