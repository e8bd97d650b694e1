"""``DiffusionModule``: a LightningModule that trains any denoising network with polydiff's core.

The network stays a plain ``nn.Module`` (``net(x_in, c_noise, **cond)``); the module adds the
loss (schedule, prediction, weighting, noise-level sampler), AdamW with warm-up, an EMA copy of
the weights, conditioning dropout for classifier-free guidance, a validation loss at fixed noise
levels with fixed noise, a non-finite guard and sampling (:class:`~.inference.SamplingMixin`).

Batches are dicts: ``"x"`` (required, ``(B, C, *axes)``), optional ``"class_labels"`` ``(B,)``,
``"observed"`` (bool mask; the loss counts observed entries only) and ``"cond"`` (extra input
channels). A bare tensor or a ``(x, labels)`` tuple is accepted too.

Hyperparameters are kept JSON-like (the network is stored as a ``{class_path, init_args}``
spec), so checkpoints load with ``torch.load(path, weights_only=True)``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import lightning.pytorch as pl
import torch
from lightning.pytorch.strategies import FSDPStrategy
from torch import Tensor, nn

from .._checks import check_choice
from ..denoiser import Denoiser
from ..losses import NOISE_SAMPLERS, WEIGHTINGS, DiffusionLoss, denoising_terms
from ..normalize import Normalizer
from ..parameterization import names as prediction_names
from ..schedules import Schedule
from ..seeding import mix
from .batch import unpack_batch
from .ema import ema_copy, ema_decay, ema_update_
from .imputation import TargetMasks
from .inference import SamplingMixin
from .optim import LR_DECAYS, adamw_warmup
from .spec import (
    attach_spec,
    build_conditioner,
    build_pretransform,
    check_json,
    instantiate_net,
    net_spec,
    schedule_from,
    share_data_info,
    share_statistics,
)

__all__ = ["DiffusionModule", "NonFiniteLossError"]


class NonFiniteLossError(RuntimeError):
    """Training produced (or was fed) NaN/Inf; raised before the optimizer step."""


_seed = mix  # a 63-bit seed mixing integer keys (polydiff.seeding)


def _given_cli_hparams() -> dict | None:
    """The config LightningCLI is instantiating this module from, if any.

    This reads Lightning's private ``_given_hyperparameters`` context variable (LightningCLI
    instantiates ``net`` before the module sees it; the config is how its spec is recovered).
    tests/training/test_training_cli.py fails loudly when Lightning renames or drops it."""
    from lightning.pytorch.core.mixins import hparams_mixin

    given = getattr(hparams_mixin, "_given_hyperparameters", None)
    return None if given is None else given.get()


class DiffusionModule(SamplingMixin, pl.LightningModule):
    """Train ``net`` as a diffusion denoiser.

    Args:
        net: the network, or its spec ``{"class_path": "polydiff....", "init_args": {...}}``.
            Build it with :func:`polydiff.training.build_net` (or from a config) so checkpoints
            and exports can rebuild it; a bare instance works but then loading needs ``net=``.
        schedule: a :class:`~polydiff.schedules.Schedule`, its name or config (default
            ``VPCosine``).
        prediction: what the network predicts (``"v"``, ``"eps"``, ``"x0"``, ``"flow"``,
            ``"edm"``, ...).
        weighting: loss weighting over noise levels (``"min_snr"``, ``"uniform"``, ...);
            ``min_snr_gamma`` its clip.
        noise_sampler: training noise-level distribution (``"uniform"``, ``"log_normal"``,
            ``"logit_normal"``); ``noise_sampler_kwargs`` its parameters.
        c_noise, sigma_data, input_scale: as in :class:`polydiff.Denoiser`.
        lr, betas, weight_decay: AdamW (weight decay on weights with >= 2 dims only).
        warmup_steps: linear learning-rate warm-up; ``lr_decay``: ``"constant"`` or ``"cosine"``
            (to ``min_lr_ratio * lr`` at the trainer's last step).
        ema_decay: EMA decay of the weights (``None`` disables EMA); ``ema_warmup`` ramps the
            decay up as ``(1 + n) / (10 + n)``. The EMA weights are used for validation and
            sampling and are saved in checkpoints.
        cond_dropout: probability of replacing a sample's ``class_labels`` by the network's
            ``null_class`` (classifier-free guidance training).
        val_noise_levels: the fixed times ``t`` at which validation evaluates the loss; the
            validation noise is drawn from ``val_seed`` (and the batch index), so validation
            losses of runs on the same data are comparable.
        seed: makes training a function of ``(seed, epoch, batch, rank)``: noise levels, noise,
            conditioning dropout, and torch's global RNG (dropout, loader shuffling) are re-seeded
            per batch/epoch, so a resumed run repeats an uninterrupted one. ``None``: leave the
            global RNG alone and draw from it.
        sample_shape: shape of one sample ``(C, *axes)``. ``None``: the data module's
            ``sample_shape`` (read at ``setup``), or the first batch's for plain loaders.
        compile: run the training forward through ``torch.compile(net, **compile_options)``
            (validation, sampling and the EMA stay eager; checkpoints hold the plain network's
            keys). ``compile_options``: JSON-like keyword arguments of ``torch.compile``, e.g.
            ``{"mode": "max-autotune"}`` or ``{"backend": "aot_eager"}`` (no C++ compiler
            needed); default inductor.
        check_finite: stop with :class:`NonFiniteLossError` naming the step on NaN/Inf input
            or loss (before the optimizer step, so earlier checkpoints stay valid).
        imputation: train a conditional imputation model on data with gaps (CSDI-style):
            options of :class:`~polydiff.training.imputation.TargetMasks`, e.g.
            ``{"kinds": ["random", "blocks"], "missing": [0.1, 0.9]}``. The network must take
            ``cond_channels = 2 * C`` (known values and their mask) plus the data's own
            channels; ``None`` (default): ordinary training.
        conditioner: what the network receives besides ``x_t`` and ``t``, built from the
            batch's named inputs (:mod:`polydiff.conditioners`): a spec ``{"class_path": ...,
            "init_args": ...}`` (allow-listed like networks) or ``None``: the default
            :class:`~polydiff.conditioners.Standard` (the known values and their mask for
            imputation models, then the data's ``cond`` channels; class labels and vectors as
            they are). It is saved with the weights (fitted statistics as buffers) and used by
            every task through :func:`polydiff.load`.
        pretransform: an encoder/decoder between the data (model units) and the space the
            network works in (:mod:`polydiff.pretransforms`; a spec like ``conditioner``);
            ``None``: the identity. Training encodes every batch (its mask, weights and
            channels too), sampling decodes every sample; it is saved with the weights.

    Gradient clipping and mixed precision are Trainer options: ``Trainer(gradient_clip_val=1.0,
    precision="bf16-mixed")``.
    """

    def __init__(self, net: nn.Module, schedule: Schedule | str | dict | None = None,
                 prediction: str = "v", weighting: str = "min_snr",
                 noise_sampler: str = "uniform", min_snr_gamma: float = 5.0,
                 noise_sampler_kwargs: dict | None = None, c_noise: str | None = None,
                 sigma_data: float = 0.5, input_scale: str | None = None, lr: float = 2e-4,
                 betas: Sequence[float] = (0.9, 0.999), weight_decay: float = 0.0,
                 warmup_steps: int = 0, lr_decay: str = "constant", min_lr_ratio: float = 0.0,
                 ema_decay: float | None = 0.999, ema_warmup: bool = True,
                 cond_dropout: float = 0.0,
                 val_noise_levels: Sequence[float] = (0.1, 0.3, 0.5, 0.7, 0.9),
                 val_seed: int = 0, seed: int | None = 0,
                 sample_shape: Sequence[int] | None = None, compile: bool = False,
                 compile_options: dict[str, Any] | None = None, check_finite: bool = True,
                 imputation: dict[str, Any] | None = None,
                 conditioner: dict[str, Any] | None = None,
                 pretransform: dict[str, Any] | None = None):
        super().__init__()
        # -- the network and its spec --------------------------------------------------------
        if net is None:
            raise ValueError(
                "DiffusionModule needs net=: this checkpoint has no network spec (the module was "
                "built from a bare nn.Module); pass net=... to load_from_checkpoint"
            )
        if isinstance(net, dict):
            net = instantiate_net(net)
        if not isinstance(net, nn.Module):
            raise TypeError(f"net must be an nn.Module or a spec dict, got {type(net).__name__}")
        spec = net_spec(net)
        given = _given_cli_hparams()
        if spec is None and given is not None and isinstance(given.get("net"), dict):
            attach_spec(net, given["net"])
            spec = net_spec(net)
        self.net = net
        self.schedule = schedule_from(schedule)

        # -- validation of options ---------------------------------------------------------
        check_choice(prediction, prediction_names(), "prediction")
        check_choice(weighting, WEIGHTINGS, "weighting")
        check_choice(noise_sampler, NOISE_SAMPLERS, "noise_sampler")
        check_choice(lr_decay, LR_DECAYS, "lr_decay")
        if not 0.0 <= cond_dropout <= 1.0:
            raise ValueError(f"cond_dropout must be a probability in [0, 1], got {cond_dropout}")
        if cond_dropout > 0 and getattr(net, "null_class", None) is None:
            raise ValueError("cond_dropout > 0 needs a class-conditional network with a "
                             "null_class (e.g. UNet(num_classes=...))")
        if ema_decay is not None and not 0.0 <= ema_decay < 1.0:
            raise ValueError(f"ema_decay must lie in [0, 1) or be None, got {ema_decay}")
        if lr <= 0 or warmup_steps < 0 or not 0.0 <= min_lr_ratio <= 1.0:
            raise ValueError(f"need lr > 0, warmup_steps >= 0, 0 <= min_lr_ratio <= 1; got "
                             f"{lr}, {warmup_steps}, {min_lr_ratio}")
        levels = [float(t) for t in val_noise_levels]
        if any(not 0.0 <= t <= 1.0 for t in levels):
            raise ValueError(f"val_noise_levels must lie in [0, 1], got {levels}")

        self.prediction = prediction
        self.weighting = weighting
        self.c_noise = c_noise
        self.sigma_data = float(sigma_data)
        self.input_scale = input_scale
        self.loss_fn = DiffusionLoss(weighting, noise_sampler, gamma=min_snr_gamma,
                                     noise_sampler_kwargs=noise_sampler_kwargs)
        self.lr, self.betas, self.weight_decay = float(lr), tuple(betas), float(weight_decay)
        self.warmup_steps, self.lr_decay = int(warmup_steps), lr_decay
        self.min_lr_ratio = float(min_lr_ratio)
        self.ema_decay, self.ema_warmup = ema_decay, bool(ema_warmup)
        self.ema_net = ema_copy(net) if ema_decay is not None else None
        self.cond_dropout = float(cond_dropout)
        self.val_noise_levels = [min(max(t, self.schedule.t_min), self.schedule.t_max)
                                 for t in levels]
        self.val_seed, self.seed = int(val_seed), seed
        self.sample_shape = list(sample_shape) if sample_shape is not None else None
        self.compile, self.check_finite = bool(compile), bool(check_finite)
        if compile_options is not None and not isinstance(compile_options, dict):
            raise TypeError(f"compile_options must be a dict of torch.compile keyword arguments, "
                            f"got {type(compile_options).__name__}")
        self.compile_options = dict(compile_options or {})
        valid = set(inspect.signature(torch.compile).parameters) - {"model"}
        unknown = sorted(set(self.compile_options) - valid)
        if unknown:
            raise ValueError(f"unknown compile_options {unknown}; torch.compile takes "
                             f"{sorted(valid)}")
        self.__dict__["_compiled_net"] = None
        self._first_epoch_of_fit = False
        self.imputation = TargetMasks.from_config(imputation)
        self.conditioner = build_conditioner(conditioner, self.imputation is not None)
        self.pretransform = build_pretransform(pretransform)
        if self.imputation is not None and sample_shape is not None:
            self._check_imputation_net(list(sample_shape))
        self.data_info = None

        hparams = dict(
            net=spec, schedule=self.schedule.config(), prediction=prediction,
            weighting=weighting, noise_sampler=noise_sampler, min_snr_gamma=float(min_snr_gamma),
            noise_sampler_kwargs=noise_sampler_kwargs, c_noise=c_noise,
            sigma_data=self.sigma_data, input_scale=input_scale, lr=self.lr,
            betas=list(self.betas), weight_decay=self.weight_decay,
            warmup_steps=self.warmup_steps, lr_decay=lr_decay, min_lr_ratio=self.min_lr_ratio,
            ema_decay=None if ema_decay is None else float(ema_decay), ema_warmup=self.ema_warmup,
            cond_dropout=self.cond_dropout, val_noise_levels=levels, val_seed=self.val_seed,
            seed=None if seed is None else int(seed), sample_shape=self.sample_shape,
            compile=self.compile, compile_options=compile_options,
            check_finite=self.check_finite, imputation=imputation, conditioner=conditioner,
            pretransform=pretransform,
        )
        self.save_hyperparameters(check_json(hparams, "DiffusionModule hyperparameters"))

    @property
    def data_info(self) -> dict[str, Any] | None:
        """What the data module says about the data (modality, writer, normaliser, metadata);
        read at ``setup``, kept in checkpoints and exports, and handed to networks that read
        it (:func:`~polydiff.training.spec.share_data_info`) whenever it is set."""
        return self.__dict__.get("_data_info")

    @data_info.setter
    def data_info(self, info: dict[str, Any] | None) -> None:
        self.__dict__["_data_info"] = info
        for net in (self.__dict__.get("_modules", {}).get("net"),
                    self.__dict__.get("_modules", {}).get("ema_net")):
            share_data_info(net, info)

    # -- denoisers -----------------------------------------------------------------------------
    def _make_denoiser(self, net: nn.Module) -> Denoiser:
        return Denoiser(net, self.schedule, self.prediction, c_noise=self.c_noise,
                        sigma_data=self.sigma_data, input_scale=self.input_scale)

    def denoiser(self, ema: bool = True) -> Denoiser:
        """A :class:`polydiff.Denoiser` over the EMA weights (when ``ema`` and EMA is on) or the
        raw weights. It shares the module's parameters; call ``.eval()`` for sampling."""
        return self._make_denoiser(self.ema_net if ema and self.ema_net is not None
                                   else self.net)

    def _train_denoiser(self) -> Denoiser:
        if not self.compile:
            return self._make_denoiser(self.net)
        compiled = self.__dict__.get("_compiled_net")
        if compiled is None or getattr(compiled, "_orig_mod", None) is not self.net:
            compiled = torch.compile(self.net, **self.compile_options)
            self.__dict__["_compiled_net"] = compiled
        return self._make_denoiser(compiled)

    def forward(self, x_t: Tensor, t: Tensor | float, **cond) -> Tensor:
        """``x0_hat`` from the raw (non-EMA) network."""
        return self.denoiser(ema=False)(x_t, t, **cond)

    # -- batches ---------------------------------------------------------------------------------
    unpack = staticmethod(unpack_batch)

    def _encoded(self, x: Tensor, observed: Tensor | None, weight: Tensor | None,
                 cond: dict) -> tuple[Tensor, Tensor | None, Tensor | None, dict]:
        """The batch in the pretransform's space: ``x``, its mask, element weights and
        channels encoded (nothing to do for the identity)."""
        from ..pretransforms import Identity

        pt = self.pretransform
        if isinstance(pt, Identity):
            return x, observed, weight, cond
        with torch.no_grad():
            if observed is not None:
                observed = pt.encode_mask(observed.expand_as(x))
            if weight is not None:
                weight = pt.encode(weight.expand_as(x).to(x.dtype))
            if cond.get("cond") is not None:
                cond = {**cond, "cond": pt.encode(cond["cond"])}
            x = pt.encode(x)
        return x, observed, weight, cond

    def _check_imputation_net(self, shape: list[int]) -> None:
        shape = list(self.pretransform.encoded_shape(shape))
        want = 2 * shape[0]
        have = getattr(self.net, "cond_channels", None)
        if have is not None and have < want:
            raise ValueError(f"imputation training feeds the network cond = [known values, mask] "
                             f"= {want} channels (then the data's own, if any) for samples of "
                             f"shape {shape}, but it was built with cond_channels={have}; build "
                             f"it with cond_channels={want}")

    def _imputation_batch(self, x: Tensor, observed: Tensor | None, cond: dict,
                          generator: torch.Generator) -> tuple[Tensor, dict]:
        """``(targets, inputs)``: the loss counts the targets; the network sees the rest (the
        conditioner's ``known``/``observed`` inputs)."""
        given, targets = self.imputation.draw(x, observed, generator)
        return targets, {**cond, "known": x, "observed": given}

    # -- data ----------------------------------------------------------------------------------
    def setup(self, stage: str) -> None:
        """Read the data module's description (a :class:`DiffusionDataModule` or any data module
        with ``sample_shape`` / ``num_classes`` / ``data_info``) and check it fits the network."""
        trainer = self._trainer
        dm = getattr(trainer, "datamodule", None) if trainer is not None else None
        if dm is None:
            return
        info = dm.data_info() if callable(getattr(dm, "data_info", None)) else None
        shape = info["sample_shape"] if info else getattr(dm, "sample_shape", None)
        if shape is not None:
            shape = [int(v) for v in shape]
            if self.sample_shape is not None and list(self.sample_shape) != shape:
                raise ValueError(f"sample_shape={self.sample_shape} was given, but the data "
                                 f"module {type(dm).__name__} yields samples of shape {shape}")
            self.sample_shape = shape
            self.hparams["sample_shape"] = shape
            if self.imputation is not None:
                self._check_imputation_net(shape)
        classes = info["num_classes"] if info else getattr(dm, "num_classes", None)
        if classes is not None and self.num_classes is not None and classes != self.num_classes:
            raise ValueError(f"the network is built for {self.num_classes} classes, but the data "
                             f"module {type(dm).__name__} has {classes}")
        if classes is not None and self.num_classes is None and self.cond_dropout > 0:
            raise ValueError("cond_dropout > 0 needs a class-conditional network")
        if stage == "fit" and callable(getattr(dm, "statistics", None)):
            stats = dm.statistics()  # fitted buffers: the conditioner's and the networks'
            self.conditioner.fit(stats)
            for net in (self.net, self.ema_net):
                share_statistics(net, stats)
        if info is not None:
            if self.data_info is not None and stage != "fit":
                return  # a loaded model keeps what it was trained on
            self.data_info = check_json(dict(info), "data_info")

    @property
    def normalizer(self) -> Normalizer | None:
        """The data's :class:`~polydiff.normalize.Normalizer` (``None`` when unknown)."""
        if not self.data_info or self.data_info.get("normalizer") is None:
            return None
        from ..inference.spec import DataSpec

        return DataSpec.from_info(self.data_info, self.sample_shape
                                  or self.data_info.get("sample_shape")).normalizer

    def to_data_units(self, x: Tensor) -> Tensor:
        """Samples in model units -> data units (the normaliser inverted, plus the modality's
        data offset where one applies: :func:`polydiff.training.outputs.data_units`)."""
        from .outputs import data_units

        return data_units(x, self.data_info)

    def _generator(self, device: torch.device, *keys: int) -> torch.Generator | None:
        if self.seed is None:
            return None
        return torch.Generator(device=device).manual_seed(_seed(self.seed, *keys))

    def _drop_cond(self, cond: dict[str, Tensor], g: torch.Generator | None) -> dict:
        labels = cond.get("class_labels")
        if self.cond_dropout <= 0 or labels is None:
            return cond
        drop = torch.rand(labels.shape, generator=g, device=labels.device) < self.cond_dropout
        null = torch.full_like(labels, self.net.null_class)
        return {**cond, "class_labels": torch.where(drop, null, labels)}

    def _check(self, ok: Tensor, what: str | Callable[[], str]) -> None:
        ok_all = bool(ok)
        if self.trainer.world_size > 1:
            ok_all = self.trainer.strategy.reduce_boolean_decision(ok_all, all=True)
        if not ok_all:
            what = what() if callable(what) else what
            raise NonFiniteLossError(
                f"{what} at global step {self.global_step} (epoch {self.current_epoch}); "
                f"training stopped before the optimizer step, so checkpoints written so far "
                f"are intact"
            )

    # -- training ----------------------------------------------------------------------------
    def _reseed_global(self, *keys: int) -> None:
        if self.seed is not None:
            torch.manual_seed(_seed(self.seed, *keys))

    def configure_model(self) -> None:
        """Under FSDP without an ``auto_wrap_policy``, wrap every instance of the network's class
        as an FSDP unit of its own (Lightning builds the wrapping after this hook). The network
        and its EMA copy then shard alike, so the EMA update works shard by shard; as parts of
        one root unit they would be sharded at different offsets. A given policy is kept as it
        is: it must wrap the network's class (the EMA update says so otherwise)."""
        strategy = self._trainer.strategy if self._trainer is not None else None
        if self.ema_net is None or not isinstance(strategy, FSDPStrategy):
            return
        if strategy.kwargs.get("auto_wrap_policy") is None:
            from torch.distributed.fsdp.wrap import ModuleWrapPolicy

            strategy.kwargs["auto_wrap_policy"] = ModuleWrapPolicy({type(self.net)})

    def on_fit_start(self) -> None:
        self._first_epoch_of_fit = True

    def on_train_epoch_start(self) -> None:
        # Data order: loaders that shuffle with torch's global RNG draw one int64 when their
        # iterator is created and the sampler's seed at the first batch. Lightning creates the
        # iterator after this hook, except for a run's first epoch (created during setup); for
        # that epoch the iterator's draw is replayed, so every epoch (resumed or not) shuffles
        # from the same RNG state. Exact with num_workers=0.
        self._reseed_global(1, self.current_epoch)
        if self._first_epoch_of_fit and self.seed is not None:
            torch.empty((), dtype=torch.int64).random_()
        self._first_epoch_of_fit = False

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        self._reseed_global(2, self.current_epoch, batch_idx, self.global_rank)

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, observed, weight, cond = self.unpack(batch)
        if self.sample_shape is None:  # plain loaders: no data module said it
            self.sample_shape = list(x.shape[1:])
            self.hparams["sample_shape"] = self.sample_shape
        x, observed, weight, cond = self._encoded(x, observed, weight, cond)
        if self.check_finite:
            data = x if observed is None else torch.where(observed, x, 0)
            self._check(torch.isfinite(data).all(), "non-finite input data (NaN/Inf in 'x')")
        g = self._generator(x.device, 3, self.current_epoch, batch_idx, self.global_rank)
        cond = self._drop_cond(cond, g)
        if self.imputation is not None:
            g_mask = self._generator(torch.device("cpu"), 4, self.current_epoch, batch_idx,
                                     self.global_rank)
            observed, cond = self._imputation_batch(x, observed, cond, g_mask)
        cond = self.conditioner(cond)
        loss = self.loss_fn(self._train_denoiser(), x, observed=observed, generator=g,
                            weight=weight, **cond)
        if self.check_finite:
            self._check(torch.isfinite(loss.detach()), lambda: f"non-finite loss ({loss.item()})")
        self.log("train/loss", loss, prog_bar=True, on_step=True, on_epoch=True,
                 batch_size=x.shape[0], sync_dist=self.trainer.world_size > 1)
        return loss

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        super().optimizer_step(*args, **kwargs)
        if self.ema_net is not None:
            decay = ema_decay(self.global_step + 1, self.ema_decay, self.ema_warmup)
            ema_update_(self.ema_net, self.net, decay)

    def configure_optimizers(self) -> dict:
        return adamw_warmup(self.net, self.trainer, lr=self.lr, betas=self.betas,
                            weight_decay=self.weight_decay, warmup_steps=self.warmup_steps,
                            decay=self.lr_decay, min_lr_ratio=self.min_lr_ratio)

    # -- validation ------------------------------------------------------------------------------
    @torch.no_grad()
    def level_losses(self, x: Tensor, observed: Tensor | None = None, batch_idx: int = 0,
                     ema: bool = True, weight: Tensor | None = None,
                     **cond) -> tuple[Tensor, Tensor]:
        """Per-level ``(weighted loss, x0 MSE)``, each ``(L,)``, at :attr:`val_noise_levels`
        with noise fixed by ``(val_seed, batch_idx)`` (drawn on the CPU: device-independent).
        The same loss as training (:func:`polydiff.losses.denoising_terms`)."""
        den = self.denoiser(ema=ema)
        levels = self.val_noise_levels
        if self.imputation is not None:  # fixed targets too: comparable across runs
            g_mask = torch.Generator().manual_seed(_seed(self.val_seed, batch_idx, 4))
            observed, cond = self._imputation_batch(x, observed, cond, g_mask)
        cond = self.conditioner(cond)
        g = torch.Generator().manual_seed(_seed(self.val_seed, batch_idx))
        eps_all = torch.randn((len(levels), *x.shape), generator=g).to(x)
        losses, mses = [], []
        for i, t in enumerate(levels):
            tt = torch.full((x.shape[0],), t, device=x.device)
            terms = denoising_terms(den, x, tt, eps_all[i], self.weighting, observed,
                                    self.loss_fn.gamma, self.loss_fn.sigmoid_bias, weight,
                                    **cond)
            losses.append(terms.loss.mean())
            mses.append(terms.mse_x0.mean())
        return torch.stack(losses), torch.stack(mses)

    def validation_step(self, batch: Any, batch_idx: int) -> Tensor:
        x, observed, weight, cond = self._encoded(*self.unpack(batch))
        losses, mses = self.level_losses(x, observed, batch_idx, ema=True, weight=weight, **cond)
        b = x.shape[0]
        self.log("val/loss", losses.mean(), prog_bar=True, sync_dist=True, batch_size=b)
        self.log("val/mse_x0", mses.mean(), sync_dist=True, batch_size=b)
        for t, v in zip(self.val_noise_levels, mses, strict=True):
            self.log(f"val/mse_x0@t={t:.2f}", v, sync_dist=True, batch_size=b)
        return losses.mean()

    # -- checkpoints ---------------------------------------------------------------------------
    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["polydiff"] = {"format": 2, "sample_shape": self.sample_shape,
                                  "ema": self.ema_net is not None, "data": self.data_info}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        stored = checkpoint.get("polydiff", {})
        if stored.get("sample_shape") is not None:
            self.sample_shape = list(stored["sample_shape"])
        if stored.get("data") is not None:
            self.data_info = dict(stored["data"])
