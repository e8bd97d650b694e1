"""Public types shared by every signature: denoisers, networks, sampler methods and batches.

Only ``typing`` and torch are imported, so samplers and guidance can use these freely.

- :class:`Denoiser`: any callable ``D(x_t, t, **cond) -> x0_hat``; ``x_t (B, C, *axes)``,
  ``t (B,)`` in ``[0, 1]``, result shaped like ``x_t`` (:class:`polydiff.Denoiser` is one).
- :class:`Network`: the plain ``nn.Module`` a backbone is: ``net(x_in, c_noise, **cond) -> out``
  with ``x_in (B, C, *axes)``, ``c_noise (B,)`` and ``out`` shaped like ``x_in``.
- :class:`SamplerMethod`: the signature of a sampling method
  ``fn(denoiser, x, ts, schedule, **options) -> x0`` (see :func:`polydiff.samplers.sample`).
- :class:`Batch`: the one batch dict every data module yields.
"""

from __future__ import annotations

from typing import Any, Protocol, TypedDict, runtime_checkable

from torch import Tensor

try:  # Python >= 3.11
    from typing import Required
except ImportError:  # pragma: no cover - Python 3.10
    from typing_extensions import Required

__all__ = ["Batch", "Denoiser", "Network", "SamplerMethod"]


@runtime_checkable
class Denoiser(Protocol):
    """``D(x_t (B, C, *axes), t (B,), **cond) -> x0_hat (B, C, *axes)``."""

    def __call__(self, x_t: Tensor, t: Tensor, **cond: Any) -> Tensor: ...


@runtime_checkable
class Network(Protocol):
    """``net(x_in (B, C, *axes), c_noise (B,), **cond) -> out (B, C, *axes)``.

    Optional attributes read by the core: ``null_class`` (class-conditional networks: the
    label meaning "no class", used by classifier-free guidance) and ``cond_channels``."""

    def __call__(self, x_in: Tensor, c_noise: Tensor, **cond: Any) -> Tensor: ...


class SamplerMethod(Protocol):
    """``fn(denoiser, x (B, ...) at ts[0], ts (n + 1,) decreasing, schedule, **options)``.

    ``options`` always include ``final``, ``generator``, ``callback``, ``progress``, ``info`` and
    ``eval_times``, plus the method's own keyword-only options; every other keyword is
    conditioning for the denoiser."""

    def __call__(self, denoiser: Denoiser, x: Tensor, ts: Any, schedule: Any,
                 **options: Any) -> Tensor: ...


class Batch(TypedDict, total=False):
    """One batch, as every polydiff data module yields it (all tensors share the batch size B).

    - ``x`` (required): ``(B, C, *axes)`` float, in model units (normalised).
    - ``class_labels``: ``(B,)`` long.
    - ``observed``: bool, broadcastable to ``x``; True = known. Losses count observed entries
      only.
    - ``cond``: ``(B, C_cond, *axes)`` extra input channels for the network.
    - ``vector``: ``(B, D)`` real-valued conditioning (e.g. timing: start offset and total
      duration), for networks built with ``vector_cond_dim=D``.
    - ``weight``: non-negative element weights broadcastable to ``x`` (e.g. cos(latitude));
      the loss is a weighted mean over entries.
    - ``meta``: anything writers need that varies per batch (it never reaches the network).
    """

    x: Required[Tensor]
    class_labels: Tensor
    observed: Tensor
    cond: Tensor
    vector: Tensor
    weight: Tensor
    meta: dict[str, Any]
