"""Drawing samples from a trained denoiser: seeded noise, batching, class labels and CFG."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
from torch import Tensor

from ..schedules import Schedule
from .imputation import imputation_cond

__all__ = ["calibrate_with", "default_labels", "denoise_at_t_max", "posterior_mean_with",
           "sample_with"]


def default_labels(num: int, num_classes: int | None) -> Tensor | None:
    """``0, 1, ..., num_classes - 1, 0, 1, ...`` (``num`` of them), or ``None`` without classes."""
    if num_classes is None:
        return None
    return torch.arange(num) % num_classes


def _guided(denoiser, num: int, guidance_scale: float, class_labels, null_class: int | None,
            device) -> tuple:
    """Check ``class_labels`` (``(num,)``) and wrap ``denoiser`` in CFG when
    ``guidance_scale != 1``; returns ``(denoiser, labels)``."""
    from .. import guidance

    if class_labels is not None:
        if null_class is None:
            raise ValueError("class_labels given, but the network is not class-conditional")
        class_labels = torch.as_tensor(class_labels, dtype=torch.long).reshape(-1)
        if class_labels.shape != (num,):
            raise ValueError(f"class_labels must have {num} entries, got "
                             f"{tuple(class_labels.shape)}")
        if class_labels.min() < 0 or class_labels.max() >= null_class:
            raise ValueError(f"class labels must lie in [0, {null_class - 1}]")
    den = denoiser
    if guidance_scale != 1.0:
        if null_class is None:
            raise ValueError("guidance_scale != 1 needs a class-conditional network")
        if class_labels is None:
            raise ValueError("guidance_scale != 1 needs class_labels to guide towards")
        den = guidance.cfg(denoiser, guidance_scale,
                           uncond={"class_labels": torch.tensor(null_class, device=device)})
    return den, class_labels


def _check_known(known: Tensor | None, observed: Tensor | None, num: int,
                 shape: Sequence[int]) -> tuple[Tensor | None, Tensor | None]:
    """``known``/``observed`` checked against ``(num, *shape)`` (both or neither)."""
    from .._checks import check_finite, check_mask

    if known is None and observed is None:
        return None, None
    if known is None or observed is None:
        raise ValueError("known values need both known= and observed= (True = known)")
    shape = tuple(shape)
    if known.ndim != len(shape) + 1 or tuple(known.shape[1:]) != shape or \
            known.shape[0] not in (1, num):
        raise ValueError(f"known must have shape (1 or {num}, *{shape}), got "
                         f"{tuple(known.shape)}")
    if isinstance(observed, Tensor) and observed.ndim == known.ndim and \
            observed.shape[0] == num != known.shape[0]:
        known = known.expand(num, *shape)  # one known sample, a mask per sample
    observed = check_mask(observed, known)
    check_finite(torch.where(observed, known, 0.0), "known values at observed entries")
    return known.float(), observed


def sample_with(denoiser, schedule: Schedule, num: int, shape: Sequence[int], steps: int = 20,
                method: str = "dpmpp_2m", grid: str = "log_snr", guidance_scale: float = 1.0,
                class_labels: Tensor | Sequence[int] | None = None,
                null_class: int | None = None, seed: int = 0, progress: bool = False,
                device: torch.device | str | None = None, batch_size: int = 256,
                info: dict | None = None, plan=None, known: Tensor | None = None,
                observed: Tensor | None = None,
                resample: tuple[int, int] | None = None, conditional: bool = False,
                vector: Tensor | None = None) -> Tensor:
    """``num`` samples of ``shape`` (on the CPU, float32).

    The noise is drawn on the CPU from ``seed`` before batching, so the result does not depend on
    ``batch_size`` or the device. ``class_labels`` (``(num,)``) go to a class-conditional network;
    ``guidance_scale != 1`` wraps the denoiser in :func:`polydiff.guidance.cfg` with the
    network's ``null_class``. Stochastic methods draw from a generator seeded with ``seed + 1``
    on ``device``. ``info["nfe"]`` receives the network evaluations per sample batch (a guided
    evaluation runs the network on a doubled batch and counts once). A calibrated
    :class:`~polydiff.samplers.Plan` replaces ``steps``, ``method`` and ``grid``.

    Known values (inpainting, imputation, continuation): ``known (N, *shape)`` in model units
    with ``N`` = 1 (the same for every sample) or ``num``, and ``observed`` (bool, broadcastable
    to ``known``; True = known) wrap the denoiser in :func:`polydiff.guidance.inpaint`, so the
    samples equal ``known`` exactly where observed; ``resample=(jump, repeats)`` adds
    RePaint-style resampling. ``conditional``: the network was trained for imputation
    (``DiffusionModule(imputation=...)``) and also receives ``cond = [known, observed]``.
    ``vector``: ``(num, D)`` or ``(D,)`` vector conditioning (networks with
    ``vector_cond_dim=D``, e.g. timing).
    """
    from .. import guidance, samplers

    if num < 1 or steps < 1 or batch_size < 1:
        raise ValueError(f"need num, steps, batch_size >= 1, got {num}, {steps}, {batch_size}")
    known, observed = _check_known(known, observed, num, shape)
    if vector is not None:
        vector = torch.as_tensor(vector, dtype=torch.float32)
        vector = vector.expand(num, -1) if vector.ndim == 1 else vector
        if vector.ndim != 2 or vector.shape[0] != num:
            raise ValueError(f"vector must have shape (D,) or ({num}, D), got "
                             f"{tuple(vector.shape)}")
    den, class_labels = _guided(denoiser, num, guidance_scale, class_labels, null_class, device)
    run = (partial(samplers.sample, steps=steps, method=method, grid=grid) if plan is None
           else plan.sample)
    noise = torch.randn((num, *shape), generator=torch.Generator().manual_seed(seed))
    gen = torch.Generator(device=device or "cpu").manual_seed(seed + 1)
    out = []
    for start in range(0, num, batch_size):
        sl = slice(start, start + batch_size)
        cond = {}
        if class_labels is not None:
            cond["class_labels"] = class_labels[sl].to(device)
        if vector is not None:
            cond["vector"] = vector[sl].to(device)
        den_b = den
        if known is not None:
            k = known if known.shape[0] == 1 else known[sl]
            o = observed if observed.shape[0] == 1 else observed[sl]
            k, o = k.to(device), o.to(device)
            den_b = guidance.inpaint(den, k, o)
            if conditional:
                n = noise[sl].shape[0]
                cond["cond"] = imputation_cond(k.expand(n, *k.shape[1:]),
                                               o.expand(n, *o.shape[1:]))
        extra = {} if resample is None else {"resample": resample}
        x = run(den_b, noise[sl].to(device), schedule, progress=progress, generator=gen,
                info=info, **extra, **cond)
        out.append(x.float().cpu())
    return torch.cat(out)


def posterior_mean_with(denoiser, schedule: Schedule, known: Tensor, observed: Tensor,
                        draws: int = 8, seed: int = 0,
                        device: torch.device | str | None = None, batch_size: int = 256
                        ) -> Tensor:
    """``E[x0 | known]`` from a conditional imputation network: ``(N, *shape)`` on the CPU,
    float32, equal to ``known (N, *shape)`` where ``observed`` (broadcastable; True = known).

    For any ``t``, averaging ``D(x_t, t)`` over ``x_t ~ p(x_t | known)`` gives ``E[x0 | known]``
    (tower property); at ``t_max`` that ``x_t`` is ``alpha x0 + sigma eps`` with ``alpha``
    negligible (VPCosine: 0.008), i.e. the sampler's starting noise. So this averages the
    denoiser at ``t_max`` over ``draws`` noise draws (from ``seed``): one network evaluation
    per draw instead of a whole sampling run per sample, and the minimum mean squared error
    point estimate once the network is trained at high noise (a uniform loss weighting; min-SNR
    gives those levels almost no weight). Only a network that sees the known values
    (``cond = [known, observed]``) can give a conditional mean.
    """
    if draws < 1 or batch_size < 1:
        raise ValueError(f"need draws and batch_size >= 1, got {draws}, {batch_size}")
    if not isinstance(known, Tensor) or known.ndim < 2:
        raise ValueError("known must be a tensor (N, *shape) in model units")
    num, shape = known.shape[0], tuple(known.shape[1:])
    known, observed = _check_known(known, observed, num, shape)
    observed = observed.expand(num, *shape) if observed.shape[0] == 1 else observed
    gen = torch.Generator().manual_seed(seed)
    total = torch.zeros(num, *shape)
    for _ in range(draws):
        noise = torch.randn((num, *shape), generator=gen)
        for start in range(0, num, batch_size):
            sl = slice(start, start + batch_size)
            k, o = known[sl].to(device), observed[sl].to(device)
            x0 = denoise_at_t_max(denoiser, schedule, noise[sl].to(device),
                                  cond=imputation_cond(k, o))
            total[sl] += x0.float().cpu()
    return torch.where(observed, known, total / draws)


def denoise_at_t_max(denoiser, schedule: Schedule, noise: Tensor, **cond) -> Tensor:
    """``D(sigma(t_max) noise, t_max, **cond)``: one term of :func:`posterior_mean_with`
    for standard normal ``noise (B, ...)`` (the sampler's starting point)."""
    t_max = schedule.t_max
    sigma = float(schedule.alpha_sigma(torch.tensor(t_max, dtype=torch.float64))[1])
    t = torch.full((noise.shape[0],), t_max, device=noise.device)
    return denoiser(sigma * noise, t, **cond)


def calibrate_with(denoiser, schedule: Schedule, num: int, shape: Sequence[int], steps: int,
                   method: str = "dpm_3m", guidance_scale: float = 1.0,
                   class_labels: Tensor | Sequence[int] | None = None,
                   null_class: int | None = None, seed: int = 0, iters: int = 300,
                   batch_size: int | None = None, teacher_steps: int = 200,
                   device: torch.device | str | None = None, progress: bool = False):
    """A calibrated :class:`~polydiff.samplers.Plan` (:func:`polydiff.samplers.calibrate`) for
    ``steps`` steps, on ``num`` noise draws of ``shape`` from ``seed`` (use another seed than
    for sampling), with the same labels and guidance as :func:`sample_with`."""
    from .. import samplers

    den, class_labels = _guided(denoiser, num, guidance_scale, class_labels, null_class, device)
    noise = torch.randn((num, *shape), generator=torch.Generator().manual_seed(seed)).to(device)
    cond = {} if class_labels is None else {"class_labels": class_labels.to(device)}
    return samplers.calibrate(den, schedule, noise, steps, method, iters=iters,
                              batch_size=batch_size, seed=seed, teacher_steps=teacher_steps,
                              progress=progress, **cond)
