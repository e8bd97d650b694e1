"""Conditioners: what a network receives besides ``x_t`` and ``t``, built from a task's named
inputs by one module the model owns, by the same code in training and inference.

A conditioner is an ``nn.Module`` ``conditioner(inputs) -> kwargs``: ``inputs`` is a dict of
named tensors (:data:`INPUTS`), ``kwargs`` the network's keyword arguments (``cond``,
``vector``, ``class_labels``, ...). :class:`~polydiff.training.DiffusionModule` builds it from
a JSON spec (``conditioner={"class_path": ..., "init_args": ...}``, allow-listed like
networks) and calls it on every training batch; :func:`polydiff.load` rebuilds it for
inference. Statistics fitted on the training data live in it as registered buffers
(:meth:`Conditioner.fit`), saved with the weights (checkpoint state dict, safetensors
export), not in the JSON description.

- :class:`Conditioner`: the base class; fitted buffers may change shape when loaded;
- :class:`Standard`: the default: class labels and vectors as they are, and as channels the
  known values and their mask (``[known * observed, observed]``, for imputation models)
  followed by the data's own channels (``cond``, e.g. a land/sea validity channel).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import Tensor, nn

from .nn.fitted import FittedBuffers

__all__ = ["INPUTS", "Conditioner", "Standard", "known_channels"]

#: the named inputs of a conditioner: ``known (B, C, *axes)`` values in model units and
#: ``observed`` (bool, True = known), ``class_labels (B,)``, ``vector (B, D)`` (timing, a
#: patch's corners), ``cond (B, C_c, *axes)`` channels a data module gives (validity)
INPUTS = ("known", "observed", "class_labels", "vector", "cond")


def known_channels(known: Tensor, observed: Tensor) -> Tensor:
    """``[known * observed, observed]``: ``(B, 2 C, *axes)``, the channels through which an
    imputation network sees the known values (``observed`` broadcasts to ``known``)."""
    observed = observed.expand_as(known)
    zero = torch.zeros((), dtype=known.dtype, device=known.device)
    return torch.cat([torch.where(observed, known, zero), observed.to(known.dtype)], dim=1)


class Conditioner(FittedBuffers, nn.Module):
    """Named inputs -> the network's keyword arguments (see the module docstring).

    Subclasses implement :meth:`forward` and, when they hold statistics of the training data,
    :meth:`fit` (registering them with :meth:`register_fitted`: buffers saved with the
    weights whose shape comes from the data, so a checkpoint's shape is taken on load;
    :class:`polydiff.nn.fitted.FittedBuffers`)."""

    def forward(self, inputs: Mapping[str, Any]) -> dict[str, Any]:  # pragma: no cover
        raise NotImplementedError(f"{type(self).__name__} must implement forward(inputs)")

    def fit(self, statistics: Mapping[str, Any]) -> None:
        """Take the statistics a data module fitted (``DiffusionDataModule.statistics()``);
        a conditioner that needs none ignores them."""


class Standard(Conditioner):
    """The default conditioner.

    Args:
        known: the network takes the known values and their mask (an imputation model):
            ``cond`` starts with :func:`known_channels`.

    ``forward(inputs)``: ``class_labels`` and ``vector`` as given; ``cond`` = the known
    channels (when ``known``) followed by the input ``cond`` channels, if any."""

    def __init__(self, known: bool = False):
        super().__init__()
        self.known = bool(known)

    def forward(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        out = {k: inputs[k] for k in ("class_labels", "vector") if inputs.get(k) is not None}
        channels = []
        if self.known:
            if inputs.get("known") is None or inputs.get("observed") is None:
                raise ValueError("this model was trained for imputation (the known values are "
                                 "one of its inputs): give known= and observed=")
            channels.append(known_channels(inputs["known"], inputs["observed"]))
        if inputs.get("cond") is not None:
            channels.append(inputs["cond"])
        if channels:
            out["cond"] = channels[0] if len(channels) == 1 else torch.cat(
                [c.to(channels[0].dtype) for c in channels], dim=1)
        return out

    def extra_repr(self) -> str:
        return f"known={self.known}"
