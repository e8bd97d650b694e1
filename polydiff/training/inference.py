"""The inference API of :class:`~polydiff.training.DiffusionModule`: ``sample``,
``posterior_mean`` and ``calibrate`` in model units (EMA weights by default, eval mode
inside), through the module's :class:`polydiff.inference.Model` (``module.model()``): the same
code as every task and command."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor

__all__ = ["SamplingMixin"]


class SamplingMixin:
    """Sampling for a module with ``net``, ``schedule``, ``denoiser(ema)``, ``imputation``,
    ``sample_shape`` and ``data_info`` (:class:`~polydiff.training.DiffusionModule`)."""

    @property
    def num_classes(self) -> int | None:
        """Number of classes of a class-conditional network (``None`` otherwise)."""
        return getattr(self.net, "null_class", None)

    @contextmanager
    def _evaluating(self):
        """Eval mode inside, the previous mode restored after."""
        was_training = self.training
        self.eval()
        try:
            yield
        finally:
            self.train(was_training)

    def model(self, ema: bool = True, shape: Sequence[int] | None = None):
        """This module as a :class:`polydiff.inference.Model` sharing its weights (the EMA
        ones when ``ema`` and kept): data units in and out, every task's entry."""
        from ..inference import Model

        if shape is not None and not self.sample_shape:
            self.sample_shape = list(shape)
        if not self.sample_shape:
            raise ValueError("sample: unknown sample shape; pass shape=(C, *axes) or train first")
        return Model.from_module(self, ema=ema)

    def posterior_mean(self, known: Tensor, observed: Tensor, draws: int = 8, seed: int = 0,
                       ema: bool = True, batch_size: int = 256) -> Tensor:
        """``E[x0 | known]`` in model units, ``(N, *sample_shape)``, for an imputation model
        (``imputation=...``): :meth:`polydiff.inference.Model.posterior_mean`; ``known`` is
        exact where ``observed``. The point estimate that PSNR/RMSE reward; ``sample`` draws
        from the distribution around it."""
        if self.imputation is None:
            raise ValueError("posterior_mean needs an imputation model (DiffusionModule("
                             "imputation=...)): an unconditional network does not see the "
                             "known values at the highest noise level; average samples instead")
        return self.model(ema, known.shape[1:]).posterior_mean(
            known, observed, draws=draws, seed=seed, batch_size=batch_size, units="model")

    def sample(self, num: int, steps: int | None = None, method: str | None = None,
               grid: str | None = None, guidance_scale: float = 1.0,
               class_labels: Tensor | Sequence[int] | None = None, seed: int = 0,
               ema: bool = True, progress: bool = False, shape: Sequence[int] | None = None,
               batch_size: int = 256, known: Tensor | None = None,
               observed: Tensor | None = None, resample: tuple[int, int] | None = None,
               vector: Tensor | None = None, **kwargs: Any) -> Tensor:
        """Draw ``num`` samples ``(num, *sample_shape)`` in model units
        (:meth:`polydiff.inference.Model.sample` with ``units="model"``;
        :meth:`to_data_units` inverts the normaliser).

        ``class_labels``: ``(num,)`` labels for a class-conditional network; ``guidance_scale``
        != 1 applies classifier-free guidance against the null class. ``known`` (model units)
        and ``observed`` fix known entries (inpainting/imputation; ``resample`` for RePaint);
        ``vector`` is vector conditioning (``(D,)`` or ``(num, D)``, e.g. timing). Noise comes
        from a CPU generator seeded with ``seed``, so samples do not depend on the device or
        batch size. ``kwargs``: the model's other options (``guidance``, ``plan``, ...).
        """
        return self.model(ema, shape).sample(
            num, steps=steps, method=method, grid=grid, guidance_scale=guidance_scale,
            class_labels=class_labels, seed=seed, progress=progress, shape=shape,
            batch_size=batch_size, known=known, observed=observed, resample=resample,
            vector=vector, units="model", **kwargs)

    @torch.no_grad()
    def calibrate(self, steps: int, method: str = "dpm_3m", num: int = 1024, **kwargs: Any):
        """A calibrated :class:`~polydiff.samplers.Plan` for this model
        (:meth:`polydiff.inference.Model.calibrate`)."""
        return self.model(kwargs.pop("ema", True)).calibrate(steps, method, num, **kwargs)
