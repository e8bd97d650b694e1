"""Drawing from a denoiser in model units: where classifier-free guidance, known values
(inpainting, RePaint, DPS, a conditional imputation network) and batching are decided, once
for every task.

- :func:`with_labels`: class labels checked, and the denoiser wrapped in CFG when asked;
- :func:`guided`: the denoiser that keeps known values, by ``guidance`` (:data:`GUIDANCE`);
- :func:`network_cond`: the conditioning a network receives: the model's conditioner on the
  task's named inputs (a conditional imputation network takes ``cond = [known, mask]`` ahead
  of any other channels);
- :func:`draw`: noise to samples, batch by batch;
- :func:`posterior_terms`: the denoiser at ``t_max`` on given noise, the terms of the
  posterior mean ``E[x0 | known]``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import Tensor

from .._checks import check_choice, check_finite, check_mask
from ..schedules import Schedule
from .sampler import Sampler

__all__ = ["GUIDANCE", "batches", "check_known", "default_labels", "draw", "guided",
           "network_cond", "posterior_terms", "with_labels"]

#: how known values steer a sample: ``"auto"`` (replacement in x0-space; a conditional
#: imputation model also sees them as input), ``"inpaint"`` (the same), ``"repaint"`` (the same
#: with RePaint resampling, default ``(1, 4)``), ``"dps"`` (diffusion posterior sampling on the
#: operator "keep the observed entries")
GUIDANCE = ("auto", "inpaint", "repaint", "dps")


def default_labels(num: int, num_classes: int | None) -> Tensor | None:
    """``0, 1, ..., num_classes - 1, 0, 1, ...`` (``num`` of them), or ``None`` without classes."""
    if num_classes is None:
        return None
    return torch.arange(num) % num_classes


def with_labels(denoiser, num: int, guidance_scale: float, class_labels, null_class: int | None,
                device=None) -> tuple[Any, Tensor | None]:
    """``(denoiser, labels)``: ``class_labels`` (``(num,)``) checked against the network's
    classes, and the denoiser wrapped in :func:`polydiff.guidance.cfg` when
    ``guidance_scale != 1``."""
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


def check_known(known: Tensor | None, observed: Tensor | None, num: int,
                shape: tuple[int, ...]) -> tuple[Tensor | None, Tensor | None]:
    """``known``/``observed`` checked against ``(num, *shape)`` (both or neither); ``known``
    may have 1 or ``num`` samples, ``observed`` broadcasts to it."""
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


def network_cond(known: Tensor | None, observed: Tensor | None, conditioner,
                 cond: Mapping[str, Any], rows: int) -> dict[str, Any]:
    """The network's conditioning for a batch of ``rows`` samples: the model's
    ``conditioner`` (:mod:`polydiff.conditioners`) on the named inputs ``known``,
    ``observed`` and ``cond`` (each with 1 or ``rows`` rows, expanded here)."""
    def rows_of(v: Any) -> Any:
        if isinstance(v, Tensor) and v.ndim >= 2 and v.shape[0] == 1 and rows > 1:
            return v.expand(rows, *v.shape[1:])
        return v

    inputs = {k: rows_of(v) for k, v in cond.items() if v is not None}
    if known is not None:
        inputs["known"], inputs["observed"] = rows_of(known), rows_of(observed)
    return conditioner(inputs)


def _keep_observed(mask: Tensor):
    def keep(x: Tensor) -> Tensor:
        return x * mask

    return keep


def guided(denoiser, schedule: Schedule, known: Tensor, observed: Tensor,
           guidance: str = "auto", dps_step: float = 1.0):
    """The denoiser that steers towards ``known`` where ``observed`` (see :data:`GUIDANCE`)."""
    from .. import guidance as guide

    check_choice(guidance, GUIDANCE, "guidance")
    if guidance == "dps":
        mask = observed.to(known.dtype)
        return guide.dps(denoiser, _keep_observed(mask), known * mask, dps_step, schedule)
    return guide.inpaint(denoiser, known, observed)


def batches(num: int, batch_size: int, **tensors: Any) -> Iterator[tuple[slice, dict[str, Any]]]:
    """``(slice, {name: part})`` over ``num`` samples in batches of ``batch_size``: a tensor
    with ``num`` rows is sliced, one with a single row (or anything else) is shared."""
    for start in range(0, num, batch_size):
        sl = slice(start, min(start + batch_size, num))
        part = {}
        for name, value in tensors.items():
            if isinstance(value, Tensor) and value.ndim >= 1 and value.shape[0] == num \
                    and num > 1:
                value = value[sl]
            part[name] = value
        yield sl, part


def draw(denoiser, schedule: Schedule, noise: Tensor, sampler: Sampler, *, conditioner,
         known: Tensor | None = None, observed: Tensor | None = None,
         guidance: str = "auto", dps_step: float = 1.0,
         batch_size: int = 256, generator=None, device=None, progress: bool = False,
         info: dict | None = None, **cond: Any) -> Tensor:
    """Samples ``(N, *shape)`` on the CPU, float32, from ``noise (N, *shape)`` (standard
    normal), batch by batch on ``device``. ``known``/``observed`` (1 or ``N`` rows, checked by
    :func:`check_known`) are kept exactly (:func:`guided`); ``cond``: the other named inputs,
    tensors with 1 or ``N`` rows (``class_labels``, ``vector``, ``cond``), turned into the
    network's conditioning by ``conditioner`` (:func:`network_cond`).
    ``generator``: one for the stochastic methods (used batch after batch), one per sample, or
    one per group of rows (the members of one window; batches then hold whole groups)."""
    check_choice(guidance, GUIDANCE, "guidance")
    if guidance == "repaint" and sampler.resample is None:
        from dataclasses import replace

        sampler = replace(sampler, resample=(1, 4))
    elif guidance != "repaint" and sampler.resample is not None and known is None:
        raise ValueError("resample (RePaint) needs known values")
    num = noise.shape[0]
    gens = list(generator) if isinstance(generator, (list, tuple)) else None
    rows = 1
    if gens is not None:  # one generator per sample or per group of rows: whole groups
        if not gens or num % len(gens):
            raise ValueError(f"got {len(gens)} generators for {num} samples; give one, one "
                             f"per sample or one per group of rows")
        rows = num // len(gens)
        batch_size = max(rows, batch_size // rows * rows)
    out = []
    for sl, part in batches(num, batch_size, noise=noise, known=known, observed=observed,
                            **cond):
        x0 = part.pop("noise").to(device)
        k, o = part.pop("known"), part.pop("observed")
        part = {name: v.to(device) if isinstance(v, Tensor) else v
                for name, v in part.items() if v is not None}
        den = denoiser
        if k is not None:
            k, o = k.to(device), o.to(device)
            den = guided(denoiser, schedule, k, o, guidance, dps_step)
        part = network_cond(k, o, conditioner, part, rows=x0.shape[0])
        gen = generator if gens is None else gens[sl.start // rows:sl.stop // rows]
        x = sampler(den, x0, schedule, progress=progress, generator=gen, info=info, **part)
        out.append(x.float().cpu())
    return torch.cat(out)


def posterior_terms(denoiser, schedule: Schedule, noise: Tensor, known: Tensor,
                    observed: Tensor, conditioner, **cond: Any) -> Tensor:
    """``D(sigma(t_max) noise, t_max)`` with the known values kept (inpainted) and given to
    the network through ``conditioner``: one term of the posterior mean ``E[x0 | known]`` per
    noise draw (``noise``, ``known``, ``observed``: ``(B, *shape)``, or 1 row shared)."""
    from .. import guidance as guide

    t_max = schedule.t_max
    sigma = float(schedule.alpha_sigma(torch.tensor(t_max, dtype=torch.float64))[1])
    t = torch.full((noise.shape[0],), t_max, device=noise.device)
    den = guide.inpaint(denoiser, known, observed)
    return den(sigma * noise, t, **network_cond(known, observed, conditioner, cond,
                                                rows=noise.shape[0]))
