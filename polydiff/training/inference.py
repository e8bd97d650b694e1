"""The inference API of :class:`~polydiff.training.DiffusionModule`: ``sample`` and
``posterior_mean`` (model units, EMA weights by default, eval mode inside), built on
:mod:`polydiff.training.sampling`."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager

import torch
from torch import Tensor

__all__ = ["SamplingMixin"]


class SamplingMixin:
    """Sampling for a module with ``net``, ``schedule``, ``denoiser(ema)``, ``imputation``,
    ``sample_shape`` and ``device`` (:class:`~polydiff.training.DiffusionModule`)."""

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

    @torch.no_grad()
    def posterior_mean(self, known: Tensor, observed: Tensor, draws: int = 8, seed: int = 0,
                       ema: bool = True, batch_size: int = 256) -> Tensor:
        """``E[x0 | known]`` in model units, ``(N, *sample_shape)``, for an imputation model
        (``imputation=...``): the denoiser at the highest noise level averaged over ``draws``
        noise draws (:func:`~polydiff.training.sampling.posterior_mean_with`); ``known`` is
        exact where ``observed``. The point estimate that PSNR/RMSE reward; ``sample`` draws
        from the distribution around it."""
        from .sampling import posterior_mean_with

        if self.imputation is None:
            raise ValueError("posterior_mean needs an imputation model (DiffusionModule("
                             "imputation=...)): an unconditional network does not see the "
                             "known values at the highest noise level; average samples instead")
        with self._evaluating():
            return posterior_mean_with(self.denoiser(ema=ema), self.schedule, known, observed,
                                       draws=draws, seed=seed, device=self.device,
                                       batch_size=batch_size)

    @torch.no_grad()
    def sample(self, num: int, steps: int = 20, method: str = "dpmpp_2m", grid: str = "log_snr",
               guidance_scale: float = 1.0, class_labels: Tensor | Sequence[int] | None = None,
               seed: int = 0, ema: bool = True, progress: bool = False,
               shape: Sequence[int] | None = None, batch_size: int = 256,
               known: Tensor | None = None, observed: Tensor | None = None,
               resample: tuple[int, int] | None = None, vector: Tensor | None = None) -> Tensor:
        """Draw ``num`` samples ``(num, *sample_shape)`` in model units with a polydiff sampler
        (:meth:`to_data_units` inverts the normaliser).

        ``class_labels``: ``(num,)`` labels for a class-conditional network; ``guidance_scale``
        != 1 applies classifier-free guidance against the null class. ``known`` (model units)
        and ``observed`` fix known entries (inpainting/imputation; ``resample`` for RePaint), as
        in :func:`~polydiff.training.sampling.sample_with`; ``vector`` is vector conditioning
        (``(D,)`` or ``(num, D)``, e.g. timing). Noise comes from a CPU generator
        seeded with ``seed``, so samples do not depend on the device or batch size.
        """
        from .sampling import sample_with

        shape = list(shape or self.sample_shape or [])
        if not shape:
            raise ValueError("sample: unknown sample shape; pass shape=(C, *axes) or train first")
        with self._evaluating():
            return sample_with(self.denoiser(ema=ema), self.schedule, num, shape, steps=steps,
                               method=method, grid=grid, guidance_scale=guidance_scale,
                               class_labels=class_labels, null_class=self.num_classes,
                               seed=seed, progress=progress, device=self.device,
                               batch_size=batch_size, known=known, observed=observed,
                               resample=resample, conditional=self.imputation is not None,
                               vector=vector)
