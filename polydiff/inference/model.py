"""``Model``: a trained denoiser with its data description, the one entry to inference.

Every task of every modality (and ``polydiff sample``) goes through these methods; they take
and return *data units* (what files hold) unless ``units="model"``:

- :meth:`Model.sample`: new samples, optionally with class labels and classifier-free
  guidance, vector conditioning and known values to keep;
- :meth:`Model.impute`: the missing entries of given samples (NaN or ``observed=False``),
  guided as :data:`~polydiff.inference.draw.GUIDANCE` says (a conditional imputation model
  also sees the known values);
- :meth:`Model.posterior_mean`: ``E[x0 | known]`` of an imputation model, the minimum-MSE
  point estimate, at one network call per draw;
- :meth:`Model.edit`: SDEdit-style editing: the input noised to ``strength`` and denoised
  back, so the result keeps its coarse structure.

A model comes from :func:`polydiff.load` (a ``.ckpt`` file, an export directory or a live
:class:`~polydiff.training.DiffusionModule`).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor

from .._checks import check_mask
from ..denoiser import Denoiser
from .draw import check_known, draw, posterior_terms, with_labels
from .sampler import Sampler
from .spec import DataSpec

__all__ = ["Model", "UNITS"]

#: the units of a model's inputs and outputs: what files hold, or what the network sees
UNITS = ("data", "model")


class Model:
    """A denoiser ready for inference (see the module docstring).

    Args:
        denoiser: the :class:`~polydiff.Denoiser` (network, schedule, prediction).
        spec: the data it was trained on (:class:`~polydiff.inference.DataSpec`).
        conditional: an imputation model (``DiffusionModule(imputation=...)``): its network
            takes the known values and their mask as input.
        source: what it was loaded from (messages, provenance).
        ema: whether these are the EMA weights; ``has_ema``: whether the source has them.
        module: the live :class:`~polydiff.training.DiffusionModule` it shares weights with.
        schedule: the forward process (default ``denoiser.schedule``; needed for a plain
            denoiser function).
        conditioner: turns the named inputs (known values, class labels, vectors, channels)
            into the network's conditioning (:mod:`polydiff.conditioners`); default the
            :class:`~polydiff.conditioners.Standard` one (``known=conditional``).
        pretransform: the encoder/decoder between the data (model units) and the space the
            network works in (:mod:`polydiff.pretransforms`); default the identity. Samples
            are decoded; known values, their mask and channels are encoded (an inexact
            pretransform refuses known values).
    """

    def __init__(self, denoiser: Denoiser, spec: DataSpec, *, conditional: bool = False,
                 source: str = "model", ema: bool = False, has_ema: bool = False,
                 module: Any = None, schedule: Any = None, conditioner: Any = None,
                 pretransform: Any = None):
        from ..conditioners import Standard
        from ..pretransforms import Identity

        self.denoiser, self.spec = denoiser, spec
        self._schedule = schedule if schedule is not None else denoiser.schedule
        self.conditioner = conditioner if conditioner is not None else Standard(conditional)
        self.pretransform = pretransform if pretransform is not None else Identity()
        self.conditional, self.source = bool(conditional), str(source)
        self.ema, self.has_ema, self.module = bool(ema), bool(has_ema), module

    @classmethod
    def from_info(cls, denoiser: Any, info: dict | None, *,
                  sample_shape: Sequence[int] | None = None, conditional: bool = False,
                  source: str = "model") -> Model:
        """A model of ``denoiser`` and a recorded ``data_info`` dict (its ``sample_shape``
        unless given): e.g. a freshly built network for a test or a benchmark."""
        net = getattr(denoiser, "net", None)
        shape = sample_shape or (info or {}).get("sample_shape")
        if not shape:
            raise ValueError("Model.from_info: no sample_shape (give it, or an info dict that "
                             "records one)")
        spec = DataSpec.from_info(info, shape, getattr(net, "null_class", None),
                                  conditioning_of(net, conditional))
        return cls(denoiser, spec, conditional=conditional, source=source)

    @classmethod
    def from_module(cls, module: Any, ema: bool = True) -> Model:
        """The model of a live :class:`~polydiff.training.DiffusionModule` (sharing its
        weights): the EMA weights when ``ema`` and the module keeps them."""
        use_ema = bool(ema) and module.ema_net is not None
        shape = module.sample_shape
        if not shape:
            raise ValueError(f"{type(module).__name__} has no sample shape yet; train it or "
                             f"pass sample_shape=")
        spec = DataSpec.from_info(module.data_info, shape, module.num_classes,
                                  conditioning_of(module.net, module.imputation is not None))
        return cls(module.denoiser(ema=use_ema), spec,
                   conditional=module.imputation is not None, source=type(module).__name__,
                   ema=use_ema, has_ema=module.ema_net is not None, module=module,
                   conditioner=module.conditioner, pretransform=module.pretransform)

    # -- what it is ----------------------------------------------------------------------------
    @property
    def net(self):
        """The network (``None`` for a plain denoiser function)."""
        return getattr(self.denoiser, "net", None)

    @property
    def schedule(self):
        return self._schedule

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return self.spec.sample_shape

    @property
    def num_classes(self) -> int | None:
        return getattr(self.net, "null_class", None)

    @property
    def device(self) -> torch.device:
        for p in getattr(self.net, "parameters", tuple)():
            return p.device
        return torch.device("cpu")

    def to(self, device: torch.device | str) -> Model:
        """Move the weights (and the conditioner's buffers) to ``device``; returns ``self``."""
        self.denoiser.to(device)
        self.conditioner.to(device)
        self.pretransform.to(device)
        return self

    def __repr__(self) -> str:
        return (f"Model({self.source}: {self.spec.modality or 'tensor'} "
                f"{list(self.sample_shape)}, {'conditional, ' if self.conditional else ''}"
                f"{'EMA' if self.ema else 'raw'} weights)")

    @contextmanager
    def evaluating(self):
        """Eval mode inside (the module's, for a live one), the previous mode restored."""
        target = self.module if self.module is not None else self.denoiser
        if not isinstance(target, torch.nn.Module):
            yield
            return
        was = target.training
        target.eval()
        try:
            yield
        finally:
            target.train(was)

    # -- units ---------------------------------------------------------------------------------
    def _in(self, x: Tensor, units: str) -> Tensor:
        return self.spec.to_model_units(x) if units == "data" else x

    def _out(self, x: Tensor, units: str) -> Tensor:
        return self.spec.to_data_units(x) if units == "data" else x

    @staticmethod
    def _check_units(units: str) -> None:
        if units not in UNITS:
            raise ValueError(f"units must be one of {list(UNITS)}, got {units!r}")

    def _known(self, known: Tensor, observed: Tensor | None, units: str
               ) -> tuple[Tensor, Tensor]:
        """Known values in model units with their mask (NaN = missing where ``observed`` is
        not given), unknown entries zeroed."""
        known = torch.as_tensor(known)
        if not known.is_floating_point():
            known = known.float()
        if observed is None:
            observed = ~torch.isnan(known)
        elif isinstance(observed, Tensor) and observed.ndim == known.ndim and \
                observed.shape[0] > known.shape[0] == 1:  # one known sample, a mask each
            known = known.expand(observed.shape[0], *known.shape[1:])
        observed = check_mask(observed, known)
        known = self._in(torch.where(observed, known, torch.zeros((), dtype=known.dtype)),
                         units)
        return torch.where(observed, known, torch.zeros((), dtype=known.dtype)), observed

    @staticmethod
    def _given(known: Tensor, observed: Tensor | None) -> tuple[Tensor, Tensor]:
        """The known values as given (their own units and dtype) and where they are known."""
        known = torch.as_tensor(known)
        if observed is None:
            observed = ~torch.isnan(known)
        return known, observed

    @staticmethod
    def _kept(out: Tensor, given: tuple[Tensor, Tensor] | None) -> Tensor:
        """``out`` with the known values put back exactly as given (a round trip through the
        normaliser is exact only to float32 round-off)."""
        if given is None:
            return out
        known, observed = given
        try:
            return torch.where(observed.to(out.device), known.to(out.dtype), out)
        except RuntimeError:  # a shape that does not broadcast was refused before; keep out
            return out

    # -- the pretransform ----------------------------------------------------------------------
    def _encoding(self) -> bool:
        """Whether samples live in an encoded space (a pretransform other than the identity)."""
        from ..pretransforms import Identity

        return not isinstance(self.pretransform, Identity)

    @torch.no_grad()
    def _encode(self, known: Tensor | None, observed: Tensor | None, cond: Tensor | None
                ) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
        """Known values, their mask and channels in the pretransform's space."""
        pt, device = self.pretransform, self.device
        if known is not None:
            observed = pt.encode_mask(observed.expand_as(known).to(device)).cpu()
            known = pt.encode(known.to(device)).float().cpu()
        if cond is not None:
            cond = pt.encode(torch.as_tensor(cond).to(device)).float().cpu()
        return known, observed, cond

    # -- sampling ------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, num: int = 1, *, class_labels: Tensor | Sequence[int] | None = None,
               guidance_scale: float = 1.0, vector: Tensor | None = None,
               known: Tensor | None = None, observed: Tensor | None = None,
               cond: Tensor | None = None, guidance: str = "auto", dps_step: float = 1.0,
               sampler: Sampler | None = None, method: Any = None, steps: int | None = None,
               grid: str | None = None, plan: Any = None,
               resample: tuple[int, int] | None = None, seed: int = 0,
               noise: Tensor | None = None, generator: Any = None, batch_size: int = 256,
               progress: bool = False, info: dict | None = None,
               shape: Sequence[int] | None = None, units: str = "data") -> Tensor:
        """``num`` samples ``(num, *sample_shape)`` on the CPU (float32).

        Args:
            class_labels: ``(num,)`` labels of a class-conditional model; ``guidance_scale``
                != 1 is classifier-free guidance against the null class.
            vector: ``(D,)`` or ``(num, D)`` vector conditioning (networks with
                ``vector_cond_dim=D``: audio timing, a patch's corner coordinates).
            known, observed: values to keep, ``known (1 or num, *shape)`` with ``observed``
                broadcastable to it (True = known; ``None``: the finite entries of
                ``known``); the samples equal them exactly where observed.
            cond: extra input channels ``(1 or num, C_cond, *axes)`` (after ``[known, mask]``
                for conditional models).
            guidance: how known values steer the samples (:data:`~.draw.GUIDANCE`);
                ``dps_step``: the DPS step.
            sampler, method, steps, grid, plan, resample: the sampler
                (:class:`~polydiff.inference.Sampler`, or its fields).
            seed: the starting noise comes from a CPU generator seeded with ``seed`` (so
                samples do not depend on the device or the batch size), stochastic methods
                from one seeded with ``seed + 1`` on the device; ``noise``/``generator``
                replace them (``noise`` shaped like an encoded sample when the model has a
                pretransform).
            units: ``"data"`` (known values in, samples out, in the units of the files) or
                ``"model"`` (normalised).
        """
        self._check_units(units)
        shape = tuple(shape or self.sample_shape)
        if num < 1 or batch_size < 1:
            raise ValueError(f"need num and batch_size >= 1, got {num}, {batch_size}")
        sampler = sampler or Sampler.of(method, steps, grid, plan, resample)
        if resample is not None and sampler.resample is None:
            sampler = replace(sampler, resample=tuple(resample))
        given = None
        if known is not None:
            given = self._given(known, observed)
            known, observed = self._known(known, observed, units)
        elif observed is not None:
            raise ValueError("observed= needs known= (the values to keep)")
        if self.conditional and known is None:
            raise ValueError("this model was trained for imputation (the known values are one "
                             "of its inputs): give known= (and observed=)")
        known, observed = check_known(known, observed, num, shape)
        encoded = self._encoding()
        if encoded:
            known, observed, cond = self._encode(known, observed, cond)
            shape = self.pretransform.encoded_shape(shape)
        if vector is not None:
            vector = torch.as_tensor(vector, dtype=torch.float32)
            vector = vector.expand(num, -1) if vector.ndim == 1 else vector
            if vector.ndim != 2 or vector.shape[0] != num:
                raise ValueError(f"vector must have shape (D,) or ({num}, D), got "
                                 f"{tuple(vector.shape)}")
        device = self.device
        if noise is None:
            noise = torch.randn((num, *shape), generator=torch.Generator().manual_seed(seed))
        elif tuple(noise.shape) != (num, *shape):
            raise ValueError(f"noise must have shape {(num, *shape)}, got {tuple(noise.shape)}")
        if generator is None:
            generator = torch.Generator(device=device).manual_seed(seed + 1)
        den, labels = with_labels(self.denoiser, num, guidance_scale, class_labels,
                                  self.num_classes, device)
        with self.evaluating():
            x = draw(den, self.schedule, noise, sampler, conditioner=self.conditioner,
                     known=known, observed=observed, guidance=guidance, dps_step=dps_step,
                     batch_size=batch_size, generator=generator, device=device,
                     progress=progress, info=info, class_labels=labels, vector=vector,
                     cond=cond)
            if encoded:
                x = self.pretransform.decode(x.to(device)).float().cpu()
        return self._kept(self._out(x, units), given)

    def impute(self, known: Tensor, observed: Tensor | None = None, **kwargs: Any) -> Tensor:
        """Fill the missing entries of ``known (N, *shape)`` (NaN, or ``observed = False``):
        one sample per row, equal to ``known`` where observed (``kwargs`` as in
        :meth:`sample`: ``guidance``, the sampler, ``seed``, ``units``, ...). For an ensemble,
        repeat the rows: ``known.expand(M, *shape)``."""
        known = torch.as_tensor(known)
        return self.sample(known.shape[0], known=known, observed=observed, **kwargs)

    @torch.no_grad()
    def posterior_mean(self, known: Tensor, observed: Tensor | None = None, *, draws: int = 8,
                       seed: int = 0, noise: Tensor | None = None, batch_size: int = 256,
                       units: str = "data", **cond: Any) -> Tensor:
        """``E[x0 | known]`` ``(N, *shape)`` of an imputation model, equal to ``known`` where
        observed: the denoiser at ``t_max`` averaged over ``draws`` noise draws (from
        ``seed``, or ``noise (draws, N, *shape)``).

        For any ``t``, averaging ``D(x_t, t)`` over ``x_t ~ p(x_t | known)`` gives
        ``E[x0 | known]`` (tower property); at ``t_max`` that ``x_t`` is the sampler's
        starting noise. So one network evaluation per draw replaces a sampling run per
        sample; it is the minimum-MSE estimate once the network is trained at high noise (a
        uniform loss weighting). Only a network that sees the known values can give it.
        ``cond``: the network's other conditioning (``vector``, ``cond`` channels)."""
        self._check_units(units)
        if not self.conditional:
            raise ValueError("posterior_mean needs an imputation model (DiffusionModule("
                             "imputation=...)): an unconditional network does not see the "
                             "known values at the highest noise level; average samples "
                             "instead")
        if draws < 1 or batch_size < 1:
            raise ValueError(f"need draws and batch_size >= 1, got {draws}, {batch_size}")
        known = torch.as_tensor(known)
        if known.ndim < 2:
            raise ValueError(f"known must be a tensor (N, *shape), got shape "
                             f"{tuple(known.shape)}")
        num, shape = known.shape[0], tuple(known.shape[1:])
        given = self._given(known, observed)
        known, observed = self._known(known, observed, units)
        known, observed = check_known(known, observed, num, shape)
        observed = observed.expand(num, *shape) if observed.shape[0] == 1 else observed
        encoded = self._encoding()
        if encoded:
            known, observed, _ = self._encode(known, observed, None)
            shape = self.pretransform.encoded_shape(shape)
        if noise is not None and tuple(noise.shape) != (draws, num, *shape):
            raise ValueError(f"noise must have shape {(draws, num, *shape)}, got "
                             f"{tuple(noise.shape)}")
        gen = torch.Generator().manual_seed(seed)
        device = self.device
        total = torch.zeros(num, *shape)
        with self.evaluating():
            for d in range(draws):
                eps = torch.randn((num, *shape), generator=gen) if noise is None else noise[d]
                for start in range(0, num, batch_size):
                    sl = slice(start, start + batch_size)
                    part = {k: (v[sl] if isinstance(v, Tensor) and v.shape[0] == num else v)
                            for k, v in cond.items() if v is not None}
                    part = {k: v.to(device) if isinstance(v, Tensor) else v
                            for k, v in part.items()}
                    x0 = posterior_terms(self.denoiser, self.schedule, eps[sl].to(device),
                                         known[sl].to(device), observed[sl].to(device),
                                         self.conditioner, **part)
                    total[sl] += x0.float().cpu()
            mean = torch.where(observed, known, total / draws)
            if encoded:
                mean = self.pretransform.decode(mean.to(device)).float().cpu()
        return self._kept(self._out(mean, units), given)

    def calibrate(self, steps: int, method: str = "dpm_3m", num: int = 1024, *,
                  guidance_scale: float = 1.0,
                  class_labels: Tensor | Sequence[int] | None = None, seed: int = 0,
                  iters: int = 300, batch_size: int | None = None, teacher_steps: int = 200,
                  progress: bool = False):
        """A calibrated :class:`~polydiff.samplers.Plan` (:func:`polydiff.samplers.
        calibrate`) for ``steps`` steps, on ``num`` noise draws from ``seed`` (use another
        seed than for sampling), with the labels and guidance sampling will use."""
        from .. import samplers

        device = self.device
        den, labels = with_labels(self.denoiser, num, guidance_scale, class_labels,
                                  self.num_classes, device)
        noise = torch.randn((num, *self.sample_shape),
                            generator=torch.Generator().manual_seed(seed)).to(device)
        cond = self.conditioner({} if labels is None else {"class_labels": labels.to(device)})
        with self.evaluating():
            return samplers.calibrate(den, self.schedule, noise, steps, method, iters=iters,
                                      batch_size=batch_size, seed=seed,
                                      teacher_steps=teacher_steps, progress=progress, **cond)

    @torch.no_grad()
    def edit(self, x: Tensor, strength: float = 0.5, *, seed: int = 0,
             sampler: Sampler | None = None, method: Any = None, steps: int | None = None,
             grid: str | None = None, class_labels: Tensor | Sequence[int] | None = None,
             guidance_scale: float = 1.0, vector: Tensor | None = None,
             known: Tensor | None = None, observed: Tensor | None = None,
             batch_size: int = 256, progress: bool = False, units: str = "data") -> Tensor:
        """SDEdit: ``x (N, *shape)`` noised to the time ``t`` at ``strength`` of the sampler's
        grid and denoised back with the last ``ceil(strength * steps)`` steps of that grid:
        ``strength`` near 0 returns (almost) ``x``, 1 samples anew from (almost) pure noise.
        The noise comes from ``seed``; ``known``/``observed`` (optional) are kept exactly, and
        class labels steer the edit (a class-conditional model)."""
        import math

        from ..samplers.grids import make_grid

        self._check_units(units)
        if not 0.0 < strength <= 1.0:
            raise ValueError(f"strength must lie in (0, 1], got {strength}")
        sampler = sampler or Sampler.of(method, steps, grid)
        if sampler.plan is not None:
            raise ValueError("edit runs part of a grid; a calibrated plan cannot be cut")
        x = torch.as_tensor(x, dtype=torch.float32)
        if x.ndim != len(self.sample_shape) + 1 or not torch.isfinite(x).all():
            raise ValueError(f"edit: x must be finite samples (N, *{list(self.sample_shape)}), "
                             f"got shape {tuple(x.shape)}")
        ts = make_grid(self.schedule, sampler.steps, sampler.grid)
        k = sampler.steps - math.ceil(strength * sampler.steps)
        ts = ts[k:]
        alpha, sigma = (float(v) for v in self.schedule.alpha_sigma(ts[:1].double()))
        x0 = self._in(x, units)
        if self._encoding():
            with torch.no_grad():
                x0 = self.pretransform.encode(x0.to(self.device)).float().cpu()
        eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
        start = (alpha * x0 + sigma * eps) / sigma  # the sampler scales by sigma
        cut = replace(sampler, grid=ts, steps=len(ts) - 1)
        return self.sample(x.shape[0], class_labels=class_labels,
                           guidance_scale=guidance_scale, vector=vector, known=known,
                           observed=observed, sampler=cut, noise=start, seed=seed,
                           batch_size=batch_size, progress=progress, shape=x.shape[1:],
                           units=units)


def conditioning_of(net: Any, conditional: bool) -> frozenset[str]:
    """What ``net`` takes besides ``x_t`` and ``t``: class labels (a ``null_class``), the
    known values (imputation models), a vector (``vector_cond_dim`` or ``coords``)."""
    takes = set()
    if getattr(net, "null_class", None) is not None:
        takes.add("class_labels")
    if conditional:
        takes.add("known")
    if getattr(net, "vector_cond_dim", 0) or getattr(net, "coords", False):
        takes.add("vector")
    return frozenset(takes)
