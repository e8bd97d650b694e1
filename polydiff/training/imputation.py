"""Training a conditional imputation model on data with gaps (CSDI-style self-supervision).

Among the *observed* entries of each training sample, a random subset stays *given* (the
conditioning) and the rest become *targets*: the network sees ``cond = [x * given, given]``
(``2 C`` extra input channels) and the loss counts the targets only, so a model learns to fill
gaps from the gappy data itself, with no clean copy. At sampling time the known values and
their mask are the conditioning (:func:`polydiff.conditioners.known_channels`, built by the
model's conditioner), and ``guidance.inpaint`` returns
the known values exactly.

How targets are drawn, per sample (one kind each, chosen uniformly from ``kinds``; each is a
generator of the one mask vocabulary, :mod:`polydiff.masks`):

- ``"random"``: every observed entry is a target with probability ``r ~ U[missing]``
  (independently per channel);
- ``"blocks"``: boxes of random size (1 to ``max_block`` per axis, e.g. gaps of up to 100 ms
  in audio or cloud-like patches in a field) until a fraction ``r`` of the positions is hidden,
  across all channels;
- ``"steps"``: whole indices along spatial axis ``axis`` (lost time steps) with probability
  ``r``;
- ``"suffix"``: everything after a random cut along ``axis`` (continuation / forecasting);
- ``"strided"``: every index along ``axis`` except every ``m``-th one (``m`` drawn from
  ``strides``, a random offset below ``m``): "every m-th frame / step given", for interpolation
  models (``missing`` does not apply; the hidden fraction is ``1 - 1/m``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from .. import masks
from .._checks import check_choice

__all__ = ["KINDS", "TargetMasks"]

KINDS = ("random", "blocks", "steps", "suffix", "strided")


@dataclass
class TargetMasks:
    """Which observed entries become training targets (see the module docstring).

    Args:
        kinds: subset of :data:`KINDS`.
        missing: ``(low, high)``: the hidden fraction ``r ~ U[low, high]`` per sample.
        max_block: largest block size per spatial axis (``"blocks"``); default a quarter of
            each axis.
        axis: spatial axis (0 = first axis after channels) of ``"steps"``, ``"suffix"`` and
            ``"strided"``; default the first (time for audio, video and ``(T, lat, lon)``
            fields).
        strides: the strides ``m >= 2`` that ``"strided"`` draws from (uniformly).
    """

    kinds: Sequence[str] = ("random",)
    missing: Sequence[float] = (0.1, 0.9)
    max_block: Sequence[int] | None = None
    axis: int = 0
    strides: Sequence[int] = (2, 3, 4)

    def __post_init__(self) -> None:
        self.kinds = tuple(self.kinds)
        if not self.kinds:
            raise ValueError(f"kinds must name at least one of {list(KINDS)}")
        for k in self.kinds:
            check_choice(k, KINDS, "target mask kind")
        lo, hi = (float(v) for v in self.missing)
        if not 0.0 < lo <= hi < 1.0:
            raise ValueError(f"missing must be (low, high) with 0 < low <= high < 1, got "
                             f"{tuple(self.missing)}")
        self.missing = (lo, hi)
        self.strides = tuple(int(m) for m in self.strides)
        if not self.strides or min(self.strides) < 2:
            raise ValueError(f"strides must be integers >= 2 (every m-th index given), got "
                             f"{list(self.strides)}")

    @classmethod
    def from_config(cls, config: dict[str, Any] | None) -> TargetMasks | None:
        """From a JSON dict (``DiffusionModule(imputation={...})``); ``None`` stays ``None``."""
        if config is None:
            return None
        if not isinstance(config, dict):
            raise ValueError(f"imputation must be a dict such as {{'kinds': ['random', "
                             f"'blocks'], 'missing': [0.1, 0.9]}}, got {config!r}")
        valid = {"kinds", "missing", "max_block", "axis", "strides"}
        unknown = sorted(set(config) - valid)
        if unknown:
            raise ValueError(f"unknown imputation option(s) {unknown}; valid: {sorted(valid)}")
        return cls(**config)

    def _axes(self, x: Tensor) -> tuple[int, ...]:
        axes = tuple(x.shape[2:])
        if not 0 <= self.axis < len(axes):
            raise ValueError(f"imputation axis {self.axis} is not a spatial axis of data shaped "
                             f"{tuple(x.shape)}")
        if self.max_block is not None and len(self.max_block) != len(axes):
            raise ValueError(f"max_block needs one size per spatial axis ({len(axes)}), got "
                             f"{list(self.max_block)}")
        return axes

    def _one(self, kind: str, shape: tuple[int, ...], r: float,
             g: torch.Generator | None, device) -> Tensor:
        """Hidden entries (True = target) of one sample ``(C, *axes)`` or ``(1, *axes)``: the
        complement of a :mod:`polydiff.masks` generator's ``observed``."""
        c, *axes = shape
        if kind == "random":
            return ~masks.random_mask((c, *axes), r, g).to(device)
        one = (1, *axes)
        n = axes[self.axis]
        if kind == "steps":
            seen = masks.time_step_mask(one, r, time_axis=self.axis + 1, generator=g)
        elif kind == "suffix":
            seen = masks.suffix_mask(one, n - max(1, round(r * n)), self.axis + 1)
        elif kind == "strided":
            m = self.strides[int(torch.randint(len(self.strides), (), generator=g))]
            offset = int(torch.randint(min(m, n), (), generator=g))
            seen = masks.strided_mask(one, m, self.axis + 1, offset)
        else:  # blocks, until about r of the positions are hidden
            limits = self.max_block or [max(1, a // 4) for a in axes]
            seen = masks.random_blocks_mask((c, *axes), r, limits, g)
        return (~seen).expand(one).to(device)

    def draw(self, x: Tensor, observed: Tensor | None,
             generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``(given, targets)`` for a batch ``x (B, C, *axes)``: bool masks shaped like ``x``,
        disjoint, both inside ``observed`` (all of ``x`` when ``None``). Every sample keeps at
        least one target whenever it has at least two observed entries."""
        self._axes(x)
        obs = (torch.ones_like(x, dtype=torch.bool) if observed is None
               else observed.expand_as(x))
        lo, hi = self.missing
        kinds, hidden = [], []
        for _ in range(x.shape[0]):
            k = int(torch.randint(len(self.kinds), (), generator=generator))
            r = lo + (hi - lo) * float(torch.rand((), generator=generator))
            kinds.append(self.kinds[k])
            hidden.append(self._one(self.kinds[k], tuple(x.shape[1:]), r, generator,
                                    x.device).expand(x.shape[1:]))
        hidden = torch.stack(hidden)
        targets = obs & hidden
        # a sample whose mask hid nothing observed would teach nothing: hide one observed entry
        # (for "steps"/"suffix"/"strided", the whole index along the axis that holds it)
        empty = ~targets.flatten(1).any(1) & (obs.flatten(1).sum(1) >= 2)
        for i in empty.nonzero().flatten().tolist():
            flat = obs[i].flatten().nonzero().flatten()
            pick = flat[int(torch.randint(len(flat), (), generator=generator))]
            extra = torch.zeros(obs[i].numel(), dtype=torch.bool, device=x.device)
            extra[pick] = True
            extra = extra.reshape(obs[i].shape)
            if kinds[i] in ("steps", "suffix", "strided"):
                index = extra.nonzero()[0, self.axis + 1]
                extra = torch.zeros_like(extra)
                extra.select(self.axis + 1, int(index)).fill_(True)
            targets[i] = obs[i] & extra
        return obs & ~targets, targets
